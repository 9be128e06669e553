//! A request head parsed from the connection's buffer (httparse), with the framing of
//! its body (RFC 9112 §6.3) and what it says about the connection.
//!
//! The head's bytes are split off the buffer once and shared, not copied: the target
//! and every header value are slices of them. What the parser refuses is answered
//! here, before a request exists (no callback point runs): 400 for bad syntax or
//! framing, 431 for a head over [`MAX_HEAD_BYTES`] or over [`MAX_FIELDS`] fields.
//! Everything else (sizes within the head, Host, the target's form, codings) is the
//! front door's ([`crate::edge`]), which every protocol shares.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode, Uri, Version};

use crate::header_list;

/// The most header fields a request may have (hyper's and nginx's 100).
pub(crate) const MAX_FIELDS: usize = 100;

/// The largest request head read: above the front door's own limits (a request line
/// of 8 KiB, a header section of 32 KiB), so that those are answered there (414, 431)
/// with a request that runs RequestFinish; a head beyond this is 431 here.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How the request's body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// This many bytes (0: no body).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// Method, target, version and fields.
    pub head: Parts,
    /// The body's framing.
    pub framing: Framing,
    /// Whether the client keeps the connection after this exchange (HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`; never after a
    /// head with both Content-Length and Transfer-Encoding).
    pub keep_alive: bool,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// HTTP/1.1 with an `Upgrade` field.
    pub upgrade: bool,
    /// `TE: trailers`: the client takes trailer fields.
    pub trailers: bool,
}

/// Parses a complete head at the start of `buf` and splits it off; `Ok(None)` if the
/// head is not complete yet (more bytes are needed, and fit), `Err` with the status
/// to answer if it can never be a request.
pub(crate) fn parse(buf: &mut BytesMut) -> Result<Option<Parsed>, StatusCode> {
    // Empty lines before a request line are ignored (RFC 9112 §2.2).
    let blank = blank_lines(buf);
    if blank > 0 {
        let _ = buf.split_to(blank);
    }
    let Some(len) = head_end(buf) else {
        if buf.len() >= MAX_HEAD_BYTES {
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        return Ok(None);
    };
    if len > MAX_HEAD_BYTES {
        return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }
    // The head is split off first and parsed where it then lies: the target and the
    // values are slices of it.
    let bytes: Bytes = if len == buf.len() {
        // The usual case, nothing behind the head: the buffer becomes the head's.
        std::mem::take(buf).freeze()
    } else {
        buf.split_to(len).freeze()
    };
    let bad = StatusCode::BAD_REQUEST;
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut request = httparse::Request::new(&mut []);
    match request.parse_with_uninit_headers(&bytes, &mut fields) {
        Ok(httparse::Status::Complete(parsed)) if parsed == len => {}
        Err(httparse::Error::TooManyHeaders) => {
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        }
        // Anything else ends where the empty line is, or is not a head.
        _ => return Err(bad),
    }
    let method =
        Method::from_bytes(request.method.unwrap_or_default().as_bytes()).map_err(|_| bad)?;
    let http11 = request.version == Some(1);
    let target = request.path.unwrap_or_default().as_bytes();
    let uri = Uri::from_maybe_shared(bytes.slice_ref(target)).map_err(|_| bad)?;
    let count = request.headers.len();
    let mut headers = HeaderMap::with_capacity(count);
    let mut framing = Framing::Length(0);
    let (mut keep_alive, mut closed) = (http11, false);
    let (mut length, mut chunked, mut coded) = (None, false, false);
    let mut expect_continue = false;
    // Only HTTP/1.1 clients wait for a 100 (RFC 9110 §10.1.1).
    let mut upgrade = false;
    let mut trailers = false;
    for field in request.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| bad)?;
        // httparse admitted only visible ASCII, obs-text, SP and HTAB in values.
        let value =
            HeaderValue::from_maybe_shared(bytes.slice_ref(field.value)).map_err(|_| bad)?;
        match name {
            header::TRANSFER_ENCODING => {
                if !http11 {
                    // RFC 9112 §6.1: HTTP/1.0 has no transfer codings.
                    return Err(bad);
                }
                coded = true;
                // The last field's last coding decides (the front door checks the rest).
                chunked = header_list::last_is(&value, "chunked");
            }
            header::CONTENT_LENGTH => {
                let parsed = content_length(&value).ok_or(bad)?;
                match length {
                    Some(earlier) if earlier != parsed => return Err(bad),
                    // The same length again: one field is enough.
                    Some(_) => continue,
                    None => length = Some(parsed),
                }
            }
            header::CONNECTION => {
                // Once any field asks to close, a later keep-alive does not undo it.
                if closed || header_list::value_has(&value, "close") {
                    closed = true;
                    keep_alive = false;
                } else if !keep_alive {
                    keep_alive = header_list::value_has(&value, "keep-alive");
                }
            }
            header::EXPECT => {
                expect_continue = http11 && value.as_bytes().eq_ignore_ascii_case(b"100-continue");
            }
            header::UPGRADE => upgrade = http11,
            header::TE => trailers |= header_list::value_has(&value, "trailers"),
            _ => {}
        }
        headers.append(name, value);
    }
    if coded {
        if !chunked {
            // RFC 9112 §6.3 (4): a request body that cannot be framed.
            return Err(bad);
        }
        framing = Framing::Chunked;
        if length.is_some() {
            // §6.3 (3): Transfer-Encoding wins, the length goes, and the connection
            // closes after (it may have been an attempt to smuggle).
            headers.remove(header::CONTENT_LENGTH);
            keep_alive = false;
        }
    } else if let Some(length) = length {
        framing = Framing::Length(length);
    }
    let mut head = http::Request::new(()).into_parts().0;
    head.method = method;
    head.uri = uri;
    head.version = if http11 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    head.headers = headers;
    Ok(Some(Parsed {
        head,
        framing,
        keep_alive,
        expect_continue,
        upgrade,
        trailers,
    }))
}

/// How many bytes of empty lines (CRLF or LF) `buf` starts with.
fn blank_lines(buf: &[u8]) -> usize {
    let mut at = 0;
    loop {
        match &buf[at..] {
            [b'\r', b'\n', ..] => at += 2,
            [b'\n', ..] => at += 1,
            _ => return at,
        }
    }
}

/// Where the head that `buf` starts with ends (after its empty line: CRLF, or a bare
/// LF, which httparse tolerates), if it is all there.
fn head_end(buf: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', buf).find_map(|lf| match &buf[lf + 1..] {
        [b'\n', ..] => Some(lf + 2),
        [b'\r', b'\n', ..] => Some(lf + 3),
        _ => None,
    })
}

/// A Content-Length value: one decimal number, digits only (RFC 9110 §8.6); `None`
/// for anything else (a list, a sign, an overflow).
pub(crate) fn content_length(value: &HeaderValue) -> Option<u64> {
    let digits = value.as_bytes();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(bytes: &str) -> Result<Option<Parsed>, StatusCode> {
        parse(&mut BytesMut::from(bytes))
    }

    #[test]
    fn a_head_is_split_off_and_the_rest_stays() {
        let mut buf = BytesMut::from("\r\nGET /a?b HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\nGET /next");
        let p = parse(&mut buf).unwrap().unwrap();
        assert_eq!(p.head.uri, "/a?b");
        assert_eq!(p.head.headers["x"], "1");
        assert_eq!(p.framing, Framing::Length(0));
        assert!(p.keep_alive && !p.expect_continue && !p.upgrade);
        assert_eq!(&buf[..], b"GET /next");
        assert!(parse(&mut buf).unwrap().is_none(), "partial");
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let p = parsed("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(p.framing, Framing::Length(5));
        let p = parsed("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(p.head.headers.get_all("content-length").iter().count(), 1);
        let p =
            parsed("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(p.framing, Framing::Chunked);
        assert!(!p.keep_alive && !p.head.headers.contains_key("content-length"));
        for bad in [
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nX : y\r\n\r\n",
            "GET / HTTP/1.1\r\n folded\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(parsed(bad).unwrap_err(), StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection() {
        let ka = |s: &str| parsed(s).unwrap().unwrap().keep_alive;
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!ka(
            "GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n"
        ));
    }

    #[test]
    fn heads_over_the_limits_are_431() {
        let many: String = (0..=MAX_FIELDS).map(|i| format!("X-{i}: v\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            parsed(&head).unwrap_err(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(
            parsed(&big).unwrap_err(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
    }
}
