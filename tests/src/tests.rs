//! The support module's own tests: clients against backends (and a small TLS server),
//! without the proxy in between.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::*;

#[test]
fn backend_echoes_over_http1_and_h2c() {
    let backend = Backend::echo("b1");
    let response = http1_get(
        backend.addr(),
        "shop.example.com",
        "/a/b?c=d",
        &[("x-test", "1"), ("x-test", "2")],
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-backend"), Some("b1"));
    let echo = response.echo();
    assert_eq!(echo.backend, "b1");
    assert_eq!(echo.method, "GET");
    assert_eq!(echo.uri, "/a/b?c=d");
    assert_eq!(echo.version, "HTTP/1.1");
    assert_eq!(echo.header("host"), Some("shop.example.com"));
    assert_eq!(echo.header_all("x-test"), ["1", "2"]);

    let response = h2c_get(backend.addr(), "shop.example.com", "/h2", &[]);
    assert_eq!(response.version, "HTTP/2.0");
    let echo = response.echo();
    assert_eq!(echo.version, "HTTP/2.0");
    assert_eq!(echo.uri, "/h2");

    let post = Req::new("POST", "x", "/upload").body("hello");
    let echo = http1_send(backend.addr(), &post).unwrap().echo();
    assert_eq!(echo.method, "POST");
    assert_eq!(echo.body_length, 5);
    assert_eq!(echo.body_checksum, backend::checksum(b"hello"));

    assert_eq!(backend.requests(), 3);
    assert_eq!(backend.connections(), 3);
    let seen = backend.seen();
    assert_eq!(seen[0].uri, "/a/b?c=d");
    assert_eq!(seen[1].version, "HTTP/2.0");
}

#[test]
fn backend_status_delay_and_overrides() {
    let backend = Backend::start(
        Behaviour::echo("slow")
            .status(503)
            .delay(Duration::from_millis(200))
            .header("x-extra", "1"),
    );
    let start = Instant::now();
    let response = http1_get(backend.addr(), "x", "/", &[]);
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(response.status, 503);
    assert_eq!(response.header("x-extra"), Some("1"));

    let response = http1_get(
        backend.addr(),
        "x",
        "/",
        &[("x-backend-status", "418"), ("x-backend-delay-ms", "0")],
    );
    assert_eq!(response.status, 418);

    let fixed = Backend::start(Behaviour::echo("fixed").body("plain"));
    assert_eq!(http1_get(fixed.addr(), "x", "/", &[]).text(), "plain");
}

#[test]
fn keep_alive_and_close_are_seen() {
    let backend = Backend::echo("ka");
    let run = keep_alive_gets(backend.addr(), "x", &["/1", "/2", "/3"]);
    assert_eq!(run.responses.len(), 3);
    assert!(run.responses.iter().all(|r| r.is_ok()));
    assert!(!run.closed);
    assert_eq!(backend.connections(), 1);
    assert_eq!(backend.requests(), 3);

    let mut conn = Conn::http1(backend.addr()).unwrap();
    let response = conn
        .send(&Req::get("x", "/last").header("connection", "close"))
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(conn.closed_within(Duration::from_secs(2)));
    assert!(conn.get("x", "/after").is_err());
}

#[test]
fn closing_backend_sends_nothing() {
    let backend = Backend::start(Behaviour::echo("mute").close_without_answer());
    let reply = raw_exchange(
        backend.addr(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(reply.closed_silently(), "{reply:?}");
    assert!(http1_send(backend.addr(), &Req::get("x", "/")).is_err());
    assert_eq!(backend.requests(), 2);

    // A server that answers and keeps the connection: bytes, not closed.
    let echo = Backend::echo("talk");
    let reply = raw_exchange(
        echo.addr(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_millis(300),
    );
    assert!(reply.text().starts_with("HTTP/1.1 200 OK\r\n"), "{reply:?}");
    assert!(!reply.closed);
}

#[test]
fn streamed_body_arrives_whole() {
    let len = 3 * 1024 * 1024 + 7;
    let backend = Backend::start(Behaviour::echo("big").stream(len));
    let response = http1_get(backend.addr(), "x", "/big", &[]);
    assert_eq!(response.body.len(), len);
    assert!(response.body == pattern(len));

    let slow =
        Backend::start(Behaviour::echo("drip").stream_slowly(30, 10, Duration::from_millis(50)));
    let start = Instant::now();
    let response = h2c_get(slow.addr(), "x", "/", &[]);
    assert!(start.elapsed() >= Duration::from_millis(150));
    assert_eq!(response.body, pattern(30));
}

#[test]
fn websocket_upgrade_tunnels_bytes() {
    let backend = Backend::echo("ws");
    let payload = b"\x81\x05hello raw bytes".to_vec();
    let upgraded = websocket_roundtrip(backend.addr(), "x", "/chat", &payload).unwrap();
    assert_eq!(upgraded.status, 101);
    assert_eq!(
        upgraded.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(upgraded.echoed, payload);
}

#[test]
fn stopped_backend_refuses_connections() {
    let mut backend = Backend::echo("gone");
    let addr = backend.addr();
    assert_eq!(http1_get(addr, "x", "/", &[]).status, 200);
    backend.stop();
    let err = http1_send(addr, &Req::get("x", "/")).unwrap_err();
    assert!(err.contains("connect"), "{err}");
}

/// A minimal TLS server (one certificate, ALPN h2 and http/1.1) on its own runtime,
/// answering "ok" on every request.
fn tls_server(cert: &CertFiles) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(&cert.cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&cert.key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                        "ok",
                    ))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (addr, runtime)
}

#[test]
fn https_client_trusts_the_test_ca_and_reports_the_handshake() {
    let ca = TestCa::new();
    let cert = ca.issue("shop", &["shop.example.com", "*.shop.example.com"]);
    assert_eq!(
        certs::dns_names(&cert.der),
        ["shop.example.com", "*.shop.example.com"]
    );
    let (addr, _server) = tls_server(&cert);

    let got = https_get(
        addr,
        &ca,
        Some("shop.example.com"),
        "/",
        &["h2", "http/1.1"],
    );
    assert_eq!(got.response.status, 200);
    assert_eq!(got.response.version, "HTTP/2.0");
    assert_eq!(got.alpn.as_deref(), Some("h2"));
    assert_eq!(got.peer_names, cert.names);

    let got = https_get(addr, &ca, Some("shop.example.com"), "/", &["http/1.1"]);
    assert_eq!(got.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(got.response.version, "HTTP/1.1");

    // Another name, or none: the certificate is still accepted, and reported.
    let got = https_get(addr, &ca, Some("other.example.org"), "/", &["h2"]);
    assert_eq!(got.peer_names, cert.names);
    let got = https_get(addr, &ca, None, "/", &[]);
    assert_eq!(got.response.text(), "ok");
    assert_eq!(got.alpn, None);

    // The chain is still checked: another CA's client fails the handshake.
    let stranger = TestCa::new();
    let err = try_https_get(addr, &stranger, Some("shop.example.com"), "/", &[]).unwrap_err();
    assert!(err.contains("TLS handshake"), "{err}");
}

#[test]
fn probe_config_is_what_the_probe_parses() {
    let dir = tempfile::tempdir().unwrap();
    let rules = "[[rule]]\npoint = \"found_product\"\naction = \"response\"\nstatus = 403\n";
    let a = Probe::new(dir.path(), "A", rules);
    let b = Probe::new(dir.path(), "B", "");
    assert_eq!(a.log_path(), b.log_path());
    let text = std::fs::read_to_string(a.config_path()).unwrap();
    let parsed = hookgate_probe::parse(&text).unwrap();
    assert_eq!(parsed.name, "A");
    assert_eq!(parsed.log.as_deref(), Some(a.log_path()));
    assert_eq!(parsed.rules.len(), 1);

    std::fs::write(
        a.log_path(),
        "A accept 3 remote=127.0.0.1:1 tls=false action=go_on\n\
         B read_response /x session=3 method=GET host=h product=web cluster=- subcluster=- \
         backend=127.0.0.1:9 error=connect_failed status=502 action=go_on\n\
         A request_finish /x session=3 status=none action=close\n",
    )
    .unwrap();
    let events = read_events(a.log_path());
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].session(), Some(3));
    assert!(events[1].is("B", "read_response"));
    assert_eq!(events[1].session(), Some(3));
    assert_eq!(events[1].status(), Some(502));
    assert_eq!(events[1].error(), Some("connect_failed"));
    assert_eq!(events[1].backend(), Some("127.0.0.1:9"));
    assert_eq!(events[1].field("cluster"), Some("-"));
    assert_eq!(events[2].status(), None);
    assert_eq!(events[2].action(), Some("close"));
    assert_eq!(a.events().len(), 2);
    assert_eq!(b.events().len(), 1);
    assert_eq!(
        events[0].to_string(),
        "A accept 3 remote=127.0.0.1:1 tls=false action=go_on"
    );
}
