//! The echo body, both ways ([`render`] on the backend, [`Echo::parse`] in tests), and
//! the WebSocket accept key.

use std::fmt::Write as _;

use super::Seen;

/// What an echoing backend received, parsed back from its response body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Echo {
    /// The backend's name.
    pub backend: String,
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Every header, lowercase names, in the order received.
    pub headers: Vec<(String, String)>,
    /// Length of the request body.
    pub body_length: usize,
    /// [`checksum`] of the request body.
    pub body_checksum: String,
}

impl Echo {
    /// Parses an echo body; `None` if `text` is not one.
    pub fn parse(text: &str) -> Option<Echo> {
        let mut echo = Echo {
            backend: String::new(),
            method: String::new(),
            uri: String::new(),
            version: String::new(),
            headers: Vec::new(),
            body_length: 0,
            body_checksum: String::new(),
        };
        let mut has_backend = false;
        for line in text.lines() {
            let (key, value) = line.split_once(": ")?;
            match key {
                "backend" => {
                    echo.backend = value.to_owned();
                    has_backend = true;
                }
                "method" => echo.method = value.to_owned(),
                "uri" => echo.uri = value.to_owned(),
                "version" => echo.version = value.to_owned(),
                "header" => {
                    let (name, value) = value.split_once(": ").unwrap_or((value, ""));
                    echo.headers.push((name.to_owned(), value.to_owned()));
                }
                "body-length" => echo.body_length = value.parse().ok()?,
                "body-checksum" => echo.body_checksum = value.to_owned(),
                _ => return None,
            }
        }
        has_backend.then_some(echo)
    }

    /// The first value of a header the backend received.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// Every value of a header the backend received, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether the backend received this header at all.
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }
}

/// The echo body for one request.
pub(super) fn render(name: &str, seen: &Seen, body: &[u8]) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "backend: {name}");
    let _ = writeln!(text, "method: {}", seen.method);
    let _ = writeln!(text, "uri: {}", seen.uri);
    let _ = writeln!(text, "version: {}", seen.version);
    for (header, value) in &seen.headers {
        let _ = writeln!(text, "header: {header}: {value}");
    }
    let _ = writeln!(text, "body-length: {}", body.len());
    let _ = writeln!(text, "body-checksum: {}", checksum(body));
    text
}

/// FNV-1a (32 bits) of `bytes`, in hex: enough to tell that a body arrived intact.
pub fn checksum(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0x811c_9dc5u32, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn websocket_accept(key: &str) -> String {
    const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{GUID}").as_bytes(),
    );
    base64(digest.as_ref())
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_accept_matches_rfc_6455() {
        assert_eq!(
            websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn echo_round_trips() {
        let seen = Seen {
            method: "POST".into(),
            uri: "/a?b=c".into(),
            version: "HTTP/1.1".into(),
            headers: vec![
                ("host".into(), "example.com".into()),
                ("x-empty".into(), String::new()),
                ("x-multi".into(), "1".into()),
                ("x-multi".into(), "2".into()),
            ],
            authority: None,
        };
        let echo = Echo::parse(&render("b1", &seen, b"hello")).unwrap();
        assert_eq!(echo.backend, "b1");
        assert_eq!(echo.method, "POST");
        assert_eq!(echo.uri, "/a?b=c");
        assert_eq!(echo.header("Host"), Some("example.com"));
        assert_eq!(echo.header("x-empty"), Some(""));
        assert_eq!(echo.header_all("x-multi"), ["1", "2"]);
        assert_eq!(echo.body_length, 5);
        assert_eq!(echo.body_checksum, checksum(b"hello"));
        assert_eq!(Echo::parse("not an echo"), None);
    }
}
