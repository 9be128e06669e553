//! The admin listener (loopback by default): `GET /healthz`, `GET /status` (plugins,
//! manifests, each point's chain, backend health: like BFE's `module_handlers`),
//! `GET /metrics` (Prometheus text) and `POST /reload` (re-read the config file and the
//! plugins, and swap the snapshot whole; on failure the running config stays).

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::listener::Server;

/// Serves the admin endpoints until `shutdown` changes.
pub async fn serve(
    listener: TcpListener,
    server: Arc<Server>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let server = Arc::clone(&server);
                async move { Ok::<_, Infallible>(route(request, &server).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn route(request: Request<Incoming>, server: &Arc<Server>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    match (request.method(), path) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n".into()),
        (&Method::GET, "/status") => text(StatusCode::OK, status(server)),
        (&Method::GET, "/metrics") => {
            let snapshot = server.snapshot();
            let body = snapshot.metrics.render(
                &snapshot,
                server.connections_total(),
                server.connections_open(),
            );
            let mut response = text(StatusCode::OK, body);
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        (&Method::POST, "/reload") => match Arc::clone(server).reload().await {
            Ok(()) => text(StatusCode::OK, "reloaded\n".into()),
            Err(error) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reload failed, running config kept: {error}\n"),
            ),
        },
        (_, "/healthz" | "/status" | "/metrics" | "/reload") => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".into(),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /healthz, /status, /metrics, POST /reload\n".into(),
        ),
    }
}

fn status(server: &Server) -> String {
    let snapshot = server.snapshot();
    let mut out = crate::cli::describe(&snapshot.plugins);
    out.push_str("clusters:\n");
    let mut clusters: Vec<_> = snapshot.clusters.values().collect();
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    for cluster in clusters {
        let _ = writeln!(out, "  {}:", cluster.name);
        for subcluster in &cluster.subclusters {
            for backend in &subcluster.backends {
                let state = if backend.is_healthy() { "up" } else { "down" };
                let _ = writeln!(
                    out,
                    "    {}/{} {state} active={}",
                    subcluster.name,
                    backend.name,
                    backend.active()
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "connections: open={} total={}",
        server.connections_open(),
        server.connections_total()
    );
    out
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
