//! The SDK's own tests, through the fake host: every handler type, the views, panics.

use super::*;
use crate::{Action, Outcome, OverLimit, Point, Redirect, Registry, Reply, ResponseOutcome};

fn everything(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    if config == "fail" {
        return Err("bad config: `fail`".into());
    }
    reg.on_accept(|s| {
        if s.remote_addr().ip().is_loopback() {
            Action::Close
        } else {
            s.set_context("seen", "accept");
            Action::GoOn
        }
    });
    reg.on_handshake(|s| match s.tls_version() {
        Some("TLSv1.3") => Action::GoOn,
        _ => Action::Close,
    });
    reg.on_before_location(|req| {
        let hops = req.header_all("x-hop").count().to_string();
        req.set_header("x-hops", &hops);
        let names: Vec<String> = req.headers().map(|(n, _)| n.to_owned()).collect();
        req.set_context("names", &names.join(","));
        let seen = req.session().context("seen").unwrap_or("-").to_owned();
        req.set_context("session-seen", &seen);
        match req.path() {
            "/close" => Outcome::Close,
            "/finish" => Outcome::Finish(None),
            "/deny" => Outcome::Respond(Reply::new(403).header("x-why", "deny").body("no")),
            "/moved" => {
                Outcome::Redirect(Redirect::to("/new").status(301).header("x-redirected", "1"))
            }
            "/panic" => panic!("handler blew up"),
            _ => Outcome::GoOn,
        }
    });
    // A second handler: runs only if the first said GoOn.
    reg.on_before_location(|req| {
        req.set_context("second", "ran");
        Outcome::GoOn
    });
    reg.on_found_product(|req| {
        let product = req.product().to_owned();
        req.set_path(&format!("/{product}{}", req.path().to_owned()));
        Outcome::GoOn
    });
    reg.on_after_location(|req| {
        req.set_query(Some("q=1"));
        if req.method() == "POST" {
            let over_limit = match req.header("x-over") {
                Some("skip") => OverLimit::Skip,
                _ => OverLimit::Reject,
            };
            let offered = req.want_body(over_limit);
            req.set_context("offered", if offered { "yes" } else { "no" });
        }
        Outcome::GoOn
    });
    reg.on_request_body(|req| {
        let body = req.body().unwrap_or_default().to_vec();
        if body == b"bad" {
            return Outcome::Respond(Reply::new(400));
        }
        req.set_body(body.to_ascii_uppercase());
        Outcome::GoOn
    });
    reg.on_forward(|req| {
        if req.backend().is_empty() {
            Action::Finish
        } else {
            Action::GoOn
        }
    });
    reg.on_response_body(|_req, resp| {
        let len = resp.body().map_or(0, <[u8]>::len);
        resp.set_header("x-body-len", &len.to_string());
        ResponseOutcome::GoOn
    });
    reg.on_read_response(|req, resp| {
        resp.set_header("x-product", req.product());
        if req.context("want-response") == Some("1") {
            resp.want_body(OverLimit::Skip);
        }
        if resp.status() == 500 {
            resp.set_status(503);
            resp.set_body("later");
        }
        ResponseOutcome::GoOn
    });
    reg.on_request_finish(|req, resp| {
        let status = resp.map_or(0, |r| r.status()).to_string();
        req.set_context("logged", &status);
        Action::GoOn
    });
    reg.on_finish(|s| {
        s.set_context("finished", "yes");
        Action::GoOn
    });
    Ok(())
}

fn plugin() -> TestPlugin {
    match TestPlugin::init(everything, "") {
        Ok(p) => p,
        Err(e) => panic!("init failed: {e}"),
    }
}

#[test]
fn registers_at_each_point() {
    let p = plugin();
    let counts: Vec<usize> = Point::ALL.iter().map(|pt| p.handler_count(*pt)).collect();
    assert_eq!(counts, [1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
}

#[test]
fn body_handlers_run_only_for_a_body_asked_for_and_within_the_limit() {
    let p = plugin().body_limit(8);
    // Not asked for (a GET): no handler runs, the body stays as sent.
    let mut get = FakeRequest::get("/").body("abc");
    p.after_location(&mut get).unwrap();
    assert_eq!(p.request_body(&mut get).unwrap(), Outcome::GoOn);
    assert_eq!(get.body_bytes(), b"abc");
    // Asked for: the handler reads it and replaces it, fixing Content-Length.
    let mut post = FakeRequest::new("POST", "/").body("abc");
    p.after_location(&mut post).unwrap();
    assert_eq!(post.context("offered"), Some("yes"));
    assert_eq!(p.request_body(&mut post).unwrap(), Outcome::GoOn);
    assert_eq!(post.body_bytes(), b"ABC");
    assert_eq!(post.header_value("content-length"), Some("3"));
    let mut bad = FakeRequest::new("POST", "/").body("bad");
    p.after_location(&mut bad).unwrap();
    let refused = p.request_body(&mut bad).unwrap();
    assert!(matches!(refused, Outcome::Respond(r) if r.status() == 400));
    // Over the limit: Reject gives the proxy's 413, Skip runs nothing.
    let mut big = FakeRequest::new("POST", "/").body("123456789");
    p.after_location(&mut big).unwrap();
    let refused = p.request_body(&mut big).unwrap();
    assert!(matches!(refused, Outcome::Respond(r) if r.status() == 413));
    let mut skipped = FakeRequest::new("POST", "/")
        .header("x-over", "skip")
        .body("123456789");
    p.after_location(&mut skipped).unwrap();
    assert_eq!(p.request_body(&mut skipped).unwrap(), Outcome::GoOn);
    assert_eq!(skipped.body_bytes(), b"123456789");
    // gRPC and upgrades are never offered.
    let mut grpc = FakeRequest::new("POST", "/").header("content-type", "application/grpc");
    p.after_location(&mut grpc).unwrap();
    assert_eq!(grpc.context("offered"), Some("no"));
}

#[test]
fn response_body_handlers_see_the_body_once_asked_for() {
    let p = plugin();
    let mut req = FakeRequest::get("/").with_context("want-response", "1");
    let mut resp = FakeResponse::new(200).body("hello");
    p.read_response(&mut req, &mut resp).unwrap();
    p.response_body(&mut req, &mut resp).unwrap();
    assert_eq!(resp.header_value("x-body-len"), Some("5"));
    let mut plain = FakeRequest::get("/");
    let mut resp = FakeResponse::new(200).body("hello");
    p.read_response(&mut plain, &mut resp).unwrap();
    p.response_body(&mut plain, &mut resp).unwrap();
    assert_eq!(resp.header_value("x-body-len"), None);
    // Over the limit with Skip: nothing runs, the response is untouched.
    let small = plugin().body_limit(2);
    let mut resp = FakeResponse::new(200).body("hello");
    small.read_response(&mut req, &mut resp).unwrap();
    small.response_body(&mut req, &mut resp).unwrap();
    assert_eq!(
        (resp.status(), resp.header_value("x-body-len")),
        (200, None)
    );
}

#[test]
fn init_error_and_panic_are_reported() {
    assert_eq!(
        TestPlugin::init(everything, "fail").err().as_deref(),
        Some("bad config: `fail`")
    );
    let panicking =
        |_: &str, _: &mut Registry<'_>| -> Result<(), String> { panic!("init exploded") };
    assert_eq!(
        TestPlugin::init(panicking, "").err().as_deref(),
        Some("panicked: init exploded")
    );
}

#[test]
fn session_handlers_see_and_change_the_session() {
    let p = plugin();
    let mut local = FakeSession::new().remote_addr("127.0.0.1:1".parse().unwrap());
    assert_eq!(p.accept(&mut local), Ok(Action::Close));
    let mut remote = FakeSession::new();
    assert_eq!(p.accept(&mut remote), Ok(Action::GoOn));
    assert_eq!(remote.context("seen"), Some("accept"));
    assert_eq!(
        p.handshake(&mut FakeSession::new().tls("a")),
        Ok(Action::GoOn)
    );
    let mut old = FakeSession::new().tls("a").tls_version("TLSv1.2");
    assert_eq!(p.handshake(&mut old), Ok(Action::Close));
    assert_eq!(p.finish(&mut remote), Ok(Action::GoOn));
    assert_eq!(remote.context("finished"), Some("yes"));
}

#[test]
fn request_outcomes_cross_the_abi() {
    let p = plugin();
    let mut req = FakeRequest::get("/deny");
    let expected = Reply::new(403).header("x-why", "deny").body("no");
    assert_eq!(p.before_location(&mut req), Ok(Outcome::Respond(expected)));
    assert_eq!(
        req.context("second"),
        None,
        "chain stops at the first non-GoOn"
    );

    assert_eq!(
        p.before_location(&mut FakeRequest::get("/close")),
        Ok(Outcome::Close)
    );
    assert_eq!(
        p.before_location(&mut FakeRequest::get("/finish")),
        Ok(Outcome::Finish(None))
    );

    let mut req = FakeRequest::get("/moved");
    let moved = Redirect::to("/new").status(301).header("x-redirected", "1");
    assert_eq!(p.before_location(&mut req), Ok(Outcome::Redirect(moved)));
    assert_eq!(req.redirect_url(), Some("/new"));
    assert_eq!(req.redirect_code(), 301);
    assert_eq!(req.redirect_header("X-Redirected"), Some("1"));
}

#[test]
fn request_views_read_and_write() {
    let p = plugin();
    let session = FakeSession::new().with_context("seen", "earlier");
    let mut req = FakeRequest::get("/x")
        .header("X-Hop", "a")
        .header("x-hop", "b")
        .header("Host", "shop.example.com")
        .session(session)
        .product("shop");
    assert_eq!(p.before_location(&mut req), Ok(Outcome::GoOn));
    assert_eq!(req.header_value("x-hops"), Some("2"));
    assert_eq!(req.context("names"), Some("x-hop,x-hop,host,x-hops"));
    assert_eq!(req.context("session-seen"), Some("earlier"));
    assert_eq!(req.context("second"), Some("ran"));
    assert_eq!(p.found_product(&mut req), Ok(Outcome::GoOn));
    assert_eq!(p.after_location(&mut req), Ok(Outcome::GoOn));
    assert_eq!(req.uri(), "/shop/x?q=1");
}

#[test]
fn forward_and_response_handlers() {
    let p = plugin();
    assert_eq!(p.forward(&mut FakeRequest::get("/")), Ok(Action::Finish));
    let mut req = FakeRequest::get("/")
        .product("shop")
        .backend("bj", "10.0.0.1:80");
    assert_eq!(p.forward(&mut req), Ok(Action::GoOn));

    let mut resp = FakeResponse::new(500).body("boom");
    assert_eq!(
        p.read_response(&mut req, &mut resp),
        Ok(ResponseOutcome::GoOn)
    );
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.body_bytes(), b"later");
    assert_eq!(resp.header_value("content-length"), Some("5"));
    assert_eq!(resp.header_value("x-product"), Some("shop"));

    assert_eq!(
        p.request_finish(&mut req, Some(&mut resp)),
        Ok(Action::GoOn)
    );
    assert_eq!(req.context("logged"), Some("503"));
    assert_eq!(p.request_finish(&mut req, None), Ok(Action::GoOn));
    assert_eq!(req.context("logged"), Some("0"));
}

#[test]
fn handler_panic_becomes_an_error_not_an_abort() {
    let p = plugin();
    let result = p.before_location(&mut FakeRequest::get("/panic"));
    assert_eq!(result, Err("panicked: handler blew up".to_owned()));
    // The plugin keeps working after a panic.
    assert_eq!(
        p.before_location(&mut FakeRequest::get("/ok")),
        Ok(Outcome::GoOn)
    );
}

#[test]
fn invalid_header_writes_are_refused() {
    let bad = |_: &str, reg: &mut Registry<'_>| -> Result<(), String> {
        reg.on_before_location(|req| {
            let ok = req.set_header("bad name", "v") || req.set_header("x", "a\r\nb");
            req.set_context("accepted", if ok { "yes" } else { "no" });
            Outcome::GoOn
        });
        Ok(())
    };
    let p = TestPlugin::init(bad, "").unwrap();
    let mut req = FakeRequest::get("/");
    assert_eq!(p.before_location(&mut req), Ok(Outcome::GoOn));
    assert_eq!(req.context("accepted"), Some("no"));
}

/// The fake host settles chains with the proxy's code (`settle`): a Redirect without a
/// URL is a plugin error here too (it used to pass a unit test and be a 500 in the
/// proxy), and under fail-open it counts as GoOn, recorded as a failure.
#[test]
fn a_redirect_without_a_url_is_a_plugin_error_as_in_the_proxy() {
    use crate::{Outcome, Point, Registry, ResponseOutcome};

    fn init(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
        // An empty target sets none: the plugin error the proxy reports.
        reg.on_found_product(|_req| Outcome::Redirect(crate::Redirect::to("")));
        reg.on_read_response(|_req, _resp| ResponseOutcome::Redirect(crate::Redirect::to("")));
        Ok(())
    }
    let plugin = TestPlugin::init(init, "").unwrap();
    let err = plugin
        .found_product(&mut FakeRequest::get("/"))
        .unwrap_err();
    assert_eq!(err, "returned Redirect without setting a redirect URL");
    let err = (plugin.read_response(&mut FakeRequest::get("/"), &mut FakeResponse::new(200)))
        .unwrap_err();
    assert_eq!(err, "returned Redirect without setting a redirect URL");

    let open = TestPlugin::init(init, "").unwrap().fail_open();
    assert_eq!(
        open.found_product(&mut FakeRequest::get("/")),
        Ok(Outcome::GoOn)
    );
    let failures = open.failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, Point::FoundProduct);
}
