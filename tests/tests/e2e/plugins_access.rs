//! The access-control example plugins at work, end to end: `block`, `tls-policy`,
//! `rate-limit` and `auth-basic` loaded into the real proxy, with real clients and a
//! real backend. Each plugin's unit tests (in its crate) cover every rule and config
//! error; these show that what they return does what it should on the wire.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use hookgate_tests::tls_version::https_get_pinned;
use hookgate_tests::{
    free_addr, http1_get, http1_send, https_get, library, raw_exchange, try_https_get, Backend,
    Conn, Proxy, Req, TestCa,
};
use rustls::version::{TLS12, TLS13};

/// How long a raw client waits for a close.
const WAIT: Duration = Duration::from_secs(5);

/// Starts the proxy with a config written to `dir/<label>.toml`: a plain listener,
/// products `shop` (`shop.example.com`) and `web` (the default), both routed to
/// `backend`; `server` is added to `[server]`, and `extra` (plugins, TLS listeners) at
/// the end.
fn start(dir: &Path, label: &str, backend: &Backend, server: &str, extra: &str) -> Proxy {
    let text = format!(
        r#"
default_product = "web"

[server]
listen = ["{listen}"]
{server}

[products.shop]
hosts = ["shop.example.com"]
routes = [{{ cluster = "main" }}]

[products.web]
routes = [{{ cluster = "main" }}]

[clusters.main.subclusters.all]
weight = 1
backends = [{{ addr = "{backend}" }}]

{extra}
"#,
        listen = free_addr(),
        backend = backend.addr(),
    );
    let path = dir.join(format!("{label}.toml"));
    fs::write(&path, text).expect("write the proxy config");
    Proxy::start(&["--config", path.to_str().expect("UTF-8 temp path")])
}

/// A `[[plugins]]` entry for the example plugin `name` with this `config` (an inline
/// table, or a quoted file path).
fn plugin(name: &str, config: &str) -> String {
    let path = library(&format!("hookgate_plugin_{}", name.replace('-', "_")));
    format!(
        "[[plugins]]\npath = {:?}\nconfig = {config}\n",
        path.display().to_string()
    )
}

/// A `[[plugins]]` entry for the example plugin `name`, its config written to
/// `dir/<name>.toml`.
fn plugin_file(dir: &Path, name: &str, config: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    fs::write(&path, config).expect("write the plugin config");
    plugin(name, &format!("{:?}", path.display().to_string()))
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn raw_get(method: &str, host: &str, path: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

#[test]
fn block_closes_a_denied_cidr_at_accept_and_lets_other_clients_through() {
    let backend = Backend::echo("b1");
    let dir = temp_dir();
    let denying = plugin(
        "block",
        r#"{ global = { deny = ["10.0.0.0/8", "127.0.0.0/8"] } }"#,
    );
    let proxy = start(dir.path(), "deny", &backend, "", &denying);
    let reply = raw_exchange(proxy.addr(), &raw_get("GET", "shop.example.com", "/"), WAIT);
    assert!(reply.closed_silently(), "{reply:?}");
    drop(proxy);
    assert_eq!(backend.requests(), 0);

    let other = plugin("block", r#"{ global = { deny = ["10.0.0.0/8", "::1"] } }"#);
    let proxy = start(dir.path(), "other", &backend, "", &other);
    let response = http1_get(proxy.addr(), "shop.example.com", "/", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(backend.requests(), 1);
}

#[test]
fn block_rules_answer_403_or_close_per_product() {
    let backend = Backend::echo("b1");
    let dir = temp_dir();
    let config = r#"
[global]
rules = [{ path_prefix = "/.git/" }]

[products.shop]
rules = [
  { path_prefix = "/admin/" },
  { method = "DELETE", action = "close" },
]
"#;
    let entry = plugin_file(dir.path(), "block", config);
    let proxy = start(dir.path(), "rules", &backend, "", &entry);

    // A 403 keeps the connection: the next request on it goes through.
    let mut conn = Conn::http1(proxy.addr()).expect("connect");
    let forbidden = conn
        .get("shop.example.com", "/admin/users")
        .expect("a response");
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.text(), "forbidden\n");
    let allowed = conn.get("shop.example.com", "/cart").expect("a response");
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    assert_eq!(allowed.echo().uri, "/cart");

    let closed = raw_exchange(
        proxy.addr(),
        &raw_get("DELETE", "shop.example.com", "/cart/1"),
        WAIT,
    );
    assert!(closed.closed_silently(), "{closed:?}");

    // The shop's rules do not apply to web; the global one does.
    let web = |method: &str, path: &str| {
        let req = Req::new(method, "www.example.com", path);
        http1_send(proxy.addr(), &req).expect("a response").status
    };
    assert_eq!(web("GET", "/admin/users"), 200);
    assert_eq!(web("DELETE", "/cart/1"), 200);
    assert_eq!(web("GET", "/.git/config"), 403);
    assert_eq!(backend.requests(), 3);
}

#[test]
fn tls_policy_closes_other_names_and_old_versions_right_after_the_handshake() {
    let backend = Backend::echo("b1");
    let ca = TestCa::new();
    let cert = ca.issue("site", &["shop.example.com", "other.example.com"]);
    let (strict, lenient) = (free_addr(), free_addr());
    let listeners = format!(
        "[[server.tls]]\nlisten = \"{strict}\"\ncerts = [{cert}]\n\
         [[server.tls]]\nlisten = \"{lenient}\"\ncerts = [{cert}]\n",
        cert = cert.toml(),
    );
    let policy = format!(
        r#"
[default]
min_version = "1.2"

[listeners."{strict}"]
min_version = "1.3"
sni = ["shop.example.com"]
"#
    );
    let extra = format!(
        "{listeners}{}",
        plugin_file(ca.dir(), "tls-policy", &policy)
    );
    let _proxy = start(ca.dir(), "tls", &backend, "", &extra);

    // Allowed name and version: served.
    let got = https_get(
        strict,
        &ca,
        Some("shop.example.com"),
        "/",
        &["h2", "http/1.1"],
    );
    assert_eq!(got.response.status, 200, "{}", got.response.text());
    assert_eq!(got.alpn.as_deref(), Some("h2"));
    assert_eq!(got.peer_names, cert.names);

    // Another name in the same certificate: the handshake completes, then the
    // connection closes with nothing sent.
    let other = https_get_pinned(strict, &ca, "other.example.com", "/", &[&TLS13]);
    let other = other.expect("the handshake itself succeeds");
    assert_eq!(other.version, "TLSv1.3");
    assert!(other.closed_silently(), "{other:?}: {}", other.text());
    let refused = try_https_get(strict, &ca, Some("other.example.com"), "/", &["http/1.1"]);
    assert!(refused.is_err(), "{refused:?}");

    // TLS 1.2 only, with the allowed name: below the listener's minimum.
    let old = https_get_pinned(strict, &ca, "shop.example.com", "/", &[&TLS12]);
    let old = old.expect("the proxy speaks TLS 1.2");
    assert_eq!(old.version, "TLSv1.2");
    assert!(old.closed_silently(), "{old:?}: {}", old.text());

    // The other listener has the default policy: TLS 1.2 and any name.
    let lenient = https_get_pinned(lenient, &ca, "other.example.com", "/", &[&TLS12]);
    let lenient = lenient.expect("handshake");
    assert_eq!(
        (lenient.version.as_str(), lenient.status()),
        ("TLSv1.2", Some(200))
    );
    assert_eq!(backend.requests(), 2);
}

#[test]
fn rate_limit_gives_each_forwarded_client_its_budget_per_window() {
    let backend = Backend::echo("b1");
    let dir = temp_dir();
    let config = r#"
[global]
rules = [{ limit = 3, window_ms = 1000 }]

[products.shop]
rules = [{ path = "/login", method = "POST", limit = 1, window_ms = 60000, action = "close" }]
"#;
    let admin = free_addr();
    let server = format!("trusted_proxies = [\"127.0.0.1/32\"]\nadmin = \"{admin}\"");
    let entry = plugin_file(dir.path(), "rate-limit", config);
    let proxy = start(dir.path(), "limits", &backend, &server, &entry);
    let get = |client: &str| {
        http1_get(
            proxy.addr(),
            "www.example.com",
            "/",
            &[("x-forwarded-for", client)],
        )
    };

    let started = Instant::now();
    for _ in 0..3 {
        let response = get("198.51.100.1");
        assert_eq!(response.status, 200, "{}", response.text());
    }
    let limited = get("198.51.100.1");
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert_eq!(limited.header("retry-after"), Some("1"));
    // The plugin's warning reached the proxy's log, with the instance and the point.
    let log = proxy.stderr_text();
    let line = (log.lines())
        .find(|line| line.contains("over the limit"))
        .unwrap_or_else(|| panic!("no warning in the proxy's log:\n{log}"));
    for field in [
        "WARN",
        "hookgate-plugin-rate-limit",
        "found_product",
        "198.51.100.1",
    ] {
        assert!(line.contains(field), "{field} not in {line}");
    }
    // Another client behind the same trusted proxy has its own budget.
    assert_eq!(get("198.51.100.2").status, 200);

    // The shop's login rule closes the connection of a client over it.
    let login = b"POST /login HTTP/1.1\r\nHost: shop.example.com\r\n\
        X-Forwarded-For: 198.51.100.3\r\nContent-Length: 0\r\n\r\n";
    let first = raw_exchange(proxy.addr(), login, Duration::from_millis(300));
    assert!(first.text().starts_with("HTTP/1.1 200"), "{first:?}");
    let second = raw_exchange(proxy.addr(), login, WAIT);
    assert!(second.closed_silently(), "{second:?}");

    // Once the client's window has passed, it is allowed again: asked until then,
    // it is refused (which neither reaches the backend nor extends the window).
    let deadline = started + Duration::from_secs(5);
    loop {
        let response = get("198.51.100.1");
        if response.status == 200 {
            break;
        }
        assert_eq!(response.status, 429, "{}", response.text());
        assert!(Instant::now() < deadline, "the 1 s window never ended");
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "allowed again before its window ended"
    );
    assert_eq!(backend.requests(), 6);

    // Every refusal is counted on /metrics by the plugin, through the host, and the
    // counts survive a reload (a new instance of the same name).
    let refused = |product: &str| {
        let series = format!(
            "hookgate_plugin_rate_limit_refused_total{{plugin=\"hookgate-plugin-rate-limit\",product=\"{product}\"}} "
        );
        let metrics = proxy.admin_text("/metrics");
        let value = metrics
            .lines()
            .find_map(|line| line.strip_prefix(series.as_str()));
        value.and_then(|v| v.parse::<f64>().ok())
    };
    let web = refused("web").expect("the web product's refusals");
    assert!(web >= 1.0, "{web}");
    assert_eq!(refused("shop"), Some(1.0));
    let reloaded = http1_send(admin, &Req::new("POST", "localhost", "/reload")).expect("reload");
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());
    assert_eq!(refused("web"), Some(web), "the count did not go back");
}

#[test]
fn auth_basic_challenges_then_forwards_per_product() {
    /// `alice-pw` and `bob-pw`, bcrypt at cost 4.
    const ALICE: &str = "$2y$04$evnJrLjlT5q9Fy2ReeyYP.rz3xyI7RZTF4JFSvX/FL3NakEycZjJq";
    const BOB: &str = "$2b$04$EdxkrcklSw0yVs7fCWiKAe9PVz0jVxvNw4ReaU2Mn65JjlfBfNWIC";
    /// `Basic` + base64 of `alice:alice-pw`, `alice:wrong`, `bob:bob-pw`.
    const ALICE_RIGHT: &str = "Basic YWxpY2U6YWxpY2UtcHc=";
    const ALICE_WRONG: &str = "Basic YWxpY2U6d3Jvbmc=";
    const BOB_RIGHT: &str = "Basic Ym9iOmJvYi1wdw==";

    let backend = Backend::echo("b1");
    let dir = temp_dir();
    let config = format!(
        r#"
[[products.shop.rules]]
realm = "shop"
remove_authorization = true
users = {{ alice = "{ALICE}", bob = "{BOB}" }}

[[products.web.rules]]
path_prefix = "/private/"
realm = "web"
users = {{ bob = "{BOB}" }}
"#
    );
    let entry = plugin_file(dir.path(), "auth-basic", &config);
    let proxy = start(dir.path(), "auth", &backend, "", &entry);
    let get = |host: &str, path: &str, auth: Option<&str>| {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        http1_get(proxy.addr(), host, path, &headers)
    };

    let anonymous = get("shop.example.com", "/cart", None);
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        anonymous.header("www-authenticate"),
        Some("Basic realm=\"shop\"")
    );
    let wrong = get("shop.example.com", "/cart", Some(ALICE_WRONG));
    assert_eq!(wrong.status, 401);
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Basic realm=\"shop\"")
    );
    assert_eq!(backend.requests(), 0);

    // Right, twice (the second check comes from the cache): forwarded without the
    // credentials.
    for _ in 0..2 {
        let ok = get("shop.example.com", "/cart", Some(ALICE_RIGHT));
        assert_eq!(ok.status, 200, "{}", ok.text());
        assert_eq!(ok.echo().header("authorization"), None);
    }

    // web protects /private/ only, with its own users, and forwards the header.
    assert_eq!(get("www.example.com", "/", None).status, 200);
    let not_a_web_user = get("www.example.com", "/private/x", Some(ALICE_RIGHT));
    assert_eq!(not_a_web_user.status, 401);
    assert_eq!(
        not_a_web_user.header("www-authenticate"),
        Some("Basic realm=\"web\"")
    );
    let bob = get("www.example.com", "/private/x", Some(BOB_RIGHT));
    assert_eq!(bob.status, 200, "{}", bob.text());
    assert_eq!(bob.echo().header("authorization"), Some(BOB_RIGHT));
    assert_eq!(backend.requests(), 4);
}
