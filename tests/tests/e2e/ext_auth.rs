//! Callouts through the host (issue 19 §1, §3), end to end: the ext-auth example
//! plugin asks a real HTTP auth service (a test backend) about each request while the
//! request waits; allowed requests reach the application with the headers the service
//! gave, denied ones get the service's 401, and a service that is down or slow is the
//! instance's error policy (fail-closed 500, fail-open on).

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use std::cell::RefCell;

use hookgate_tests::{
    arg, free_addr, http1_send, library, wait_until, Backend, Behaviour, Proxy, Req,
};

thread_local! {
    /// The `callouts = { … }` line of the next [`start`] on this thread, if any.
    static LIMITS: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The proxy: every request to `app`, the ext-auth plugin asking the cluster `auth`
/// at `auth` with `settings` (extra plugin config lines) and `on_error`.
fn start(
    dir: &Path,
    app: &Backend,
    auth: SocketAddr,
    settings: &str,
    on_error: &str,
) -> (Proxy, SocketAddr) {
    let listen = free_addr();
    let plugin_config = dir.join("ext-auth.toml");
    let config = format!(
        "target = \"cluster:auth\"\npath = \"/check\"\nforward = [\"authorization\", \"x-backend-status\"]\ncopy = [\"x-user\"]\n{settings}\n"
    );
    fs::write(&plugin_config, config).expect("write the plugin config");
    let text = format!(
        r#"default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
[[plugins]]
path = {plugin:?}
config = {plugin_config:?}
on_error = "{on_error}"
{limits}
[products.web]
routes = [{{ cluster = "app" }}]
[clusters.app.subclusters.main]
weight = 1
backends = [{{ addr = "{app}" }}]
[clusters.auth]
retries = 0
max_fails = 0
[clusters.auth.subclusters.main]
weight = 1
backends = [{{ addr = "{auth}" }}]
"#,
        plugin = arg(&library("hookgate_plugin_ext_auth")),
        limits = LIMITS.with(|l| l.borrow().clone()),
        admin = free_addr(),
        plugin_config = arg(&plugin_config),
        app = app.addr(),
    );
    let path = dir.join("hookgate.toml");
    fs::write(&path, text).expect("write the config");
    (Proxy::start(&["--config", arg(&path)]), listen)
}

fn auth_service() -> Backend {
    Backend::start(
        Behaviour::echo("auth")
            .header("x-user", "ada")
            .header("www-authenticate", "Bearer realm=\"shop\""),
    )
}

fn get(status: &str) -> Req {
    Req::get("shop.example", "/orders?page=2")
        .header("authorization", "Bearer abc")
        .header("x-backend-status", status)
        .header("x-user", "forged")
}

#[test]
fn allowed_requests_go_on_with_the_services_headers_and_denied_ones_get_its_401() {
    let (app, auth) = (Backend::echo("app"), auth_service());
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, listen) = start(dir.path(), &app, auth.addr(), "", "fail-closed");

    let allowed = http1_send(listen, &get("200")).expect("answered");
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    let echo = allowed.echo();
    assert_eq!(echo.backend, "app");
    assert_eq!(
        echo.header("x-user"),
        Some("ada"),
        "the service's, not the client's"
    );
    let asked = auth.seen();
    let asked = asked.last().expect("the auth service was asked");
    assert_eq!(asked.uri, "/check");
    assert_eq!(asked.header("authorization"), Some("Bearer abc"));
    assert_eq!(asked.header("x-original-uri"), Some("/orders?page=2"));
    assert_eq!(asked.header("x-original-method"), Some("GET"));

    let denied = http1_send(listen, &get("401")).expect("answered");
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.header("www-authenticate"),
        Some("Bearer realm=\"shop\"")
    );
    assert_eq!(
        app.requests(),
        1,
        "a denied request never reaches the application"
    );
    assert_eq!(auth.requests(), 2);
    let callouts = |outcome: &str| {
        let labels = format!("plugin=\"hookgate-plugin-ext-auth\",outcome=\"{outcome}\"");
        proxy.metric(&format!("hookgate_plugin_callouts_total{{{labels}}}"))
    };
    assert_eq!(callouts("answered"), Some(2.0));
    assert_eq!(callouts("timeout"), Some(0.0));
}

#[test]
fn a_service_that_is_down_or_slow_is_the_instances_error_policy() {
    let app = Backend::echo("app");
    let closed = free_addr();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_closed_proxy, listen) = start(dir.path(), &app, closed, "", "fail-closed");
    let down = http1_send(listen, &get("200")).expect("answered");
    assert_eq!(down.status, 500, "fail-closed: {}", down.text());
    assert_eq!(app.requests(), 0);

    let dir = tempfile::tempdir().expect("temp dir");
    let (_open_proxy, listen) = start(dir.path(), &app, closed, "", "fail-open");
    let open = http1_send(listen, &get("200")).expect("answered");
    assert_eq!(open.status, 200, "fail-open: {}", open.text());
    assert_eq!(
        open.echo().header("x-user"),
        Some("forged"),
        "unauthenticated: as sent"
    );

    let slow = Backend::start(Behaviour::echo("slow").delay(Duration::from_secs(5)));
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, listen) = start(
        dir.path(),
        &app,
        slow.addr(),
        "timeout_ms = 200",
        "fail-closed",
    );
    fails_closed_on_timeout(&proxy, listen, Duration::from_secs(4));
}

/// A request whose auth callout times out: 500 (fail-closed) within `within`, the
/// timeout logged.
fn fails_closed_on_timeout(proxy: &Proxy, listen: SocketAddr, within: Duration) {
    let started = std::time::Instant::now();
    let timed_out = http1_send(listen, &get("200")).expect("answered");
    assert_eq!(timed_out.status, 500);
    assert!(started.elapsed() < within, "{:?}", started.elapsed());
    assert!(
        proxy.stderr_text().contains("auth service: timeout"),
        "{}",
        proxy.stderr_text()
    );
}

/// `[[plugins]] callouts`: the instance's concurrent callouts are capped (a wait over
/// the cap fails the handler: fail-closed 500), and so is each callout's time (the
/// plugin asks for 5 s, the instance allows 300 ms).
#[test]
fn the_instances_callout_limits_hold() {
    let app = Backend::echo("app");
    let slow = Backend::start(Behaviour::echo("slow").delay(Duration::from_millis(1500)));
    let dir = tempfile::tempdir().expect("temp dir");
    LIMITS.with(|l| *l.borrow_mut() = "callouts = { concurrent = 1, timeout_ms = 3000 }".into());
    let (proxy, listen) = start(
        dir.path(),
        &app,
        slow.addr(),
        "timeout_ms = 5000",
        "fail-closed",
    );
    let first = std::thread::spawn(move || http1_send(listen, &get("200")));
    wait_until(
        "the first request's callout is in flight at the auth service",
        Duration::from_secs(10),
        || slow.requests() > 0,
    );
    let second = http1_send(listen, &get("200")).expect("answered");
    assert_eq!(
        second.status, 500,
        "over the instance's one callout in flight"
    );
    assert!(
        proxy.stderr_text().contains("callouts in flight already"),
        "{}",
        proxy.stderr_text()
    );
    let first = first.join().expect("first thread").expect("answered");
    assert_eq!(first.status, 200, "{}", first.text());
    let labels = "plugin=\"hookgate-plugin-ext-auth\",outcome=\"refused\"";
    let refused = proxy.metric(&format!("hookgate_plugin_callouts_total{{{labels}}}"));
    assert_eq!(refused, Some(1.0));
    drop(proxy);

    let dir = tempfile::tempdir().expect("temp dir");
    LIMITS.with(|l| *l.borrow_mut() = "callouts = { timeout_ms = 300 }".into());
    let (proxy, listen) = start(
        dir.path(),
        &app,
        slow.addr(),
        "timeout_ms = 5000",
        "fail-closed",
    );
    fails_closed_on_timeout(&proxy, listen, Duration::from_millis(1400));
}

/// A client that goes away while its request waits on a callout: the request ends
/// there (the application never sees it) and RequestFinish still runs (the access
/// log's line says `client_closed`).
#[test]
fn a_client_that_goes_away_while_waiting_ends_the_request_and_request_finish_runs() {
    use std::io::Write;
    let app = Backend::echo("app");
    let slow = Backend::start(Behaviour::echo("slow").delay(Duration::from_secs(3)));
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("access.log");
    let access_log = format!(
        "\n[[plugins]]\npath = {:?}\nconfig = {{ path = {:?}, flush_interval_ms = 20 }}\n",
        arg(&library("hookgate_plugin_access_log")),
        arg(&log),
    );
    LIMITS.with(|l| *l.borrow_mut() = access_log);
    let (_proxy, listen) = start(dir.path(), &app, slow.addr(), "", "fail-closed");
    let mut client = std::net::TcpStream::connect(listen).expect("connect");
    client
        .write_all(b"GET /gone HTTP/1.1\r\nHost: shop.example\r\n\r\n")
        .expect("send");
    // The request now waits on its callout: the auth service has it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while slow.requests() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the callout never came"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(client);
    let line = loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("/gone")) {
            break line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no access log line:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(line.contains("error=\"client_closed\""), "{line}");
    assert_eq!(app.requests(), 0);
}
