//! A small HTTP backend for the demo and for benchmarks: answers every request with
//! a plain-text echo of what it received (method, target, headers), or, for
//! `/bytes/N`, N bytes. Usage: `echo_backend [ADDR] [NAME]` (default
//! `127.0.0.1:9001 demo-backend`). Stops on Ctrl-C.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

fn answer(request: &Request<Incoming>, name: &str) -> Response<Full<Bytes>> {
    if let Some(n) = request.uri().path().strip_prefix("/bytes/") {
        let n: usize = n.parse().unwrap_or(0).min(64 << 20);
        return Response::builder()
            .header("content-type", "application/octet-stream")
            .header("x-backend", name)
            .body(Full::new(Bytes::from(vec![b'x'; n])))
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
    let listener = TcpListener::bind(addr).await?;
    eprintln!("echo backend `{name}` on http://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        let name = Arc::clone(&name);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = answer(&request, &name);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}
