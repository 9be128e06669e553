//! [`Counters`]: a request count per key over a fixed window that starts with the
//! key's first request.
//!
//! Internal: the keys are spread over [`SHARDS`] maps, each behind its own mutex and
//! chosen by a hash of the key, so worker threads counting different clients seldom
//! wait on each other and no lock covers every client. Each lock is held for one map
//! lookup. When a new key arrives, a shard sweeps out the windows that have ended if it
//! has doubled in size or has not been swept for a window's length, so memory follows
//! the number of keys active within one window. The hasher is a type parameter: client
//! IPs, counted on nearly every request, use the cheap [`IpHash`](crate::ip_hash::IpHash);
//! header values, which clients choose freely, keep std's SipHash.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Shards per counter set: a few times the usual number of worker threads.
const SHARDS: usize = 32;
/// A shard smaller than this is never swept.
const MIN_SWEEP: usize = 64;

/// Request counts per key of type `K`, each over its own window; `S` hashes the keys.
pub(crate) struct Counters<K, S = RandomState> {
    shards: Box<[Mutex<Shard<K, S>>]>,
    /// Picks the shard; every shard's map holds a clone of it.
    hasher: S,
    limit: u32,
    window: Duration,
}

struct Shard<K, S> {
    windows: HashMap<K, Window, S>,
    /// Size at which ended windows are swept next.
    sweep_at: usize,
    /// When they were last swept.
    swept: Instant,
}

#[derive(Clone, Copy)]
struct Window {
    /// When the window ends, rather than when it started: counting a request then
    /// compares two instants instead of subtracting them. `None` if the end lies
    /// beyond what `Instant` can hold (a window of centuries): it never ends.
    end: Option<Instant>,
    count: u32,
}

impl Window {
    /// A window of `length` whose first request comes at `now`.
    fn starting(now: Instant, length: Duration) -> Window {
        Window {
            end: now.checked_add(length),
            count: 1,
        }
    }

    /// Whether a request at `now` falls in this window.
    fn is_open(&self, now: Instant) -> bool {
        self.end.is_none_or(|end| now < end)
    }

    /// How long after `now` the window ends, at most its `length`. This is `length`
    /// less the time since its start, which `now` can precede by a hair when another
    /// thread opened the window after this one read the clock.
    fn left(&self, now: Instant, length: Duration) -> Duration {
        self.end
            .map_or(length, |end| end.saturating_duration_since(now))
            .min(length)
    }
}

impl<K: Hash + Eq, S: BuildHasher + Clone + Default> Counters<K, S> {
    /// Allows `limit` requests per key within `window` (`limit` ≥ 1), counting from
    /// `now`.
    pub(crate) fn new(limit: u32, window: Duration, now: Instant) -> Counters<K, S> {
        let hasher = S::default();
        let shard = || {
            Mutex::new(Shard {
                windows: HashMap::with_hasher(hasher.clone()),
                sweep_at: MIN_SWEEP,
                swept: now,
            })
        };
        Counters {
            shards: (0..SHARDS).map(|_| shard()).collect(),
            hasher,
            limit,
            window,
        }
    }

    /// Counts a request for `key` at `now`: `None` if it is within the limit, else how
    /// long until the key's window ends.
    pub(crate) fn hit<Q>(&self, key: &Q, now: Instant) -> Option<Duration>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        // The map picks a key's bucket by the hash's low bits and tags it with the top
        // 7; the shard comes from bits 32 to 36, which neither uses, so the keys of a
        // shard spread over its map like any others. The modulo keeps the index in
        // bounds, whatever the hash.
        let index = ((self.hasher.hash_one(key) >> 32) % SHARDS as u64) as usize;
        // A panic while holding the lock cannot leave a count half-written, so a
        // poisoned shard is still good to use.
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(window) = shard.windows.get_mut(key) {
            if window.is_open(now) {
                window.count = window.count.saturating_add(1);
                return (window.count > self.limit).then(|| window.left(now, self.window));
            }
            *window = Window::starting(now, self.window);
            return None;
        }
        shard.sweep(now, self.window);
        let fresh = Window::starting(now, self.window);
        shard.windows.insert(key.to_owned(), fresh);
        None
    }

    /// Keys currently held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let len = |s: &Mutex<Shard<K, S>>| s.lock().map_or(0, |s| s.windows.len());
        self.shards.iter().map(len).sum()
    }
}

impl<K, S> Shard<K, S> {
    fn sweep(&mut self, now: Instant, window: Duration) {
        let len = self.windows.len();
        let due = len >= self.sweep_at
            || (len >= MIN_SWEEP && now.saturating_duration_since(self.swept) >= window);
        if !due {
            return;
        }
        self.windows.retain(|_, w| w.is_open(now));
        self.sweep_at = MIN_SWEEP.max(self.windows.len() * 2);
        self.swept = now;
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;
    use std::thread;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn limit_per_key_within_its_window() {
        let t0 = Instant::now();
        let counters = Counters::<String>::new(2, 1000 * MS, t0);
        assert_eq!(counters.hit("a", t0), None);
        assert_eq!(counters.hit("a", t0 + 100 * MS), None);
        assert_eq!(counters.hit("a", t0 + 250 * MS), Some(750 * MS));
        assert_eq!(counters.hit("b", t0 + 250 * MS), None);
        assert_eq!(counters.hit("a", t0 + 999 * MS), Some(MS));
        // A new window starts with the first request after the last one ended.
        assert_eq!(counters.hit("a", t0 + 1000 * MS), None);
        assert_eq!(counters.hit("a", t0 + 1500 * MS), None);
        assert_eq!(counters.hit("a", t0 + 1600 * MS), Some(400 * MS));
    }

    #[test]
    fn ended_windows_are_swept() {
        let t0 = Instant::now();
        let counters = Counters::<IpAddr>::new(1, 10 * MS, t0);
        let ip = |i: u32| IpAddr::from((0x0a00_0000 + i).to_be_bytes());
        for i in 0..10_000 {
            counters.hit(&ip(i), t0);
        }
        assert_eq!(counters.len(), 10_000);
        for i in 10_000..11_000 {
            counters.hit(&ip(i), t0 + 20 * MS);
        }
        // Every shard received new keys, so every shard swept its ended windows.
        assert!(counters.len() <= 1_000, "{} keys left", counters.len());
    }

    #[test]
    fn concurrent_hits_are_all_counted() {
        let now = Instant::now();
        let counters = Arc::new(Counters::<String>::new(1000, Duration::from_secs(60), now));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let counters = counters.clone();
                thread::spawn(move || {
                    (0..500)
                        .filter(|_| counters.hit("k", now).is_none())
                        .count()
                })
            })
            .collect();
        let allowed: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(allowed, 1000);
    }
}
