//! Backends given by name (`addr = "name:port"`), end to end through the system
//! resolver (`localhost`): resolved at start, every address a backend, shown in
//! `/status` with the name; TLS verified against the name; a name that does not
//! resolve logged naming the backend while the proxy serves from the rest; a reload
//! resolving the names it adds. (Re-resolution on a timer, with addresses that change,
//! is unit-tested in `resolve::task` and `balance`: the machine's resolver cannot be
//! made to change its answer from a test.)

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use hookgate_tests::{arg, free_addr, http1_get, http1_send, Backend, Proxy, Req, TestCa};

/// The proxy on a config of one cluster `web` with subclusters `subclusters` (TOML
/// tables after `[clusters.web]`, which gets `cluster_keys`), and its listen address.
fn start(dir: &Path, cluster_keys: &str, subclusters: &str) -> (Proxy, SocketAddr, SocketAddr) {
    let (listen, admin) = (free_addr(), free_addr());
    let file = dir.join("hookgate.toml");
    fs::write(&file, config(listen, admin, cluster_keys, subclusters)).expect("write config");
    (Proxy::start(&["--config", arg(&file)]), listen, admin)
}

fn config(listen: SocketAddr, admin: SocketAddr, cluster_keys: &str, subclusters: &str) -> String {
    format!(
        r#"default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web]
{cluster_keys}
{subclusters}
"#
    )
}

fn subcluster(name: &str, addr: &str) -> String {
    format!("[clusters.web.subclusters.{name}]\nweight = 1\nbackends = [{{ addr = \"{addr}\" }}]\n")
}

fn by_name(backend: &Backend) -> String {
    format!("localhost:{}", backend.addr().port())
}

#[test]
fn a_backend_by_name_is_resolved_at_start_and_shown_with_its_name() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, listen, _) = start(dir.path(), "", &subcluster("main", &by_name(&backend)));
    for _ in 0..5 {
        let response = http1_get(listen, "w", "/x", &[]);
        assert_eq!(response.status, 200, "{}", response.text());
    }
    assert_eq!(backend.requests(), 5);
    let status = proxy.admin_text("/status");
    assert!(
        status.contains(&format!(
            "main/{} up active=0 name={}",
            backend.addr_string(),
            by_name(&backend)
        )),
        "{status}"
    );
    assert!(
        proxy.stderr_text().contains("backend name resolved"),
        "{}",
        proxy.stderr_text()
    );
}

/// Health checks of a backend by name ask for the name (`Host: name:port`), as a
/// name-based virtual host behind it expects.
#[test]
fn health_checks_of_a_backend_by_name_send_the_name_as_host() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let check = "health_check = { path = \"/healthz\", interval_ms = 100 }";
    let (_proxy, _, _) = start(dir.path(), check, &subcluster("main", &by_name(&backend)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while backend.requests() == 0 {
        assert!(std::time::Instant::now() < deadline, "no health check came");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let seen = backend.seen();
    let probe = seen.first().expect("a probe");
    assert_eq!(probe.uri, "/healthz");
    assert_eq!(probe.header("host"), Some(by_name(&backend).as_str()));
}

/// With no `tls.sni`, a backend by name is verified against the name: a certificate
/// for `localhost` only passes by name and fails by IP.
#[test]
fn tls_to_a_backend_by_name_is_verified_against_the_name() {
    let ca = TestCa::new();
    let backend = Backend::echo_tls("b", &ca.issue("named", &["localhost"]), None);
    let tls = format!(
        "tls = {{ ca = {:?} }}\nretries = 0\nmax_fails = 0",
        arg(ca.cert_path())
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (_by_name, listen, _) = start(dir.path(), &tls, &subcluster("main", &by_name(&backend)));
    let response = http1_get(listen, "w", "/x", &[]);
    assert_eq!(response.status, 200, "{}", response.text());

    let dir = tempfile::tempdir().expect("temp dir");
    let (by_ip, listen, _) = start(
        dir.path(),
        &tls,
        &subcluster("main", &backend.addr_string()),
    );
    assert_eq!(http1_get(listen, "w", "/x", &[]).status, 502);
    assert_eq!(
        by_ip.metric("hookgate_proxy_errors_total{code=\"upstream_tls_name_mismatch\"}"),
        Some(1.0)
    );
    assert_eq!(backend.requests(), 1);
}

/// A name that does not resolve does not stop the proxy: the error names the
/// backend's key, its subcluster has no backend, and the cluster serves from the other
/// subcluster; a cluster with no other has none (503).
#[test]
fn a_name_that_does_not_resolve_is_logged_naming_the_backend_and_skipped() {
    let spare = Backend::echo("spare");
    let dir = tempfile::tempdir().expect("temp dir");
    let subclusters = subcluster("main", "no-such-backend.invalid:80")
        + &subcluster("spare", &spare.addr_string());
    let (proxy, listen, _) = start(dir.path(), "", &subclusters);
    for _ in 0..4 {
        assert_eq!(http1_get(listen, "w", "/x", &[]).status, 200);
    }
    assert_eq!(spare.requests(), 4);
    let log = proxy.stderr_text();
    let line = log
        .lines()
        .find(|l| l.contains("does not resolve"))
        .unwrap_or_else(|| panic!("no resolver error logged:\n{log}"));
    assert!(
        line.contains("clusters.web.subclusters.main.backends[0].addr")
            && line.contains("no-such-backend.invalid:80"),
        "{line}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen, _) = start(
        dir.path(),
        "",
        &subcluster("main", "no-such-backend.invalid:80"),
    );
    let response = http1_get(listen, "w", "/x", &[]);
    assert_eq!(response.status, 503, "{}", response.text());
}

/// A reload resolves the names it adds before the new configuration takes requests.
#[test]
fn a_reload_resolves_the_names_it_adds() {
    let first = Backend::echo("first");
    let second = Backend::echo("second");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen, admin) = start(dir.path(), "", &subcluster("main", &first.addr_string()));
    assert_eq!(http1_get(listen, "w", "/x", &[]).status, 200);
    assert_eq!(first.requests(), 1);

    let file = dir.path().join("hookgate.toml");
    let named = config(
        listen,
        admin,
        "resolve_interval_ms = 500",
        &subcluster("main", &by_name(&second)),
    );
    fs::write(&file, named).expect("write config");
    let reply = http1_send(admin, &Req::new("POST", "localhost", "/reload")).expect("reload");
    assert_eq!(reply.status, 200, "{}", reply.text());
    for _ in 0..3 {
        assert_eq!(http1_get(listen, "w", "/x", &[]).status, 200);
    }
    assert_eq!((first.requests(), second.requests()), (1, 3));
}

/// `hookgate check` accepts a name that does not resolve where it runs, with a
/// warning naming the backend; a malformed `addr` is refused naming the key.
#[test]
fn check_warns_of_names_that_do_not_resolve_and_refuses_malformed_addresses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hookgate.toml");
    let (listen, admin) = (free_addr(), free_addr());
    fs::write(
        &file,
        config(
            listen,
            admin,
            "",
            &subcluster("main", "no-such-backend.invalid:80"),
        ),
    )
    .expect("write config");
    let out = hookgate_tests::hookgate(&["check", "--config", arg(&file)]);
    let stdout = &out.stdout;
    assert!(out.status.success(), "{stdout}{}", &out.stderr);
    assert!(
        stdout.contains("warning: clusters.web.subclusters.main.backends[0].addr: `no-such-backend.invalid:80` does not resolve here"),
        "{stdout}"
    );

    fs::write(
        &file,
        config(listen, admin, "", &subcluster("main", "api.internal")),
    )
    .expect("write config");
    let out = hookgate_tests::hookgate(&["check", "--config", arg(&file)]);
    let stderr = &out.stderr;
    assert!(!out.status.success());
    assert!(
        stderr.contains("clusters.web.subclusters.main.backends[0].addr")
            && stderr.contains("`api.internal` is not host:port"),
        "{stderr}"
    );
}
