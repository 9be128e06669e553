//! [`WebSocket`]: an HTTP/1.1 Upgrade kept open for several round trips through the
//! tunnel (the bytes are opaque: no WebSocket framing is needed to test a tunnel).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{CLIENT_TIMEOUT, WEBSOCKET_KEY};

/// One upgrade request and, after a `101`, the tunnel it opened.
#[derive(Debug)]
pub struct WebSocket {
    stream: TcpStream,
    /// Status of the answer to the upgrade request.
    pub status: u16,
    /// Its headers, lowercase names.
    pub headers: Vec<(String, String)>,
}

impl WebSocket {
    /// Sends a WebSocket upgrade request (key [`WEBSOCKET_KEY`]) and reads the answer's
    /// head, and nothing after it. Any status is returned; check
    /// [`status`](WebSocket::status) before using the tunnel.
    pub fn open(addr: SocketAddr, host: &str, path: &str) -> Result<WebSocket, String> {
        let mut stream = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(CLIENT_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(CLIENT_TIMEOUT)))
            .map_err(|e| format!("socket timeouts: {e}"))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {WEBSOCKET_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("write upgrade request: {e}"))?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        // Byte by byte, so that no tunnelled byte is consumed with the head.
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(0) => return Err(format!("closed after {} bytes of head", head.len())),
                Ok(_) => head.push(byte[0]),
                Err(e) => return Err(format!("read head: {e}")),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok(WebSocket {
            stream,
            status,
            headers,
        })
    }

    /// The first value of a header of the upgrade answer.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Writes `payload` into the tunnel and reads as many bytes back. The write runs on
    /// its own thread, so a payload larger than the socket buffers on the way cannot
    /// deadlock against an echo.
    pub fn roundtrip(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let mut writer = self
            .stream
            .try_clone()
            .map_err(|e| format!("clone socket: {e}"))?;
        let mut echoed = vec![0u8; payload.len()];
        thread::scope(|scope| {
            let write = scope.spawn(move || writer.write_all(payload));
            let read = self.stream.read_exact(&mut echoed);
            let write = write
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the writing thread panicked")));
            write.map_err(|e| format!("write into the tunnel: {e}"))?;
            read.map_err(|e| format!("read from the tunnel: {e}"))
        })?;
        Ok(echoed)
    }

    /// Closes the client's sending side and waits up to `wait` for the other end to
    /// close too (EOF or reset); true if it did.
    pub fn close_and_wait(mut self, wait: Duration) -> bool {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = self.stream.set_read_timeout(Some(left));
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }
}
