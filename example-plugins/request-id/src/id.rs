//! [`RequestId`]: a random 128-bit id, as 32 lowercase hex digits kept on the stack.

use std::io::Write as _;

/// A fresh id from the OS random source.
pub struct RequestId([u8; 32]);

impl RequestId {
    /// 16 random bytes, formatted as hex.
    pub fn random() -> Result<RequestId, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
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
