//! [`RequestId`]: a random 128-bit id, as 32 lowercase hex digits kept on the stack.
//!
//! Internal: the OS random source is read 4 KiB at a time into a per-thread pool, so
//! that a request costs no system call (one `getrandom` per request was a tenth of the
//! plugin chain's CPU time); each id still takes 16 bytes no other id shares.

use std::cell::RefCell;
use std::io::Write as _;

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

/// A fresh id from the OS random source.
pub struct RequestId([u8; 32]);

impl RequestId {
    /// 16 random bytes, formatted as hex.
    pub fn random() -> Result<RequestId, getrandom::Error> {
        let bytes = random_16()?;
        let mut text = [0u8; 32];
        // 32 hex digits fill the buffer exactly, so the write cannot run short.
        let _ = write!(&mut text[..], "{:032x}", u128::from_ne_bytes(bytes));
        Ok(RequestId(text))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII hex digits were written, so the fallback is never taken.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}
