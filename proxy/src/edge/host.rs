//! Authorities (`host[:port]`): which are valid, and the host routing uses.

/// Whether `value` is a valid `host[:port]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a
/// registered name of letters, digits, `-`, `.`, `_` and `~` (no empty label, at most
/// 255 bytes), an IPv4 address, or an IP literal in brackets; then an optional port of
/// at most 5 digits. No userinfo, spaces, control bytes, `/` or percent-escapes.
pub fn is_valid_authority(value: &str) -> bool {
    let (host, port) = split_port(value);
    if let Some(port) = port {
        if port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let number = port.bytes().fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
        if number > 65_535 {
            return false;
        }
    }
    if let Some(literal) = host.strip_prefix('[') {
        return literal.strip_suffix(']').is_some_and(|ip| {
            !ip.is_empty()
                && ip
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
                && ip.parse::<std::net::Ipv6Addr>().is_ok()
        });
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    // Labels of the allowed bytes, none empty: one pass.
    let mut label = 0;
    for b in name.bytes() {
        if b == b'.' {
            if label == 0 {
                return false;
            }
            label = 0;
        } else if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') {
            label += 1;
        } else {
            return false;
        }
    }
    label > 0
}

/// The host routing uses: lowercase, without the port and a trailing dot.
pub fn route_host(authority: &str) -> String {
    let (host, _) = split_port(authority);
    let host = if host.starts_with('[') {
        host
    } else {
        host.strip_suffix('.').unwrap_or(host)
    };
    host.to_ascii_lowercase()
}

/// `host` and `port` of `host[:port]` (an IPv6 literal keeps its brackets).
fn split_port(value: &str) -> (&str, Option<&str>) {
    if value.starts_with('[') {
        return match value.find(']') {
            Some(end) => match value[end + 1..].strip_prefix(':') {
                Some(port) => (&value[..=end], Some(port)),
                None if end + 1 == value.len() => (value, None),
                // Bytes after `]` that are not a port: invalid as a whole.
                None => ("", None),
            },
            None => (value, None),
        };
    }
    match value.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (value, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_authorities() {
        for ok in [
            "a",
            "shop.example.com",
            "Shop.Example.COM:8080",
            "shop.example.com.",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8443",
            "a_b-c~d",
            "host:",
        ] {
            assert!(is_valid_authority(ok), "{ok:?}");
        }
    }

    #[test]
    fn invalid_authorities() {
        for bad in [
            "",
            ":80",
            "a b",
            "a\tb",
            "a/b",
            "user@host",
            "a:xx",
            "a:123456",
            "a:70000",
            "a..b",
            ".a",
            "a%41",
            "[::1",
            "[::1]x",
            "[zz]",
            "a:1:2",
            "ex\u{7f}ample",
        ] {
            assert!(!is_valid_authority(bad), "{bad:?}");
        }
    }

    #[test]
    fn route_host_drops_case_port_and_trailing_dot() {
        assert_eq!(route_host("Internal.Example.:8080"), "internal.example");
        assert_eq!(route_host("internal.example."), "internal.example");
        assert_eq!(route_host("[::1]:80"), "[::1]");
        assert_eq!(route_host("A"), "a");
    }
}
