//! [`H2Exact`]: an HTTP/2 connection (h2c or TLS with ALPN `h2`) built on the `h2`
//! crate, for requests other clients refuse to send: no `:authority`, a `host` header
//! that differs from `:authority`, CONNECT with `:authority` only. It shows what a
//! stream ended with (a reset and its reason) and what the server's SETTINGS said.
//!
//! Internal: it runs on the runtime of [`H2c`](super::H2c); like every client here, it
//! must not be used from async code.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;

use bytes::Bytes;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::h2::{block_on, runtime};
use crate::certs::TestCa;
use crate::client::{tls::client_config, Response};

/// One HTTP/2 connection.
pub struct H2Exact {
    sender: h2::client::SendRequest<Bytes>,
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS as last seen by the connection.
    max_streams: watch::Receiver<usize>,
    /// Becomes true when the connection is gone.
    closed: watch::Receiver<bool>,
}

/// A request as sent: the URI decides the pseudo-headers.
#[derive(Clone, Debug)]
pub struct H2Request {
    /// `:method`.
    pub method: String,
    /// `http://host/path` gives `:scheme`, `:authority` and `:path`; `/path` gives
    /// `:scheme http` and `:path` without `:authority`; `host:port` with CONNECT gives
    /// `:authority` only.
    pub uri: String,
    /// Regular headers (`host` included, if wanted), in order.
    pub headers: Vec<(String, String)>,
    /// Body; sent in DATA frames without a `content-length` unless one is in
    /// `headers`.
    pub body: Vec<u8>,
}

impl H2Request {
    /// A request with this method and URI, no headers, no body.
    pub fn new(method: &str, uri: &str) -> H2Request {
        H2Request {
            method: method.to_owned(),
            uri: uri.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> H2Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> H2Request {
        self.body = body.into();
        self
    }
}

/// Why a request got no whole response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum H2Failure {
    /// The server reset the stream (or the connection) with this reason, e.g.
    /// `PROTOCOL_ERROR`.
    Reset(String),
    /// Anything else (the request could not be sent, the connection broke, a timeout).
    Other(String),
}

impl H2Exact {
    /// Connects with prior knowledge (h2c).
    pub fn h2c(addr: SocketAddr) -> Result<H2Exact, String> {
        block_on(async move {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect to {addr}: {e}"))?;
            let _ = tcp.set_nodelay(true);
            handshake(tcp).await
        })
    }

    /// Connects with TLS (trusting `ca`, SNI `sni`), offering ALPN `h2` only; fails
    /// if the server does not pick it.
    pub fn tls(addr: SocketAddr, ca: &TestCa, sni: &str) -> Result<H2Exact, String> {
        let config = client_config(ca.roots(), &["h2"]);
        let name = ServerName::try_from(sni.to_owned())
            .map_err(|e| format!("bad server name {sni:?}: {e}"))?;
        block_on(async move {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect to {addr}: {e}"))?;
            let _ = tcp.set_nodelay(true);
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            if alpn.as_deref() != Some(b"h2".as_slice()) {
                return Err(format!("the server chose ALPN {alpn:?}, not h2"));
            }
            handshake(tls).await
        })
    }

    /// Sends a request and reads its whole response.
    pub fn send(&self, req: &H2Request) -> Result<Response, H2Failure> {
        let mut sender = self.sender.clone();
        let req = req.clone();
        run(async move {
            sender = sender.ready().await.map_err(failure)?;
            let end = req.body.is_empty();
            let (response, mut stream) = sender.send_request(head(&req)?, end).map_err(failure)?;
            if !end {
                stream
                    .send_data(Bytes::from(req.body), true)
                    .map_err(failure)?;
            }
            let response = response.await.map_err(failure)?;
            let (head, mut body) = response.into_parts();
            let mut bytes = Vec::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.map_err(failure)?;
                let _ = body.flow_control().release_capacity(chunk.len());
                bytes.extend_from_slice(&chunk);
            }
            Ok(Response::from_parts(&head, bytes))
        })
    }

    /// Starts `req` (its headers and `partial` of a body, not ended), waits `wait`,
    /// then resets the stream (`CANCEL`), as a client that gives up on an upload does.
    pub fn send_partial_then_reset(
        &self,
        req: &H2Request,
        partial: &[u8],
        wait: std::time::Duration,
    ) -> Result<(), H2Failure> {
        let mut sender = self.sender.clone();
        let req = req.clone();
        let partial = Bytes::copy_from_slice(partial);
        run(async move {
            sender = sender.ready().await.map_err(failure)?;
            let (_response, mut stream) =
                sender.send_request(head(&req)?, false).map_err(failure)?;
            stream.send_data(partial, false).map_err(failure)?;
            tokio::time::sleep(wait).await;
            stream.send_reset(h2::Reason::CANCEL);
            Ok(())
        })
    }

    /// Sends several requests at once, each on its own stream; the results in order.
    pub fn send_all(&self, reqs: &[H2Request]) -> Vec<Result<Response, H2Failure>> {
        let handles: Vec<_> = reqs
            .iter()
            .map(|req| {
                let this = H2Exact {
                    sender: self.sender.clone(),
                    max_streams: self.max_streams.clone(),
                    closed: self.closed.clone(),
                };
                let req = req.clone();
                std::thread::spawn(move || this.send(&req))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(H2Failure::Other("sender thread panicked".into())))
            })
            .collect()
    }

    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS (`usize::MAX` until its SETTINGS
    /// arrived or if it sets no limit). A response received means they arrived.
    pub fn peer_max_concurrent_streams(&self) -> usize {
        *self.max_streams.borrow()
    }

    /// Whether the server's SETTINGS_ENABLE_CONNECT_PROTOCOL is on (RFC 8441).
    pub fn extended_connect_enabled(&self) -> bool {
        self.sender.is_extended_connect_protocol_enabled()
    }

    /// Whether the connection is gone already.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }
}

/// The HTTP/2 handshake on `io`; the connection is then driven on the runtime.
async fn handshake<I>(io: I) -> Result<H2Exact, String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, mut connection) = h2::client::handshake(io)
        .await
        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    let (max_tx, max_streams) = watch::channel(connection.max_concurrent_send_streams());
    let (closed_tx, closed) = watch::channel(false);
    tokio::spawn(async move {
        let _ = poll_fn(|cx| {
            let poll = Pin::new(&mut connection).poll(cx);
            max_tx.send_replace(connection.max_concurrent_send_streams());
            poll
        })
        .await;
        let _ = closed_tx.send(true);
    });
    Ok(H2Exact {
        sender,
        max_streams,
        closed,
    })
}

/// The head of `req`, as the h2 client sends it.
fn head(req: &H2Request) -> Result<http::Request<()>, H2Failure> {
    let mut builder = http::Request::builder()
        .method(req.method.as_str())
        .uri(req.uri.as_str());
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(())
        .map_err(|e| H2Failure::Other(format!("bad request: {e}")))
}

/// Runs a stream's work on the client runtime (where the connection is driven) and
/// waits for it.
fn run<T: Send + 'static>(
    task: impl std::future::Future<Output = Result<T, H2Failure>> + Send + 'static,
) -> Result<T, H2Failure> {
    let handle = runtime().spawn(task);
    block_on(async move {
        Ok(handle
            .await
            .map_err(|e| H2Failure::Other(format!("request task: {e}"))))
    })
    .map_err(H2Failure::Other)?
    .and_then(|r| r)
}

fn failure(error: h2::Error) -> H2Failure {
    match error.reason() {
        Some(reason) if error.is_reset() || error.is_go_away() => {
            H2Failure::Reset(format!("{reason:?}"))
        }
        _ => H2Failure::Other(error.to_string()),
    }
}
