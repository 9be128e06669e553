//! Per-instance accounting, circuit breakers and the slow-handler watch, end to end:
//! the demo chain's figures on `/metrics` and `/status`; a breaker that opens on a
//! plugin that starts panicking, bypasses it, half-opens and closes when it recovers
//! (and opens again when a probe fails; skips the plugin under fail-open; never counts
//! a rejection); a slow handler logged with its instance and point, and counted.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use hookgate_tests::{
    arg, free_addr, http1_get, library, read_events, workspace_root, Backend, Probe, Proxy,
};

const BOUND: Duration = Duration::from_secs(10);

/// The demo chain of `bench/demo-chain.toml.in` (the demo's eleven plugins, in its
/// order), with the libraries of this build and an admin listener.
fn demo_chain(listen: &str, admin: &str, backend: &str, run: &Path) -> String {
    let template = fs::read_to_string(workspace_root().join("bench/demo-chain.toml.in"))
        .expect("read bench/demo-chain.toml.in");
    let mut text = String::new();
    for line in template.lines() {
        let line = match line.split_once("\"@ROOT@/target/release/lib") {
            Some((before, rest)) => {
                let (crate_name, after) = rest.split_once(".so\"").expect("a library path");
                format!("{before}{:?}{after}", arg(&library(crate_name)))
            }
            None => line.to_owned(),
        };
        let line = line
            .replace("@ROOT@", arg(&workspace_root()))
            .replace("@BACKEND@", backend)
            .replace("@RUN@", arg(run))
            .replace(
                "listen = [\"@LISTEN@\"]",
                &format!("listen = [\"{listen}\"]\nadmin = \"{admin}\""),
            );
        text.push_str(&line);
        text.push('\n');
    }
    text
}

fn series(name: &str, plugin: &str, point: &str) -> String {
    format!("hookgate_plugin_handler_{name}{{plugin=\"{plugin}\",point=\"{point}\"}}")
}

fn outcome(plugin: &str, point: &str, outcome: &str) -> String {
    format!(
        "hookgate_plugin_handler_outcomes_total{{plugin=\"{plugin}\",point=\"{point}\",outcome=\"{outcome}\"}}"
    )
}

#[test]
fn the_demo_chain_is_accounted_per_instance_and_point() {
    let backend = Backend::echo("b");
    let dir = tempfile::tempdir().expect("temp dir");
    let (listen, admin) = (free_addr(), free_addr());
    let file = dir.path().join("demo.toml");
    fs::write(
        &file,
        demo_chain(
            &listen.to_string(),
            &admin.to_string(),
            &backend.addr_string(),
            dir.path(),
        ),
    )
    .expect("write config");
    let proxy = Proxy::start(&["--config", arg(&file)]);
    for _ in 0..10 {
        assert_eq!(http1_get(listen, "demo", "/", &[]).status, 200);
    }
    assert_eq!(http1_get(listen, "demo", "/.git/config", &[]).status, 403);
    assert_eq!(http1_get(listen, "demo", "/old", &[]).status, 301);
    proxy.wait_connections_closed(BOUND);
    let calls = |plugin: &str, point: &str| proxy.metric(&series("calls_total", plugin, point));

    // RequestFinish runs after the response: wait for the last one.
    let finished = series(
        "calls_total",
        "hookgate-plugin-access-log",
        "request_finish",
    );
    proxy.wait_metric(&finished, BOUND, |v| v == 12.0);
    for plugin in [
        "hookgate-plugin-access-log",
        "hookgate-plugin-request-id",
        "hookgate-plugin-hello",
    ] {
        assert_eq!(calls(plugin, "before_location"), Some(12.0), "{plugin}");
    }
    // FoundProduct: block answers /.git/config, so the handlers after it see 11
    // requests; redirect answers /old, so those after it see 10.
    let block = "hookgate-plugin-block";
    assert_eq!(calls(block, "found_product"), Some(12.0));
    assert_eq!(
        proxy.metric(&outcome(block, "found_product", "response")),
        Some(1.0)
    );
    assert_eq!(
        proxy.metric(&outcome(block, "found_product", "go_on")),
        Some(11.0)
    );
    let redirect = "hookgate-plugin-redirect";
    assert_eq!(calls(redirect, "found_product"), Some(11.0));
    assert_eq!(
        proxy.metric(&outcome(redirect, "found_product", "redirect")),
        Some(1.0)
    );
    for plugin in [
        "hookgate-plugin-auth-basic",
        "hookgate-plugin-body-check",
        "hookgate-plugin-static",
        "hookgate-plugin-cors",
    ] {
        assert_eq!(calls(plugin, "found_product"), Some(10.0), "{plugin}");
    }
    // ReadResponse runs on block's response too, not on a redirect (DESIGN §2.3).
    for plugin in [
        "hookgate-plugin-cors",
        "hookgate-plugin-header",
        "hookgate-plugin-hello",
    ] {
        assert_eq!(calls(plugin, "read_response"), Some(11.0), "{plugin}");
    }

    let metrics = proxy.admin_text("/metrics");
    let failures: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("hookgate_plugin_handler_failures_total{"))
        .filter(|l| !l.ends_with(" 0"))
        .collect();
    assert!(failures.is_empty(), "failures: {failures:?}");
    // Timed calls are a sample: never more than the calls.
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("hookgate_plugin_handler_timed_total{") else {
            continue;
        };
        let (labels, timed) = rest.rsplit_once(' ').expect("a value");
        let made = proxy
            .metric(&format!("hookgate_plugin_handler_calls_total{{{labels}"))
            .expect("calls beside timed");
        assert!(timed.parse::<f64>().expect("a number") <= made, "{line}");
    }

    let status = proxy.admin_text("/status");
    assert!(
        status.contains(
            "  hookgate-plugin-block found_product: calls=12 finish=0 go_on=11 redirect=0 \
             response=1 close=0 failures=0 bypassed=0 slow=0"
        ),
        "{status}"
    );
}

/// A proxy in front of an echo backend, and the probe it runs.
struct Setup {
    proxy: Proxy,
    probe: Probe,
    listen: std::net::SocketAddr,
    _backend: Backend,
}

/// A probe named `p` registered at FoundProduct only, panicking there while
/// `<dir>/broken` exists, with a breaker that opens at 2 failures of 4 calls and a
/// 500 ms cool-down.
fn breaking_probe(dir: &Path, policy: &str) -> Setup {
    let rule = format!(
        "[[rule]]\npoint = \"found_product\"\naction = \"panic\"\nwhile_file = {:?}\n",
        arg(&dir.join("broken"))
    );
    probe_with_breaker(dir, policy, &rule)
}

/// A probe named `p` with `rules`, registered at FoundProduct only, under a breaker
/// that opens at 2 failures of 4 calls, with a 500 ms cool-down.
fn probe_with_breaker(dir: &Path, policy: &str, rules: &str) -> Setup {
    let probe = Probe::new(dir, "p", &format!("points = [\"found_product\"]\n{rules}"));
    let backend = Backend::echo("b");
    let (listen, admin) = (free_addr(), free_addr());
    let file = dir.join("hookgate.toml");
    fs::write(
        &file,
        format!(
            r#"default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
[[plugins]]
name = "p"
path = {path:?}
config = {config:?}
on_error = "{policy}"
breaker = {{ error_ratio = 0.5, window_ms = 10000, min_calls = 4, cooldown_ms = 500, probe_calls = 2 }}
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
"#,
            path = arg(&Probe::library()),
            config = arg(probe.config_path()),
            backend = backend.addr_string(),
        ),
    )
    .expect("write config");
    Setup {
        proxy: Proxy::start(&["--config", arg(&file)]),
        probe,
        listen,
        _backend: backend,
    }
}

fn state(proxy: &Proxy, state: &str) -> Option<f64> {
    proxy.metric(&format!(
        "hookgate_plugin_breaker_state{{plugin=\"p\",state=\"{state}\"}}"
    ))
}

fn get(listen: std::net::SocketAddr) -> u16 {
    http1_get(listen, "w", "/", &[]).status
}

/// Sends requests until one gets `status` (the cool-down is real time), at most
/// `BOUND`.
fn get_until(listen: std::net::SocketAddr, status: u16) {
    let deadline = Instant::now() + BOUND;
    while get(listen) != status {
        assert!(Instant::now() < deadline, "no {status} within {BOUND:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two calls that succeed, then the plugin breaks (`<dir>/broken`): two that fail
/// (the client sees `failing`) make 2 failures of 4 calls, and the breaker opens.
fn break_until_open(proxy: &Proxy, dir: &Path, listen: std::net::SocketAddr, failing: u16) {
    assert_eq!((get(listen), get(listen)), (200, 200));
    fs::write(dir.join("broken"), "").expect("break the plugin");
    assert_eq!((get(listen), get(listen)), (failing, failing));
    assert_eq!(state(proxy, "open"), Some(1.0));
}

#[test]
fn a_breaker_opens_on_a_panicking_plugin_bypasses_it_half_opens_and_closes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Setup {
        proxy,
        probe,
        listen,
        _backend: _keep,
    } = breaking_probe(dir.path(), "fail-closed");
    break_until_open(&proxy, dir.path(), listen, 500);
    let log = proxy.stderr_text();
    assert!(
        log.contains("plugin circuit breaker open") && log.contains("plugin=p"),
        "{log}"
    );
    assert!(
        log.contains("EVERY REQUEST IT WOULD SEE IS REJECTED WITH 500"),
        "{log}"
    );

    // Open: bypassed, rejected under fail-closed, and the plugin is not called.
    let called = read_events(probe.log_path()).len();
    for _ in 0..3 {
        assert_eq!(get(listen), 500);
    }
    assert_eq!(
        read_events(probe.log_path()).len(),
        called,
        "called while open"
    );
    let bypassed = series("bypassed_total", "p", "found_product");
    assert_eq!(proxy.metric(&bypassed), Some(3.0));
    assert!(proxy.admin_text("/status").contains("  p: open for "));

    // It recovers; after the cool-down two probe calls close the breaker.
    fs::remove_file(dir.path().join("broken")).expect("mend the plugin");
    get_until(listen, 200);
    assert_eq!(get(listen), 200);
    assert_eq!(state(&proxy, "closed"), Some(1.0));
    assert_eq!(
        proxy.metric("hookgate_plugin_breaker_opened_total{plugin=\"p\"}"),
        Some(1.0)
    );
    let log = proxy.stderr_text();
    assert!(log.contains("plugin circuit breaker half-open"), "{log}");
    assert!(log.contains("plugin circuit breaker closed"), "{log}");
    // Bypassed calls are not calls: 4 before it opened, then the probes and calls
    // after the cool-down (each a recorded event).
    let made = read_events(probe.log_path()).len() as f64;
    assert_eq!(
        proxy.metric(&series("calls_total", "p", "found_product")),
        Some(made)
    );
    assert_eq!(
        proxy.metric(
            "hookgate_plugin_handler_failures_total{plugin=\"p\",point=\"found_product\",kind=\"panic\"}"
        ),
        Some(2.0)
    );
}

#[test]
fn under_fail_open_an_open_breaker_skips_the_plugin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Setup {
        proxy,
        probe,
        listen,
        _backend: _keep,
    } = breaking_probe(dir.path(), "fail-open");
    break_until_open(&proxy, dir.path(), listen, 200);
    assert!(proxy
        .stderr_text()
        .contains("fail-open: its handlers are skipped"));
    let called = read_events(probe.log_path()).len();
    for _ in 0..3 {
        assert_eq!(get(listen), 200);
    }
    assert_eq!(
        read_events(probe.log_path()).len(),
        called,
        "called while open"
    );
}

#[test]
fn a_failed_probe_opens_the_breaker_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let Setup {
        proxy,
        listen,
        _backend: _keep,
        ..
    } = breaking_probe(dir.path(), "fail-closed");
    fs::write(dir.path().join("broken"), "").expect("break the plugin");
    for _ in 0..4 {
        assert_eq!(get(listen), 500);
    }
    assert_eq!(state(&proxy, "open"), Some(1.0));
    let opened = "hookgate_plugin_breaker_opened_total{plugin=\"p\"}";
    // Still broken after the cool-down: the first probe fails and opens it again.
    proxy.wait_metric(opened, BOUND, |n| {
        get(listen);
        n >= 2.0
    });
    assert!(proxy
        .stderr_text()
        .contains("a probe call failed; open again"));
    assert_eq!(state(&proxy, "open"), Some(1.0));
}

/// A plugin that rejects every request succeeded each time: its breaker stays closed.
#[test]
fn rejections_are_not_failures() {
    let dir = tempfile::tempdir().expect("temp dir");
    let setup = probe_with_breaker(
        dir.path(),
        "fail-closed",
        "[[rule]]\npoint = \"found_product\"\naction = \"response\"\nstatus = 403\n",
    );
    for _ in 0..10 {
        assert_eq!(get(setup.listen), 403);
    }
    let proxy = &setup.proxy;
    assert_eq!(state(proxy, "closed"), Some(1.0));
    assert_eq!(
        proxy.metric(&outcome("p", "found_product", "response")),
        Some(10.0)
    );
    assert_eq!(
        proxy.metric("hookgate_plugin_breaker_opened_total{plugin=\"p\"}"),
        Some(0.0)
    );
}

#[test]
fn a_slow_handler_is_logged_with_instance_and_point_and_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let probe = Probe::new(
        dir.path(),
        "slowpoke",
        "points = [\"found_product\"]\n\
         [[rule]]\npoint = \"found_product\"\npath = \"/slow\"\naction = \"go_on\"\nsleep_ms = 1000\n",
    );
    let backend = Backend::echo("b");
    let (listen, admin) = (free_addr(), free_addr());
    let file = dir.path().join("hookgate.toml");
    fs::write(
        &file,
        format!(
            r#"default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
workers = 2
slow_handler_ms = 100
[[plugins]]
name = "slowpoke"
path = {path:?}
config = {config:?}
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
"#,
            path = arg(&Probe::library()),
            config = arg(probe.config_path()),
            backend = backend.addr_string(),
        ),
    )
    .expect("write config");
    let proxy = Proxy::start(&["--config", arg(&file)]);
    assert_eq!(http1_get(listen, "w", "/slow", &[]).status, 200);
    let slow = series("slow_total", "slowpoke", "found_product");
    proxy.wait_metric(&slow, BOUND, |n| n == 1.0);
    let line = "plugin handler is slow";
    let log = proxy.stderr_text();
    let warned: Vec<&str> = log.lines().filter(|l| l.contains(line)).collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(
        warned[0].contains("plugin=slowpoke") && warned[0].contains("point=\"found_product\""),
        "{}",
        warned[0]
    );
    // A fast request is not slow; two more slow ones are counted, not logged again
    // within 10 s.
    assert_eq!(http1_get(listen, "w", "/fast", &[]).status, 200);
    for _ in 0..2 {
        assert_eq!(http1_get(listen, "w", "/slow", &[]).status, 200);
    }
    proxy.wait_metric(&slow, BOUND, |n| n == 3.0);
    let log = proxy.stderr_text();
    assert_eq!(log.lines().filter(|l| l.contains(line)).count(), 1, "{log}");
}
