//! Bytes as hex text: SHA-256 digests (plugin copies, client certificates),
//! certificate serials, trace and span ids; and trace ids read back.

/// `bytes` in lowercase hex, two digits each.
pub(crate) fn lower(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    write_lower(bytes, &mut out);
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Writes `bytes` in lowercase hex into `out` (which holds two bytes per byte).
pub(crate) fn write_lower(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (&b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 15)];
    }
}

/// `bytes` in uppercase hex, two digits each.
pub(crate) fn upper(bytes: &[u8]) -> String {
    lower(bytes).to_ascii_uppercase()
}

/// Exactly `N` bytes from `2 × N` lowercase hex digits (as W3C Trace Context
/// writes ids); `None` for anything else.
pub(crate) fn decode_lower<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = digit(text[2 * i])? << 4 | digit(text[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_digits_per_byte() {
        assert_eq!(super::lower(&[0x00, 0x8f, 0xab]), "008fab");
        assert_eq!(super::upper(&[0x00, 0x8f, 0xab]), "008FAB");
    }

    #[test]
    fn lowercase_digits_read_back_exactly() {
        assert_eq!(super::decode_lower::<3>("008fab"), Some([0x00, 0x8f, 0xab]));
        for bad in ["008FAB", "008fa", "008fab0", "0x8fab", "00 fab"] {
            assert_eq!(super::decode_lower::<3>(bad), None, "{bad}");
        }
    }
}
