//! Reloads reach every connection (issue 11): SIGHUP reloads like `POST /reload`; a
//! request that starts after a reload runs on the new configuration, on a keep-alive
//! or HTTP/2 connection opened before it; a connection's Accept and Finish stay with
//! the configuration that accepted it, Finish exactly once even for an instance the
//! reload removed; backend health outlives the configuration it was seen with; and
//! `/metrics` counters never go back.

use std::fs;
use std::time::{Duration, Instant};

use hookgate_tests::contract::H2c;
use hookgate_tests::scripted::SwitchBackend;
use hookgate_tests::{
    arg, free_addr, http1_get, http1_send, library, read_events, wait_until, Backend, Conn, Probe,
    Proxy, Req,
};

/// The bound on every wait here.
const BOUND: Duration = Duration::from_secs(10);

fn hello_config(listen: &str, admin: &str, backend: &str, greeting: &str, extra: &str) -> String {
    format!(
        r#"default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
[[plugins]]
path = "{hello}"
config = {{ greeting = "{greeting}" }}
{extra}
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
"#,
        hello = arg(&library("hookgate_plugin_hello")),
    )
}

fn reload(admin: std::net::SocketAddr) {
    let reply = http1_send(admin, &Req::new("POST", "localhost", "/reload")).expect("reload");
    assert_eq!(reply.status, 200, "{}", reply.text());
}

fn sighup(proxy: &Proxy) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &proxy.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits until `path`'s text contains `needle` (the proxy logs "configuration
/// reloaded").
fn wait_for_text(what: &str, mut text: impl FnMut() -> String, needle: &str) {
    let deadline = Instant::now() + BOUND;
    loop {
        if text().contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what} within {BOUND:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Requests that start after a reload run on the new configuration, on connections
/// opened before it (HTTP/1.1 keep-alive and HTTP/2): today they kept the old one.
/// SIGHUP reloads too (today it killed the process).
#[test]
fn a_reload_reaches_connections_opened_before_it_and_sighup_reloads() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hookgate.toml");
    let (listen, admin) = (free_addr(), free_addr());
    let write = |greeting: &str| {
        fs::write(
            &file,
            hello_config(
                &listen.to_string(),
                &admin.to_string(),
                &backend.addr_string(),
                greeting,
                "",
            ),
        )
        .expect("write config")
    };
    write("hello");
    let proxy = Proxy::start(&["--config", arg(&file)]);
    let mut h1 = Conn::http1(listen).expect("connect");
    let h2 = H2c::connect(listen);
    let greeting = |response: hookgate_tests::Response| response.text();
    assert_eq!(
        greeting(h1.get("w", "/hello").expect("h1")),
        "hello from hookgate\n"
    );
    assert_eq!(
        greeting(h2.send(&Req::get("w", "/hello")).expect("h2")),
        "hello from hookgate\n"
    );

    write("bonjour");
    reload(admin);
    assert_eq!(
        greeting(h1.get("w", "/hello").expect("h1")),
        "bonjour from hookgate\n"
    );
    assert_eq!(
        greeting(h2.send(&Req::get("w", "/hello")).expect("h2")),
        "bonjour from hookgate\n"
    );

    write("hola");
    sighup(&proxy);
    wait_for_text("SIGHUP reload", || proxy.stderr_text(), "SIGHUP: reloading");
    let deadline = Instant::now() + BOUND;
    loop {
        let text = greeting(h1.get("w", "/hello").expect("h1 after SIGHUP"));
        if text == "hola from hookgate\n" {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(proxy.stderr_text().contains("configuration reloaded"));
}

/// A connection's Accept and Finish run with the chains of the configuration that
/// accepted it: an instance a reload removed still sees Finish of its connections,
/// exactly once; the connection's later requests run the new chains.
#[test]
fn finish_runs_once_with_the_chains_that_accepted_the_connection() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let probe = Probe::new(dir.path(), "OLD", "");
    let file = dir.path().join("hookgate.toml");
    let (listen, admin) = (free_addr(), free_addr());
    let with_probe = format!(
        "[[plugins]]\npath = {:?}\nconfig = {:?}\n",
        arg(&Probe::library()),
        arg(probe.config_path()),
    );
    let write = |extra: &str| {
        fs::write(
            &file,
            hello_config(
                &listen.to_string(),
                &admin.to_string(),
                &backend.addr_string(),
                "hello",
                extra,
            ),
        )
        .expect("write config")
    };
    write(&with_probe);
    let proxy = Proxy::start(&["--config", arg(&file)]);
    let mut conn = Conn::http1(listen).expect("connect");
    assert_eq!(conn.get("w", "/before").expect("before").status, 200);
    write("");
    reload(admin);
    assert_eq!(conn.get("w", "/after").expect("after").status, 200);
    drop(conn);
    proxy.wait_connections_closed(BOUND);
    let events = read_events(probe.log_path());
    let count = |point: &str, path: Option<&str>| {
        events
            .iter()
            .filter(|e| e.is("OLD", point) && path.is_none_or(|p| e.path() == p))
            .count()
    };
    assert_eq!(count("accept", None), 1);
    assert_eq!(
        count("finish", None),
        1,
        "Finish once, by the removed instance"
    );
    assert_eq!(count("before_location", Some("/before")), 1);
    assert_eq!(
        count("before_location", Some("/after")),
        0,
        "the request after the reload ran the new chains"
    );
}

/// The exact sequence that failed: a connection opened before a reload, whose
/// backend then dies and comes back, got 503 for as long as it stayed open (the old
/// configuration's checkers were stopped). Health now lives outside configurations.
#[test]
fn backend_health_seen_after_a_reload_reaches_older_connections() {
    let switch = SwitchBackend::start("s", "/healthz");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hookgate.toml");
    let (listen, admin) = (free_addr(), free_addr());
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
health_check = {{ path = "/healthz", interval_ms = 100, unhealthy_after = 1, healthy_after = 1 }}
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
"#,
            backend = switch.addr(),
        ),
    )
    .expect("write config");
    let _proxy = Proxy::start(&["--config", arg(&file)]);
    let mut old = Conn::http1(listen).expect("connect");
    assert_eq!(old.get("w", "/one").expect("one").status, 200);
    reload(admin);
    let status_of_new = || http1_get(listen, "w", "/probe", &[]).status;

    switch.set_healthy(false);
    wait_until("the backend marked down", BOUND, || status_of_new() == 503);
    switch.set_healthy(true);
    wait_until("the backend back up", BOUND, || status_of_new() == 200);
    let response = old.get("w", "/two").expect("two");
    assert_eq!(response.status, 200, "{}", response.text());
}

/// `/metrics` counters never go back on reload (`hookgate_plugin_errors_total`
/// reset to 0), the handler accounting neither.
#[test]
fn plugin_error_counters_survive_a_reload() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let faulty_config = dir.path().join("faulty.toml");
    fs::write(&faulty_config, "handlers").expect("write");
    let file = dir.path().join("hookgate.toml");
    let (listen, admin) = (free_addr(), free_addr());
    fs::write(
        &file,
        hello_config(
            &listen.to_string(),
            &admin.to_string(),
            &backend.addr_string(),
            "hello",
            &format!(
                "[[plugins]]\npath = {:?}\nconfig = {:?}\non_error = \"fail-open\"\n",
                arg(&library("hookgate_fixture_faulty")),
                arg(&faulty_config),
            ),
        ),
    )
    .expect("write config");
    let _proxy = Proxy::start(&["--config", arg(&file)]);
    for _ in 0..2 {
        assert_eq!(http1_get(listen, "w", "/panic", &[]).status, 200);
    }
    let errors = || {
        http1_get(admin, "localhost", "/metrics", &[])
            .text()
            .lines()
            .find(|l| {
                l.starts_with("hookgate_plugin_errors_total{plugin=\"hookgate-fixture-faulty\"}")
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
    };
    let calls = || {
        hookgate_tests::proxy::metric(
            &http1_get(admin, "localhost", "/metrics", &[]).text(),
            "hookgate_plugin_handler_calls_total{plugin=\"hookgate-fixture-faulty\",point=\"before_location\"}",
        )
    };
    assert_eq!(errors(), Some(2));
    assert_eq!(calls(), Some(2.0));
    reload(admin);
    assert_eq!(errors(), Some(2), "the counter did not go back");
    assert_eq!(calls(), Some(2.0), "the handler calls did not go back");
    assert_eq!(http1_get(listen, "w", "/panic", &[]).status, 200);
    assert_eq!(errors(), Some(3));
    assert_eq!(calls(), Some(3.0));
}
