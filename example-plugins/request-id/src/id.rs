//! [`RequestId`]: a random 128-bit id, as 32 lowercase hex digits kept on the stack.
//!
//! Internal: the OS random source is read 4 KiB at a time into a per-thread pool, so
//! that a request costs no system call (one `getrandom` per request was a tenth of the
//! plugin chain's CPU time); each id still takes 16 bytes no other id shares. The hex
//! digits are copied from a table, a pair per byte, rather than written with `write!`,
//! whose formatting machinery costs several times as much.

use std::cell::RefCell;

/// Random bytes read from the OS ahead of use, per worker thread.
struct Pool {
    bytes: [u8; 4096],
    used: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { bytes: [0; 4096], used: 4096 }) };
}

/// 16 fresh random bytes from this thread's pool, refilled from the OS when empty.
fn random_16() -> Result<[u8; 16], getrandom::Error> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.used + 16 > pool.bytes.len() {
            getrandom::fill(&mut pool.bytes)?;
            pool.used = 0;
        }
        let mut out = [0u8; 16];
        let start = pool.used;
        out.copy_from_slice(&pool.bytes[start..start + 16]);
        // Never hand the same bytes out twice.
        pool.bytes[start..start + 16].fill(0);
        pool.used += 16;
        Ok(out)
    })
}

/// The two lowercase hex digits of every byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [DIGITS[byte >> 4], DIGITS[byte & 0xf]];
        byte += 1;
    }
    pairs
};

/// A fresh id from the OS random source: two hex digits per random byte.
pub struct RequestId([[u8; 2]; 16]);

impl RequestId {
    /// 16 random bytes, formatted as hex.
    pub fn random() -> Result<RequestId, getrandom::Error> {
        let mut text = [[0; 2]; 16];
        for (pair, byte) in text.iter_mut().zip(random_16()?) {
            *pair = HEX_PAIRS[usize::from(byte)];
        }
        Ok(RequestId(text))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits were written, so the fallback is never taken.
        std::str::from_utf8(self.0.as_flattened()).unwrap_or_default()
    }
}
