//! Bytes as hex text: SHA-256 digests (plugin copies, client certificates) and
//! certificate serials.

/// `bytes` in lowercase hex, two digits each.
pub(crate) fn lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// `bytes` in uppercase hex, two digits each.
pub(crate) fn upper(bytes: &[u8]) -> String {
    lower(bytes).to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_digits_per_byte() {
        assert_eq!(super::lower(&[0x00, 0x8f, 0xab]), "008fab");
        assert_eq!(super::upper(&[0x00, 0x8f, 0xab]), "008FAB");
    }
}
