//! HTTP/2 to backends (`[clusters.NAME] protocol = "h2c"` or `"h2"`), end to end:
//! concurrent requests multiplexed on one connection, another connection beyond
//! `h2_max_streams_per_connection`, HTTP/2 over TLS agreed by ALPN (a backend that
//! does not agree is a 502 `upstream_alpn`), WebSocket upgrades on HTTP/1.1 beside it,
//! health checks in HTTP/2, and the settings that cannot work refused naming the key.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use hookgate_tests::{
    arg, free_addr, hookgate, http1_get, websocket_roundtrip, Backend, Proxy, TestCa,
};

/// A config with one cluster `web` at `backend`, with `extra` cluster keys.
fn config(listen: SocketAddr, admin: SocketAddr, backend: &Backend, extra: &str) -> String {
    format!(
        r#"default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web]
{extra}
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{addr}" }}]
"#,
        addr = backend.addr_string(),
    )
}

fn start(dir: &Path, backend: &Backend, extra: &str) -> (Proxy, SocketAddr) {
    let (listen, admin) = (free_addr(), free_addr());
    let file = dir.join("hookgate.toml");
    fs::write(&file, config(listen, admin, backend, extra)).expect("write config");
    (Proxy::start(&["--config", arg(&file)]), listen)
}

/// `n` requests at once, each held `delay_ms` by the backend; every one must be a 200.
fn concurrent(listen: SocketAddr, n: usize, delay_ms: u64) {
    let delay = delay_ms.to_string();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let delay = delay.clone();
                scope.spawn(move || {
                    let path = format!("/slow/{i}");
                    http1_get(listen, "w", &path, &[("x-backend-delay-ms", &delay)]).status
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().expect("request thread"), 200);
        }
    });
}

#[test]
fn h2c_backend_multiplexes_concurrent_requests_on_one_connection() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen) = start(dir.path(), &backend, "protocol = \"h2c\"");
    // One request first: the connection exists before the burst.
    assert_eq!(http1_get(listen, "w", "/first", &[]).status, 200);
    concurrent(listen, 8, 300);
    assert_eq!(backend.connections(), 1);
    assert!(backend.max_in_flight() >= 2, "not concurrent");
    let seen = backend.seen();
    assert!(seen.iter().all(|s| s.version == "HTTP/2.0"), "{seen:?}");
    // The Host the client sent is the request's authority.
    assert!(
        seen.iter().all(|s| s.authority.as_deref() == Some("w")),
        "{seen:?}"
    );
}

#[test]
fn beyond_its_streams_a_connection_is_joined_by_another() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen) = start(
        dir.path(),
        &backend,
        "protocol = \"h2c\"\nh2_max_streams_per_connection = 2",
    );
    assert_eq!(http1_get(listen, "w", "/first", &[]).status, 200);
    concurrent(listen, 6, 500);
    assert_eq!(backend.connections(), 3);
}

#[test]
fn h2_over_tls_is_agreed_by_alpn() {
    let ca = TestCa::new();
    let cert = ca.issue("backend", &["127.0.0.1"]);
    let backend = Backend::echo_tls_alpn("b", &cert, None, &[b"h2", b"http/1.1"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let tls = format!(
        "protocol = \"h2\"\ntls = {{ ca = {:?} }}",
        arg(ca.cert_path())
    );
    let (_proxy, listen) = start(dir.path(), &backend, &tls);
    for _ in 0..3 {
        assert_eq!(http1_get(listen, "w", "/x", &[]).status, 200);
    }
    assert_eq!(backend.handshakes(), 1);
    assert!(backend.seen().iter().all(|s| s.version == "HTTP/2.0"));

    // A backend that only agrees on HTTP/1.1: 502 upstream_alpn.
    let http1_only = Backend::echo_tls("b1", &cert, None);
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, listen) = start(
        dir.path(),
        &http1_only,
        &format!("{tls}\nretries = 0\nmax_fails = 0"),
    );
    assert_eq!(http1_get(listen, "w", "/x", &[]).status, 502);
    assert_eq!(
        proxy.metric("hookgate_proxy_errors_total{code=\"upstream_alpn\"}"),
        Some(1.0)
    );
    assert_eq!(http1_only.requests(), 0);
}

#[test]
fn a_websocket_to_an_h2c_cluster_takes_http1_on_its_own_connection() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen) = start(dir.path(), &backend, "protocol = \"h2c\"");
    let upgraded = websocket_roundtrip(listen, "w", "/ws", b"hello").expect("upgrade");
    assert_eq!(upgraded.echoed, b"hello");
    assert!(backend
        .seen()
        .iter()
        .any(|s| s.uri == "/ws" && s.version == "HTTP/1.1"));
}

#[test]
fn health_checks_of_an_h2c_cluster_speak_http2() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, _listen) = start(
        dir.path(),
        &backend,
        "protocol = \"h2c\"\nhealth_check = { path = \"/healthz\", interval_ms = 100 }",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !backend.seen().iter().any(|s| s.uri == "/healthz") {
        assert!(Instant::now() < deadline, "no health check came");
        std::thread::sleep(Duration::from_millis(20));
    }
    let seen = backend.seen();
    let probe = seen.iter().find(|s| s.uri == "/healthz").expect("a probe");
    assert_eq!(probe.version, "HTTP/2.0");
}

#[test]
fn settings_that_cannot_work_are_refused_naming_the_key() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    for (extra, key) in [
        ("protocol = \"h2c\"\ntls = {}", "clusters.web.tls"),
        ("protocol = \"h3\"", "clusters.web.protocol"),
        (
            "protocol = \"h2c\"\nh2_max_streams_per_connection = 0",
            "clusters.web.h2_max_streams_per_connection",
        ),
    ] {
        let file = dir.path().join("bad.toml");
        fs::write(&file, config(free_addr(), free_addr(), &backend, extra)).expect("write");
        let out = hookgate(&["check", "--config", arg(&file)]);
        assert!(!out.status.success(), "{extra}: accepted");
        assert!(out.stderr.contains(key), "{extra}: {}", out.stderr);
    }
}

/// A backend that speaks h2c and, once `streams` requests are open on a connection,
/// drops the connection without answering any (as a crashing backend would).
fn dropping_backend(streams: usize) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    listener.set_nonblocking(true).expect("nonblocking");
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            // One connection is enough: the test ends once it is dropped.
            let Ok(Ok((tcp, _))) =
                tokio::time::timeout(Duration::from_secs(10), listener.accept()).await
            else {
                return;
            };
            let Ok(mut conn) = h2::server::handshake(tcp).await else {
                return;
            };
            let mut open = Vec::new();
            while open.len() < streams {
                match tokio::time::timeout(Duration::from_secs(5), conn.accept()).await {
                    Ok(Some(Ok(stream))) => open.push(stream),
                    _ => break,
                }
            }
            // Dropped without an answer: the proxy sees the connection go.
            drop(open);
            drop(conn);
        });
    });
    (addr, thread)
}

/// A lost HTTP/2 connection fails every stream on it, and counts once against its
/// backend: three requests on it do not reach `max_fails = 2`.
#[test]
fn a_lost_http2_connection_counts_once_against_its_backend() {
    let (backend_addr, backend) = dropping_backend(3);
    let dir = tempfile::tempdir().expect("temp dir");
    let (listen, admin) = (free_addr(), free_addr());
    let file = dir.path().join("hookgate.toml");
    fs::write(
        &file,
        format!(
            r#"default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web]
protocol = "h2c"
max_fails = 2
retries = 0
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{backend_addr}" }}]
"#
        ),
    )
    .expect("write config");
    let proxy = Proxy::start(&["--config", arg(&file)]);
    // POSTs: not idempotent, so never sent again on a new connection.
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                scope.spawn(move || {
                    let req = hookgate_tests::Req::new("POST", "w", &format!("/p/{i}")).body("x");
                    hookgate_tests::http1_send(listen, &req)
                        .expect("an answer")
                        .status
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().expect("request thread"), 502);
        }
    });
    backend.join().expect("backend thread");
    let up = format!(
        "hookgate_backend_up{{cluster=\"web\",subcluster=\"main\",backend=\"{backend_addr}\"}}"
    );
    assert_eq!(
        proxy.metric(&up),
        Some(1.0),
        "ejected by one lost connection"
    );
}
