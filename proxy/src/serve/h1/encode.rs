//! A response head written for an HTTP/1.x client, and its body framed (RFC 9112 §6):
//! the same rules hyper's server applied before hookgate had its own codec, so that
//! nothing a client sees changed with it.
//!
//! - The status line says `HTTP/1.0` to an HTTP/1.0 client, else `HTTP/1.1`; the
//!   reason is the backend's (hyper's `ReasonPhrase`), or the status's canonical one.
//! - Framing: 1xx, 204, 304 and any answer to HEAD carry no body; a body of known
//!   length gets `Content-Length` (an answer to HEAD keeps the backend's); one of
//!   unknown length is chunked, or close-delimited for HTTP/1.0 clients. A
//!   `Transfer-Encoding` the response already has is kept (chunked added last).
//! - Trailers go out only in chunked framing, only those the `Trailer` field
//!   announced, and only to a client that said `TE: trailers`.
//! - `Connection`: `keep-alive` for an HTTP/1.0 client the connection stays open for,
//!   `close` when it will close; `Date` unless the response has one.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::response::Parts;
use http::{HeaderMap, Method, StatusCode, Version};

use super::head::content_length;
use super::out::Out;
use crate::header_list;

/// What the encoder needs to know of the request a response answers.
#[derive(Clone, Debug)]
pub(crate) struct Asked {
    pub method: Method,
    pub version: Version,
    /// Whether the client asked for trailers (`TE: trailers`).
    pub trailers: bool,
}

/// What is known of a response body's length before it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Length {
    /// Nothing will come.
    Empty,
    /// Exactly this many bytes.
    Known(u64),
    /// Unknown until it ends.
    Unknown,
}

/// How the bytes of a body go out.
#[derive(Debug)]
pub(crate) enum BodyWriter {
    /// At most this many more bytes; fewer at the end is a truncation.
    Length(u64),
    /// Chunked, with the trailer fields the client may receive.
    Chunked(Option<Vec<HeaderName>>),
    /// Until the connection closes.
    Close,
}

/// A body that did not match its announced length.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Mismatch {
    /// More bytes than announced.
    #[error("response body longer than its Content-Length")]
    Long,
    /// Fewer bytes than announced.
    #[error("response body ended {0} bytes short of its Content-Length")]
    Short(u64),
}

/// The largest body piece copied behind the head instead of written from its own
/// buffer.
const COPY_BELOW: usize = 4096;

/// Writes the head of `response` to `out`, `close` saying whether the connection
/// closes after it; returns how its body goes out and whether the connection closes
/// after it after all (the response says `Connection: close`, or its body is
/// close-delimited).
pub(crate) fn head(
    out: &mut Out,
    response: &Parts,
    asked: &Asked,
    length: Length,
    close: bool,
) -> (BodyWriter, bool) {
    let status = response.status;
    let staged = out.staging();
    let http10 = asked.version == Version::HTTP_10;
    let reason = response.extensions.get::<hyper::ext::ReasonPhrase>();
    if !http10 && status == StatusCode::OK && reason.is_none() {
        staged.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        staged.extend_from_slice(if http10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
        staged.extend_from_slice(status.as_str().as_bytes());
        staged.push(b' ');
        match reason {
            Some(reason) => staged.extend_from_slice(reason.as_bytes()),
            None => {
                let reason = status.canonical_reason().unwrap_or("<none>");
                staged.extend_from_slice(reason.as_bytes());
            }
        }
        staged.extend_from_slice(b"\r\n");
    }
    let head_request = asked.method == Method::HEAD;
    let switching = status == StatusCode::SWITCHING_PROTOCOLS;
    let no_length = status.is_informational() || matches!(status.as_u16(), 204 | 304);
    let can_have_body = !head_request && !no_length;
    let can_chunk = can_have_body && !http10;

    // One pass over the fields: the framing and connection fields are taken aside
    // (written below, from what the body and the connection will do), the rest
    // written as they are.
    let mut declared = None;
    let mut codings: Vec<&HeaderValue> = Vec::new();
    let mut announced: Vec<HeaderName> = Vec::new();
    let mut tokens: Vec<&str> = Vec::new();
    let mut close = close;
    let mut wrote_date = false;
    for (name, value) in &response.headers {
        if *name == header::CONTENT_LENGTH {
            declared = declared.or(Some(value));
            continue;
        }
        if *name == header::TRANSFER_ENCODING {
            codings.push(value);
            continue;
        }
        if *name == header::CONNECTION && !switching {
            for item in value.to_str().unwrap_or_default().split(',').map(str::trim) {
                if item.eq_ignore_ascii_case("close") {
                    close = true;
                } else if !item.is_empty() && !item.eq_ignore_ascii_case("keep-alive") {
                    tokens.push(item);
                }
            }
            continue;
        }
        if *name == header::TRAILER {
            if !can_chunk {
                continue;
            }
            if asked.trailers {
                let names = value.to_str().unwrap_or_default().split(',');
                announced
                    .extend(names.filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok()));
            }
        }
        wrote_date |= *name == header::DATE;
        staged.extend_from_slice(name.as_str().as_bytes());
        staged.extend_from_slice(b": ");
        staged.extend_from_slice(value.as_bytes());
        staged.extend_from_slice(b"\r\n");
    }
    let announced = (!announced.is_empty()).then_some(announced);
    let mut writer = None;
    // The response's own framing fields, kept where hyper kept them.
    if let Some(value) = declared {
        let keep = match length {
            // The body's real length wins over a stale field (both are the same when
            // the body comes straight from a backend).
            Length::Known(n) if !no_length => Some(n),
            Length::Unknown if !no_length => content_length(value),
            // No body: only an answer to HEAD says what it would have been.
            Length::Empty if head_request => content_length(value),
            _ => None,
        };
        if let Some(n) = keep {
            put_length(staged, n);
            writer = Some(BodyWriter::Length(n));
        }
    }
    if !codings.is_empty() && writer.is_none() && can_chunk && length != Length::Empty {
        staged.extend_from_slice(b"transfer-encoding: ");
        for (i, value) in codings.iter().enumerate() {
            if i > 0 {
                staged.extend_from_slice(b", ");
            }
            staged.extend_from_slice(value.as_bytes());
        }
        let last = codings
            .last()
            .is_some_and(|v| header_list::last_is(v, "chunked"));
        staged.extend_from_slice(if last { b"\r\n" } else { b", chunked\r\n" });
        writer = Some(BodyWriter::Chunked(None));
    }
    let writer = match writer {
        Some(BodyWriter::Chunked(_)) => BodyWriter::Chunked(announced),
        Some(writer) => writer,
        None => match length {
            Length::Unknown if can_chunk => {
                staged.extend_from_slice(b"transfer-encoding: chunked\r\n");
                BodyWriter::Chunked(announced)
            }
            Length::Unknown if can_have_body => BodyWriter::Close,
            Length::Known(n) if n > 0 && !no_length => {
                put_length(staged, n);
                BodyWriter::Length(n)
            }
            _ => {
                if can_have_body {
                    staged.extend_from_slice(b"content-length: 0\r\n");
                }
                BodyWriter::Length(0)
            }
        },
    };
    let writer = if can_have_body {
        writer
    } else {
        BodyWriter::Length(0)
    };
    let close = (close || matches!(writer, BodyWriter::Close)) && !switching;
    if !switching {
        let state = if close {
            Some("close")
        } else {
            http10.then_some("keep-alive")
        };
        if state.is_some() || !tokens.is_empty() {
            staged.extend_from_slice(b"connection: ");
            for (i, item) in state.into_iter().chain(tokens).enumerate() {
                if i > 0 {
                    staged.extend_from_slice(b", ");
                }
                staged.extend_from_slice(item.as_bytes());
            }
            staged.extend_from_slice(b"\r\n");
        }
    }
    if !wrote_date {
        staged.extend_from_slice(b"date: ");
        DATE.with(|date| staged.extend_from_slice(&date.borrow_mut().now()));
        staged.extend_from_slice(b"\r\n");
    }
    staged.extend_from_slice(b"\r\n");
    (writer, close)
}

fn put_length(staged: &mut Vec<u8>, n: u64) {
    staged.extend_from_slice(b"content-length: ");
    staged.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    staged.extend_from_slice(b"\r\n");
}

impl BodyWriter {
    /// Whether no more bytes may follow.
    pub(crate) fn is_full(&self) -> bool {
        matches!(self, BodyWriter::Length(0))
    }

    /// Queues `data` on `out`, framed.
    pub(crate) fn data(&mut self, out: &mut Out, data: Bytes) -> Result<(), Mismatch> {
        if data.is_empty() {
            return Ok(());
        }
        match self {
            BodyWriter::Length(left) => {
                let len = data.len() as u64;
                if len > *left {
                    return Err(Mismatch::Long);
                }
                *left -= len;
                out.put(data, COPY_BELOW);
            }
            BodyWriter::Chunked(_) => {
                let staged = out.staging();
                let mut hex = [0u8; 16];
                staged.extend_from_slice(hex_of(data.len(), &mut hex));
                staged.extend_from_slice(b"\r\n");
                out.put(data, COPY_BELOW);
                out.staging().extend_from_slice(b"\r\n");
            }
            BodyWriter::Close => out.put(data, COPY_BELOW),
        }
        Ok(())
    }

    /// Ends the body, with `trailers` if it has some.
    pub(crate) fn end(
        &mut self,
        out: &mut Out,
        trailers: Option<&HeaderMap>,
    ) -> Result<(), Mismatch> {
        match self {
            BodyWriter::Length(0) | BodyWriter::Close => Ok(()),
            BodyWriter::Length(left) => Err(Mismatch::Short(*left)),
            BodyWriter::Chunked(allowed) => {
                let staged = out.staging();
                staged.extend_from_slice(b"0\r\n");
                if let (Some(trailers), Some(allowed)) = (trailers, allowed.as_ref()) {
                    for (name, value) in trailers {
                        if allowed.contains(name) {
                            staged.extend_from_slice(name.as_str().as_bytes());
                            staged.extend_from_slice(b": ");
                            staged.extend_from_slice(value.as_bytes());
                            staged.extend_from_slice(b"\r\n");
                        }
                    }
                }
                staged.extend_from_slice(b"\r\n");
                *self = BodyWriter::Length(0);
                Ok(())
            }
        }
    }
}

/// `n` in lowercase hex, in `buf`.
fn hex_of(mut n: usize, buf: &mut [u8; 16]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        if n == 0 {
            return &buf[at..];
        }
    }
}

thread_local! {
    /// Each worker's `Date` value, formatted once a second.
    static DATE: RefCell<CachedDate> = const { RefCell::new(CachedDate { second: 0, value: [0; 29] }) };
}

/// An HTTP date, formatted again only when the second changes.
struct CachedDate {
    second: u64,
    value: [u8; 29],
}

impl CachedDate {
    fn now(&mut self) -> [u8; 29] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            let text = httpdate::fmt_http_date(now);
            if text.len() == self.value.len() {
                self.value.copy_from_slice(text.as_bytes());
                self.second = second;
            }
        }
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Response;

    fn asked(method: Method, version: Version) -> Asked {
        Asked {
            method,
            version,
            trailers: false,
        }
    }

    /// The head written for `response`, without its date line, and the writer.
    fn written(
        response: Response<()>,
        asked: &Asked,
        length: Length,
        close: bool,
    ) -> (String, BodyWriter, bool) {
        let mut out = Out::default();
        let (parts, ()) = response.into_parts();
        let (writer, close) = head(&mut out, &parts, asked, length, close);
        let text = String::from_utf8(out.staging().clone()).unwrap();
        let text: String = text
            .lines()
            .filter(|l| !l.starts_with("date: "))
            .map(|l| format!("{l}\n"))
            .collect();
        (text, writer, close)
    }

    #[test]
    fn framing_follows_length_method_and_status() {
        let get = asked(Method::GET, Version::HTTP_11);
        let (text, writer, close) = written(Response::new(()), &get, Length::Known(6), false);
        assert_eq!(text, "HTTP/1.1 200 OK\ncontent-length: 6\n\n");
        assert!(matches!(writer, BodyWriter::Length(6)) && !close);
        let (text, writer, _) = written(Response::new(()), &get, Length::Unknown, false);
        assert_eq!(text, "HTTP/1.1 200 OK\ntransfer-encoding: chunked\n\n");
        assert!(matches!(writer, BodyWriter::Chunked(None)));
        let (text, _, _) = written(Response::new(()), &get, Length::Empty, false);
        assert_eq!(text, "HTTP/1.1 200 OK\ncontent-length: 0\n\n");
        // HEAD: the backend's length is kept, no body follows.
        let response = Response::builder()
            .header("content-length", "42")
            .body(())
            .unwrap();
        let (text, writer, _) = written(
            response,
            &asked(Method::HEAD, Version::HTTP_11),
            Length::Empty,
            false,
        );
        assert_eq!(text, "HTTP/1.1 200 OK\ncontent-length: 42\n\n");
        assert!(writer.is_full());
        // 304: no length at all.
        let response = Response::builder()
            .status(304)
            .header("content-length", "42")
            .body(())
            .unwrap();
        let (text, _, _) = written(response, &get, Length::Empty, false);
        assert_eq!(text, "HTTP/1.1 304 Not Modified\n\n");
    }

    #[test]
    fn http10_clients_get_their_version_and_no_chunks() {
        let old = asked(Method::GET, Version::HTTP_10);
        let (text, writer, close) = written(Response::new(()), &old, Length::Unknown, false);
        assert_eq!(text, "HTTP/1.0 200 OK\nconnection: close\n\n");
        assert!(matches!(writer, BodyWriter::Close) && close);
        let (text, _, close) = written(Response::new(()), &old, Length::Known(2), false);
        assert_eq!(
            text,
            "HTTP/1.0 200 OK\ncontent-length: 2\nconnection: keep-alive\n\n"
        );
        assert!(!close);
    }

    #[test]
    fn chunks_and_trailers_are_framed() {
        let mut out = Out::default();
        let mut writer = BodyWriter::Chunked(Some(vec![HeaderName::from_static("x-sum")]));
        writer
            .data(&mut out, Bytes::from_static(b"hello, world!!!!"))
            .unwrap();
        let mut trailers = HeaderMap::new();
        trailers.insert("x-sum", HeaderValue::from_static("1"));
        trailers.insert("x-other", HeaderValue::from_static("2"));
        writer.end(&mut out, Some(&trailers)).unwrap();
        assert_eq!(
            out.to_vec(),
            b"10\r\nhello, world!!!!\r\n0\r\nx-sum: 1\r\n\r\n"
        );
        let mut short = BodyWriter::Length(3);
        assert!(short.data(&mut out, Bytes::from_static(b"abcd")).is_err());
        assert!(matches!(short.end(&mut out, None), Err(Mismatch::Short(3))));
    }
}
