//! [`export_plugin!`](crate::export_plugin): the one piece of boilerplate a plugin has.
//!
//! Internal: abi_stable's `#[export_root_module]` expands to paths through
//! `::abi_stable`, which would force every plugin to depend on abi_stable itself (and
//! could let it pick another version). This module does the same work through this
//! crate: a `#[no_mangle]` [`LibHeader`] under abi_stable's symbol name, whose
//! constructor builds the [`PluginMod`] from a type implementing [`PluginExport`].

use std::fmt::Display;

use abi_stable::library::{CheckTypeLayout, LibHeader, RootModuleResult};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RResult, RStr, RString};

use crate::abi::{ManifestAbi, PluginMod, PluginModRef, RegistryMut};
use crate::panic::{guard, install_quiet_hook};
use crate::registry::Registry;

/// Internal: what `export_plugin!` implements for a hidden type in the plugin crate.
#[doc(hidden)]
pub trait PluginExport: 'static {
    const MANIFEST: ManifestAbi;
    fn init(config: &str, registry: &mut Registry<'_>) -> Result<(), String>;
}

/// Internal: turns a plugin's `init` error into the string the host reports.
#[doc(hidden)]
pub fn init_error<E: Display>(result: Result<(), E>) -> Result<(), String> {
    result.map_err(|e| e.to_string())
}

extern "C" fn init_shim<P: PluginExport>(
    config: RStr<'_>,
    registry: RegistryMut<'_>,
) -> RResult<(), RString> {
    install_quiet_hook();
    match guard(|| Registry::run_init(registry, |reg| P::init(config.as_str(), reg))) {
        RResult::ROk(Ok(())) => RResult::ROk(()),
        RResult::ROk(Err(message)) => RResult::RErr(message.into()),
        RResult::RErr(panic) => RResult::RErr(panic),
    }
}

fn module<P: PluginExport>() -> PluginModRef {
    // Leaked once per library: abi_stable caches the root module in the library header,
    // and libraries are never unloaded.
    PluginMod {
        manifest: P::MANIFEST,
        init: init_shim::<P>,
    }
    .leak_into_prefix()
}

extern "C" fn root<P: PluginExport>() -> RootModuleResult {
    abi_stable::library::__call_root_module_loader(module::<P>)
}

/// Internal: the library header `export_plugin!` exports.
#[doc(hidden)]
pub const fn lib_header<P: PluginExport>() -> LibHeader {
    // SAFETY: `root::<P>` returns the prefix reference of a `PluginMod` (through
    // `__call_root_module_loader`, exactly as `#[export_root_module]` would), which is
    // what `from_constructor::<PluginModRef>` requires.
    unsafe { LibHeader::from_constructor::<PluginModRef>(root::<P>, CheckTypeLayout::Yes) }
}

/// Exports a plugin: its manifest (name, version and description from the plugin's
/// `Cargo.toml`, the points it registers at) and its init function. This is the whole
/// boilerplate of a plugin; what init and handlers may do is
/// [the callback contract](crate#the-callback-contract).
///
/// `init` is a function `fn(config: &str, registry: &mut Registry<'_>) -> Result<(), E>`
/// with `E: Display`; `config` is the text of the instance's config (TOML). `points`
/// lists every point init may register at: `hookgate inspect` shows them without
/// running init, and the host refuses a handler registered at a point not listed.
///
/// ```
/// use hookgate_plugin_api::{export_plugin, Outcome, Registry};
///
/// fn init(_config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
///     reg.on_before_location(|_req| Outcome::GoOn);
///     Ok(())
/// }
///
/// export_plugin!(init, points = [BeforeLocation]);
/// ```
///
/// A plugin must be built with `panic = "unwind"` (Cargo's default): the SDK turns
/// every panic of a handler into an error the host contains, which `panic = "abort"`
/// makes impossible (the first panic would kill the whole proxy). The macro refuses
/// to compile under `panic = "abort"`, saying how to fix the profile.
#[macro_export]
macro_rules! export_plugin {
    ($init:path, points = [$($point:ident),* $(,)?] $(,)?) => {
        #[cfg(panic = "abort")]
        ::core::compile_error!(
            "hookgate plugins must be built with panic = \"unwind\": with panic = \"abort\" \
             a plugin's first panic kills the whole proxy instead of costing one request. \
             Set `panic = \"unwind\"` (or remove `panic = \"abort\"`) in the [profile.*] \
             sections of the workspace's Cargo.toml, and do not pass `-C panic=abort`."
        );

        /// The plugin as `export_plugin!` exports it: unit tests run it with
        /// `TestPlugin::exported::<HookgatePlugin>`, which checks the declared points.
        #[doc(hidden)]
        pub struct HookgatePlugin;

        impl $crate::__private::PluginExport for HookgatePlugin {
            const MANIFEST: $crate::abi::ManifestAbi = $crate::abi::ManifestAbi {
                name: $crate::abi::RStr::from_str(env!("CARGO_PKG_NAME")),
                version: $crate::abi::RStr::from_str(env!("CARGO_PKG_VERSION")),
                description: $crate::abi::RStr::from_str(env!("CARGO_PKG_DESCRIPTION")),
                api_version: $crate::abi::RStr::from_str($crate::abi::API_VERSION),
                points: $crate::PointSet::EMPTY $(.with($crate::Point::$point))*,
            };

            fn init(
                config: &str,
                registry: &mut $crate::Registry<'_>,
            ) -> ::std::result::Result<(), ::std::string::String> {
                $crate::__private::init_error($init(config, registry))
            }
        }

        /// The abi_stable library header: the one symbol the host looks up.
        #[no_mangle]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader =
            $crate::__private::lib_header::<HookgatePlugin>();
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn exported_symbol_is_abi_stable_s() {
        // export_plugin! spells abi_stable's mangled symbol out by hand.
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
