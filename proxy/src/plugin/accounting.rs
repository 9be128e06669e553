//! What each instance's handlers did, per callback point: calls by outcome, failures
//! by kind, calls bypassed by an open circuit breaker, slow calls, and handler time
//! on a sample of the calls. Shown on `/metrics` and `/status`; kept across reloads by
//! instance name ([`Totals`] add up).
//!
//! Internal: relaxed atomic counters shared by every worker, one addition per call
//! (a call is counted by its outcome or its failure; `calls` is their sum). Timing
//! every call would cost two clock reads per call, more than the rest of a call's
//! overhead, so one call in [`SAMPLE`] is timed (chosen by `call`, at random on each
//! worker thread).

use std::ops::AddAssign;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hookgate_plugin_api::{Action, Point};

/// One call in this many is timed.
pub const SAMPLE: u64 = 64;

/// Why a handler failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// It panicked (the SDK caught it at the ABI boundary).
    Panic,
    /// It returned something the contract does not allow (an unknown action, a
    /// Response without a response, a Redirect without a URL).
    Verdict,
}

impl FailureKind {
    /// Both, in the order of their counters.
    pub const ALL: [FailureKind; 2] = [FailureKind::Panic, FailureKind::Verdict];

    /// Its name in metrics and `/status`.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Panic => "panic",
            FailureKind::Verdict => "verdict",
        }
    }
}

/// An outcome's name in metrics and `/status`.
pub fn outcome_name(action: Action) -> &'static str {
    match action {
        Action::Finish => "finish",
        Action::GoOn => "go_on",
        Action::Redirect => "redirect",
        Action::Response => "response",
        Action::Close => "close",
    }
}

/// One instance's counters at one point.
#[derive(Debug, Default)]
struct PointCounts {
    /// By [`Action`]'s number.
    outcomes: [AtomicU64; Action::ALL.len()],
    /// By [`FailureKind::ALL`]'s order.
    failures: [AtomicU64; FailureKind::ALL.len()],
    bypassed: AtomicU64,
    timed: AtomicU64,
    timed_nanos: AtomicU64,
    slow: AtomicU64,
}

/// One instance's counters at every point.
#[derive(Debug, Default)]
pub struct Accounts {
    points: [PointCounts; Point::ALL.len()],
}

/// The figures of one instance at one point, read at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PointTotals {
    /// Calls that returned, by [`Action`]'s number.
    pub outcomes: [u64; Action::ALL.len()],
    /// Calls that failed, by [`FailureKind::ALL`]'s order.
    pub failures: [u64; FailureKind::ALL.len()],
    /// Calls not made: the instance's circuit breaker was open.
    pub bypassed: u64,
    /// Calls whose time was taken (one in [`SAMPLE`]).
    pub timed: u64,
    /// Their time in all.
    pub timed_nanos: u64,
    /// Calls that ran longer than `server.slow_handler_ms`.
    pub slow: u64,
}

impl PointTotals {
    /// Every call made (those that returned and those that failed).
    pub fn calls(&self) -> u64 {
        self.outcomes.iter().sum::<u64>() + self.failure_count()
    }

    /// Every failed call.
    pub fn failure_count(&self) -> u64 {
        self.failures.iter().sum()
    }

    /// The calls that returned `action`.
    pub fn outcome(&self, action: Action) -> u64 {
        self.outcomes[action as usize]
    }

    /// The calls that failed so.
    pub fn failure(&self, kind: FailureKind) -> u64 {
        self.failures[kind as usize]
    }

    /// The mean time of the timed calls.
    pub fn mean(&self) -> Option<Duration> {
        (self.timed != 0).then(|| Duration::from_nanos(self.timed_nanos / self.timed))
    }
}

impl AddAssign for PointTotals {
    fn add_assign(&mut self, other: PointTotals) {
        for (a, b) in self.outcomes.iter_mut().zip(other.outcomes) {
            *a += b;
        }
        for (a, b) in self.failures.iter_mut().zip(other.failures) {
            *a += b;
        }
        self.bypassed += other.bypassed;
        self.timed += other.timed;
        self.timed_nanos += other.timed_nanos;
        self.slow += other.slow;
    }
}

/// The figures of one instance at every point, indexed by [`Point`]'s number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Per point.
    pub points: [PointTotals; Point::ALL.len()],
}

impl Totals {
    /// At `point`.
    pub fn at(&self, point: Point) -> &PointTotals {
        &self.points[point as usize]
    }
}

impl AddAssign for Totals {
    fn add_assign(&mut self, other: Totals) {
        for (a, b) in self.points.iter_mut().zip(other.points) {
            *a += b;
        }
    }
}

/// An instance's figures: its handlers' per point, its failures in all, and how often
/// its breaker opened. Summed by instance name across reloads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstanceTotals {
    /// Per point.
    pub handlers: Totals,
    /// Times its circuit breaker opened.
    pub breaker_opened: u64,
}

impl InstanceTotals {
    /// Handler calls made at every point.
    pub fn calls(&self) -> u64 {
        self.handlers.points.iter().map(PointTotals::calls).sum()
    }

    /// Handler failures (panics, broken verdicts) at every point.
    pub fn errors(&self) -> u64 {
        self.handlers
            .points
            .iter()
            .map(PointTotals::failure_count)
            .sum()
    }
}

impl AddAssign for InstanceTotals {
    fn add_assign(&mut self, other: InstanceTotals) {
        self.handlers += other.handlers;
        self.breaker_opened += other.breaker_opened;
    }
}

impl Accounts {
    #[inline]
    fn at(&self, point: Point) -> &PointCounts {
        &self.points[point as usize]
    }

    /// A call at `point` returned `action`.
    #[inline]
    pub fn returned(&self, point: Point, action: Action) {
        self.at(point).outcomes[action as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A call at `point` failed so.
    #[inline]
    pub fn failed(&self, point: Point, kind: FailureKind) {
        self.at(point).failures[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A call at `point` was not made: the breaker is open.
    #[inline]
    pub fn bypassed(&self, point: Point) {
        self.at(point).bypassed.fetch_add(1, Ordering::Relaxed);
    }

    /// A sampled call at `point` took `elapsed`.
    pub fn timed(&self, point: Point, elapsed: Duration) {
        let counts = self.at(point);
        counts.timed.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        counts.timed_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// A call at `point` ran longer than `server.slow_handler_ms`.
    pub fn slow(&self, point: Point) {
        self.at(point).slow.fetch_add(1, Ordering::Relaxed);
    }

    /// The figures now.
    pub fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for (total, counts) in totals.points.iter_mut().zip(&self.points) {
            let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
            for (t, c) in total.outcomes.iter_mut().zip(&counts.outcomes) {
                *t = load(c);
            }
            for (t, c) in total.failures.iter_mut().zip(&counts.failures) {
                *t = load(c);
            }
            total.bypassed = load(&counts.bypassed);
            total.timed = load(&counts.timed);
            total.timed_nanos = load(&counts.timed_nanos);
            total.slow = load(&counts.slow);
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_outcomes_and_failures_and_totals_add_up() {
        let accounts = Accounts::default();
        accounts.returned(Point::FoundProduct, Action::GoOn);
        accounts.returned(Point::FoundProduct, Action::GoOn);
        accounts.returned(Point::FoundProduct, Action::Response);
        accounts.failed(Point::FoundProduct, FailureKind::Panic);
        accounts.bypassed(Point::FoundProduct);
        accounts.timed(Point::FoundProduct, Duration::from_micros(3));
        accounts.timed(Point::FoundProduct, Duration::from_micros(5));
        accounts.slow(Point::ReadResponse);
        let totals = accounts.totals();
        let found = totals.at(Point::FoundProduct);
        assert_eq!(found.calls(), 4);
        assert_eq!(found.outcome(Action::GoOn), 2);
        assert_eq!(found.outcome(Action::Response), 1);
        assert_eq!(found.failure(FailureKind::Panic), 1);
        assert_eq!(found.failure(FailureKind::Verdict), 0);
        assert_eq!(found.bypassed, 1);
        assert_eq!(found.mean(), Some(Duration::from_micros(4)));
        assert_eq!(totals.at(Point::ReadResponse).slow, 1);
        assert_eq!(totals.at(Point::ReadResponse).mean(), None);
        let mut sum = totals;
        sum += totals;
        assert_eq!(sum.at(Point::FoundProduct).calls(), 8);
        assert_eq!(sum.at(Point::FoundProduct).timed_nanos, 16_000);
    }
}
