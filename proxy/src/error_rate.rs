//! How failures are counted over time: one mechanism for passive backend ejection
//! ([`crate::balance`]'s `HealthState`), plugin circuit breakers
//! (`crate::plugin::breaker`) and the rollback of a canary plugin build
//! (`crate::plugin::canary`: the new generation's calls, judged by a [`Threshold`]).
//!
//! A [`Window`] counts calls and errors over the last `span`, in steps; a
//! [`Threshold`] says when the counts are bad enough to act on. Time is passed in as
//! milliseconds since the owner's epoch (the owner holds the clock, a
//! `hookgate_plugin_kit::Clock`, so that its tests run on a manual one); the window
//! itself reads no clock, and its tests need none.
//!
//! ```
//! use hookgate::error_rate::{Threshold, Window};
//! use std::time::Duration;
//!
//! // A circuit breaker's window: 10 s in steps of 1 s; open at half the calls failing,
//! // with at least 4 calls.
//! let window = Window::new(Duration::from_secs(10), 10);
//! let opens = Threshold::ratio(0.5, 4);
//! window.note(0, false);
//! window.note(100, false);
//! window.note(200, true);
//! assert!(!opens.crossed(window.counts(200)));
//! assert!(opens.crossed(window.record(300, true)));
//! // 10 s later, all of it has slid out.
//! assert_eq!(window.counts(10_300).calls, 0);
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Calls and errors counted by a [`Window`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Every call recorded (errors included).
    pub calls: u64,
    /// The calls that failed.
    pub errors: u64,
}

/// When counts are bad enough to act on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    min_calls: u64,
    min_errors: u64,
    error_ratio: f64,
}

impl Threshold {
    /// `max_fails` errors, whatever the number of calls (nginx's `max_fails`, passive
    /// ejection).
    pub fn errors(max_fails: u32) -> Threshold {
        Threshold {
            min_calls: 0,
            min_errors: u64::from(max_fails).max(1),
            error_ratio: 0.0,
        }
    }

    /// At least `error_ratio` of the calls failed (inclusive), with at least
    /// `min_calls` calls (a circuit breaker, a canary).
    pub fn ratio(error_ratio: f64, min_calls: u64) -> Threshold {
        Threshold {
            min_calls,
            min_errors: 1,
            error_ratio,
        }
    }

    /// Whether `counts` cross this threshold: at least one error always.
    pub fn crossed(&self, counts: Counts) -> bool {
        counts.errors >= self.min_errors
            && counts.calls >= self.min_calls
            && counts.errors as f64 >= self.error_ratio * counts.calls as f64
    }
}

/// Calls and errors over the last `span`, in steps of `span / buckets`.
///
/// The newest bucket covers `[start, start + step)`; a record at or after its end
/// starts a new bucket *at that moment* (steps are not aligned to a grid), in place of
/// the oldest. The counts are the sum of the buckets that started less than `span`
/// ago. With one bucket this is a window that starts at the first record after the
/// previous window expired (what passive health checks have always counted).
///
/// Lock-free and shared by all worker threads: a record is one or two relaxed
/// additions. Starting a new bucket is taken by one recorder (a try-lock: the others
/// record into the bucket they see, so that nothing is lost); a record racing with it
/// may land in the bucket before, so figures near a step's edge are approximate by a
/// few calls under concurrency, as any such counter's are.
#[derive(Debug)]
pub struct Window {
    step_ms: u64,
    span_ms: u64,
    buckets: Box<[Bucket]>,
    /// Index of the newest bucket.
    head: AtomicUsize,
    /// Held while a new bucket is started.
    rotating: AtomicBool,
}

#[derive(Debug, Default)]
struct Bucket {
    /// Milliseconds since the epoch at which this bucket started.
    start_ms: AtomicU64,
    calls: AtomicU64,
    errors: AtomicU64,
}

impl Window {
    /// A window over `span`, in `buckets` steps (at least one, each at least 1 ms).
    pub fn new(span: Duration, buckets: usize) -> Window {
        let buckets = buckets.max(1);
        let span_ms = u64::try_from(span.as_millis()).unwrap_or(u64::MAX).max(1);
        let step_ms = (span_ms / buckets as u64).max(1);
        Window {
            step_ms,
            span_ms: step_ms.saturating_mul(buckets as u64),
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
            head: AtomicUsize::new(0),
            rotating: AtomicBool::new(false),
        }
    }

    /// Records one call at `now_ms` (an error or not), and returns the counts within
    /// the span after it.
    pub fn record(&self, now_ms: u64, error: bool) -> Counts {
        self.note(now_ms, error);
        self.counts(now_ms)
    }

    /// Records one call at `now_ms` without summing the counts (cheaper: a breaker
    /// notes its successes so).
    pub fn note(&self, now_ms: u64, error: bool) {
        let bucket = self.current(now_ms);
        bucket.calls.fetch_add(1, Ordering::Relaxed);
        if error {
            bucket.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts within the span at `now_ms`.
    pub fn counts(&self, now_ms: u64) -> Counts {
        let mut counts = Counts::default();
        for bucket in self.buckets.iter() {
            let start = bucket.start_ms.load(Ordering::Acquire);
            if start <= now_ms && now_ms - start < self.span_ms {
                counts.calls += bucket.calls.load(Ordering::Relaxed);
                counts.errors += bucket.errors.load(Ordering::Relaxed);
            }
        }
        counts
    }

    /// Whether any bucket holds an error, however old (no time needed: a success
    /// checks this first, so that the common case writes nothing shared).
    pub fn has_errors(&self) -> bool {
        self.buckets
            .iter()
            .any(|b| b.errors.load(Ordering::Relaxed) != 0)
    }

    /// Forgets every call and error.
    pub fn clear(&self) {
        for bucket in self.buckets.iter() {
            bucket.calls.store(0, Ordering::Relaxed);
            bucket.errors.store(0, Ordering::Relaxed);
        }
    }

    /// The bucket a record at `now_ms` goes into, starting a new one if the newest
    /// has ended.
    fn current(&self, now_ms: u64) -> &Bucket {
        let head = self.head.load(Ordering::Acquire);
        let bucket = &self.buckets[head];
        let start = bucket.start_ms.load(Ordering::Acquire);
        if now_ms < start.saturating_add(self.step_ms) {
            return bucket;
        }
        if self
            .rotating
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Another recorder starts the new bucket: count into this one.
            return bucket;
        }
        // Under the lock, the head may have moved since it was read.
        let head = self.head.load(Ordering::Acquire);
        let bucket = &self.buckets[head];
        if now_ms
            < bucket
                .start_ms
                .load(Ordering::Acquire)
                .saturating_add(self.step_ms)
        {
            self.rotating.store(false, Ordering::Release);
            return bucket;
        }
        let next = (head + 1) % self.buckets.len();
        let fresh = &self.buckets[next];
        fresh.calls.store(0, Ordering::Relaxed);
        fresh.errors.store(0, Ordering::Relaxed);
        fresh.start_ms.store(now_ms, Ordering::Release);
        self.head.store(next, Ordering::Release);
        self.rotating.store(false, Ordering::Release);
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn counts(calls: u64, errors: u64) -> Counts {
        Counts { calls, errors }
    }

    #[test]
    fn one_bucket_starts_at_the_first_record_after_it_expired() {
        let window = Window::new(Duration::from_millis(100), 1);
        assert_eq!(window.record(0, true), counts(1, 1));
        assert_eq!(window.record(50, true), counts(2, 2));
        assert_eq!(window.record(99, false), counts(3, 2));
        // 100 ms after the window started: a new one, from this record.
        assert_eq!(window.record(100, true), counts(1, 1));
        assert_eq!(window.record(199, true), counts(2, 2));
        assert_eq!(window.counts(200), counts(0, 0));
        // A gap longer than the window: the next record starts afresh.
        assert_eq!(window.record(1_000, true), counts(1, 1));
    }

    #[test]
    fn buckets_slide_and_forget_the_oldest_step() {
        let window = Window::new(Duration::from_secs(1), 10);
        window.note(0, true);
        window.note(550, true);
        assert_eq!(window.counts(999), counts(2, 2));
        // The bucket started at 0 is out of the span at 1000; the one at 550 stays
        // until 1550.
        assert_eq!(window.counts(1_000), counts(1, 1));
        assert_eq!(window.counts(1_549), counts(1, 1));
        assert_eq!(window.counts(1_550), counts(0, 0));
    }

    #[test]
    fn records_over_many_steps_count_only_the_span() {
        let window = Window::new(Duration::from_millis(100), 10);
        // One call every 5 ms for 1 s: the last 100 ms hold 20 of them.
        for t in (0..1_000).step_by(5) {
            window.note(t, t % 10 == 0);
        }
        let now = 995;
        let recent = window.counts(now);
        assert!((19..=21).contains(&recent.calls), "{recent:?}");
        assert!((9..=11).contains(&recent.errors), "{recent:?}");
    }

    #[test]
    fn an_idle_window_forgets_everything_at_once() {
        let window = Window::new(Duration::from_secs(10), 10);
        for t in 0..100 {
            window.note(t * 10, true);
        }
        assert_eq!(window.counts(990), counts(100, 100));
        assert_eq!(window.counts(50_000), counts(0, 0));
        assert_eq!(window.record(50_000, false), counts(1, 0));
    }

    #[test]
    fn clear_forgets_and_has_errors_sees_errors_only() {
        let window = Window::new(Duration::from_secs(1), 4);
        window.note(0, false);
        assert!(!window.has_errors());
        window.note(10, true);
        assert!(window.has_errors());
        window.clear();
        assert!(!window.has_errors());
        assert_eq!(window.counts(20), counts(0, 0));
        assert_eq!(window.record(30, true), counts(1, 1));
    }

    #[test]
    fn errors_threshold_is_max_fails_whatever_the_calls() {
        let three = Threshold::errors(3);
        assert!(!three.crossed(counts(2, 2)));
        assert!(three.crossed(counts(3, 3)));
        assert!(three.crossed(counts(1_000, 3)));
        assert!(!three.crossed(counts(1_000, 2)));
        // max_fails = 0 (no marking) is the owner's to check; as a threshold it is 1.
        assert!(Threshold::errors(0).crossed(counts(1, 1)));
    }

    #[test]
    fn ratio_needs_min_calls_and_is_inclusive() {
        let half = Threshold::ratio(0.5, 20);
        assert!(!half.crossed(counts(19, 19)));
        assert!(half.crossed(counts(20, 10)));
        assert!(!half.crossed(counts(20, 9)));
        assert!(half.crossed(counts(40, 40)));
    }

    #[test]
    fn no_errors_never_cross() {
        assert!(!Threshold::ratio(0.0, 0).crossed(counts(100, 0)));
        assert!(!Threshold::ratio(0.0, 0).crossed(counts(0, 0)));
        assert!(Threshold::ratio(0.0, 0).crossed(counts(100, 1)));
    }

    #[test]
    fn concurrent_records_within_a_step_are_all_counted() {
        let window = Arc::new(Window::new(Duration::from_secs(10), 10));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let window = Arc::clone(&window);
                std::thread::spawn(move || {
                    for n in 0..10_000u64 {
                        window.note(5, (n + i) % 4 == 0);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(window.counts(5), counts(40_000, 10_000));
    }

    /// Threads record while the time moves across steps: every record lands in some
    /// bucket; those of the span are counted, none twice.
    #[test]
    fn rotation_under_concurrency_loses_nothing_within_the_span() {
        let window = Arc::new(Window::new(Duration::from_millis(1_000), 10));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let window = Arc::clone(&window);
                std::thread::spawn(move || {
                    // 1,000 records per thread over 0..500 ms: all within one span.
                    for n in 0..1_000u64 {
                        window.note(n / 2, false);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let total = window.counts(500).calls;
        assert_eq!(total, 4_000, "records lost or counted twice");
    }
}
