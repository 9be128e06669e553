//! [`Checks`]: what one rule checks of a body, and the checking.

use hmac::{Hmac, KeyInit, Mac};
use hookgate_plugin_api::OverLimit;
use sha2::Sha256;

/// What a rule checks, in the order it checks it.
pub(crate) struct Checks {
    /// What a body over the instance's `body_limit` gets.
    pub over_limit: OverLimit,
    /// An HMAC-SHA256 signature in a header.
    pub signature: Option<Signature>,
    /// The body must be JSON.
    pub json: bool,
    /// Patterns that must not occur (ASCII case ignored), lowercased.
    pub deny: Vec<Vec<u8>>,
}

/// `signature = { header, prefix, secret }`.
pub(crate) struct Signature {
    /// The header that carries it, lowercase.
    pub header: String,
    /// What comes before the hex (e.g. `sha256=`).
    pub prefix: String,
    /// The shared secret.
    pub secret: Vec<u8>,
}

/// Why a body is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The signature is missing or does not match.
    Signature,
    /// The body is not JSON.
    Json,
    /// A denied pattern occurs.
    Pattern,
    /// A rule matched, but the proxy offers no body to check (an upgrade, gRPC).
    Unreadable,
}

impl Refusal {
    /// The `reason` label and log word.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Signature => "signature",
            Refusal::Json => "json",
            Refusal::Pattern => "pattern",
            Refusal::Unreadable => "unreadable",
        }
    }
}

impl Checks {
    /// The header the signature is read from, if the rule checks one.
    pub fn signature_header(&self) -> Option<&str> {
        self.signature.as_ref().map(|s| s.header.as_str())
    }

    /// Checks `body`, with the signature header's value if there is one.
    pub fn check(&self, body: &[u8], signature: Option<&str>) -> Result<(), Refusal> {
        if let Some(expected) = &self.signature {
            if !expected.verifies(body, signature) {
                return Err(Refusal::Signature);
            }
        }
        if self.json && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
            return Err(Refusal::Json);
        }
        if self.deny.iter().any(|p| contains_ignore_case(body, p)) {
            return Err(Refusal::Pattern);
        }
        Ok(())
    }
}

impl Signature {
    /// Whether `header` holds the prefix and the hex of HMAC-SHA256(secret, body).
    fn verifies(&self, body: &[u8], header: Option<&str>) -> bool {
        let Some(hex) = header.and_then(|h| h.trim().strip_prefix(self.prefix.as_str())) else {
            return false;
        };
        let Some(tag) = unhex(hex) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&tag).is_ok()
    }
}

/// The bytes of a hex string (either case); `None` if it is not one.
fn unhex(hex: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| (b as char).to_digit(16);
    let bytes = hex.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

/// Whether `pattern` (lowercase) occurs in `body`, ASCII case ignored.
fn contains_ignore_case(body: &[u8], pattern: &[u8]) -> bool {
    !pattern.is_empty()
        && body
            .windows(pattern.len())
            .any(|w| w.eq_ignore_ascii_case(pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_patterns() {
        assert_eq!(unhex("00fFa1"), Some(vec![0, 255, 161]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
        assert!(contains_ignore_case(b"a UNION Select b", b"union select"));
        assert!(!contains_ignore_case(b"union", b"union select"));
    }
}
