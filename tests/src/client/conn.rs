//! [`Conn`]: one client connection (HTTP/1.1, h2c, or TLS with either), for several
//! requests in a row.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{block_on, tls, Req, Response};
use crate::certs::{dns_names, TestCa};

/// One client connection. Dropping it closes the connection.
pub struct Conn {
    sender: Sender,
    /// Becomes true when the connection is gone (closed by either side).
    closed: watch::Receiver<bool>,
    /// `http` or `https`, for HTTP/2 request URIs.
    scheme: &'static str,
    addr: SocketAddr,
    alpn: Option<String>,
    peer: Option<CertificateDer<'static>>,
}

enum Sender {
    Http1(http1::SendRequest<Full<Bytes>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Conn {
    /// Connects with HTTP/1.1.
    pub fn http1(addr: SocketAddr) -> Result<Conn, String> {
        block_on("HTTP/1.1 connect", async move {
            let tcp = connect(addr).await?;
            let (sender, closed) = handshake_http1(tcp).await?;
            Ok(Conn::new(sender, closed, "http", addr))
        })
    }

    /// Connects with HTTP/2, prior knowledge (h2c).
    pub fn h2c(addr: SocketAddr) -> Result<Conn, String> {
        block_on("h2c connect", async move {
            let tcp = connect(addr).await?;
            let (sender, closed) = handshake_http2(tcp).await?;
            Ok(Conn::new(sender, closed, "http", addr))
        })
    }

    /// Connects with TLS, trusting `ca` (but accepting a certificate for other names),
    /// offering `alpn`; speaks HTTP/2 if the server picks `h2`, else HTTP/1.1. `sni:
    /// None` sends no SNI. Fails if the handshake fails.
    pub fn tls(
        addr: SocketAddr,
        ca: &TestCa,
        sni: Option<&str>,
        alpn: &[&str],
    ) -> Result<Conn, String> {
        Conn::tls_as(addr, ca, sni, alpn, None)
    }

    /// [`Conn::tls`] presenting `identity` as its client certificate to a server that
    /// asks. (With TLS 1.3 a server that refuses the certificate says so after the
    /// client's side of the handshake is done: the first request fails.)
    pub fn tls_as(
        addr: SocketAddr,
        ca: &TestCa,
        sni: Option<&str>,
        alpn: &[&str],
        identity: Option<&crate::CertFiles>,
    ) -> Result<Conn, String> {
        let config = tls::client_config_as(ca.roots(), alpn, identity);
        let name = match sni {
            Some(name) => ServerName::try_from(name.to_owned())
                .map_err(|e| format!("bad server name {name:?}: {e}"))?,
            // An IP address as the name: rustls then sends no SNI.
            None => ServerName::IpAddress(addr.ip().into()),
        };
        block_on("TLS connect", async move {
            let tcp = connect(addr).await?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            let (_, session) = tls.get_ref();
            let alpn = session
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            let peer = session
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.clone().into_owned());
            let (sender, closed) = if alpn.as_deref() == Some("h2") {
                handshake_http2(tls).await?
            } else {
                handshake_http1(tls).await?
            };
            let mut conn = Conn::new(sender, closed, "https", addr);
            conn.alpn = alpn;
            conn.peer = peer;
            Ok(conn)
        })
    }

    fn new(
        sender: Sender,
        closed: watch::Receiver<bool>,
        scheme: &'static str,
        addr: SocketAddr,
    ) -> Conn {
        Conn {
            sender,
            closed,
            scheme,
            addr,
            alpn: None,
            peer: None,
        }
    }

    /// Sends a GET and reads the whole response.
    pub fn get(&mut self, host: &str, path: &str) -> Result<Response, String> {
        self.send(&Req::get(host, path))
    }

    /// Sends a request and reads the whole response.
    pub fn send(&mut self, req: &Req) -> Result<Response, String> {
        let request = self.build(req)?;
        let sender = &mut self.sender;
        block_on("request", async move {
            let response = match sender {
                Sender::Http1(s) => {
                    s.ready().await.map_err(|e| format!("connection: {e}"))?;
                    s.send_request(request).await
                }
                Sender::Http2(s) => {
                    s.ready().await.map_err(|e| format!("connection: {e}"))?;
                    s.send_request(request).await
                }
            }
            .map_err(|e| format!("no response: {e}"))?;
            let (head, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("response body: {e}"))?
                .to_bytes();
            Ok(Response::from_parts(&head, body.to_vec()))
        })
    }

    fn build(&self, req: &Req) -> Result<hyper::Request<Full<Bytes>>, String> {
        let mut builder = hyper::Request::builder().method(req.method.as_str());
        builder = match &self.sender {
            Sender::Http1(_) => {
                let builder = builder.uri(req.path.as_str());
                match &req.host {
                    Some(host) => builder.header("host", host.as_str()),
                    None => builder,
                }
            }
            Sender::Http2(_) => {
                let authority = req.host.clone().unwrap_or_else(|| self.addr.to_string());
                builder
                    .version(hyper::Version::HTTP_2)
                    .uri(format!("{}://{authority}{}", self.scheme, req.path))
            }
        };
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder
            .body(Full::new(Bytes::from(req.body.clone())))
            .map_err(|e| format!("bad request: {e}"))
    }

    /// Whether the connection is gone already.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Waits up to `wait` for the connection to be closed; true if it was.
    pub fn closed_within(&self, wait: Duration) -> bool {
        let mut closed = self.closed.clone();
        block_on("wait for close", async move {
            let seen = tokio::time::timeout(wait, closed.wait_for(|c| *c)).await;
            Ok(seen.is_ok())
        })
        .unwrap_or(false)
    }

    /// The ALPN protocol the server chose (TLS only).
    pub fn alpn(&self) -> Option<&str> {
        self.alpn.as_deref()
    }

    /// The certificate the server presented (TLS only).
    pub fn peer_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.peer.as_ref()
    }

    /// The DNS names of the certificate the server presented (TLS only).
    pub fn peer_names(&self) -> Vec<String> {
        self.peer.as_ref().map(dns_names).unwrap_or_default()
    }
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

async fn handshake_http1<I>(io: I) -> Result<(Sender, watch::Receiver<bool>), String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
    let (closed_tx, closed) = watch::channel(false);
    tokio::spawn(async move {
        let _ = connection.await;
        let _ = closed_tx.send(true);
    });
    Ok((Sender::Http1(sender), closed))
}

async fn handshake_http2<I>(io: I) -> Result<(Sender, watch::Receiver<bool>), String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    let (closed_tx, closed) = watch::channel(false);
    tokio::spawn(async move {
        let _ = connection.await;
        let _ = closed_tx.send(true);
    });
    Ok((Sender::Http2(sender), closed))
}
