//! Proxying, end to end: the real binary between real clients and real backends. A
//! first smoke test of the path (and of the support module): what the proxy forwards
//! and adds, HTTP/2 from the client, TLS with a certificate chosen by SNI, and the
//! callbacks a plain request passes through.

use std::fs;
use std::time::Duration;

use hookgate_tests::{
    free_addr, h2c_get, http1_get, https_get, wait_for_events, Backend, Probe, Proxy, TestCa,
};

#[test]
fn get_is_forwarded_with_forwarding_headers_and_the_host_kept() {
    let backend = Backend::echo("b1");
    let proxy = Proxy::start(&["--backend", &backend.addr_string()]);
    let response = http1_get(
        proxy.addr(),
        "shop.example.com",
        "/a/b?c=d",
        &[("x-custom", "kept")],
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-backend"), Some("b1"));
    let echo = response.echo();
    assert_eq!(echo.method, "GET");
    assert_eq!(echo.uri, "/a/b?c=d");
    assert_eq!(echo.header("host"), Some("shop.example.com"));
    assert_eq!(echo.header("x-custom"), Some("kept"));
    assert_eq!(echo.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(echo.header("x-forwarded-proto"), Some("http"));
    assert_eq!(echo.header("x-real-ip"), Some("127.0.0.1"));
    assert_eq!(backend.requests(), 1);
}

#[test]
fn h2c_client_is_proxied() {
    let backend = Backend::echo("b1");
    let proxy = Proxy::start(&["--backend", &backend.addr_string()]);
    let response = h2c_get(proxy.addr(), "www.example.com", "/h2", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.version, "HTTP/2.0");
    let echo = response.echo();
    assert_eq!(echo.uri, "/h2");
    assert_eq!(echo.header("host"), Some("www.example.com"));
}

#[test]
fn tls_listener_picks_the_certificate_by_sni() {
    let backend = Backend::echo("b1");
    let ca = TestCa::new();
    let shop = ca.issue("shop", &["shop.example.com"]);
    let api = ca.issue("api", &["api.example.com", "*.api.example.com"]);
    let (plain, tls) = (free_addr(), free_addr());
    let config = ca.dir().join("hookgate.toml");
    let text = format!(
        r#"
default_product = "web"
[server]
listen = ["{plain}"]
[[server.tls]]
listen = "{tls}"
certs = [{shop}, {api}]
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
"#,
        shop = shop.toml(),
        api = api.toml(),
        backend = backend.addr(),
    );
    fs::write(&config, text).expect("write config");
    let probe = Probe::new(ca.dir(), "A", "");
    let proxy = Proxy::start(&[
        "--config",
        config.to_str().expect("UTF-8 path"),
        "--plugin",
        &probe.plugin_arg(),
    ]);
    assert_eq!(proxy.tls_addr(), tls);

    let got = https_get(
        tls,
        &ca,
        Some("v1.api.example.com"),
        "/x",
        &["h2", "http/1.1"],
    );
    assert_eq!(got.response.status, 200, "{}", got.response.text());
    assert_eq!(got.alpn.as_deref(), Some("h2"));
    assert_eq!(got.peer_names, api.names);
    let echo = got.response.echo();
    assert_eq!(echo.header("x-forwarded-proto"), Some("https"));
    let events = wait_for_events(probe.log_path(), Duration::from_secs(5), |events| {
        events.iter().any(|e| e.point == "handshake")
    });
    let handshake = events.iter().find(|e| e.point == "handshake");
    let handshake = handshake.expect("a handshake event");
    assert_eq!(handshake.field("sni"), Some("v1.api.example.com"));
    assert_eq!(handshake.field("alpn"), Some("h2"));
    assert_eq!(handshake.field("version"), Some("TLSv1.3"));

    let got = https_get(tls, &ca, Some("shop.example.com"), "/", &["http/1.1"]);
    assert_eq!(got.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(got.peer_names, shop.names);
    // No SNI: the first certificate.
    let got = https_get(tls, &ca, None, "/", &["http/1.1"]);
    assert_eq!(got.peer_names, shop.names);
}

#[test]
fn a_plain_request_passes_every_request_point_once() {
    let backend = Backend::echo("b1");
    let dir = tempfile::tempdir().expect("temp dir");
    let probe = Probe::new(dir.path(), "A", "");
    let proxy = Proxy::start(&[
        "--backend",
        &backend.addr_string(),
        "--plugin",
        &probe.plugin_arg(),
    ]);
    let response = http1_get(proxy.addr(), "example.com", "/p", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-probe-seen"), Some("A"));

    let events = wait_for_events(probe.log_path(), Duration::from_secs(5), |events| {
        events.iter().any(|e| e.point == "finish")
    });
    let points: Vec<&str> = events.iter().map(|e| e.point.as_str()).collect();
    assert_eq!(
        points,
        [
            "accept",
            "before_location",
            "found_product",
            "after_location",
            "forward",
            "read_response",
            "request_finish",
            "finish"
        ]
    );
    let backend_addr = backend.addr_string();
    assert_eq!(events[4].backend(), Some(backend_addr.as_str()));
    assert_eq!(events[5].status(), Some(200));
    assert_eq!(events[6].status(), Some(200));
    let session = events[0].session();
    assert!(session.is_some());
    assert!(events.iter().all(|e| e.session() == session), "{events:?}");
}

#[test]
fn backend_down_is_a_502_that_plugins_see() {
    let mut backend = Backend::echo("gone");
    let addr = backend.addr_string();
    backend.stop();
    let dir = tempfile::tempdir().expect("temp dir");
    let probe = Probe::new(dir.path(), "A", "");
    let proxy = Proxy::start(&["--backend", &addr, "--plugin", &probe.plugin_arg()]);
    let response = http1_get(proxy.addr(), "example.com", "/", &[]);
    assert_eq!(response.status, 502, "{}", response.text());

    let events = wait_for_events(probe.log_path(), Duration::from_secs(5), |events| {
        events.iter().any(|e| e.point == "request_finish")
    });
    let read = events
        .iter()
        .find(|e| e.point == "read_response")
        .expect("read_response ran on the proxy's error");
    assert_eq!(read.status(), Some(502));
    assert_eq!(read.error(), Some("connect_failed"));
}
