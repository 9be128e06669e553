//! [`RawConn`]: HTTP/1.1 over a bare TCP socket, for what a real client hides: that
//! not one byte came back, and that the *server* closed the connection (a client
//! library closes on `Connection: close` by itself).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long [`RawConn`] waits for a whole response.
pub const RAW_TIMEOUT: Duration = Duration::from_secs(5);

/// One HTTP/1.1 client connection on a bare socket.
pub struct RawConn {
    stream: TcpStream,
    /// Received bytes not yet consumed as a response.
    buf: Vec<u8>,
    /// The server closed (EOF or reset).
    closed: bool,
}

/// A response read off a [`RawConn`].
#[derive(Clone, Debug)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// Headers, lowercase names, in order.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl RawConn {
    /// Connects; panics if the connection is refused.
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = match TcpStream::connect_timeout(&addr, RAW_TIMEOUT) {
            Ok(stream) => stream,
            Err(e) => panic!("connect to {addr}: {e}"),
        };
        let _ = stream.set_nodelay(true);
        RawConn {
            stream,
            buf: Vec::new(),
            closed: false,
        }
    }

    /// Sends `method path` with `Host: host` (and `Content-Length: 0` for POST and
    /// PUT), then reads the response.
    pub fn request(&mut self, method: &str, host: &str, path: &str) -> Result<RawResponse, String> {
        self.write(&request_bytes(method, host, path))?;
        self.read_response(method == "HEAD")
    }

    /// A GET, then its response.
    pub fn get(&mut self, host: &str, path: &str) -> Result<RawResponse, String> {
        self.request("GET", host, path)
    }

    /// A second handle on the socket, for writing from another thread while this one
    /// reads (a long pipeline would otherwise fill both sides' buffers).
    pub fn try_clone_stream(&self) -> std::io::Result<TcpStream> {
        self.stream.try_clone()
    }

    /// Writes bytes as they are.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("write: {e}"))
    }

    /// Reads one whole response (`head_only` for the answer to a HEAD), at most
    /// [`RAW_TIMEOUT`]; fails if the server closes first, saying what came.
    pub fn read_response(&mut self, head_only: bool) -> Result<RawResponse, String> {
        let deadline = Instant::now() + RAW_TIMEOUT;
        loop {
            match parse(&self.buf, head_only, self.closed)? {
                Some((response, used)) => {
                    self.buf.drain(..used);
                    return Ok(response);
                }
                None if self.closed => {
                    return Err(format!(
                        "closed by the server after {} bytes: {:?}",
                        self.buf.len(),
                        String::from_utf8_lossy(&self.buf)
                    ))
                }
                None if Instant::now() >= deadline => {
                    return Err(format!(
                        "no whole response within {RAW_TIMEOUT:?}; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ))
                }
                None => self.read_some(deadline),
            }
        }
    }

    /// Waits up to `wait` for the server to close the connection. `Some(bytes)`: it
    /// closed, after sending these further bytes (as text; `""` for none); `None`: it
    /// is still open.
    pub fn close_seen(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        while !self.closed && Instant::now() < deadline {
            self.read_some(deadline);
        }
        self.closed
            .then(|| String::from_utf8_lossy(&self.buf).into_owned())
    }

    /// Reads what is there (or waits until `deadline` for something) into the buffer.
    fn read_some(&mut self, deadline: Instant) {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = self
            .stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))));
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => self.closed = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A reset is the server closing too (it had unread bytes of ours).
            Err(_) => self.closed = true,
        }
    }
}

/// The bytes of a request without a body.
pub fn request_bytes(method: &str, host: &str, path: &str) -> Vec<u8> {
    let length = if matches!(method, "POST" | "PUT") {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{length}\r\n").into_bytes()
}

/// One response at the start of `buf` and the bytes it used; `None` if incomplete.
fn parse(
    buf: &[u8],
    head_only: bool,
    closed: bool,
) -> Result<Option<(RawResponse, usize)>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut response = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &buf[end + 4..];
    if head_only || matches!(status, 100..=199 | 204 | 304) {
        return Ok(Some((response, end + 4)));
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    if chunked {
        return Ok(dechunk(rest).map(|(body, used)| {
            response.body = body;
            (response, end + 4 + used)
        }));
    }
    match response.header("content-length") {
        Some(length) => {
            let length: usize = length
                .parse()
                .map_err(|_| format!("bad content-length {length:?}"))?;
            if rest.len() < length {
                return Ok(None);
            }
            response.body = rest[..length].to_vec();
            Ok(Some((response, end + 4 + length)))
        }
        // No length: the body runs to the close.
        None if closed => {
            response.body = rest.to_vec();
            Ok(Some((response, buf.len())))
        }
        None => Ok(None),
    }
}

/// A whole chunked body at the start of `buf` and the bytes it used; `None` if
/// incomplete.
fn dechunk(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + buf[at..].windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&buf[at..line_end]).into_owned();
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        at = line_end + 2;
        if size == 0 {
            // Trailers (none expected), then the final CRLF.
            let trailer_end = at + buf[at..].windows(2).position(|w| w == b"\r\n")?;
            return Some((body, trailer_end + 2));
        }
        if buf.len() < at + size + 2 {
            return None;
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lengths_chunks_and_heads() {
        let text =
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabcHTTP/1.1 204 No\r\n\r\n";
        let (first, used) = parse(text, false, false).unwrap().unwrap();
        assert_eq!((first.status, first.text().as_str()), (200, "abc"));
        assert_eq!(first.header("x-a"), Some("b"));
        let (second, _) = parse(&text[used..], false, false).unwrap().unwrap();
        assert_eq!(second.status, 204);

        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let (response, used) = parse(chunked, false, false).unwrap().unwrap();
        assert_eq!(response.text(), "abcde");
        assert_eq!(used, chunked.len());
        assert!(parse(&chunked[..chunked.len() - 2], false, false)
            .unwrap()
            .is_none());

        let head = b"HTTP/1.1 302 Found\r\nContent-Length: 10\r\n\r\n";
        let (response, used) = parse(head, true, false).unwrap().unwrap();
        assert_eq!((response.status, used), (302, head.len()));
        assert!(parse(head, false, false).unwrap().is_none());
    }
}
