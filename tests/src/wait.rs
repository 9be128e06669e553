//! [`wait_until`]: polling for an event the test cannot be told of, with a bound.

use std::time::{Duration, Instant};

/// Polls `done` every 10 ms until it holds.
///
/// # Panics
///
/// If it does not hold within `timeout`, naming `what` was awaited.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
