//! The raw, stable ABI between the proxy and its plugins.
//!
//! Plugin authors never need this module: the SDK types ([`Request`](crate::Request),
//! [`Session`](crate::Session), [`Registry`](crate::Registry), …) wrap it, and the
//! [`export_plugin!`](crate::export_plugin) macro writes the root module. The host
//! (the `hookgate` proxy) and the [`testing`](crate::testing) harness use it directly.
//!
//! Everything here is `#[repr(C)]` + [`StableAbi`], so abi_stable checks the layout of
//! every type reachable from [`PluginMod`] when the host loads a plugin.
//!
//! Internal: the host implements the `*View` traits and [`Registry`](RegistryAbi); the
//! plugin implements the `*Handler` traits. Each handler returns an
//! `RResult<_, RString>` whose error carries a panic message or a plugin error.

mod addr;
#[allow(non_local_definitions)]
mod callout;
mod code;
// abi_stable's `#[sabi_trait]` expands to impls inside a generated const.
#[allow(non_local_definitions)]
mod handler;
#[allow(non_local_definitions)]
mod host;
#[allow(non_local_definitions)]
mod local;
#[allow(non_local_definitions)]
mod log;
#[allow(non_local_definitions)]
mod metric;
mod module;
mod peer;
mod redis;
#[allow(non_local_definitions)]
mod timer;
// `LocalAny` (a `DynTrait`) is `StableAbi`, checked at load like every other type;
// rustc's FFI lint only sees its zero-sized phantom field.
#[allow(non_local_definitions, improper_ctypes_definitions)]
mod view;

pub use addr::{IpAbi, SocketAddrAbi};
pub use callout::{
    Ask, CalloutResultAbi, CalloutSpecAbi, ContinuationBox, ContinuationHandler,
    ContinuationHandler_TO,
};
pub use code::{ActionCode, OverLimitCode, PointCode};
pub use handler::{
    ForwardHandler, ForwardHandlerBox, ForwardHandler_TO, HandlerResult, RegistryAbi,
    RegistryAbi_TO, RegistryMut, RequestHandler, RequestHandlerBox, RequestHandler_TO,
    RequestVerdict, ResponseData, ResponseHandler, ResponseHandlerBox, ResponseHandler_TO,
    SessionHandler, SessionHandlerBox, SessionHandler_TO,
};
pub use host::{
    check_host, host, host_header, HostMod, HostModRef, HostMod_Prefix, HostServices,
    PeerCertificateFn, RedisFn, TimerFn,
};
pub use local::{LocalAny, LocalInterface, Locals};
pub use log::{
    HostLog, HostLogBox, HostLog_TO, LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_TRACE, LOG_WARN, NO_POINT,
};
pub use metric::{
    check_def, escape as escape_label, HostMetric, HostMetricBox, HostMetric_TO, MetricDef,
    MetricFamily, COUNTER, GAUGE, HISTOGRAM, MAX_LABELS, MAX_SERIES,
};
pub use module::{ManifestAbi, PluginMod, PluginModRef, PluginMod_Prefix, API_VERSION};
pub use peer::PeerCertificateAbi;
pub use redis::RedisSpecAbi;
pub use timer::{
    collect_timers, register_timer, RegisteredTimer, TimerDone, TimerDoneBox, TimerDone_TO,
    TimerHandler, TimerHandlerBox, TimerHandler_TO,
};
pub use view::{
    RequestView, RequestViewMut, RequestView_TO, ResponseView, ResponseViewMut, ResponseView_TO,
    SessionView, SessionViewMut, SessionView_TO,
};

// Re-exported for hosts and for the code that `export_plugin!` writes, so that neither
// needs its own dependency on abi_stable (and cannot pick a mismatched version).
#[doc(hidden)]
pub use abi_stable;
pub use abi_stable::std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec, Tuple2};
pub use abi_stable::type_level::downcasting::TD_Opaque;
pub use abi_stable::{RMut, RRef, StableAbi};
