//! Logging through the host: [`error!`](crate::error), [`warn!`](crate::warn),
//! [`info!`](crate::info), [`debug!`](crate::debug) and [`trace!`](crate::trace) write
//! to the proxy's log (its `tracing` output, target `hookgate::plugin`), with the
//! plugin instance's name and the callback point as fields.
//!
//! Each call site is rate-limited: at most [`BURST`] messages per second; the ones
//! dropped are counted and reported (`suppressed`) with the next message that passes,
//! so that a message about client input cannot flood the log. A message is formatted
//! only if the host's level lets it through.
//!
//! Internal: the SDK's handler adapters note, per thread, which instance runs at which
//! point (`Scope`); a message finds that instance's host log in a table filled at
//! init. From a plugin's own thread (outside any handler) messages go to the log of
//! the library's most recently initialised instance, without a point.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Instant;

use crate::abi::{HostLogBox, NO_POINT};

/// Messages per call site and second, at most.
pub const BURST: u32 = 10;

/// How severe a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Something failed.
    Error = crate::abi::LOG_ERROR,
    /// Something is wrong but the request goes on.
    Warn = crate::abi::LOG_WARN,
    /// Worth knowing in normal operation.
    Info = crate::abi::LOG_INFO,
    /// For whoever debugs the plugin.
    Debug = crate::abi::LOG_DEBUG,
    /// Very detailed.
    Trace = crate::abi::LOG_TRACE,
}

impl Level {
    /// The level of a host log code (`TRACE` for an unknown one).
    pub fn from_code(code: u8) -> Level {
        match code {
            crate::abi::LOG_ERROR => Level::Error,
            crate::abi::LOG_WARN => Level::Warn,
            crate::abi::LOG_INFO => Level::Info,
            crate::abi::LOG_DEBUG => Level::Debug,
            _ => Level::Trace,
        }
    }
}

/// Where a message is logged from, with its rate limit; one `static` per macro call.
#[doc(hidden)]
pub struct CallSite {
    site: &'static str,
    /// The second (since the library's first message) of the current window in the
    /// high 32 bits, messages let through in it in the next 16, messages dropped since
    /// the last one let through in the low 16.
    window: AtomicU64,
}

impl CallSite {
    /// A call site at `site` (`file:line`).
    pub const fn new(site: &'static str) -> CallSite {
        CallSite {
            site,
            window: AtomicU64::new(0),
        }
    }

    /// `Some(dropped so far)` if a message may go now, else `None` (counted).
    fn admit(&self, second: u32) -> Option<u32> {
        let mut current = self.window.load(Ordering::Relaxed);
        loop {
            let (window, sent, dropped) = (
                (current >> 32) as u32,
                ((current >> 16) & 0xffff) as u32,
                (current & 0xffff) as u32,
            );
            let (sent, admitted) = if window != second {
                (1, true)
            } else if sent < BURST {
                (sent + 1, true)
            } else {
                (sent, false)
            };
            let next_dropped = if admitted {
                0
            } else {
                (dropped + 1).min(0xffff)
            };
            let next =
                (u64::from(second) << 32) | (u64::from(sent) << 16) | u64::from(next_dropped);
            match (self.window).compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return admitted.then_some(dropped),
                Err(actual) => current = actual,
            }
        }
    }
}

thread_local! {
    /// The instance running on this thread, and at which point.
    static CURRENT: Cell<(u32, u8)> = const { Cell::new((0, NO_POINT)) };
}

/// The instance and point a handler (or an init) runs at, for as long as it lives.
pub(crate) struct Scope(Option<(u32, u8)>);

impl Scope {
    /// Notes that `instance` runs at `point` (a [`Point`](crate::Point) code, or
    /// [`NO_POINT`]) on this thread.
    #[inline]
    pub(crate) fn enter(instance: u32, point: u8) -> Scope {
        Scope(
            CURRENT
                .try_with(|current| current.replace((instance, point)))
                .ok(),
        )
    }
}

impl Drop for Scope {
    #[inline]
    fn drop(&mut self) {
        if let Some(previous) = self.0 {
            let _ = CURRENT.try_with(|current| current.set(previous));
        }
    }
}

/// The host logs of this library's instances, by instance id, in init order.
static LOGS: RwLock<Vec<(u32, Arc<HostLogBox>)>> = RwLock::new(Vec::new());

/// Keeps `log` as instance `instance`'s.
pub(crate) fn register(instance: u32, log: HostLogBox) {
    /// Instances remembered: reloads and tests initialise new ones without end; an
    /// instance forgotten logs through the most recent one's log.
    const REMEMBERED: usize = 256;
    let mut logs = LOGS.write().unwrap_or_else(PoisonError::into_inner);
    if logs.len() == REMEMBERED {
        logs.remove(0);
    }
    logs.push((instance, Arc::new(log)));
}

/// The log of `instance`, else of the last instance initialised.
fn log_of(instance: u32) -> Option<Arc<HostLogBox>> {
    let logs = LOGS.read().unwrap_or_else(PoisonError::into_inner);
    (logs.iter().rev())
        .find(|(owner, _)| *owner == instance)
        .or(logs.last())
        .map(|(_, log)| Arc::clone(log))
}

/// Seconds since this library's first message: the rate limit's clock.
fn second() -> u32 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u32::try_from(start.elapsed().as_secs()).unwrap_or(u32::MAX)
}

/// Writes a message through the host; what the macros call.
#[doc(hidden)]
pub fn emit(level: Level, site: &CallSite, args: fmt::Arguments<'_>) {
    let (instance, point) = CURRENT.try_with(Cell::get).unwrap_or((0, NO_POINT));
    let Some(log) = log_of(instance) else {
        return;
    };
    if !log.enabled(level as u8) {
        return;
    }
    let Some(suppressed) = site.admit(second()) else {
        return;
    };
    let message = fmt::format(args);
    log.log(
        level as u8,
        point,
        site.site.into(),
        message.as_str().into(),
        suppressed,
    );
}

/// Logs an error through the host, like `format!`; see [`log`](crate::log).
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {{
        static SITE: $crate::log::CallSite =
            $crate::log::CallSite::new(concat!(file!(), ":", line!()));
        $crate::log::emit($crate::log::Level::Error, &SITE, format_args!($($arg)+))
    }};
}

/// Logs a warning through the host, like `format!`; see [`log`](crate::log).
///
/// ```
/// use hookgate_plugin_api::{Outcome, Registry};
///
/// fn init(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
///     reg.on_found_product(|req| {
///         if req.header("x-api-key").is_none() {
///             hookgate_plugin_api::warn!("no key on {}", req.path());
///         }
///         Outcome::GoOn
///     });
///     Ok(())
/// }
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {{
        static SITE: $crate::log::CallSite =
            $crate::log::CallSite::new(concat!(file!(), ":", line!()));
        $crate::log::emit($crate::log::Level::Warn, &SITE, format_args!($($arg)+))
    }};
}

/// Logs at info level through the host, like `format!`; see [`log`](crate::log).
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {{
        static SITE: $crate::log::CallSite =
            $crate::log::CallSite::new(concat!(file!(), ":", line!()));
        $crate::log::emit($crate::log::Level::Info, &SITE, format_args!($($arg)+))
    }};
}

/// Logs at debug level through the host, like `format!`; see [`log`](crate::log).
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {{
        static SITE: $crate::log::CallSite =
            $crate::log::CallSite::new(concat!(file!(), ":", line!()));
        $crate::log::emit($crate::log::Level::Debug, &SITE, format_args!($($arg)+))
    }};
}

/// Logs at trace level through the host, like `format!`; see [`log`](crate::log).
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {{
        static SITE: $crate::log::CallSite =
            $crate::log::CallSite::new(concat!(file!(), ":", line!()));
        $crate::log::emit($crate::log::Level::Trace, &SITE, format_args!($($arg)+))
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_site_lets_a_burst_through_per_second_and_counts_the_rest() {
        let site = CallSite::new("x.rs:1");
        for _ in 0..BURST {
            assert_eq!(site.admit(7), Some(0));
        }
        assert_eq!(site.admit(7), None);
        assert_eq!(site.admit(7), None);
        // The next second: the first message reports the two dropped.
        assert_eq!(site.admit(8), Some(2));
        assert_eq!(site.admit(8), Some(0));
    }
}

#[cfg(all(test, feature = "testing"))]
mod host_tests;
