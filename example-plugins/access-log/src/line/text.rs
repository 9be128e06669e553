//! [`Text`]: appends the pieces of a line, in either format, to a byte buffer.
//!
//! Internal: text is copied as whole slices, small numbers as digit pairs from a table,
//! others through a [`Decimal`] on the stack; only IPv6 addresses (whose shortest form
//! takes real work) go through `core::fmt`.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::timestamp;

/// Appends to a line being written; each method returns `self` so that a line reads
/// in the order of its fields.
pub(crate) struct Text<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> Text<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Text<'a> {
        Text { out }
    }

    /// Text that needs no escaping in either format: the format's own, or the proxy's.
    #[inline]
    pub(super) fn raw(&mut self, text: &str) -> &mut Self {
        self.out.extend_from_slice(text.as_bytes());
        self
    }

    /// Combined format: text from the client with quotes, backslashes and control
    /// characters escaped, so that it can neither end the line nor forge a field.
    #[inline]
    pub(super) fn escaped(&mut self, text: &str) -> &mut Self {
        // Almost no text needs escaping: find that out a word at a time, and copy
        // it whole.
        if may_need_escape(text.as_bytes()) {
            self.escape_chars(text)
        } else {
            self.raw(text)
        }
    }

    /// [`escaped`](Self::escaped)'s rare case, kept out of line so that the common
    /// case stays small.
    #[cold]
    #[inline(never)]
    fn escape_chars(&mut self, text: &str) -> &mut Self {
        for c in text.chars() {
            match c {
                '"' | '\\' => {
                    self.out.push(b'\\');
                    self.out.push(c as u8);
                }
                c if c.is_control() => {
                    // `\t`, `\n`, `\u{7f}`…: ASCII, so each char is one byte.
                    self.out.extend(c.escape_default().map(|e| e as u8));
                }
                c => {
                    let mut utf8 = [0; 4];
                    self.raw(c.encode_utf8(&mut utf8));
                }
            }
        }
        self
    }

    /// Combined format: `-` when unknown, else the text escaped.
    #[inline(always)]
    pub(super) fn escaped_or_dash(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.escaped(text),
            None => self.raw("-"),
        }
    }

    /// `n` in decimal.
    #[inline]
    pub(super) fn number(&mut self, n: impl Into<u64>) -> &mut Self {
        let n = n.into();
        // Most numbers of a line (status, address octets, small sizes, durations) are
        // below 1000: those are written in place, in fixed-size copies.
        match n {
            0..=9 => self.out.push(b'0' + n as u8),
            10..=99 => self.out.extend_from_slice(&PAIRS[n as usize]),
            100..=999 => self.three_digits(n as u16),
            _ => self.out.extend_from_slice(Decimal::new(n).as_bytes()),
        }
        self
    }

    /// `n` (below 1000), zero-padded to three digits.
    #[inline]
    fn three_digits(&mut self, n: u16) {
        self.out.push(b'0' + (n / 100 % 10) as u8);
        self.out.extend_from_slice(&PAIRS[usize::from(n % 100)]);
    }

    /// Combined format: `-` when unknown, else the number.
    pub(super) fn number_or_dash(&mut self, n: Option<impl Into<u64>>) -> &mut Self {
        match n {
            Some(n) => self.number(n),
            None => self.raw("-"),
        }
    }

    /// Combined format: milliseconds with three decimals (`1.274`), or `-` when unknown.
    pub(super) fn millis_or_dash(&mut self, duration: Option<Duration>) -> &mut Self {
        let Some(duration) = duration else {
            return self.raw("-");
        };
        // Whole microseconds, so the three decimals are exact: no float to round.
        let millis = duration
            .as_secs()
            .saturating_mul(1000)
            .saturating_add(u64::from(duration.subsec_millis()));
        self.number(millis).raw(".");
        // Below 1000: the microseconds past the millisecond.
        self.three_digits((duration.subsec_micros() % 1000) as u16);
        self
    }

    /// No character of an address needs escaping, in either format.
    pub(super) fn ip(&mut self, ip: IpAddr) -> &mut Self {
        match ip {
            IpAddr::V4(ip) => {
                // Each octet is copied from a table with its dot, four bytes at a time,
                // into "255.255.255.255." on the stack: a quarter of the work of four
                // numbers and three dots.
                let mut text = [0; 16];
                let mut len = 0;
                for octet in ip.octets() {
                    let (digits, digits_len) = OCTETS[usize::from(octet)];
                    // Always there: `len` is at most 12 here.
                    if let Some(slot) = text.get_mut(len..len + 4) {
                        slot.copy_from_slice(&digits);
                    }
                    len += digits_len;
                }
                // Copied whole (a fixed-size copy costs a few instructions, one of a
                // variable length a call), then cut before the last octet's dot.
                let end = self.out.len() + len - 1;
                self.out.extend_from_slice(&text);
                self.out.truncate(end);
                self
            }
            IpAddr::V6(ip) => self.display(ip),
        }
    }

    /// `ip:port`, or `[ip]:port` for IPv6.
    pub(super) fn socket_addr(&mut self, addr: SocketAddr) -> &mut Self {
        match addr {
            SocketAddr::V4(addr) => self.ip(IpAddr::V4(*addr.ip())).raw(":").number(addr.port()),
            SocketAddr::V6(addr) => self.display(addr),
        }
    }

    /// Combined format: `10/Oct/2000:13:55:36 +0000` for a time since the Unix epoch.
    pub(super) fn clf_time(&mut self, since_epoch: Duration) -> &mut Self {
        self.out
            .extend_from_slice(&timestamp::clf(since_epoch.as_secs()));
        self
    }

    /// JSON: a string, escaped by serde_json.
    pub(super) fn json_string(&mut self, text: &str) -> &mut Self {
        // Writing to a Vec does not fail.
        let _ = serde_json::to_writer(&mut *self.out, text);
        self
    }

    /// JSON: a string, or `null` when unknown.
    pub(super) fn json_string_or_null(&mut self, text: Option<&str>) -> &mut Self {
        match text {
            Some(text) => self.json_string(text),
            None => self.raw("null"),
        }
    }

    /// JSON: a number, or `null` when unknown.
    pub(super) fn number_or_null(&mut self, n: Option<impl Into<u64>>) -> &mut Self {
        match n {
            Some(n) => self.number(n),
            None => self.raw("null"),
        }
    }

    /// JSON: milliseconds (µs precision, shortest form, as serde_json writes an
    /// `f64`), or `null` when unknown.
    pub(super) fn json_millis_or_null(&mut self, duration: Option<Duration>) -> &mut Self {
        match duration {
            Some(duration) => {
                let millis = duration.as_micros() as f64 / 1000.0;
                // Writing to a Vec does not fail.
                let _ = serde_json::to_writer(&mut *self.out, &millis);
                self
            }
            None => self.raw("null"),
        }
    }

    /// JSON: a time since the Unix epoch as an RFC 3339 string.
    pub(super) fn json_time(&mut self, since_epoch: Duration) -> &mut Self {
        self.raw("\"");
        timestamp::push_rfc3339(self.out, since_epoch);
        self.raw("\"")
    }

    fn display(&mut self, value: impl std::fmt::Display) -> &mut Self {
        // Writing to a Vec does not fail.
        let _ = write!(self.out, "{value}");
        self
    }
}

/// Whether `text` may need escaping: `false` only for text that [`Text::escaped`]
/// copies as it is. Client text is nearly always plain ASCII, which
/// [`plain_ascii`] tells apart cheaply; anything else gets the exact check.
fn may_need_escape(text: &[u8]) -> bool {
    !plain_ascii(text) && has_escaped_lead_byte(text)
}

/// Whether `text` is ASCII without a byte that [`Text::escaped`] changes (`"`, `\\`,
/// the control characters U+0000–U+001F and U+007F), a word at a time.
fn plain_ascii(text: &[u8]) -> bool {
    let flags = if let Some(last) = text.last_chunk::<8>() {
        // The last eight bytes overlap the whole words before them.
        let (words, _) = text.as_chunks::<8>();
        (words.iter()).fold(word_flags(*last), |flags, word| flags | word_flags(*word))
    } else if let (Some(first), Some(last)) = (text.first_chunk::<4>(), text.last_chunk::<4>()) {
        // Four to seven bytes: two halves that overlap, or meet, in the middle.
        let ([a, b, c, d], [e, f, g, h]) = (*first, *last);
        word_flags([a, b, c, d, e, f, g, h])
    } else if let (Some(&a), Some(&b), Some(&c)) =
        (text.first(), text.get(text.len() / 2), text.last())
    {
        // One to three bytes: the first, the middle and the last are all of them;
        // spaces (plain) fill the word.
        word_flags([a, b, c, b' ', b' ', b' ', b' ', b' '])
    } else {
        return true;
    };
    flags & (ONES * 0x80) == 0
}

/// Sets the high bit of a byte of `word` that is not ASCII or that [`Text::escaped`]
/// changes, so that or-ed flags of several words answer for all of them. Each term is
/// exact as a yes or no for ASCII bytes (high bit clear): it sets the high bit of the
/// lowest byte it is about, and none when no byte is (a borrow or a carry only starts
/// at such a byte). Bytes above ASCII are flagged by the first term, whatever the
/// others make of them.
#[inline(always)]
fn word_flags(word: [u8; 8]) -> u64 {
    let word = u64::from_ne_bytes(word);
    let control = word.wrapping_sub(ONES * 0x20);
    let delete = word.wrapping_add(ONES);
    let quote = (word ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
    let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
    word | control | delete | quote | backslash
}

/// Whether `text` has a byte that may start a character [`Text::escaped`] changes:
/// `"`, `\` and the control characters, U+0000–U+001F and U+007F in one byte,
/// U+0080–U+009F as `0xC2` and a second byte (`0xC2` also starts other characters:
/// those are checked, then copied as they are).
fn has_escaped_lead_byte(text: &[u8]) -> bool {
    let (words, _) = text.as_chunks::<8>();
    // The last eight bytes, overlapping the words already checked.
    let Some(last) = text.last_chunk::<8>() else {
        return text
            .iter()
            .any(|byte| matches!(byte, 0..=0x1f | b'"' | b'\\' | 0x7f | 0xc2));
    };
    for word in words {
        if word_may_need_escape(word) {
            return true;
        }
    }
    word_may_need_escape(last)
}

/// [`has_escaped_lead_byte`] for eight bytes.
fn word_may_need_escape(word: &[u8; 8]) -> bool {
    let word = u64::from_ne_bytes(*word);
    any_below(word, 0x20)
        | any_equal(word, b'"')
        | any_equal(word, b'\\')
        | any_equal(word, 0x7f)
        | any_equal(word, 0xc2)
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);

/// Whether a byte of `word` is below `n`, for `n` up to 0x80 (Bit Twiddling Hacks'
/// `hasless`: exact as a yes or no).
fn any_below(word: u64, n: u8) -> bool {
    const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGH_BITS != 0
}

/// Whether a byte of `word` is `byte`.
fn any_equal(word: u64, byte: u8) -> bool {
    any_below(word ^ (ONES * u64::from(byte)), 1)
}

/// `00` to `99`, for writing numbers two digits at a time.
const PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0; 2]; 100];
    let mut i = 0;
    while i < 100 {
        pairs[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    pairs
};

/// Every octet of an IPv4 address in decimal and followed by a dot, in four bytes
/// (padded), with the length of its digits and dot.
const OCTETS: [([u8; 4], usize); 256] = {
    let mut octets = [([0; 4], 0); 256];
    let mut i = 0;
    while i < 256 {
        let digits = [
            b'0' + (i / 100) as u8,
            b'0' + (i / 10 % 10) as u8,
            b'0' + (i % 10) as u8,
        ];
        octets[i] = match i {
            0..=9 => ([digits[2], b'.', 0, 0], 2),
            10..=99 => ([digits[1], digits[2], b'.', 0], 3),
            _ => ([digits[0], digits[1], digits[2], b'.'], 4),
        };
        i += 1;
    }
    octets
};

/// A number in decimal, written on the stack.
pub(crate) struct Decimal {
    /// `u64::MAX` has 20 digits.
    digits: [u8; 20],
    len: usize,
}

impl Decimal {
    pub(crate) fn new(mut n: u64) -> Decimal {
        let mut digits = [0; 20];
        let len = n.checked_ilog10().map_or(1, |log| log as usize + 1);
        // Cannot fail: `len` is at most 20.
        if let Some(used) = digits.get_mut(..len) {
            // From the right, two digits at a time.
            let mut pairs = used.rchunks_exact_mut(2);
            for pair in &mut pairs {
                pair.copy_from_slice(&PAIRS[(n % 100) as usize]);
                n /= 100;
            }
            if let Some(first) = pairs.into_remainder().first_mut() {
                // A digit: < 10.
                *first = b'0' + (n % 10) as u8;
            }
        }
        Decimal { digits, len }
    }

    fn as_bytes(&self) -> &[u8] {
        self.digits.get(..self.len).unwrap_or_default()
    }

    #[cfg(test)]
    fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::net::{IpAddr, SocketAddr};
    use std::time::Duration;

    use super::{plain_ascii, Decimal, Text};

    fn written(write: impl FnOnce(&mut Text<'_>)) -> String {
        let mut out = Vec::new();
        write(&mut Text::new(&mut out));
        String::from_utf8(out).unwrap()
    }

    /// The escaping as the plugin always did it: a char at a time, through `core::fmt`.
    fn escaped_char_by_char(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            match c {
                '"' | '\\' => write!(out, "\\{c}").unwrap(),
                c if c.is_control() => write!(out, "{}", c.escape_default()).unwrap(),
                c => out.push(c),
            }
        }
        out
    }

    /// Each character that is escaped, or that shares a first byte with one, at every
    /// place of texts shorter and longer than a word.
    #[test]
    fn escaping_is_what_it_was_char_by_char() {
        let specials = [
            "\"", "\\", "\0", "\t", "\n", "\u{1f}", "\u{7f}", "\u{80}", "\u{9f}", "\u{a0}",
            "\u{bf}", "é", "😀", " ", "~", "!", "#", "[", "]", "\u{85}", "\u{2028}", "\u{feff}",
            "é\t", "\"😀\\",
        ];
        for len in 0..20 {
            for at in 0..=len {
                for special in specials {
                    let mut text = "a".repeat(len);
                    text.insert_str(at, special);
                    let escaped = written(|out| _ = out.escaped(&text));
                    assert_eq!(escaped, escaped_char_by_char(&text), "{text:?}");
                }
            }
        }
    }

    /// The word-at-a-time check against its definition, byte by byte: every byte value
    /// at every place of texts shorter and longer than a word, among plain bytes and
    /// next to a flagged one.
    #[test]
    fn plain_ascii_is_exact() {
        let plain = |text: &[u8]| {
            (text.iter()).all(|b| b.is_ascii() && !matches!(b, 0..=0x1f | b'"' | b'\\' | 0x7f))
        };
        assert!(plain_ascii(b""));
        for len in 1..=25 {
            for at in 0..len {
                for byte in 0..=u8::MAX {
                    for filler in [b'a', b' ', b'~', b'!', b'#', b'[', b']'] {
                        let mut text = vec![filler; len];
                        text[at] = byte;
                        assert_eq!(plain_ascii(&text), plain(&text), "{text:?}");
                        // A borrow or carry from a flagged byte below must not hide
                        // or invent another.
                        for other in [0x00, 0x1f, b'"', 0x7f, 0x80, 0xff] {
                            let mut text = text.clone();
                            text[(at + 1) % len] = other;
                            assert_eq!(plain_ascii(&text), plain(&text), "{text:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn numbers_and_durations_are_what_core_fmt_writes() {
        let mut numbers = vec![u64::MAX, 1_764_000_000_123_456, 10_u64.pow(19)];
        numbers.extend(0..2000);
        numbers.extend((0..64).map(|shift| 1 << shift));
        numbers.extend((1..20).flat_map(|exp| [10_u64.pow(exp) - 1, 10_u64.pow(exp)]));
        for n in numbers {
            assert_eq!(written(|out| _ = out.number(n)), n.to_string());
            assert_eq!(Decimal::new(n).as_str(), n.to_string());
        }

        // What `{:.3}` made of the microseconds as an f64 before; exact below 2^53 µs.
        let mut micros = vec![999_999_999, 123_456_789_012, 1 << 52];
        micros.extend(0..3000);
        for micros in micros {
            for nanos in [0, 1, 999] {
                let duration = Duration::from_micros(micros) + Duration::from_nanos(nanos);
                assert_eq!(
                    written(|out| _ = out.millis_or_dash(Some(duration))),
                    format!("{:.3}", duration.as_micros() as f64 / 1000.0),
                );
            }
        }
    }

    #[test]
    fn addresses_are_what_core_fmt_writes() {
        for ip in [
            "0.0.0.0",
            "9.10.99.100",
            "255.255.255.255",
            "::1",
            "2001:db8::7334",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(written(|out| _ = out.ip(ip)), ip.to_string());
        }
        // Every octet value in every place, after text already written.
        for octet in 0..=u8::MAX {
            for place in 0..4 {
                let mut octets = [1, 22, 203, 9];
                octets[place] = octet;
                let ip = IpAddr::from(octets);
                let text = written(|out| _ = out.raw("client=").ip(ip).raw(" "));
                assert_eq!(text, format!("client={ip} "));
            }
        }
        for addr in ["192.0.2.1:0", "10.0.0.1:65535", "[::1]:443"] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(written(|out| _ = out.socket_addr(addr)), addr.to_string());
        }
    }
}
