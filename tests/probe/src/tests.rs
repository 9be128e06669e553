//! The probe through the SDK's fake host: config parsing, each action at each handler
//! type, the filters, and the event log.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use hookgate_plugin_api::testing::{FakeRequest, FakeResponse, FakeSession, TestPlugin};
use hookgate_plugin_api::{Action, Outcome, Point, Redirect, Reply, ResponseOutcome};

use super::*;

fn probe(config: &str) -> TestPlugin {
    match TestPlugin::init(init, config) {
        Ok(p) => p,
        Err(e) => panic!("init failed: {e}"),
    }
}

fn init_error(config: &str) -> String {
    match TestPlugin::init(init, config) {
        Ok(_) => panic!("init accepted {config:?}"),
        Err(e) => e,
    }
}

/// A log file path in a fresh directory under the system temp dir; removed on drop.
struct Log(PathBuf);

impl Log {
    fn new() -> Log {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hookgate-probe-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Log(dir.join("events.log"))
    }

    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.0)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn registers_at_every_point() {
    let p = probe("");
    for point in Point::ALL {
        assert_eq!(p.handler_count(point), 1, "{point}");
    }
}

#[test]
fn config_parses_rules() {
    let config = parse(
        r#"
name = "A"
log = "/tmp/events.log"
[[rule]]
point = "found_product"
action = "response"
path = "/deny"
header = { name = "x-probe", value = "1" }
status = 403
body = "no"
[[rule]]
point = "read_response"
action = "redirect"
redirect = "/elsewhere"
code = 301
want_body = "skip"
"#,
    )
    .unwrap();
    assert_eq!(config.name, "A");
    assert_eq!(config.log, Some(PathBuf::from("/tmp/events.log")));
    assert_eq!(
        config.rules,
        [
            Rule {
                point: Point::FoundProduct,
                act: Act::Response,
                path: Some("/deny".into()),
                header: Some(HeaderMatch {
                    name: "x-probe".into(),
                    value: Some("1".into())
                }),
                status: Some(403),
                body: Some("no".into()),
                redirect: None,
                code: 0,
                want_body: None,
                while_file: None,
                sleep_ms: None,
            },
            Rule {
                point: Point::ReadResponse,
                act: Act::Redirect,
                path: None,
                header: None,
                status: None,
                body: None,
                redirect: Some("/elsewhere".into()),
                code: 301,
                want_body: Some(WantBody::Skip),
                while_file: None,
                sleep_ms: None,
            },
        ]
    );
    let defaults = parse("").unwrap();
    assert_eq!(defaults.name, "probe");
    assert_eq!(defaults.log, None);
    assert!(defaults.rules.is_empty());
}

#[test]
fn config_errors_name_the_rule_and_key() {
    let err = init_error("nmae = \"A\"");
    assert!(err.starts_with("probe config: "), "{err}");
    assert!(err.contains("unknown field `nmae`"), "{err}");

    let err = init_error("[[rule]]\npoint = \"forwrd\"\naction = \"close\"");
    assert!(err.starts_with("probe config: rule 1: `point`: "), "{err}");
    assert!(err.contains("unknown callback point `forwrd`"), "{err}");

    let err = init_error("[[rule]]\npoint = \"forward\"\naction = \"explode\"");
    assert!(err.contains("explode"), "{err}");
    assert!(err.contains("go_on"), "{err}");

    let text = "[[rule]]\npoint = \"forward\"\naction = \"close\"\n\
                [[rule]]\npoint = \"accept\"\naction = \"close\"\npath = \"/x\"";
    let err = init_error(text);
    assert_eq!(
        err,
        "probe config: rule 2: `path` and `header` apply to request points, not to accept"
    );

    let err = init_error("name = \"two words\"");
    assert!(err.contains("`name`"), "{err}");
}

#[test]
fn session_points_return_the_configured_action() {
    let p = probe(
        r#"
[[rule]]
point = "accept"
action = "close"
[[rule]]
point = "handshake"
action = "response"
[[rule]]
point = "finish"
action = "finish"
"#,
    );
    assert_eq!(p.accept(&mut FakeSession::new()), Ok(Action::Close));
    assert_eq!(
        p.handshake(&mut FakeSession::new().tls("a")),
        Ok(Action::Response)
    );
    assert_eq!(p.finish(&mut FakeSession::new()), Ok(Action::Finish));
    // No rule: go on.
    let p = probe("");
    assert_eq!(p.accept(&mut FakeSession::new()), Ok(Action::GoOn));
}

#[test]
fn request_points_return_each_outcome() {
    let p = probe(
        r#"
[[rule]]
point = "before_location"
action = "response"
path = "/respond"
status = 403
body = "denied"
[[rule]]
point = "before_location"
action = "response"
path = "/respond-default"
[[rule]]
point = "found_product"
action = "redirect"
path = "/moved"
redirect = "/elsewhere"
code = 301
[[rule]]
point = "found_product"
action = "redirect"
path = "/redirect-without-url"
[[rule]]
point = "after_location"
action = "finish"
path = "/finish"
[[rule]]
point = "after_location"
action = "finish"
path = "/finish-429"
status = 429
[[rule]]
point = "after_location"
action = "close"
path = "/close"
"#,
    );
    assert_eq!(
        p.before_location(&mut FakeRequest::get("/respond")),
        Ok(Outcome::Respond(Reply::new(403).body("denied")))
    );
    assert_eq!(
        p.before_location(&mut FakeRequest::get("/respond-default")),
        Ok(Outcome::Respond(Reply::new(200)))
    );
    assert_eq!(
        p.before_location(&mut FakeRequest::get("/other")),
        Ok(Outcome::GoOn)
    );

    let mut req = FakeRequest::get("/moved");
    let elsewhere = hookgate_plugin_api::Redirect::to("/elsewhere").status(301);
    assert_eq!(p.found_product(&mut req), Ok(Outcome::Redirect(elsewhere)));
    assert_eq!(req.redirect_url(), Some("/elsewhere"));
    assert_eq!(req.redirect_code(), 301);
    // A plugin error, on the fake host as in the proxy (the same settlement).
    let mut req = FakeRequest::get("/redirect-without-url");
    assert_eq!(
        p.found_product(&mut req),
        Err("returned Redirect without setting a redirect URL".to_owned())
    );
    assert_eq!(req.redirect_url(), None);

    assert_eq!(
        p.after_location(&mut FakeRequest::get("/finish")),
        Ok(Outcome::Finish(None))
    );
    assert_eq!(
        p.after_location(&mut FakeRequest::get("/finish-429")),
        Ok(Outcome::Finish(Some(Reply::new(429))))
    );
    assert_eq!(
        p.after_location(&mut FakeRequest::get("/close")),
        Ok(Outcome::Close)
    );
}

#[test]
fn header_filter_matches_value_or_presence() {
    let p = probe(
        r#"
[[rule]]
point = "before_location"
action = "close"
header = { name = "X-Probe", value = "close" }
[[rule]]
point = "before_location"
action = "finish"
header = { name = "x-any" }
"#,
    );
    let close = FakeRequest::get("/").header("x-probe", "close");
    assert_eq!(p.before_location(&mut close.clone()), Ok(Outcome::Close));
    let other = FakeRequest::get("/").header("x-probe", "other");
    assert_eq!(p.before_location(&mut other.clone()), Ok(Outcome::GoOn));
    let any = FakeRequest::get("/").header("x-any", "");
    assert_eq!(
        p.before_location(&mut any.clone()),
        Ok(Outcome::Finish(None))
    );
}

#[test]
fn forward_and_response_points_return_actions() {
    let p = probe(
        r#"
[[rule]]
point = "forward"
action = "finish"
path = "/f"
[[rule]]
point = "read_response"
action = "redirect"
path = "/r"
redirect = "https://example.com/"
[[rule]]
point = "request_finish"
action = "finish"
"#,
    );
    assert_eq!(p.forward(&mut FakeRequest::get("/f")), Ok(Action::Finish));
    assert_eq!(p.forward(&mut FakeRequest::get("/g")), Ok(Action::GoOn));

    let mut req = FakeRequest::get("/r");
    let mut resp = FakeResponse::new(200);
    assert_eq!(
        p.read_response(&mut req, &mut resp),
        Ok(ResponseOutcome::Redirect(Redirect::to(
            "https://example.com/"
        )))
    );
    assert_eq!(req.redirect_url(), Some("https://example.com/"));
    assert_eq!(resp.header_value("x-probe-seen"), Some("probe"));

    assert_eq!(
        p.request_finish(&mut FakeRequest::get("/"), None),
        Ok(Action::Finish)
    );
}

#[test]
fn panic_action_panics_in_the_handler() {
    let p = probe(
        r#"
name = "P"
[[rule]]
point = "forward"
action = "panic"
[[rule]]
point = "accept"
action = "panic"
"#,
    );
    assert_eq!(
        p.forward(&mut FakeRequest::get("/")),
        Err("panicked: probe P: panic at forward".to_owned())
    );
    assert_eq!(
        p.accept(&mut FakeSession::new()),
        Err("panicked: probe P: panic at accept".to_owned())
    );
}

#[test]
fn every_callback_is_recorded() {
    let log = Log::new();
    let config = format!(
        "name = \"A\"\nlog = {:?}\n[[rule]]\npoint = \"found_product\"\naction = \"response\"\nstatus = 403\n",
        log.0.display().to_string()
    );
    let p = probe(&config);
    let remote = "10.1.2.3:4000".parse().unwrap();
    let mut session = FakeSession::new().id(7).remote_addr(remote);
    p.accept(&mut session).unwrap();
    let mut tls = FakeSession::new().id(8).tls("shop.example.com").alpn("h2");
    p.handshake(&mut tls).unwrap();
    let mut req = FakeRequest::get("/a?q=1")
        .header("host", "shop")
        .session(FakeSession::new().id(7))
        .product("shop")
        .cluster("web")
        .backend("main", "127.0.0.1:9000")
        .error_code("connect_failed");
    p.before_location(&mut req).unwrap();
    p.found_product(&mut req).unwrap();
    p.forward(&mut req).unwrap();
    p.read_response(&mut req, &mut FakeResponse::new(502))
        .unwrap();
    p.request_finish(&mut req, None).unwrap();
    p.finish(&mut session.request_count(1)).unwrap();

    let route = "session=7 method=GET host=shop product=shop cluster=web subcluster=main \
                 backend=127.0.0.1:9000 error=connect_failed";
    assert_eq!(
        log.lines(),
        [
            "A accept 7 remote=10.1.2.3:4000 tls=false action=go_on".to_owned(),
            "A handshake 8 sni=shop.example.com alpn=h2 version=TLSv1.3 action=go_on".to_owned(),
            format!("A before_location /a {route} action=go_on"),
            format!("A found_product /a {route} action=response"),
            format!("A forward /a {route} action=go_on"),
            format!("A read_response /a {route} status=502 action=go_on"),
            format!("A request_finish /a {route} status=none action=go_on"),
            "A finish 7 requests=1 action=go_on".to_owned(),
        ]
    );
}

#[test]
fn record_line_format() {
    let line = record::Line::new("A", "accept", "")
        .field("empty", "")
        .field("spaced", "a b\tc");
    assert_eq!(line.text(), "A accept - empty=- spaced=a_b_c");
}

#[test]
fn points_limit_the_handlers_and_while_file_and_sleep_ms_shape_a_rule() {
    let dir = std::env::temp_dir().join(format!("probe-while-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken");
    let _ = std::fs::remove_file(&broken);
    let config = format!(
        "points = [\"found_product\"]\n\
         [[rule]]\npoint = \"found_product\"\naction = \"response\"\nstatus = 503\n\
         while_file = {:?}\nsleep_ms = 30\n",
        broken.display().to_string()
    );
    let p = probe(&config);
    let total: usize = Point::ALL.iter().map(|&point| p.handler_count(point)).sum();
    assert_eq!((p.handler_count(Point::FoundProduct), total), (1, 1));
    let mut req = FakeRequest::get("/");
    assert_eq!(p.found_product(&mut req), Ok(Outcome::GoOn));
    std::fs::write(&broken, "").unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        p.found_product(&mut req),
        Ok(Outcome::Respond(Reply::new(503)))
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(30));
    std::fs::remove_file(&broken).unwrap();
    assert_eq!(p.found_product(&mut req), Ok(Outcome::GoOn));
    assert!(init_error("points = [\"nowhere\"]").contains("`points`"));
    let _ = std::fs::remove_dir_all(&dir);
}
