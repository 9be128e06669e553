//! The hash of a client IP that subcluster choice and the hash ring key on.
//!
//! Internal: it must be stable across processes and restarts (a client should land on
//! the same subcluster and backend on every proxy of a fleet), so std's randomly seeded
//! hasher is out; a splitmix64 finaliser mixes well enough for spreading keys. The
//! seeds keep the subcluster choice and the ring independent: with one hash, the
//! clients of one subcluster would all fall on one arc of each ring.

use std::net::{IpAddr, SocketAddr};

/// Seed of the subcluster choice.
pub(super) const SUBCLUSTER: u64 = 0x5ab0_c1a5_7e5e_ed01;
/// Seed of the key looked up on a hash ring.
pub(super) const RING: u64 = 0x2196_7a3b_99e1_c0de;
/// Seed of a backend's virtual nodes on a hash ring.
const VNODE: u64 = 0x0b5e_7ed5_1de5_eed5;

/// splitmix64's finaliser.
pub(super) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The hash of `ip` under `seed`; an IPv4-mapped IPv6 address hashes as its IPv4.
pub(super) fn ip(ip: IpAddr, seed: u64) -> u64 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => mix(u64::from(u32::from(v4)) ^ seed),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            // Truncations on purpose: the two halves of the address.
            mix(mix((bits >> 64) as u64 ^ seed) ^ bits as u64)
        }
    }
}

/// The position of virtual node `replica` of the backend at `addr`: it depends on
/// the address only, so adding or removing a backend leaves the others' nodes alone.
pub(super) fn vnode(addr: SocketAddr, replica: u32) -> u64 {
    mix(ip(addr.ip(), VNODE) ^ (u64::from(addr.port()) << 32 | u64::from(replica)))
}

/// Maps a uniform 64-bit hash onto `0..range` without modulo bias (Lemire's
/// multiply-shift); `range` must not be 0.
pub(super) fn scale(hash: u64, range: u64) -> u64 {
    // The product of two u64 fits in u128; its top half is below `range`.
    ((u128::from(hash) * u128::from(range)) >> 64) as u64
}
