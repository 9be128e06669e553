//! TLS to backends (`[clusters.NAME] tls`), end to end against real TLS backends with
//! their own test CA: verified against the backend's IP or `sni`, pooled (one
//! handshake for many requests) and resumed on new connections; each failure a 502
//! with its own error code and a log line naming the backend and the cause; a client
//! certificate for backends that ask (mTLS); `verify = false` only when written, and
//! warned about; health checks over TLS; bad TLS settings refused naming the key.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use hookgate_tests::{arg, free_addr, hookgate, http1_get, Backend, Proxy, TestCa};

const BOUND: Duration = Duration::from_secs(10);

/// A config with one cluster `web` at `backend` whose `tls` table is `tls`, and
/// `extra` cluster keys.
fn config(
    listen: SocketAddr,
    admin: SocketAddr,
    backend: &Backend,
    tls: &str,
    extra: &str,
) -> String {
    format!(
        r#"default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web]
tls = {tls}
{extra}
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{addr}" }}]
"#,
        addr = backend.addr_string(),
    )
}

/// The proxy started on `config`, with its listen address.
fn start(dir: &Path, config: impl FnOnce(SocketAddr, SocketAddr) -> String) -> (Proxy, SocketAddr) {
    let (listen, admin) = (free_addr(), free_addr());
    let file = dir.join("hookgate.toml");
    fs::write(&file, config(listen, admin)).expect("write config");
    (Proxy::start(&["--config", arg(&file)]), listen)
}

fn ca_table(ca: &TestCa) -> String {
    format!("{{ ca = {:?} }}", arg(ca.cert_path()))
}

fn errors(proxy: &Proxy, code: &str) -> Option<f64> {
    proxy.metric(&format!("hookgate_proxy_errors_total{{code=\"{code}\"}}"))
}

#[test]
fn tls_backend_with_its_own_ca_is_verified_against_its_ip_and_its_connection_reused() {
    let ca = TestCa::new();
    let backend = Backend::echo_tls("b", &ca.issue("backend", &["127.0.0.1"]), None);
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen) = start(dir.path(), |l, a| {
        config(l, a, &backend, &ca_table(&ca), "")
    });
    for _ in 0..20 {
        let response = http1_get(listen, "w", "/x", &[]);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(backend.requests(), 20);
    assert_eq!(
        backend.handshakes(),
        1,
        "one pooled connection, one handshake"
    );
}

#[test]
fn tls_backend_is_verified_against_sni_and_sessions_resume_on_new_connections() {
    let ca = TestCa::new();
    let backend = Backend::echo_tls("b", &ca.issue("backend", &["backend.test"]), None);
    let dir = tempfile::tempdir().expect("temp dir");
    let tls = format!(
        "{{ sni = \"backend.test\", ca = {:?} }}",
        arg(ca.cert_path())
    );
    // No idle connection kept: every request connects again.
    let (_proxy, listen) = start(dir.path(), |l, a| {
        config(l, a, &backend, &tls, "pool_max_idle_per_backend = 0")
    });
    for _ in 0..3 {
        assert_eq!(http1_get(listen, "w", "/x", &[]).status, 200);
    }
    assert_eq!(backend.handshakes(), 3);
    assert!(backend.resumed() >= 1, "no session resumed");
}

/// Each handshake failure: 502, its own error code, and a log line naming the backend
/// and the cause.
#[test]
fn tls_failures_are_502_with_their_cause() {
    let ca = TestCa::new();
    let other_ca = TestCa::new();
    let cases = [
        (
            other_ca.issue("stranger", &["127.0.0.1"]),
            "upstream_tls_unknown_ca",
            "invalid peer certificate",
        ),
        (
            ca.issue("misnamed", &["other.test"]),
            "upstream_tls_name_mismatch",
            "not valid for name",
        ),
        (
            ca.issue_expired("expired", &["127.0.0.1"]),
            "upstream_tls_expired",
            "expired",
        ),
    ];
    for (cert, code, cause) in cases {
        let backend = Backend::echo_tls("b", &cert, None);
        let dir = tempfile::tempdir().expect("temp dir");
        let (proxy, listen) = start(dir.path(), |l, a| {
            config(l, a, &backend, &ca_table(&ca), "retries = 0\nmax_fails = 0")
        });
        assert_eq!(http1_get(listen, "w", "/x", &[]).status, 502, "{code}");
        assert_eq!(errors(&proxy, code), Some(1.0), "{code}");
        assert_eq!(backend.requests(), 0);
        let log = proxy.stderr_text();
        let line = log
            .lines()
            .find(|l| l.contains("connect failed"))
            .unwrap_or_else(|| panic!("no connect failure logged:\n{log}"));
        assert!(
            line.contains(&backend.addr_string()) && line.contains(cause),
            "{code}: {line}"
        );
    }
}

#[test]
fn verify_false_is_explicit_and_warned_about() {
    let stranger_ca = TestCa::new();
    let stranger = stranger_ca.issue("stranger", &["elsewhere.test"]);
    let backend = Backend::echo_tls("b", &stranger, None);
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, listen) = start(dir.path(), |l, a| {
        config(l, a, &backend, "{ verify = false }", "")
    });
    assert_eq!(http1_get(listen, "w", "/x", &[]).status, 200);
    let log = proxy.stderr_text();
    assert!(
        log.contains("tls.verify = false") && log.contains("cluster=\"web\""),
        "{log}"
    );
}

#[test]
fn a_client_certificate_is_presented_to_backends_that_ask() {
    let ca = TestCa::new();
    let clients = TestCa::new();
    let backend = Backend::echo_tls(
        "b",
        &ca.issue("backend", &["127.0.0.1"]),
        Some(clients.cert_path()),
    );
    // Without a client certificate the backend refuses the handshake.
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, listen) = start(dir.path(), |l, a| {
        config(l, a, &backend, &ca_table(&ca), "retries = 0\nmax_fails = 0")
    });
    assert_eq!(http1_get(listen, "w", "/x", &[]).status, 502);
    assert_eq!(errors(&proxy, "upstream_tls"), Some(1.0));
    drop(proxy);

    let client = clients.issue_client("proxy", "proxy.test");
    let tls = format!(
        "{{ ca = {:?}, client_cert = {:?}, client_key = {:?} }}",
        arg(ca.cert_path()),
        arg(&client.cert),
        arg(&client.key)
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen) = start(dir.path(), |l, a| config(l, a, &backend, &tls, ""));
    assert_eq!(http1_get(listen, "w", "/x", &[]).status, 200);
    assert_eq!(backend.client_certs(), 1);
}

#[test]
fn health_checks_use_the_clusters_tls() {
    let ca = TestCa::new();
    let backend = Backend::echo_tls("b", &ca.issue("backend", &["127.0.0.1"]), None);
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, _listen) = start(dir.path(), |l, a| {
        config(
            l,
            a,
            &backend,
            &ca_table(&ca),
            "health_check = { path = \"/healthz\", interval_ms = 100 }",
        )
    });
    let deadline = Instant::now() + BOUND;
    while backend.requests() < 2 {
        assert!(Instant::now() < deadline, "no health check came over TLS");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(backend.handshakes() >= 2);
    let status = proxy.admin_text("/status");
    assert!(
        status.contains(&format!("main/{} up", backend.addr_string())),
        "{status}"
    );
}

#[test]
fn bad_tls_settings_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Backend::echo("b");
    let missing = dir.path().join("missing.pem");
    let cert = TestCa::new().issue("c", &["c.test"]);
    for (tls, key) in [
        (
            format!("{{ ca = {:?} }}", arg(&missing)),
            "clusters.web.tls.ca",
        ),
        (
            format!("{{ client_cert = {:?} }}", arg(&cert.cert)),
            "clusters.web.tls.client_key",
        ),
        (
            format!("{{ verify = false, ca = {:?} }}", arg(&cert.cert)),
            "clusters.web.tls.verify",
        ),
        (
            "{ sni = \"not a name\" }".to_owned(),
            "clusters.web.tls.sni",
        ),
        ("{ verfy = true }".to_owned(), "clusters.web.tls"),
    ] {
        let file = dir.path().join("bad.toml");
        fs::write(&file, config(free_addr(), free_addr(), &backend, &tls, "")).expect("write");
        let out = hookgate(&["check", "--config", arg(&file)]);
        assert!(!out.status.success(), "{tls}: accepted");
        assert!(out.stderr.contains(key), "{tls}: {}", out.stderr);
    }
}
