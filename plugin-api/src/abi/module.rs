//! The root module every plugin library exports, and its manifest.

use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RResult, RStr, RString};
use abi_stable::StableAbi;

use super::handler::RegistryMut;
use crate::point::PointSet;

/// The version of the plugin ABI a plugin was built against; the host compares it with
/// its own (DESIGN §2.6: for 0.x the minor must match and the plugin's patch must not
/// be newer than the host's).
///
/// Written out, not the crate's `CARGO_PKG_VERSION`: it moves only when the ABI does
/// (a layout, a view method, a contract), not when the workspace, the SDK's Rust-side
/// helpers or the plugin kit get a release.
pub const API_VERSION: &str = "0.2.3";

/// A plugin's manifest as stored in its library; read without running init.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct ManifestAbi {
    /// Plugin name (its package name by default).
    pub name: RStr<'static>,
    /// Plugin version.
    pub version: RStr<'static>,
    /// One-line description.
    pub description: RStr<'static>,
    /// [`API_VERSION`] of the crate the plugin was built with.
    pub api_version: RStr<'static>,
    /// The callback points the plugin may register handlers at.
    pub points: PointSet,
}

/// The root module: a prefix type, so fields appended later keep older plugins loading.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    /// The manifest.
    pub manifest: ManifestAbi,
    /// Initialises one instance of the plugin with its config text; called once per
    /// instance, possibly several times per library.
    #[sabi(last_prefix_field)]
    pub init: extern "C" fn(config: RStr<'_>, registry: RegistryMut<'_>) -> RResult<(), RString>,
}

impl RootModule for PluginModRef {
    abi_stable::declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "hookgate_plugin";
    const NAME: &'static str = "hookgate_plugin";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(API_VERSION);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_module_carries_the_abi_version_not_the_package_version() {
        assert_eq!(PluginModRef::VERSION_STRINGS.version, API_VERSION);
        let parts: Vec<u32> = API_VERSION
            .split('.')
            .map(|p| p.parse().expect("a number"))
            .collect();
        assert_eq!(parts.len(), 3, "major.minor.patch");
    }

    /// abi_stable also checks every shared type's package version (for 0.x the minor
    /// must match), so the crate's version moves with the ABI's.
    #[test]
    fn the_crate_version_is_the_abi_version() {
        let minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
        assert_eq!(minor(env!("CARGO_PKG_VERSION")), minor(API_VERSION));
    }
}
