//! [`IpHash`]: a fast keyed hash for client IPs, the key nearly every request is
//! counted by.
//!
//! Internal: std's SipHash cost about 180 instructions per IP, and a request hashes its
//! IP twice (to pick the shard, then inside the shard's map): nearly half the plugin's
//! cost per request. An IP hashes as two or three integers, so a folded multiply per
//! 64-bit word and one to finish, with random per-counter keys, do: clients cannot
//! predict which bucket an address lands in, so they cannot pile their addresses into
//! one. It is not meant for bytes a client chooses freely: header values keep SipHash.

use std::hash::{BuildHasher, Hasher, RandomState};

/// Builds [`IpHasher`]s that share one set of random keys.
#[derive(Clone, Copy)]
pub(crate) struct IpHash {
    keys: Keys,
}

#[derive(Clone, Copy)]
struct Keys {
    /// The starting state.
    seed: u64,
    /// Multiplies each word; odd, so that no bit of a word is lost in the low half.
    word: u64,
    /// Multiplies the state once more at the end: without it, addresses that differ
    /// in a few bits cluster in the low bits, which pick the bucket.
    last: u64,
}

impl Default for IpHash {
    /// Fresh random keys, from the same OS-seeded source as std's `RandomState`.
    fn default() -> IpHash {
        let random = RandomState::new();
        let keys = Keys {
            seed: random.hash_one(0u8),
            word: random.hash_one(1u8) | 1,
            last: random.hash_one(2u8) | 1,
        };
        IpHash { keys }
    }
}

impl BuildHasher for IpHash {
    type Hasher = IpHasher;

    fn build_hasher(&self) -> IpHasher {
        IpHasher {
            state: self.keys.seed,
            keys: self.keys,
        }
    }
}

/// The state while hashing one key.
pub(crate) struct IpHasher {
    state: u64,
    keys: Keys,
}

/// Both halves of the 128-bit product, xor-ed: every bit of `a` reaches both the low
/// bits of the result (the map's bucket index) and the high ones (its bucket tag).
fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for IpHasher {
    fn write_u64(&mut self, word: u64) {
        self.state = folded_multiply(self.state ^ word, self.keys.word);
    }

    fn write_u128(&mut self, word: u128) {
        self.write_u64(word as u64);
        self.write_u64((word >> 64) as u64);
    }

    fn write_u32(&mut self, word: u32) {
        self.write_u64(word.into());
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached by `IpAddr`, which hashes as integers; correct for any key all
        // the same, a word at a time.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
        self.write_usize(bytes.len());
    }

    fn finish(&self) -> u64 {
        folded_multiply(self.state, self.keys.last)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::net::{IpAddr, Ipv6Addr};

    use super::*;

    #[test]
    fn addresses_spread_over_low_and_high_bits() {
        let hash = IpHash::default();
        let v4 = (0..4096u32).map(|i| IpAddr::from((0x0a00_0000 + i).to_be_bytes()));
        let v6 = (0..4096u128).map(|i| Ipv6Addr::from((0x2001_0db8_u128 << 96) + (i << 40)));
        for ips in [v4.collect::<Vec<_>>(), v6.map(IpAddr::from).collect()] {
            let hashes: Vec<u64> = ips.iter().map(|ip| hash.hash_one(ip)).collect();
            let low: HashSet<u64> = hashes.iter().map(|h| h & 0xfff).collect();
            let high: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
            let shard: HashSet<u64> = hashes.iter().map(|h| (h >> 32) % 32).collect();
            // 4096 keys over 4096 buckets: about 63% of them in use if spread evenly.
            assert!(low.len() > 2400, "{} low values", low.len());
            assert_eq!((high.len(), shard.len()), (128, 32));
        }
    }

    #[test]
    fn keys_differ_between_instances() {
        let ip = IpAddr::from([192, 0, 2, 1]);
        assert_ne!(
            IpHash::default().hash_one(ip),
            IpHash::default().hash_one(ip)
        );
    }
}
