//! Clients, all synchronous and bounded by [`CLIENT_TIMEOUT`]: one-shot requests on a
//! fresh connection ([`http1_get`], [`h2c_get`], [`https_get`]), a [`Conn`] for several
//! requests on one connection (and whether the server closed it), and raw TCP
//! helpers for what HTTP clients hide ([`raw_exchange`], [`websocket_roundtrip`]).
//!
//! Internal: the async work runs on one shared multi-thread tokio runtime, so the
//! helpers must not be called from inside an async context (`#[tokio::test]`).

mod conn;
mod raw;
pub(crate) mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::backend::Echo;
use crate::certs::TestCa;

pub use conn::Conn;
pub use raw::{raw_exchange, websocket_roundtrip, RawReply, Upgraded, WEBSOCKET_KEY};

/// How long any client step (connect, handshake, response, body) may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A request to send: method, `Host` (`:authority` in HTTP/2), path and query,
/// headers and body.
#[derive(Clone, Debug)]
pub struct Req {
    /// Method.
    pub method: String,
    /// Host; `None` sends no `Host` header (HTTP/1.1) or the socket address as
    /// `:authority` (HTTP/2).
    pub host: Option<String>,
    /// Path and query.
    pub path: String,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// Body (sent with a `content-length`, if not empty).
    pub body: Vec<u8>,
}

impl Req {
    /// A GET.
    pub fn get(host: &str, path: &str) -> Req {
        Req::new("GET", host, path)
    }

    /// A request with this method.
    pub fn new(method: &str, host: &str, path: &str) -> Req {
        Req {
            method: method.to_owned(),
            host: Some(host.to_owned()),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Sends no `Host` header.
    pub fn without_host(mut self) -> Req {
        self.host = None;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Adds headers.
    pub fn headers(mut self, headers: &[(&str, &str)]) -> Req {
        for (name, value) in headers {
            self = self.header(name, value);
        }
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = body.into();
        self
    }
}

/// A response, read whole.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Headers, lowercase names, in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response of this head and body.
    pub fn from_parts(head: &http::response::Parts, body: Vec<u8>) -> Response {
        Response {
            status: head.status.as_u16(),
            version: format!("{:?}", head.version),
            headers: head
                .headers
                .iter()
                .map(|(n, v)| {
                    let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (n.as_str().to_owned(), value)
                })
                .collect(),
            body,
        }
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_all(name).into_iter().next()
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as an echo backend's report; panics if it is not one.
    pub fn echo(&self) -> Echo {
        match Echo::parse(&self.text()) {
            Some(echo) => echo,
            None => panic!(
                "not an echo body (status {}, headers {:?}):\n{}",
                self.status,
                self.headers,
                self.text()
            ),
        }
    }
}

/// A response over TLS, with what the handshake showed.
#[derive(Clone, Debug)]
pub struct TlsResponse {
    /// The response.
    pub response: Response,
    /// The ALPN protocol the server chose.
    pub alpn: Option<String>,
    /// The DNS names of the certificate the server presented.
    pub peer_names: Vec<String>,
}

/// GET over HTTP/1.1 on a fresh connection; panics (with the cause) on failure.
pub fn http1_get(addr: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let req = Req::get(host, path).headers(headers);
    unwrap_or_panic(http1_send(addr, &req), "HTTP/1.1", addr)
}

/// Any request over HTTP/1.1 on a fresh connection.
pub fn http1_send(addr: SocketAddr, req: &Req) -> Result<Response, String> {
    Conn::http1(addr)?.send(req)
}

/// GET over HTTP/2 with prior knowledge (h2c) on a fresh connection; panics on failure.
pub fn h2c_get(addr: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let req = Req::get(host, path).headers(headers);
    unwrap_or_panic(h2c_send(addr, &req), "h2c", addr)
}

/// Any request over h2c on a fresh connection.
pub fn h2c_send(addr: SocketAddr, req: &Req) -> Result<Response, String> {
    Conn::h2c(addr)?.send(req)
}

/// GET over TLS on a fresh connection, offering `alpn` (HTTP/2 if the server picks
/// `h2`), trusting `ca`. `sni: None` sends no SNI. A certificate that does not cover
/// the name is accepted (the chain must still be valid), so that tests can see which
/// certificate the server fell back to. `Host` is the SNI, else `localhost`. Panics on
/// failure.
pub fn https_get(
    addr: SocketAddr,
    ca: &TestCa,
    sni: Option<&str>,
    path: &str,
    alpn: &[&str],
) -> TlsResponse {
    unwrap_or_panic(try_https_get(addr, ca, sni, path, alpn), "TLS", addr)
}

/// [`https_get`], returning the failure.
pub fn try_https_get(
    addr: SocketAddr,
    ca: &TestCa,
    sni: Option<&str>,
    path: &str,
    alpn: &[&str],
) -> Result<TlsResponse, String> {
    let mut conn = Conn::tls(addr, ca, sni, alpn)?;
    let response = conn.send(&Req::get(sni.unwrap_or("localhost"), path))?;
    Ok(TlsResponse {
        response,
        alpn: conn.alpn().map(str::to_owned),
        peer_names: conn.peer_names(),
    })
}

/// What [`keep_alive_gets`] saw.
#[derive(Debug)]
pub struct KeepAlive {
    /// One result per request sent; sending stops after the first failure.
    pub responses: Vec<Result<Response, String>>,
    /// Whether the server closed the connection after the last request (seen within
    /// a short wait).
    pub closed: bool,
}

/// Sends a GET for each path, one after the other on one HTTP/1.1 connection.
pub fn keep_alive_gets(addr: SocketAddr, host: &str, paths: &[&str]) -> KeepAlive {
    let mut conn = unwrap_or_panic(Conn::http1(addr), "HTTP/1.1", addr);
    let mut responses = Vec::new();
    for path in paths {
        let result = conn.send(&Req::get(host, path));
        let failed = result.is_err();
        responses.push(result);
        if failed {
            break;
        }
    }
    KeepAlive {
        responses,
        closed: conn.closed_within(Duration::from_millis(500)),
    }
}

fn unwrap_or_panic<T>(result: Result<T, String>, what: &str, addr: SocketAddr) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what} request to {addr} failed: {e}"),
    }
}

/// Runs `future` on the shared client runtime, failing after [`CLIENT_TIMEOUT`].
fn block_on<T>(what: &str, future: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-client")
            .enable_all()
            .build()
            .expect("client runtime")
    });
    runtime.block_on(async {
        match tokio::time::timeout(CLIENT_TIMEOUT, future).await {
            Ok(result) => result,
            Err(_) => Err(format!("{what}: timed out after {CLIENT_TIMEOUT:?}")),
        }
    })
}
