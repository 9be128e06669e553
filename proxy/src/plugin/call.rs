//! What surrounds one handler call, in every chain: the instance's circuit breaker
//! (made, or bypassed?), the watch on slow handlers, the sampled timer, and the count
//! of its outcome.

use std::time::Instant;

use hookgate_plugin_api::{Action, Point};

use super::accounting::{self, FailureKind};
use super::breaker::Admission;
use super::instance::Instance;
use super::slow;

/// One handler call being made.
pub(super) struct Call<'i> {
    instance: &'i Instance,
    point: Point,
    admission: Option<Admission>,
    started: Option<Instant>,
}

impl<'i> Call<'i> {
    /// A call of `instance`'s handler at `point`; `None` if its breaker bypasses it
    /// (counted as such).
    #[inline]
    pub(super) fn begin(instance: &'i Instance, point: Point) -> Option<Call<'i>> {
        let admission = match &instance.breaker {
            None => None,
            Some(breaker) => match breaker.admit() {
                Some(admission) => Some(admission),
                None => {
                    instance.accounts.bypassed(point);
                    return None;
                }
            },
        };
        slow::running(instance.id, point);
        Some(Call {
            instance,
            point,
            admission,
            started: accounting::sample(),
        })
    }

    /// The handler returned `action`.
    #[inline]
    pub(super) fn returned(self, action: Action) {
        self.end();
        self.instance.accounts.returned(self.point, action);
        if let (Some(breaker), Some(admission)) = (&self.instance.breaker, self.admission) {
            breaker.succeeded(admission);
        }
    }

    /// The handler failed (a panic, a broken verdict).
    pub(super) fn failed(self, kind: FailureKind) {
        self.end();
        self.instance.accounts.failed(self.point, kind);
        if let (Some(breaker), Some(admission)) = (&self.instance.breaker, self.admission) {
            breaker.failed(admission);
        }
    }

    #[inline]
    fn end(&self) {
        slow::idle();
        if let Some(started) = self.started {
            self.instance.accounts.timed(self.point, started.elapsed());
        }
    }
}
