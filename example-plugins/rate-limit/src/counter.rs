//! [`Counters`]: a request count per key over a fixed window that starts with the
//! key's first request.
//!
//! Internal: the keys are spread over [`SHARDS`] maps, each behind its own mutex and
//! chosen by a hash of the key, so worker threads counting different clients seldom
//! wait on each other and no lock covers every client. Each lock is held for one map
//! lookup. When a new key arrives, a shard sweeps out the windows that have ended if it
//! has doubled in size or has not been swept for a window's length, so memory follows
//! the number of keys active within one window.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Shards per counter set: a few times the usual number of worker threads.
const SHARDS: usize = 32;
/// A shard smaller than this is never swept.
const MIN_SWEEP: usize = 64;

/// Request counts per key of type `K`, each over its own window.
pub(crate) struct Counters<K> {
    shards: Box<[Mutex<Shard<K>>]>,
    /// Picks the shard. Separate from the maps' own hashers, so that the keys of one
    /// shard do not share the low bits the map's buckets are chosen by.
    hasher: RandomState,
    limit: u32,
    window: Duration,
}

struct Shard<K> {
    windows: HashMap<K, Window>,
    /// Size at which ended windows are swept next.
    sweep_at: usize,
    /// When they were last swept.
    swept: Instant,
}

#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

impl<K: Hash + Eq> Counters<K> {
    /// Allows `limit` requests per key within `window` (`limit` ≥ 1).
    pub(crate) fn new(limit: u32, window: Duration) -> Counters<K> {
        let shard = || {
            Mutex::new(Shard {
                windows: HashMap::new(),
                sweep_at: MIN_SWEEP,
                swept: Instant::now(),
            })
        };
        Counters {
            shards: (0..SHARDS).map(|_| shard()).collect(),
            hasher: RandomState::new(),
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
        // The modulo keeps the index in bounds, whatever the hash.
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        // A panic while holding the lock cannot leave a count half-written, so a
        // poisoned shard is still good to use.
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(window) = shard.windows.get_mut(key) {
            let elapsed = now.saturating_duration_since(window.start);
            if elapsed < self.window {
                window.count = window.count.saturating_add(1);
                return (window.count > self.limit).then(|| self.window - elapsed);
            }
            *window = Window {
                start: now,
                count: 1,
            };
            return None;
        }
        shard.sweep(now, self.window);
        let fresh = Window {
            start: now,
            count: 1,
        };
        shard.windows.insert(key.to_owned(), fresh);
        None
    }

    /// Keys currently held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let len = |s: &Mutex<Shard<K>>| s.lock().map_or(0, |s| s.windows.len());
        self.shards.iter().map(len).sum()
    }
}

impl<K> Shard<K> {
    fn sweep(&mut self, now: Instant, window: Duration) {
        let len = self.windows.len();
        let due = len >= self.sweep_at
            || (len >= MIN_SWEEP && now.saturating_duration_since(self.swept) >= window);
        if !due {
            return;
        }
        self.windows
            .retain(|_, w| now.saturating_duration_since(w.start) < window);
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
        let counters = Counters::<String>::new(2, 1000 * MS);
        let t0 = Instant::now();
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
        let counters = Counters::<IpAddr>::new(1, 10 * MS);
        let t0 = Instant::now();
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
        let counters = Arc::new(Counters::<String>::new(1000, Duration::from_secs(60)));
        let now = Instant::now();
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
