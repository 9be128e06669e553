//! Unit tests against the SDK's fake host.

use hmac::{Hmac, KeyInit, Mac};
use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
use hookgate_plugin_api::{Outcome, Point};
use hookgate_plugin_kit::testing::config_error;
use sha2::Sha256;

use super::init;

const CONFIG: &str = r#"
[[global.rules]]
method = "POST"
path_prefix = "/forms/"
deny = ["<script", "UNION SELECT"]

[[products.shop.rules]]
path_prefix = "/hooks/"
json = true
signature = { header = "X-Hub-Signature-256", prefix = "sha256=", secret = "s3cret" }

[[products.shop.rules]]
path_prefix = "/uploads/"
deny = ["EICAR"]
over_limit = "skip"
"#;

fn plugin() -> TestPlugin {
    match TestPlugin::exported::<crate::HookgatePlugin>(CONFIG) {
        Ok(plugin) => plugin.body_limit(64),
        Err(e) => panic!("init failed: {e}"),
    }
}

fn signed(body: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// FoundProduct then RequestBody, as the proxy runs them: the status of the reply if
/// the request is refused, 0 if it goes on.
fn status(plugin: &TestPlugin, mut req: FakeRequest) -> u16 {
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));
    match plugin.request_body(&mut req) {
        Ok(Outcome::GoOn) => 0,
        Ok(Outcome::Respond(reply)) => reply.status(),
        other => panic!("unexpected {other:?}"),
    }
}

fn post(path: &str, body: &str) -> FakeRequest {
    FakeRequest::new("POST", path).product("shop").body(body)
}

#[test]
fn no_rules_register_nothing() {
    let plugin = TestPlugin::init(init, "").unwrap();
    assert!(Point::ALL.iter().all(|p| plugin.handler_count(*p) == 0));
}

#[test]
fn denied_patterns_are_refused_whatever_their_case() {
    let p = plugin();
    assert_eq!(status(&p, post("/forms/a", "name=<SCRIPT>alert(1)")), 403);
    assert_eq!(status(&p, post("/forms/a", "q=1 union select pw")), 403);
    assert_eq!(status(&p, post("/forms/a", "name=alice")), 0);
    // Not a rule's request: the body is not even asked for.
    let mut get = FakeRequest::get("/forms/a").product("shop").body("<script");
    assert_eq!(p.found_product(&mut get), Ok(Outcome::GoOn));
    assert_eq!(p.request_body(&mut get), Ok(Outcome::GoOn));
    assert_eq!(
        p.metric_value("body_check_refused", &["pattern"]),
        Some(2.0)
    );
}

#[test]
fn signatures_and_json_are_checked_in_that_order() {
    let p = plugin();
    let body = r#"{"event":"push"}"#;
    let good = post("/hooks/gh", body).header("x-hub-signature-256", &signed(body, "s3cret"));
    assert_eq!(status(&p, good), 0);
    let wrong = post("/hooks/gh", body).header("x-hub-signature-256", &signed(body, "other"));
    assert_eq!(status(&p, wrong), 401);
    assert_eq!(status(&p, post("/hooks/gh", body)), 401);
    let upper = signed(body, "s3cret")
        .to_ascii_uppercase()
        .replace("SHA256=", "sha256=");
    let upper = post("/hooks/gh", body).header("x-hub-signature-256", &upper);
    assert_eq!(status(&p, upper), 0);
    let not_json = "event=push";
    let signed_text =
        post("/hooks/gh", not_json).header("x-hub-signature-256", &signed(not_json, "s3cret"));
    assert_eq!(status(&p, signed_text), 400);
    assert_eq!(
        p.metric_value("body_check_refused", &["signature"]),
        Some(2.0)
    );
    assert_eq!(p.metric_value("body_check_refused", &["json"]), Some(1.0));
    let logs = p.logs();
    assert!(
        logs.iter()
            .any(|l| l.message == "refused POST /hooks/gh: signature"),
        "{logs:?}"
    );
}

#[test]
fn over_the_limit_the_rule_s_choice_holds() {
    let p = plugin();
    let big = "x".repeat(100);
    // Reject (the default): the proxy's 413.
    assert_eq!(status(&p, post("/forms/a", &big)), 413);
    // Skip: sent on unchecked, even with a denied pattern in it.
    assert_eq!(status(&p, post("/uploads/f", &format!("{big}EICAR"))), 0);
    assert_eq!(status(&p, post("/uploads/f", "EICAR")), 403);
}

/// A client cannot skip the check by a header: a request a rule matches whose body is
/// not offered (gRPC, an upgrade) is refused.
#[test]
fn a_body_not_offered_is_refused_not_let_through() {
    let p = plugin();
    for (name, value) in [("content-type", "application/grpc"), ("upgrade", "x")] {
        let mut req = post("/forms/a", "<script").header(name, value);
        let Ok(Outcome::Respond(reply)) = p.found_product(&mut req) else {
            panic!("{name}: not refused");
        };
        assert_eq!(reply.status(), 403);
    }
    assert_eq!(
        p.metric_value("body_check_refused", &["unreadable"]),
        Some(2.0)
    );
}

#[test]
fn bad_configs_name_the_key() {
    let e = config_error(init, "[[global.rules]]\npath = \"/x\"\n");
    assert!(e.contains("checks nothing"), "{e}");
    let e = config_error(init, "[[global.rules]]\ndeny = [\"\"]\n");
    assert!(e.contains("empty `deny`"), "{e}");
    let e = config_error(
        init,
        "[[global.rules]]\nsignature = { header = \"x-sig\", secret = \"\" }\n",
    );
    assert!(e.contains("secret"), "{e}");
    let e = config_error(
        init,
        "[[global.rules]]\njson = true\nover_limit = \"drop\"\n",
    );
    assert!(e.contains("over_limit") || e.contains("drop"), "{e}");
    let e = config_error(
        init,
        "[[global.rules]]\nover_limit = \"skip\"\nsignature = { header = \"x-sig\", secret = \"k\" }\n",
    );
    assert!(e.contains("padded"), "{e}");
}

hookgate_plugin_kit::test_documented_configs!();
