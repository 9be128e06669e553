//! What surrounds one handler call, in every chain: the instance's circuit breaker
//! (made, or bypassed?), the watch on slow handlers, the sampled timer, and the count
//! of its outcome.
//!
//! Internal: per call, one read of this worker thread's state (its slot for the
//! watchdog, its call number, the calls left before the next timed one), two plain
//! stores into the slot, and one relaxed addition for the outcome. One call in
//! [`SAMPLE`] is timed: the gaps between timed calls are drawn at random (1 to
//! 2 × [`SAMPLE`] − 1), so that no position in a chain is favoured, as a fixed "every
//! Nth" would favour some positions of a chain whose length shares a factor with N.

use std::cell::{Cell, RefCell};
use std::time::{Instant, SystemTime};

use hookgate_plugin_api::{Action, Point};

use super::accounting::{FailureKind, SAMPLE};
use super::breaker::Admission;
use super::instance::Instance;
use super::slow::{self, Slot};
use crate::trace::PluginEvent;

/// One worker thread's state for the calls it makes.
struct Worker {
    /// Its slot for the watchdog (made on its first call).
    slot: Cell<Option<&'static Slot>>,
    /// Its calls so far.
    seq: Cell<u64>,
    /// Calls left until the next timed one.
    countdown: Cell<u64>,
    /// xorshift64 state for the gaps.
    rng: Cell<u64>,
    /// Whether the calls made now are noted for a sampled request's span.
    traced: Cell<bool>,
}

thread_local! {
    /// Const-initialised, without a destructor: reading it is a few instructions.
    static WORKER: Worker = const { Worker::new() };
    /// The calls noted while [`Worker::traced`] is set (touched only then).
    static TRACED: RefCell<Vec<PluginEvent>> = const { RefCell::new(Vec::new()) };
}

/// Starts (`true`) or stops noting the handler calls made on this thread for a
/// sampled request's span; stopping returns the calls noted since the start.
pub fn trace_calls(on: bool) -> Vec<PluginEvent> {
    WORKER.with(|worker| worker.traced.set(on));
    TRACED.with(|traced| std::mem::take(&mut *traced.borrow_mut()))
}

impl Worker {
    const fn new() -> Worker {
        Worker {
            slot: Cell::new(None),
            seq: Cell::new(0),
            countdown: Cell::new(SAMPLE),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15),
            traced: Cell::new(false),
        }
    }

    /// Notes the start of a call; its slot, and whether to time it.
    #[inline]
    fn start(&self, instance: u32, point: Point) -> (&'static Slot, bool) {
        let slot = match self.slot.get() {
            Some(slot) => slot,
            None => {
                let slot = slow::register();
                self.slot.set(Some(slot));
                slot
            }
        };
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        slot.running(seq, instance, point);
        let left = self.countdown.get().saturating_sub(1);
        if left != 0 {
            self.countdown.set(left);
            return (slot, false);
        }
        self.countdown.set(self.gap());
        (slot, true)
    }

    /// Calls until the next timed one: 1 to 2 × SAMPLE − 1, SAMPLE on average.
    #[cold]
    fn gap(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        1 + x % (2 * SAMPLE - 1)
    }
}

/// One handler call being made.
pub(super) struct Call<'i> {
    instance: &'i Instance,
    point: Point,
    admission: Option<Admission>,
    slot: &'static Slot,
    started: Option<Instant>,
    /// Whether the call is noted for a span.
    traced: bool,
    /// Whether its handler answered with a status of 500 and above.
    server_error: bool,
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
        let (slot, timed, traced) = WORKER.with(|worker| {
            let (slot, timed) = worker.start(instance.id, point);
            (slot, timed, worker.traced.get())
        });
        Some(Call {
            instance,
            point,
            admission,
            slot,
            started: timed.then(Instant::now),
            traced,
            server_error: false,
        })
    }

    /// Whether its handler answered the request with a status of 500 and above (a
    /// canary may count that as an error).
    #[inline]
    pub(super) fn answered(mut self, server_error: bool) -> Self {
        self.server_error = server_error;
        self
    }

    /// The handler returned `action`.
    #[inline]
    pub(super) fn returned(self, action: Action) {
        self.end();
        if self.traced {
            self.note(super::accounting::outcome_name(action));
        }
        self.instance.accounts.returned(self.point, action);
        if let (Some(breaker), Some(admission)) = (&self.instance.breaker, self.admission) {
            breaker.succeeded(admission);
        }
        if let Some(canary) = self.instance.trial() {
            canary.note(self.server_error && canary.config().count_5xx);
        }
    }

    /// The handler failed (a panic, a broken verdict).
    pub(super) fn failed(self, kind: FailureKind) {
        self.end();
        if self.traced {
            self.note(kind.name());
        }
        self.instance.accounts.failed(self.point, kind);
        if let (Some(breaker), Some(admission)) = (&self.instance.breaker, self.admission) {
            breaker.failed(admission);
        }
        if let Some(canary) = self.instance.trial() {
            canary.note(true);
        }
    }

    /// Notes the call for the span of the request it ran for.
    #[cold]
    fn note(&self, outcome: &'static str) {
        let event = PluginEvent {
            at: SystemTime::now(),
            plugin: self.instance.name.clone(),
            point: self.point.name(),
            outcome,
        };
        TRACED.with(|traced| traced.borrow_mut().push(event));
    }

    #[inline]
    fn end(&self) {
        self.slot.idle();
        if let Some(started) = self.started {
            self.instance.accounts.timed(self.point, started.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_one_call_in_sample_is_timed_at_random_gaps() {
        let worker = Worker::new();
        let timed: Vec<usize> = (0..64_000)
            .filter(|_| worker.start(1, Point::FoundProduct).1)
            .collect();
        // 1,000 expected.
        assert!((850..1_150).contains(&timed.len()), "{}", timed.len());
        // Every position of a chain of 18 handlers is timed, about equally.
        let mut by_position = [0usize; 18];
        let worker = Worker::new();
        for n in 0..64_000 {
            if worker.start(1, Point::FoundProduct).1 {
                by_position[n % 18] += 1;
            }
        }
        assert!(by_position.iter().all(|&c| c > 20), "{by_position:?}");
    }
}
