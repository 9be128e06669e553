//! The admin listener, end to end: `/healthz`, `/status` (plugins and chains, backend
//! health), `/metrics` (Prometheus text with the counters the requests moved), and
//! `POST /reload` (a new config takes effect for new connections; a broken one is
//! refused and the running config stays).

use std::fs;

use hookgate_tests::{arg, free_addr, http1_get, http1_send, library, Backend, Proxy, Req};

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

    let health = http1_get(admin, "admin", "/healthz", &[]);
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));

    for _ in 0..3 {
        assert_eq!(
            http1_get(proxy.addr(), "www.example.com", "/x", &[]).status,
            200
        );
    }
    let hello = http1_get(proxy.addr(), "www.example.com", "/hello", &[]);
    assert_eq!(hello.text(), "hello from hookgate\n");

    let status = http1_get(admin, "admin", "/status", &[]).text();
    assert!(
        status.contains("before_location: hookgate-plugin-hello"),
        "{status}"
    );
    assert!(
        status.contains(&format!("main/{} up", backend.addr_string())),
        "{status}"
    );

    let metrics = http1_get(admin, "admin", "/metrics", &[]).text();
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
    let reload = http1_send(admin, &Req::new("POST", "admin", "/reload")).expect("reload");
    assert_eq!((reload.status, reload.text().as_str()), (200, "reloaded\n"));
    let hello = http1_get(proxy.addr(), "www.example.com", "/hello", &[]);
    assert_eq!(hello.text(), "bonjour from hookgate\n");

    // A broken config is refused, naming the key, and the running one stays.
    fs::write(&file, "[server]\nlisten = [\"127.0.0.1:1\"]\nworkerz = 1\n").expect("write");
    let reload = http1_send(admin, &Req::new("POST", "admin", "/reload")).expect("reload");
    assert_eq!(reload.status, 500);
    assert!(reload.text().contains("workerz"), "{}", reload.text());
    let hello = http1_get(proxy.addr(), "www.example.com", "/hello", &[]);
    assert_eq!(hello.text(), "bonjour from hookgate\n");

    let wrong = http1_get(admin, "admin", "/reload", &[]);
    assert_eq!(wrong.status, 405);
    assert_eq!(http1_get(admin, "admin", "/nope", &[]).status, 404);
}
