//! [`HostMod`]: where a host's services grow after 0.2.0.
//!
//! The views, the handlers and the registry are fixed at 0.2.0: abi_stable checks them
//! when the host loads a plugin, and it lets the loading side (the host) expect fewer
//! trailing entries than the plugin describes, never more, so a host that appended to
//! them would refuse older plugins. [`HostMod`] is checked the other way round: the
//! host lends its header at init ([`RegistryAbi::host`](super::RegistryAbi::host)) and
//! the plugin's SDK checks it against the `HostMod` the plugin was built with (the
//! plugin is the loading side there), so a later host appends fields after
//! [`HostMod::api_version`] and 0.2.0 plugins still load.

use std::sync::OnceLock;

use abi_stable::library::{LibHeader, RootModule};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::{RRef, VersionStrings};
use abi_stable::std_types::RStr;
use abi_stable::StableAbi;

use super::module::API_VERSION;

/// The host's module: services appended in later 0.2.x versions go after
/// `api_version`.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HostModRef)))]
#[sabi(missing_field(panic))]
pub struct HostMod {
    /// The [`API_VERSION`] the host provides.
    #[sabi(last_prefix_field)]
    pub api_version: RStr<'static>,
}

impl RootModule for HostModRef {
    abi_stable::declare_root_module_statics! {HostModRef}
    const BASE_NAME: &'static str = "hookgate_host";
    const NAME: &'static str = "hookgate_host";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(API_VERSION);
}

/// This host's module header, built once and never freed (plugins keep it).
pub fn host_header() -> RRef<'static, LibHeader> {
    static HEADER: OnceLock<&'static LibHeader> = OnceLock::new();
    let header = HEADER.get_or_init(|| {
        let module = HostMod {
            api_version: RStr::from_str(API_VERSION),
        }
        .leak_into_prefix();
        Box::leak(Box::new(LibHeader::from_module(module)))
    });
    RRef::new(header)
}

/// The host's module as the plugin was built to see it, checked (version and layout)
/// by the plugin's side; the error says why it does not fit.
pub fn check_host(header: RRef<'static, LibHeader>) -> Result<HostModRef, String> {
    header
        .get()
        .init_root_module::<HostModRef>()
        .map_err(|e| format!("this hookgate's host module does not fit the plugin: {e}"))
}
