//! [`HostLog`]: the host's log, handed to each plugin instance at init.

use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, RStr};

/// `error`, the most severe [`HostLog`] level; then `WARN`, `INFO`, `DEBUG`, `TRACE`.
pub const LOG_ERROR: u8 = 1;
/// See [`LOG_ERROR`].
pub const LOG_WARN: u8 = 2;
/// See [`LOG_ERROR`].
pub const LOG_INFO: u8 = 3;
/// See [`LOG_ERROR`].
pub const LOG_DEBUG: u8 = 4;
/// See [`LOG_ERROR`].
pub const LOG_TRACE: u8 = 5;
/// The `point` of a message logged outside any handler (at init, or from a plugin's
/// own thread).
pub const NO_POINT: u8 = u8::MAX;

/// The host's log for one plugin instance: messages get the instance's name and the
/// point as fields. Levels are the `LOG_*` codes; an unknown one is read as `TRACE`.
#[sabi_trait]
pub trait HostLog: Send + Sync {
    /// Whether a message at `level` would be written (checked before formatting).
    fn enabled(&self, level: u8) -> bool;
    /// Writes `message` at `level`, logged at `point` (a [`Point`](crate::Point) code,
    /// or [`NO_POINT`]) by the call site `site` (`file:line`), after `suppressed`
    /// messages of the same site were dropped by its rate limit.
    #[sabi(last_prefix_field)]
    fn log(&self, level: u8, point: u8, site: RStr<'_>, message: RStr<'_>, suppressed: u32);
}

/// An owned host log, as the registry hands it out.
pub type HostLogBox = HostLog_TO<'static, RBox<()>>;
