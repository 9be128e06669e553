//! gRPC through the proxy: the errors the proxy and plugins make for a gRPC request
//! are gRPC errors in Trailers-Only form (HTTP 200, `grpc-status`, `grpc-message`, no
//! body), after ReadResponse (which sees the HTTP status); backends' responses, other
//! requests and gRPC-Web pass unchanged.

use std::fs;
use std::net::SocketAddr;

use hookgate_tests::{
    arg, free_addr, h2c_send, http1_send, read_events, Backend, Probe, Proxy, Req, Response,
};

/// A gRPC call (HTTP/2 POST, `application/grpc`) to `path`.
fn grpc(path: &str) -> Req {
    Req::new("POST", "w", path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(vec![0, 0, 0, 0, 0])
}

/// The proxy with a probe that answers 403 at FoundProduct for `/deny.Service/Call`,
/// routing to `backend` over h2c, `/legacy/` to it over HTTP/1.1, and `/down/` to a
/// closed port.
fn start(dir: &std::path::Path, backend: &Backend) -> (Proxy, Probe, SocketAddr) {
    let probe = Probe::new(
        dir,
        "p",
        "[[rule]]\npoint = \"found_product\"\npath = \"/deny.Service/Call\"\naction = \"response\"\nstatus = 403\n",
    );
    let (listen, admin) = (free_addr(), free_addr());
    let closed = free_addr();
    let file = dir.join("hookgate.toml");
    fs::write(
        &file,
        format!(
            r#"default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
[[plugins]]
path = {path:?}
config = {config:?}
[products.web]
routes = [{{ path_prefix = "/down/", cluster = "down" }}, {{ path_prefix = "/legacy/", cluster = "legacy" }}, {{ path_prefix = "/tight/", cluster = "tight" }}, {{ path_prefix = "/", cluster = "web" }}]
[clusters.tight]
protocol = "h2c"
response_timeout_ms = 300
retries = 0
max_fails = 0
[clusters.tight.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
[clusters.web]
protocol = "h2c"
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
[clusters.legacy.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
[clusters.down]
protocol = "h2c"
retries = 0
max_fails = 0
[clusters.down.subclusters.main]
weight = 1
backends = [{{ addr = "{closed}" }}]
"#,
            path = arg(&Probe::library()),
            config = arg(probe.config_path()),
            backend = backend.addr_string(),
        ),
    )
    .expect("write config");
    (Proxy::start(&["--config", arg(&file)]), probe, listen)
}

fn send(listen: SocketAddr, req: &Req) -> Response {
    h2c_send(listen, req).expect("h2c request")
}

#[test]
fn errors_the_proxy_and_plugins_make_for_grpc_are_trailers_only() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, probe, listen) = start(dir.path(), &backend);

    // A plugin's 403 → PERMISSION_DENIED; ReadResponse saw the 403.
    let denied = send(listen, &grpc("/deny.Service/Call"));
    assert_eq!(denied.status, 200);
    assert_eq!(denied.header("grpc-status"), Some("7"));
    assert_eq!(denied.header("grpc-message"), Some("403 Forbidden"));
    assert_eq!(denied.header("content-type"), Some("application/grpc"));
    assert!(denied.body.is_empty());
    let events = read_events(probe.log_path());
    assert!(
        events
            .iter()
            .any(|e| e.is("p", "read_response") && e.status() == Some(403)),
        "{events:?}"
    );

    // The proxy's 502 (backend unreachable) → UNAVAILABLE, with its error code.
    let down = send(listen, &grpc("/down/Service/Call"));
    assert_eq!(down.status, 200);
    assert_eq!(down.header("grpc-status"), Some("14"));
    assert_eq!(
        down.header("grpc-message"),
        Some("502 Bad Gateway (connect_failed)")
    );

    // A gRPC call routed to an HTTP/1.1 cluster: not sent, UNAVAILABLE.
    let before = backend.requests();
    let legacy = send(listen, &grpc("/legacy/Service/Call"));
    assert_eq!(legacy.header("grpc-status"), Some("14"));
    assert_eq!(
        legacy.header("grpc-message"),
        Some("502 Bad Gateway (grpc_over_http1)")
    );
    assert_eq!(backend.requests(), before);

    // A backend's own answer is its own, even an error.
    let from_backend = send(
        listen,
        &grpc("/svc/Service/Call").header("x-backend-status", "404"),
    );
    assert_eq!(from_backend.status, 404);
    assert_eq!(from_backend.header("grpc-status"), None);
}

/// `grpc-timeout` shorter than the cluster's response timeout: DEADLINE_EXCEEDED at
/// the client's deadline; a backend slower than the cluster's own limit: UNAVAILABLE.
#[test]
fn the_clients_grpc_timeout_is_honoured_where_shorter() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, _probe, listen) = start(dir.path(), &backend);
    let started = std::time::Instant::now();
    let late = send(
        listen,
        &grpc("/svc/Service/Call")
            .header("grpc-timeout", "200m")
            .header("x-backend-delay-ms", "2000"),
    );
    assert!(started.elapsed() < std::time::Duration::from_millis(1500));
    assert_eq!(late.header("grpc-status"), Some("4"));
    assert_eq!(
        late.header("grpc-message"),
        Some("504 Gateway Timeout (deadline_exceeded)")
    );
    assert_eq!(
        proxy.metric("hookgate_proxy_errors_total{code=\"deadline_exceeded\"}"),
        Some(1.0)
    );
    // The cluster's 300 ms come first: the backend's fault, UNAVAILABLE.
    let slow = send(
        listen,
        &grpc("/tight/Service/Call")
            .header("grpc-timeout", "10S")
            .header("x-backend-delay-ms", "2000"),
    );
    assert_eq!(slow.header("grpc-status"), Some("14"));
    assert_eq!(
        slow.header("grpc-message"),
        Some("504 Gateway Timeout (timeout)")
    );
}

#[test]
fn other_requests_and_grpc_web_keep_their_http_errors() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, _probe, listen) = start(dir.path(), &backend);
    let path = "/deny.Service/Call";
    let json = Req::new("POST", "w", path).header("content-type", "application/json");
    let web = Req::new("POST", "w", path).header("content-type", "application/grpc-web+proto");
    for req in [json, web] {
        let response = send(listen, &req);
        assert_eq!(response.status, 403);
        assert_eq!(response.header("grpc-status"), None);
    }
    // gRPC is HTTP/2 only: the same content type over HTTP/1.1 is plain HTTP.
    let http1 = http1_send(listen, &grpc(path)).expect("HTTP/1.1 request");
    assert_eq!(http1.status, 403);
    assert_eq!(http1.header("grpc-status"), None);
}
