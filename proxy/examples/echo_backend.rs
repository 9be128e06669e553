//! A small HTTP backend for the demo and for benchmarks: answers every request with
//! a plain-text echo of what it received (method, target, headers), or, for
//! `/bytes/N`, N bytes; `/page/N`, N bytes of HTML. Usage: `echo_backend [ADDR] [NAME] [CERT KEY]` (default
//! `127.0.0.1:9001 demo-backend`, plain HTTP). With a certificate and its key (PEM
//! files) it speaks TLS and writes one line per handshake to stderr (`tls handshake
//! full` or `tls handshake resumed`). Stops on Ctrl-C.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// `n` bytes of an HTML list whose items differ (numbers, a rotating word), about as
/// compressible as a real page (gzip takes it to a fifth or so, not to nothing).
fn page(n: usize) -> Vec<u8> {
    const WORDS: [&str; 7] = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
    ];
    let mut page = Vec::with_capacity(n + 64);
    let mut i: usize = 0;
    while page.len() < n {
        let word = WORDS[i % WORDS.len()];
        let line = format!(
            "<li class=\"item-{}\"><a href=\"/{word}/{i}\">{word} {}</a></li>\n",
            i % 13,
            i.wrapping_mul(2_654_435_761) % 100_000
        );
        page.extend_from_slice(line.as_bytes());
        i += 1;
    }
    page.truncate(n);
    page
}

fn answer(request: &Request<Incoming>, name: &str) -> Response<Full<Bytes>> {
    if let Some(n) = request.uri().path().strip_prefix("/bytes/") {
        let n: usize = n.parse().unwrap_or(0).min(64 << 20);
        return Response::builder()
            .header("content-type", "application/octet-stream")
            .header("x-backend", name)
            .body(Full::new(Bytes::from(vec![b'x'; n])))
            .unwrap_or_default();
    }
    if let Some(n) = request.uri().path().strip_prefix("/page/") {
        let n: usize = n.parse().unwrap_or(0).min(64 << 20);
        return Response::builder()
            .header("content-type", "text/html; charset=utf-8")
            .header("x-backend", name)
            .body(Full::new(Bytes::from(page(n))))
            .unwrap_or_default();
    }
    let mut text = format!("{name} got {} {}\n", request.method(), request.uri());
    for (header, value) in request.headers() {
        let _ = writeln!(
            text,
            "{header}: {}",
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    Response::builder()
        .header("content-type", "text/plain; charset=utf-8")
        .header("x-backend", name)
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9001)));
    let name: Arc<str> = args.next().unwrap_or_else(|| "demo-backend".into()).into();
    let tls = match (args.next(), args.next()) {
        (Some(cert), Some(key)) => Some(acceptor(&cert, &key)?),
        _ => None,
    };
    let listener = TcpListener::bind(addr).await?;
    eprintln!("echo backend `{name}` on http://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        let name = Arc::clone(&name);
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = answer(&request, &name);
                async move {
                    // The request body is read (and dropped) before the answer, as any
                    // real service reads it: an HTTP/2 server that answers before
                    // reading resets the stream, and under load the late request data
                    // can make it close the whole connection.
                    let _ = request.into_body().collect().await;
                    Ok::<_, Infallible>(response)
                }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            match tls {
                None => {
                    let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                }
                Some(tls) => {
                    let Ok(stream) = tls.accept(tcp).await else {
                        return;
                    };
                    let resumed =
                        stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                    eprintln!("tls handshake {}", if resumed { "resumed" } else { "full" });
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
    }
}

/// A TLS acceptor with the certificate chain and key of these PEM files.
fn acceptor(cert: &str, key: &str) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| std::io::Error::other(format!("{cert}: {e}")))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| std::io::Error::other(format!("{key}: {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
    .map_err(std::io::Error::other)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
