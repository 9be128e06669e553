//! [`Verified`]: passwords that passed bcrypt recently, so that a client sending the
//! same credentials on every request pays for bcrypt once, not every time.
//!
//! Internal: bcrypt is slow on purpose (tens of milliseconds at cost 10), and handlers
//! run on the proxy's worker threads. The cache keeps a SHA-256 of the stored hash and
//! the password, never the password itself; the stored hash brings its own random
//! salt, so equal passwords of two users give different digests. Only successes are
//! cached: every failed attempt pays for bcrypt. The set is bounded; when full, an
//! arbitrary entry makes room. A read lock serves hits, so clients checked at the same
//! time do not wait on each other.

use std::collections::HashSet;
use std::sync::{PoisonError, RwLock};

use sha2::{Digest, Sha256};

/// Successful verifications kept at most.
const CAPACITY: usize = 1024;

/// Recently verified (stored hash, password) pairs, by digest.
#[derive(Default)]
pub(crate) struct Verified {
    digests: RwLock<HashSet<[u8; 32]>>,
}

impl Verified {
    /// Whether `password` matches the bcrypt `hash`, from the cache when it can.
    pub(crate) fn check(&self, hash: &str, password: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::new()
            .chain_update(hash)
            .chain_update(password)
            .finalize()
            .into();
        // The set holds plain digests: a panic elsewhere cannot leave it inconsistent.
        let hit = (self.digests.read())
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&digest);
        if hit {
            return true;
        }
        // Init checked every hash, so an error here is a mismatch all the same.
        if !bcrypt::verify(password, hash).unwrap_or(false) {
            return false;
        }
        let mut digests = self.digests.write().unwrap_or_else(PoisonError::into_inner);
        if digests.len() >= CAPACITY {
            if let Some(evicted) = digests.iter().next().copied() {
                digests.remove(&evicted);
            }
        }
        digests.insert(digest);
        true
    }

    /// How many verifications are cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.digests.read().map_or(0, |d| d.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `alice-pw` and `bob-pw` at cost 4.
    const ALICE: &str = "$2y$04$evnJrLjlT5q9Fy2ReeyYP.rz3xyI7RZTF4JFSvX/FL3NakEycZjJq";
    const BOB: &str = "$2b$04$EdxkrcklSw0yVs7fCWiKAe9PVz0jVxvNw4ReaU2Mn65JjlfBfNWIC";

    #[test]
    fn only_successes_are_cached_and_the_cache_is_bounded() {
        let verified = Verified::default();
        assert!(!verified.check(ALICE, b"wrong"));
        assert_eq!(verified.len(), 0);
        assert!(verified.check(ALICE, b"alice-pw"));
        assert!(verified.check(ALICE, b"alice-pw"));
        assert_eq!(verified.len(), 1);
        assert!(!verified.check(ALICE, b"alice-pw "));

        // Filled up with fake digests: a new success makes room, an old one may go.
        if let Ok(mut digests) = verified.digests.write() {
            digests.extend((1..CAPACITY as u32).map(|i| {
                let mut d = [0u8; 32];
                d[..4].copy_from_slice(&i.to_be_bytes());
                d
            }));
        }
        assert_eq!(verified.len(), CAPACITY);
        assert!(verified.check(BOB, b"bob-pw"));
        assert_eq!(verified.len(), CAPACITY);
        assert!(verified.check(ALICE, b"alice-pw"));
        assert!(verified.check(BOB, b"bob-pw"));
    }
}
