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
//!
//! The stored hash is padded with zeros to a whole SHA-256 block, so that each user's
//! [`UserHash`] keeps the digest state after it and a check compresses only the block
//! holding the password: half the work of digesting both.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{PoisonError, RwLock};

use sha2::{Digest, Sha256};

/// Successful verifications kept at most.
const CAPACITY: usize = 1024;

/// Recently verified (stored hash, password) pairs, by digest.
#[derive(Default)]
pub(crate) struct Verified {
    digests: RwLock<HashSet<[u8; 32], BuildHasherDefault<DigestHasher>>>,
}

/// A bcrypt hash as the cache sees it: its text, for bcrypt, and the digest state
/// after it.
pub(crate) trait StoredHash {
    /// The hash as written in the config.
    fn text(&self) -> &str;
    /// SHA-256 after the hash and its padding.
    fn prefix(&self) -> Cow<'_, Sha256>;
}

/// A user's hash with its digest prefix computed once, at init.
pub(crate) struct UserHash {
    text: String,
    prefix: Sha256,
}

impl UserHash {
    /// `text` is a bcrypt hash the config parser has checked.
    pub(crate) fn new(text: String) -> UserHash {
        let prefix = prefix(&text);
        UserHash { text, prefix }
    }
}

impl StoredHash for UserHash {
    fn text(&self) -> &str {
        &self.text
    }
    fn prefix(&self) -> Cow<'_, Sha256> {
        Cow::Borrowed(&self.prefix)
    }
}

/// A hash on its own (the unit tests check these): its prefix is computed on every
/// check.
impl StoredHash for str {
    fn text(&self) -> &str {
        self
    }
    fn prefix(&self) -> Cow<'_, Sha256> {
        Cow::Owned(prefix(self))
    }
}

/// SHA-256 after `hash` and the zeros that fill its last block (bcrypt hashes have a
/// fixed length and no NUL, so hash and password cannot run into each other).
fn prefix(hash: &str) -> Sha256 {
    const BLOCK: usize = 64;
    let padding = [0u8; BLOCK];
    let short = hash.len().next_multiple_of(BLOCK) - hash.len();
    Sha256::new()
        .chain_update(hash)
        .chain_update(&padding[..short])
}

impl Verified {
    /// Whether `password` matches the bcrypt `hash`, from the cache when it can.
    pub(crate) fn check(&self, hash: &(impl StoredHash + ?Sized), password: &[u8]) -> bool {
        let digest: [u8; 32] = (hash.prefix().into_owned())
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
        if !bcrypt::verify(password, hash.text()).unwrap_or(false) {
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

/// Hashes a digest by its first eight bytes. SHA-256 output is uniform already, and
/// only successful checks, which no client can aim, are inserted: SipHash would
/// protect nothing here and cost more than the lookup itself.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut word = [0u8; 8];
        let len = bytes.len().min(8);
        word[..len].copy_from_slice(&bytes[..len]);
        self.0 ^= u64::from_le_bytes(word);
    }

    fn write_usize(&mut self, _length: usize) {
        // The length every digest is prefixed with: always 32, nothing to tell apart.
    }

    fn finish(&self) -> u64 {
        self.0
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
