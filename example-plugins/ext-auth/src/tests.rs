//! Unit tests against the SDK's fake host, its callouts scripted.

use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
use hookgate_plugin_api::{CalloutResult, Outcome, Point, Reply};
use hookgate_plugin_kit::testing::config_error;

use super::init;

const CONFIG: &str = r#"
target = "cluster:auth"
path = "/check"
copy = ["x-user"]
timeout_ms = 300
"#;

fn plugin(config: &str) -> TestPlugin {
    match TestPlugin::init(init, config) {
        Ok(plugin) => plugin,
        Err(e) => panic!("init failed: {e}"),
    }
}

fn request() -> FakeRequest {
    FakeRequest::get("/orders?page=2")
        .header("authorization", "Bearer abc")
        .header("cookie", "a=1")
        .header("x-user", "forged")
}

#[test]
fn registers_only_found_product() {
    let plugin = plugin(CONFIG);
    for point in Point::ALL {
        let expected = usize::from(point == Point::FoundProduct);
        assert_eq!(plugin.handler_count(point), expected, "{point}");
    }
}

#[test]
fn the_sub_request_carries_the_listed_headers_and_the_original_request() {
    let plugin = plugin(CONFIG);
    let mut req = request();
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::Wait));
    let callouts = plugin.callouts();
    let sent = &callouts[0];
    assert_eq!(sent.target(), "cluster:auth");
    assert_eq!(sent.path(), "/check");
    assert_eq!(sent.method_name(), "GET");
    assert_eq!(sent.header_value("authorization"), Some("Bearer abc"));
    assert_eq!(sent.header_value("cookie"), Some("a=1"));
    assert_eq!(sent.header_value("x-original-uri"), Some("/orders?page=2"));
    assert_eq!(sent.header_value("x-original-method"), Some("GET"));
    assert_eq!(sent.header_value("x-user"), None, "not in `forward`");
}

#[test]
fn a_2xx_lets_the_request_on_with_the_copied_headers() {
    let plugin = plugin(CONFIG);
    plugin.script_callout(
        "cluster:auth",
        CalloutResult::response(204).header("x-user", "ada"),
    );
    let mut req = request();
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::Wait));
    assert_eq!(plugin.resume(&mut req), Ok(Outcome::GoOn));
    assert_eq!(
        req.header_values("x-user"),
        ["ada"],
        "the client's own is replaced"
    );

    // A 2xx without the header removes the client's.
    let plugin = super::tests::plugin(CONFIG);
    plugin.script_callout("cluster:auth", CalloutResult::response(200));
    let mut req = request();
    plugin.found_product(&mut req).unwrap();
    assert_eq!(plugin.resume(&mut req), Ok(Outcome::GoOn));
    assert!(req.header_values("x-user").is_empty());
}

#[test]
fn a_401_or_403_is_the_clients_answer() {
    for status in [401, 403] {
        let plugin = plugin(CONFIG);
        let denied = CalloutResult::response(status)
            .header("www-authenticate", "Bearer realm=\"shop\"")
            .header("x-other", "not copied")
            .with_body("no");
        plugin.script_callout("cluster:auth", denied);
        let mut req = request();
        plugin.found_product(&mut req).unwrap();
        let expected = Reply::new(status)
            .body("no")
            .header("www-authenticate", "Bearer realm=\"shop\"");
        assert_eq!(
            plugin.resume(&mut req),
            Ok(Outcome::Respond(expected)),
            "{status}"
        );
    }
}

#[test]
fn a_service_down_slow_or_odd_fails_the_handler() {
    for (answer, why) in [
        (
            CalloutResult::failed("connect: refused"),
            "auth service: connect: refused",
        ),
        (CalloutResult::failed("timeout"), "auth service: timeout"),
        (CalloutResult::response(500), "auth service answered 500"),
        (CalloutResult::response(302), "auth service answered 302"),
    ] {
        let plugin = plugin(CONFIG);
        plugin.script_callout("cluster:auth", answer);
        let mut req = request();
        plugin.found_product(&mut req).unwrap();
        assert_eq!(plugin.resume(&mut req), Err(why.to_owned()));
    }
}

#[test]
fn a_url_target_is_called_as_written() {
    let plugin = plugin("target = \"https://auth.example.com/v1/check?x=1\"\nmethod = \"post\"");
    let mut req = request();
    plugin.found_product(&mut req).unwrap();
    let sent = &plugin.callouts()[0];
    assert_eq!(sent.target(), "https://auth.example.com/v1/check?x=1");
    assert_eq!(sent.method_name(), "POST");
}

#[test]
fn bad_settings_fail_naming_the_key() {
    for (config, expected) in [
        ("", "missing field `target`"),
        ("target = \"auth\"", "target: \"auth\" is neither"),
        ("target = \"cluster:\"", "target: \"cluster:\" is neither"),
        (
            "target = \"cluster:a\"\npath = \"check\"",
            "path: must start with `/`",
        ),
        ("target = \"cluster:a\"\ntimeout_ms = 0", "timeout_ms: 0"),
        (
            "target = \"cluster:a\"\nretries = 1",
            "unknown field `retries`",
        ),
    ] {
        let err = config_error(init, config);
        assert!(err.starts_with("ext-auth plugin config: "), "{err}");
        assert!(err.contains(expected), "{config}: {err}");
    }
}

hookgate_plugin_kit::test_documented_configs!();
