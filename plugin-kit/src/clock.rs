//! [`Clock`]: where time windows read the time (the proxy's passive health, a
//! plugin's rate windows), so that their tests move time by hand instead of sleeping.
//!
//! Internal: an enum rather than a trait object, so that the real clock read is a
//! plain [`Instant::now`] with no virtual call; the manual variant exists only with
//! the `testing` feature (and in this crate's own tests). Async code uses tokio's
//! clock instead, which tests pause with `#[tokio::test(start_paused = true)]`.

#[cfg(any(test, feature = "testing"))]
use std::sync::{Arc, Mutex, PoisonError};
#[cfg(any(test, feature = "testing"))]
use std::time::Duration;
use std::time::Instant;

/// A source of [`Instant`]s.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system's monotonic clock.
    #[default]
    Real,
    /// A clock that stands still until a test advances it.
    #[cfg(any(test, feature = "testing"))]
    Manual(Arc<Mutex<Instant>>),
}

impl Clock {
    /// The current time.
    #[inline]
    pub fn now(&self) -> Instant {
        match self {
            Clock::Real => Instant::now(),
            #[cfg(any(test, feature = "testing"))]
            Clock::Manual(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// A manual clock, standing at the real time of the call.
    #[cfg(any(test, feature = "testing"))]
    pub fn manual() -> Clock {
        Clock::Manual(Arc::new(Mutex::new(Instant::now())))
    }

    /// Moves a manual clock `by` forward; a real clock cannot be moved.
    #[cfg(any(test, feature = "testing"))]
    pub fn advance(&self, by: Duration) {
        match self {
            Clock::Real => panic!("the real clock cannot be advanced"),
            Clock::Manual(now) => *now.lock().unwrap_or_else(PoisonError::into_inner) += by,
        }
    }
}
