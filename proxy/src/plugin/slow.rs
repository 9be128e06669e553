//! The watch on slow handlers (`server.slow_handler_ms`).
//!
//! Handlers run on the proxy's worker threads: one that blocks holds its thread, and
//! every connection scheduled there waits until it returns. Each worker thread notes,
//! in a slot of its own, which handler it runs (two plain stores per call, no clock);
//! a watchdog thread looks at every slot a few times per `slow_handler_ms` and reports
//! a call it has seen running for at least `slow_handler_ms`: counted on its instance
//! and point, and logged, at most once per 10 s per instance and point (with the
//! number of others since). A call is reported once, however long it runs; one that
//! never returns is reported too. Calls shorter than `slow_handler_ms` plus one tick
//! of the watchdog may be missed: the watch is meant for handlers that stall a worker,
//! not for timing (the sampled handler time on `/metrics` is that).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use hookgate_plugin_api::abi::PointCode;
use hookgate_plugin_api::Point;

use crate::server::Server;
use crate::snapshot::Snapshot;

/// One worker thread's note of the handler it runs: a [`tag`], 0 when none. Each
/// thread keeps a reference to its own ([`register`] makes it).
#[derive(Debug, Default)]
pub(super) struct Slot {
    running: AtomicU64,
}

impl Slot {
    /// Notes that this thread now runs its call number `seq`, of `instance`'s handler
    /// at `point`.
    #[inline]
    pub(super) fn running(&self, seq: u64, instance: u32, point: Point) {
        self.running
            .store(tag(seq, instance, point), Ordering::Relaxed);
    }

    /// Notes that this thread runs no handler now.
    #[inline]
    pub(super) fn idle(&self) {
        self.running.store(0, Ordering::Relaxed);
    }
}

/// Every thread's slot (threads that ever ran a handler; worker threads live as long
/// as the proxy, so the few slots are leaked with them).
static SLOTS: Mutex<Vec<&'static Slot>> = Mutex::new(Vec::new());

/// A call's tag: a per-thread call number (24 bits), the instance id (32), the point
/// (8, plus one: a tag is never 0).
fn tag(seq: u64, instance: u32, point: Point) -> u64 {
    (seq & 0xFF_FFFF) << 40 | u64::from(instance) << 8 | (point as u64 + 1)
}

/// The instance and point of a tag.
fn untag(tag: u64) -> Option<(u32, Point)> {
    let instance = u32::try_from(tag >> 8 & 0xFFFF_FFFF).ok()?;
    let code = u8::try_from((tag & 0xFF).checked_sub(1)?).ok()?;
    Some((instance, PointCode(code).point()?))
}

/// A new slot, watched from now on (once per thread).
#[cold]
pub(super) fn register() -> &'static Slot {
    let slot: &'static Slot = Box::leak(Box::default());
    SLOTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(slot);
    slot
}

/// What every thread runs now: (the thread's slot, the call's tag). Two threads'
/// calls may have the same tag (their call numbers are their own), so the slot tells
/// them apart.
fn running_now() -> Vec<(usize, u64)> {
    SLOTS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|slot| slot.running.load(Ordering::Relaxed))
        .enumerate()
        .filter(|&(_, tag)| tag != 0)
        .collect()
}

/// A call seen running for at least the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slow {
    /// The instance's id.
    pub instance: u32,
    /// Where.
    pub point: Point,
    /// How long it had run when seen (at least this long).
    pub running: Duration,
    /// Whether to log it (the first of its instance and point in [`LOG_EVERY`]).
    pub log: bool,
    /// Slow calls of the same instance and point not logged since the last line.
    pub suppressed: u64,
}

/// At most one log line per instance and point in this long.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The watchdog's memory: calls seen running, and when each instance and point was
/// last logged.
#[derive(Debug, Default)]
pub struct SlowWatch {
    /// (slot, tag) → when first seen, and whether reported.
    seen: HashMap<(usize, u64), (Instant, bool)>,
    /// (instance, point) → last line, and slow calls not logged since.
    logged: HashMap<(u32, Point), (Instant, u64)>,
}

impl SlowWatch {
    /// Looks at the calls running at `now` (`running`: each thread's slot and its
    /// call's tag): returns those that have run for at least `threshold`, each once.
    pub fn observe(
        &mut self,
        now: Instant,
        threshold: Duration,
        running: &[(usize, u64)],
    ) -> Vec<Slow> {
        self.seen.retain(|call, _| running.contains(call));
        let mut found = Vec::new();
        for &(slot, tag) in running {
            let (since, reported) = self.seen.entry((slot, tag)).or_insert((now, false));
            let running = now.saturating_duration_since(*since);
            if *reported || running < threshold {
                continue;
            }
            *reported = true;
            let Some((instance, point)) = untag(tag) else {
                continue;
            };
            let (log, suppressed) = match self.logged.get_mut(&(instance, point)) {
                Some((last, skipped)) if now.saturating_duration_since(*last) < LOG_EVERY => {
                    *skipped += 1;
                    (false, 0)
                }
                Some((last, skipped)) => {
                    let suppressed = std::mem::take(skipped);
                    *last = now;
                    (true, suppressed)
                }
                None => {
                    self.logged.insert((instance, point), (now, 0));
                    (true, 0)
                }
            };
            found.push(Slow {
                instance,
                point,
                running,
                log,
                suppressed,
            });
        }
        found
    }
}

/// How often the watchdog looks, for a threshold: four times per threshold, between
/// 5 ms and 250 ms.
pub fn tick(threshold: Duration) -> Duration {
    (threshold / 4).clamp(Duration::from_millis(5), Duration::from_millis(250))
}

/// One look of the watchdog at every worker thread, at `now`.
pub fn look(watch: &mut SlowWatch, now: Instant, threshold: Duration) -> Vec<Slow> {
    watch.observe(now, threshold, &running_now())
}

/// Starts the watchdog thread: it looks at the worker threads every
/// [`tick`] of the current snapshot's `slow_handler_ms`, counts each slow call on its
/// instance and point, and logs it (rate-limited). It ends with the server.
pub fn start_watchdog(server: Weak<Server>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("hookgate-watchdog".into())
        .spawn(move || {
            let mut watch = SlowWatch::default();
            loop {
                let Some(server) = server.upgrade() else {
                    return;
                };
                let snapshot = server.snapshot();
                drop(server);
                let Some(threshold) = snapshot.slow_handler else {
                    drop(snapshot);
                    std::thread::sleep(Duration::from_millis(250));
                    continue;
                };
                for slow in look(&mut watch, Instant::now(), threshold) {
                    report(&snapshot, threshold, slow);
                }
                drop(snapshot);
                std::thread::sleep(tick(threshold));
            }
        })
        .map(drop)
}

/// Counts a slow call on its instance and, if its turn, logs it.
fn report(snapshot: &Snapshot, threshold: Duration, slow: Slow) {
    let instance = snapshot.metrics.instance(slow.instance, &snapshot.plugins);
    if let Some(instance) = &instance {
        instance.accounts.slow(slow.point);
    }
    if !slow.log {
        return;
    }
    let plugin = instance.as_ref().map_or("(replaced)", |i| i.name.as_str());
    tracing::warn!(
        plugin = %plugin,
        point = slow.point.name(),
        running_ms = u64::try_from(slow.running.as_millis()).unwrap_or(u64::MAX),
        slow_handler_ms = u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX),
        suppressed = slow.suppressed,
        "plugin handler is slow: it runs on a worker thread, and every connection on \
         that thread waits until it returns"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn tag_round_trips() {
        for point in Point::ALL {
            for (seq, instance) in [(0, 1), (1 << 30, u32::MAX), (12345, 77)] {
                let t = tag(seq, instance, point);
                assert_ne!(t, 0);
                assert_eq!(untag(t), Some((instance, point)));
            }
        }
        assert_eq!(untag(0), None);
    }

    #[test]
    fn a_call_running_past_the_threshold_is_reported_once() {
        let mut watch = SlowWatch::default();
        let start = Instant::now();
        let t = tag(1, 7, Point::FoundProduct);
        assert!(watch.observe(start, 100 * MS, &[(0, t)]).is_empty());
        assert!(watch
            .observe(start + 99 * MS, 100 * MS, &[(0, t)])
            .is_empty());
        let slow = watch.observe(start + 100 * MS, 100 * MS, &[(0, t)]);
        assert_eq!(
            slow,
            [Slow {
                instance: 7,
                point: Point::FoundProduct,
                running: 100 * MS,
                log: true,
                suppressed: 0
            }]
        );
        assert!(watch
            .observe(start + 2_000 * MS, 100 * MS, &[(0, t)])
            .is_empty());
    }

    #[test]
    fn two_short_calls_of_the_same_handler_are_not_one_long_call() {
        let mut watch = SlowWatch::default();
        let start = Instant::now();
        let first = tag(1, 7, Point::FoundProduct);
        let second = tag(2, 7, Point::FoundProduct);
        assert!(watch.observe(start, 100 * MS, &[(0, first)]).is_empty());
        assert!(watch
            .observe(start + 60 * MS, 100 * MS, &[(0, second)])
            .is_empty());
        assert!(watch
            .observe(start + 120 * MS, 100 * MS, &[(0, second)])
            .is_empty());
        assert_eq!(
            watch
                .observe(start + 160 * MS, 100 * MS, &[(0, second)])
                .len(),
            1
        );
    }

    /// Two worker threads' calls can carry the same tag (each counts its own calls):
    /// one thread's call seen slow must not hide the other's.
    #[test]
    fn the_same_tag_on_two_threads_is_two_calls() {
        let mut watch = SlowWatch::default();
        let start = Instant::now();
        let t = tag(1, 7, Point::FoundProduct);
        watch.observe(start, 100 * MS, &[(0, t)]);
        assert_eq!(
            watch.observe(start + 100 * MS, 100 * MS, &[(0, t)]).len(),
            1
        );
        // The first call ends and the second starts on another thread between two
        // looks.
        assert!(watch
            .observe(start + 125 * MS, 100 * MS, &[(1, t)])
            .is_empty());
        assert_eq!(
            watch.observe(start + 225 * MS, 100 * MS, &[(1, t)]).len(),
            1
        );
    }

    #[test]
    fn an_idle_thread_is_never_slow() {
        let mut watch = SlowWatch::default();
        let start = Instant::now();
        assert!(watch.observe(start, MS, &[]).is_empty());
        assert!(watch.observe(start + 10_000 * MS, MS, &[]).is_empty());
    }

    #[test]
    fn log_lines_are_limited_per_instance_and_point_and_count_the_rest() {
        let mut watch = SlowWatch::default();
        let start = Instant::now();
        let mut at = start;
        let mut logged = Vec::new();
        for seq in 0..5u64 {
            let t = tag(seq, 3, Point::ReadResponse);
            watch.observe(at, 100 * MS, &[(0, t)]);
            at += 150 * MS;
            let slow = watch.observe(at, 100 * MS, &[(0, t)]);
            assert_eq!(slow.len(), 1);
            logged.push((slow[0].log, slow[0].suppressed));
        }
        assert_eq!(
            logged,
            [(true, 0), (false, 0), (false, 0), (false, 0), (false, 0)]
        );
        // Another point of the same instance has a line of its own.
        let other = tag(9, 3, Point::FoundProduct);
        watch.observe(at, 100 * MS, &[(0, other)]);
        assert!(watch.observe(at + 100 * MS, 100 * MS, &[(0, other)])[0].log);
        // Past LOG_EVERY: a line again, with the four not logged.
        let later = start + LOG_EVERY + 500 * MS;
        let t = tag(99, 3, Point::ReadResponse);
        watch.observe(later, 100 * MS, &[(0, t)]);
        let slow = watch.observe(later + 100 * MS, 100 * MS, &[(0, t)]);
        assert_eq!((slow[0].log, slow[0].suppressed), (true, 4));
    }

    #[test]
    fn the_tick_is_a_quarter_of_the_threshold_within_bounds() {
        assert_eq!(tick(100 * MS), 25 * MS);
        assert_eq!(tick(MS), 5 * MS);
        assert_eq!(tick(10_000 * MS), 250 * MS);
    }

    #[test]
    fn a_thread_running_a_handler_is_seen_until_it_is_idle() {
        std::thread::spawn(|| {
            let slot = register();
            slot.running(1, 4242, Point::Forward);
            let mine = |&(_, t): &(usize, u64)| untag(t) == Some((4242, Point::Forward));
            assert!(running_now().iter().any(mine));
            slot.idle();
            assert!(!running_now().iter().any(mine));
        })
        .join()
        .unwrap();
    }
}
