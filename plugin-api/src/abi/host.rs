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
//!
//! The plugin's side keeps the checked module for the life of the library
//! ([`host`]), for the SDK calls that reach a host service.

use std::sync::OnceLock;

use abi_stable::library::{LibHeader, RootModule};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::{RRef, VersionStrings};
use abi_stable::std_types::{ROption, RResult, RStr, RString};
use abi_stable::StableAbi;

use super::callout::{CalloutSpecAbi, ContinuationBox};
use super::module::API_VERSION;
use super::peer::PeerCertificateAbi;
use super::redis::RedisSpecAbi;
use super::timer::TimerHandlerBox;

/// The host's module: services appended in later 0.2.x versions go after
/// `api_version`, each one `None` from a host older than it.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HostModRef)))]
#[sabi(missing_field(option))]
pub struct HostMod {
    /// The [`API_VERSION`] the host provides.
    #[sabi(last_prefix_field)]
    pub api_version: RStr<'static>,
    // 0.2.1 begin (lines up to "0.2.1 end" are what 0.2.1 added: the e2e test
    // `abi_growth` removes them from a copy of this crate to build a 0.2.0 plugin)
    /// 0.2.1: the verified client certificate of connection `session` (its
    /// [`Session::id`](crate::Session::id)), if it presented one.
    pub peer_certificate: extern "C" fn(session: u64) -> ROption<PeerCertificateAbi>,
    // 0.2.1 end
    // 0.2.2 begin
    /// 0.2.2: records a callout for the handler running on this thread (at
    /// BeforeLocation, FoundProduct or AfterLocation) or the timer ticking on it; its
    /// index among the handler's callouts, or why not.
    pub callout: extern "C" fn(spec: CalloutSpecAbi) -> RResult<u32, RString>,
    /// 0.2.2: the handler running on this thread waits for its callouts; the host
    /// calls `continuation` with their results. Or why not.
    pub wait: extern "C" fn(continuation: ContinuationBox) -> RResult<(), RString>,
    /// 0.2.2: registers periodic work for the instance whose init runs on this thread,
    /// every `every_ms` milliseconds; or why not.
    // Spelled out, not `TimerFn`: abi_stable reads a function pointer's layout from
    // its written type.
    pub timer: extern "C" fn(every_ms: u64, handler: TimerHandlerBox) -> RResult<(), RString>,
    // 0.2.2 end
    // 0.2.3 begin
    /// 0.2.3: records a Redis command for the handler running on this thread (where
    /// callouts may be started) or the timer ticking on it, among its callouts; its
    /// index, or why not.
    pub redis: extern "C" fn(spec: RedisSpecAbi) -> RResult<u32, RString>,
    // 0.2.3 end
}

/// The host's recording of a Redis command.
pub type RedisFn = extern "C" fn(spec: RedisSpecAbi) -> RResult<u32, RString>;

/// The host's registration of a timer (during an instance's init).
pub type TimerFn = extern "C" fn(every_ms: u64, handler: TimerHandlerBox) -> RResult<(), RString>;

/// The host's lookup of a connection's client certificate, by connection id.
pub type PeerCertificateFn = extern "C" fn(session: u64) -> ROption<PeerCertificateAbi>;

/// What the host provides through [`HostMod`] beyond its version: given once, by the
/// first call of [`host_header`].
#[derive(Clone, Copy, Debug)]
pub struct HostServices {
    /// See [`HostMod::peer_certificate`].
    pub peer_certificate: PeerCertificateFn,
    /// See [`HostMod::callout`].
    pub callout: extern "C" fn(spec: CalloutSpecAbi) -> RResult<u32, RString>,
    /// See [`HostMod::wait`].
    pub wait: extern "C" fn(continuation: ContinuationBox) -> RResult<(), RString>,
    /// See [`HostMod::timer`].
    pub timer: TimerFn,
    /// See [`HostMod::redis`].
    pub redis: RedisFn,
}

impl RootModule for HostModRef {
    abi_stable::declare_root_module_statics! {HostModRef}
    const BASE_NAME: &'static str = "hookgate_host";
    const NAME: &'static str = "hookgate_host";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(API_VERSION);
}

/// This host's module header, built once (with the `services` of the first call) and
/// never freed (plugins keep it).
pub fn host_header(services: HostServices) -> RRef<'static, LibHeader> {
    static HEADER: OnceLock<&'static LibHeader> = OnceLock::new();
    let header = HEADER.get_or_init(|| {
        let module = HostMod {
            api_version: RStr::from_str(API_VERSION),
            // 0.2.1 begin
            peer_certificate: services.peer_certificate,
            // 0.2.1 end
            // 0.2.2 begin
            callout: services.callout,
            wait: services.wait,
            timer: services.timer,
            // 0.2.2 end
            // 0.2.3 begin
            redis: services.redis,
            // 0.2.3 end
        }
        .leak_into_prefix();
        Box::leak(Box::new(LibHeader::from_module(module)))
    });
    RRef::new(header)
}

/// The host's module as the plugin was built to see it, checked (version and layout)
/// by the plugin's side; the error says why it does not fit. Once it fits, [`host`]
/// returns it.
pub fn check_host(header: RRef<'static, LibHeader>) -> Result<HostModRef, String> {
    let host = header
        .get()
        .init_root_module::<HostModRef>()
        .map_err(|e| format!("this hookgate's host module does not fit the plugin: {e}"))?;
    let _ = HOST.set(host);
    Ok(host)
}

static HOST: OnceLock<HostModRef> = OnceLock::new();

/// The host's module, once an instance's init has checked it (`None` before).
pub fn host() -> Option<HostModRef> {
    HOST.get().copied()
}
