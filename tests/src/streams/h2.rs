//! Many requests in flight at once on one HTTP/2 connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::block_on;
use crate::certs::TestCa;
use crate::client::{Req, Response, CLIENT_TIMEOUT};

/// How the HTTP/2 connection is made.
#[derive(Clone, Copy)]
pub enum Transport<'a> {
    /// Prior knowledge, over plain TCP.
    H2c,
    /// TLS offering only ALPN `h2`, sending `sni` and trusting `ca` (the certificate
    /// must cover `sni`).
    Tls {
        /// The CA the server's certificate comes from.
        ca: &'a TestCa,
        /// The server name.
        sni: &'a str,
    },
}

/// What [`h2_concurrent`] saw.
#[derive(Debug)]
pub struct Batch {
    /// One result per request, in the order given.
    pub responses: Vec<Result<Response, String>>,
    /// The ALPN protocol the server chose (TLS only).
    pub alpn: Option<String>,
    /// From sending the first request to the end of the last response.
    pub elapsed: Duration,
}

/// Opens one HTTP/2 connection and sends every request on it at once, each on its own
/// stream, then reads every response whole. Fails if the connection cannot be made;
/// a request that fails has its error in [`Batch::responses`]. Bounded by
/// [`CLIENT_TIMEOUT`].
pub fn h2_concurrent(
    addr: SocketAddr,
    transport: Transport<'_>,
    requests: &[Req],
) -> Result<Batch, String> {
    let tls = match transport {
        Transport::H2c => None,
        Transport::Tls { ca, sni } => {
            let name = ServerName::try_from(sni.to_owned())
                .map_err(|e| format!("bad server name {sni:?}: {e}"))?;
            Some((client_config(ca), name))
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let requests = requests
        .iter()
        .map(|req| build(req, scheme, addr))
        .collect::<Result<Vec<_>, _>>()?;
    block_on("HTTP/2 batch", CLIENT_TIMEOUT, async move {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (sender, alpn) = match tls {
            None => (handshake(tcp).await?, None),
            Some((config, name)) => {
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                let alpn = stream
                    .get_ref()
                    .1
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned());
                if alpn.as_deref() != Some("h2") {
                    return Err(format!("the server chose ALPN {alpn:?}, not h2"));
                }
                (handshake(stream).await?, alpn)
            }
        };
        let start = Instant::now();
        let streams: Vec<_> = requests
            .into_iter()
            .map(|request| {
                let mut sender = sender.clone();
                tokio::spawn(async move {
                    let response = sender
                        .send_request(request)
                        .await
                        .map_err(|e| format!("no response: {e}"))?;
                    read(response).await
                })
            })
            .collect();
        let mut responses = Vec::with_capacity(streams.len());
        for stream in streams {
            responses.push(stream.await.unwrap_or_else(|e| Err(format!("task: {e}"))));
        }
        Ok(Batch {
            responses,
            alpn,
            elapsed: start.elapsed(),
        })
    })
}

fn build(req: &Req, scheme: &str, addr: SocketAddr) -> Result<hyper::Request<Full<Bytes>>, String> {
    let authority = req.host.clone().unwrap_or_else(|| addr.to_string());
    let mut builder = hyper::Request::builder()
        .method(req.method.as_str())
        .version(hyper::Version::HTTP_2)
        .uri(format!("{scheme}://{authority}{}", req.path));
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(req.body.clone())))
        .map_err(|e| format!("bad request: {e}"))
}

async fn handshake<I>(io: I) -> Result<http2::SendRequest<Full<Bytes>>, String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn read(response: hyper::Response<hyper::body::Incoming>) -> Result<Response, String> {
    let (head, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("response body: {e}"))?
        .to_bytes();
    Ok(Response::from_parts(&head, body.to_vec()))
}

/// Trusts only `ca`, checks the name, offers only `h2`.
fn client_config(ca: &TestCa) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(ca.roots())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}
