//! [`Clock`]: where the windows read the time, so that tests move it by hand instead of
//! sleeping.
//!
//! Internal: an enum rather than a trait object, so that the plugin's clock read is a
//! plain [`Instant::now`]; the manual variant exists in unit tests only.

#[cfg(test)]
use std::sync::{Arc, Mutex, PoisonError};
#[cfg(test)]
use std::time::Duration;
use std::time::Instant;

/// A source of [`Instant`]s.
#[derive(Clone)]
pub(crate) enum Clock {
    /// The system's monotonic clock.
    Real,
    /// A clock that stands still until a test advances it.
    #[cfg(test)]
    Manual(Arc<Mutex<Instant>>),
}

impl Clock {
    /// The current time.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::Real => Instant::now(),
            #[cfg(test)]
            Clock::Manual(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// A manual clock, standing at the real time of the call.
    #[cfg(test)]
    pub(crate) fn manual() -> Clock {
        Clock::Manual(Arc::new(Mutex::new(Instant::now())))
    }

    /// Moves a manual clock `by` forward.
    #[cfg(test)]
    pub(crate) fn advance(&self, by: Duration) {
        if let Clock::Manual(now) = self {
            *now.lock().unwrap_or_else(PoisonError::into_inner) += by;
        }
    }
}
