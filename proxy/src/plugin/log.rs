//! [`InstanceLog`]: the host's side of [`HostLog`], one per plugin instance. A plugin's
//! messages go to the proxy's `tracing` output under target `hookgate::plugin`, with the
//! instance's name, the point, the call site and how many messages its rate limit
//! dropped (`RUST_LOG=hookgate::plugin=debug` shows the plugins' debug messages).

use std::sync::Arc;

use hookgate_plugin_api::abi::{
    HostLog, HostLogBox, HostLog_TO, RStr, TD_Opaque, LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_WARN,
};
use hookgate_plugin_api::Point;

/// The log of one plugin instance.
pub(crate) struct InstanceLog {
    /// The instance's name, as in chains and metrics.
    name: Arc<str>,
}

impl InstanceLog {
    /// The log handed to instance `name`'s init.
    pub(crate) fn boxed(name: &str) -> HostLogBox {
        HostLog_TO::from_value(InstanceLog { name: name.into() }, TD_Opaque)
    }
}

/// A point's name, or `-` outside handlers.
fn point_name(code: u8) -> &'static str {
    Point::ALL
        .into_iter()
        .find(|p| *p as u8 == code)
        .map_or("-", Point::name)
}

impl HostLog for InstanceLog {
    fn enabled(&self, level: u8) -> bool {
        match level {
            LOG_ERROR => tracing::enabled!(target: "hookgate::plugin", tracing::Level::ERROR),
            LOG_WARN => tracing::enabled!(target: "hookgate::plugin", tracing::Level::WARN),
            LOG_INFO => tracing::enabled!(target: "hookgate::plugin", tracing::Level::INFO),
            LOG_DEBUG => tracing::enabled!(target: "hookgate::plugin", tracing::Level::DEBUG),
            _ => tracing::enabled!(target: "hookgate::plugin", tracing::Level::TRACE),
        }
    }

    fn log(&self, level: u8, point: u8, site: RStr<'_>, message: RStr<'_>, suppressed: u32) {
        let (plugin, point, site, message) = (
            &*self.name,
            point_name(point),
            site.as_str(),
            message.as_str(),
        );
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(target: "hookgate::plugin", $level, plugin, point, site, suppressed, "{message}")
            };
        }
        match level {
            LOG_ERROR => event!(tracing::Level::ERROR),
            LOG_WARN => event!(tracing::Level::WARN),
            LOG_INFO => event!(tracing::Level::INFO),
            LOG_DEBUG => event!(tracing::Level::DEBUG),
            _ => event!(tracing::Level::TRACE),
        }
    }
}
