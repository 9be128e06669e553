//! The admin listener, end to end: `/healthz`, `/status` (plugins and chains, backend
//! health), `/metrics` (Prometheus text with the counters the requests moved), and
//! `POST /reload` (a new config takes effect for new connections; a broken one is
//! refused and the running config stays).
//! - Who may ask: loopback Hosts only and no browser-made reloads without a token;
//!   a bearer token when one is configured; `check` refuses a public admin address
//!   without one, and a token written in the config.

use std::fs;

use hookgate_tests::{
    arg, free_addr, hookgate, http1_get, http1_send, library, Backend, Proxy, Req,
};

/// The Host the admin listener accepts without a token: a loopback name.
const LOCAL: &str = "localhost";

fn config(listen: &str, admin: &str, backend: &str, greeting: &str) -> String {
    format!(
        r#"
default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
[[plugins]]
path = "{hello}"
config = {{ greeting = "{greeting}" }}
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
"#,
        hello = arg(&library("hookgate_plugin_hello")),
    )
}

#[test]
fn health_status_metrics_and_reload() {
    let backend = Backend::echo("b1");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hookgate.toml");
    let (listen, admin) = (free_addr(), free_addr());
    let (listen, admin_text) = (listen.to_string(), admin.to_string());
    fs::write(
        &file,
        config(&listen, &admin_text, &backend.addr_string(), "hello"),
    )
    .expect("write");
    let proxy = Proxy::start(&["--config", arg(&file)]);

    let health = http1_get(admin, LOCAL, "/healthz", &[]);
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));

    for _ in 0..3 {
        assert_eq!(
            http1_get(proxy.addr(), "www.example.com", "/x", &[]).status,
            200
        );
    }
    let hello = http1_get(proxy.addr(), "www.example.com", "/hello", &[]);
    assert_eq!(hello.text(), "hello from hookgate\n");

    let status = http1_get(admin, LOCAL, "/status", &[]).text();
    assert!(
        status.contains("before_location: hookgate-plugin-hello"),
        "{status}"
    );
    assert!(
        status.contains(&format!("main/{} up", backend.addr_string())),
        "{status}"
    );

    let metrics = http1_get(admin, LOCAL, "/metrics", &[]).text();
    assert!(
        metrics.contains("hookgate_responses_total{class=\"2xx\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hookgate_plugin_errors_total{plugin=\"hookgate-plugin-hello\"} 0"),
        "{metrics}"
    );
    assert!(metrics.contains("hookgate_backend_up{"), "{metrics}");

    // A new greeting takes effect after a reload, for new connections.
    fs::write(
        &file,
        config(&listen, &admin_text, &backend.addr_string(), "bonjour"),
    )
    .expect("write");
    let reload = http1_send(admin, &Req::new("POST", LOCAL, "/reload")).expect("reload");
    assert_eq!((reload.status, reload.text().as_str()), (200, "reloaded\n"));
    let hello = http1_get(proxy.addr(), "www.example.com", "/hello", &[]);
    assert_eq!(hello.text(), "bonjour from hookgate\n");

    // A broken config is refused, naming the key, and the running one stays.
    fs::write(&file, "[server]\nlisten = [\"127.0.0.1:1\"]\nworkerz = 1\n").expect("write");
    let reload = http1_send(admin, &Req::new("POST", LOCAL, "/reload")).expect("reload");
    assert_eq!(reload.status, 500);
    assert!(reload.text().contains("workerz"), "{}", reload.text());
    let hello = http1_get(proxy.addr(), "www.example.com", "/hello", &[]);
    assert_eq!(hello.text(), "bonjour from hookgate\n");

    let wrong = http1_get(admin, LOCAL, "/reload", &[]);
    assert_eq!(wrong.status, 405);
    assert_eq!(http1_get(admin, LOCAL, "/nope", &[]).status, 404);
}

/// Starts a proxy whose admin listener has `extra` server keys; returns it, the admin
/// address and the temp dir holding the config.
fn with_admin(extra: &str) -> (Proxy, std::net::SocketAddr, tempfile::TempDir, Backend) {
    let backend = Backend::echo("b1");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hookgate.toml");
    let (listen, admin) = (free_addr(), free_addr());
    let text = config(
        &listen.to_string(),
        &admin.to_string(),
        &backend.addr_string(),
        "hello",
    )
    .replace("[server]\n", &format!("[server]\n{extra}"));
    fs::write(&file, text).expect("write");
    let proxy = Proxy::start(&["--config", arg(&file)]);
    (proxy, admin, dir, backend)
}

/// DNS rebinding and cross-site requests: a web page whose name resolves to
/// 127.0.0.1 sends its own name as Host, and a page can POST `text/plain` or a form
/// anywhere (with an `Origin`). Without a token, none of it gets through; curl does.
#[test]
fn without_a_token_foreign_hosts_and_browser_posts_are_refused() {
    let (_proxy, admin, _dir, _backend) = with_admin("");
    let local = admin.to_string();
    for host in [LOCAL, local.as_str(), "LocalHost:9901", "[::1]:9901"] {
        assert_eq!(http1_get(admin, host, "/status", &[]).status, 200, "{host}");
    }
    for host in ["evil.example", "evil.example:9901", "10.1.2.3"] {
        let refused = http1_get(admin, host, "/status", &[]);
        assert_eq!(refused.status, 403, "{host}");
        assert!(!refused.text().contains("before_location"), "{host}");
    }
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("content-type", "text/plain"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-type", "multipart/form-data; boundary=x"),
    ] {
        let reload = Req::new("POST", &local, "/reload")
            .header(name, value)
            .body("x");
        let refused = http1_send(admin, &reload).expect("an answer");
        assert_eq!(refused.status, 403, "{name}: {value}");
    }
    // What `curl -X POST http://127.0.0.1:9901/reload` sends.
    let reload = http1_send(admin, &Req::new("POST", &local, "/reload")).expect("reload");
    assert_eq!((reload.status, reload.text().as_str()), (200, "reloaded\n"));
}

/// With `server.admin_token_file`, every admin request needs the bearer token.
#[test]
fn with_a_token_every_admin_request_needs_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("admin.token");
    fs::write(&token_file, "t0ken-for-the-test\n").expect("write");
    let (_proxy, admin, _config_dir, _backend) =
        with_admin(&format!("admin_token_file = {:?}\n", arg(&token_file)));
    let missing = http1_get(admin, LOCAL, "/status", &[]);
    assert_eq!(missing.status, 401);
    assert!(missing.header("www-authenticate").is_some());
    let wrong = [("authorization", "Bearer t0ken-for-the-tes")];
    assert_eq!(http1_get(admin, LOCAL, "/metrics", &wrong).status, 401);
    let right = [("authorization", "Bearer t0ken-for-the-test")];
    let status = http1_get(admin, "admin.internal", "/status", &right);
    assert_eq!(status.status, 200, "any Host with the token");
    assert!(status.text().contains("hookgate-plugin-hello"));
    let reload = Req::new("POST", LOCAL, "/reload").headers(&right);
    let reload = http1_send(admin, &reload).expect("reload");
    assert_eq!(reload.status, 200, "{}", reload.text());
    let reload = http1_send(admin, &Req::new("POST", LOCAL, "/reload")).expect("an answer");
    assert_eq!(reload.status, 401);
}

/// A non-loopback admin address needs a token file; a token written in the config is
/// refused. `check` says so, naming the key.
#[test]
fn check_refuses_a_public_admin_without_a_token_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hookgate.toml");
    let check = |server: &str| {
        fs::write(
            &file,
            format!("[server]\nlisten = [\"127.0.0.1:1\"]\n{server}"),
        )
        .expect("write");
        hookgate(&["check", "--config", arg(&file)])
    };
    let out = check("admin = \"0.0.0.0:9901\"\n");
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("`server.admin`") && out.stderr.contains("admin_token_file"),
        "{}",
        out.stderr
    );
    let out = check("admin = \"127.0.0.1:9901\"\nadmin_token = \"s3cret\"\n");
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("`server.admin_token`"),
        "{}",
        out.stderr
    );
    let token = dir.path().join("admin.token");
    fs::write(&token, "s3cret\n").expect("write");
    let out = check(&format!(
        "admin = \"0.0.0.0:9901\"\nadmin_token_file = {:?}\n",
        arg(&token)
    ));
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let out = check("admin = \"127.0.0.1:9901\"\nadmin_token_file = \"/nonexistent/token\"\n");
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("`server.admin_token_file`"),
        "{}",
        out.stderr
    );
}
