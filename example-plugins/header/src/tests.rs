//! The plugin through the SDK's fake host.

use hookgate_plugin_kit::testing::config_error;
use std::net::IpAddr;

use hookgate_plugin_api::testing::{FakeRequest, FakeResponse, TestPlugin};
use hookgate_plugin_api::{Outcome, Point, ResponseOutcome};

use super::init;

const CONFIG: &str = r#"
[[global.request]]
set = { x-product = "%{product}", x-client = "client=%{client_ip};", x-id = "%{request_id}" }
delete = ["x-debug", "X-Trace"]
rename = { x-old = "x-new" }

[[global.response]]
delete = ["x-internal"]
set = { x-served = "%{host}%{path}", x-request-id = "%{request_id}" }

[[products.shop.request]]
path_prefix = "/api/"
add = { x-api = "v1", x-product = "again" }

[[products.shop.request]]
set = { x-client = "shop" }

[[products.shop.response]]
header = { name = "x-want-origin", value = "1" }
rename = { x-backend = "x-origin" }
add = { cache-control = "no-store" }
"#;

fn plugin() -> TestPlugin {
    TestPlugin::init(init, CONFIG).unwrap()
}

fn shop(path: &str) -> FakeRequest {
    FakeRequest::get(path)
        .header("host", "Shop.Example.com:8080")
        .product("shop")
        .client_ip("198.51.100.4".parse::<IpAddr>().unwrap())
}

fn request(plugin: &TestPlugin, mut req: FakeRequest) -> FakeRequest {
    assert_eq!(plugin.after_location(&mut req), Ok(Outcome::GoOn));
    req
}

fn response(plugin: &TestPlugin, req: &mut FakeRequest, resp: FakeResponse) -> FakeResponse {
    let mut resp = resp;
    assert_eq!(
        plugin.read_response(req, &mut resp),
        Ok(ResponseOutcome::GoOn)
    );
    resp
}

#[test]
fn registers_only_points_with_rules() {
    let plugin = plugin();
    for point in Point::ALL {
        let expected = usize::from(matches!(point, Point::AfterLocation | Point::ReadResponse));
        assert_eq!(plugin.handler_count(point), expected, "{point}");
    }
    let only_request = "[[products.shop.request]]\ndelete = [\"x-a\"]";
    let plugin = TestPlugin::init(init, only_request).unwrap();
    assert_eq!(plugin.handler_count(Point::AfterLocation), 1);
    assert_eq!(plugin.handler_count(Point::ReadResponse), 0);
    let plugin = TestPlugin::init(init, "").unwrap();
    assert!(Point::ALL.iter().all(|p| plugin.handler_count(*p) == 0));
}

#[test]
fn request_edits_with_variables() {
    let plugin = plugin();
    let req = FakeRequest::get("/")
        .product("web")
        .with_context("request_id", "abc123")
        .header("x-debug", "1")
        .header("x-trace", "t")
        .header("x-old", "a")
        .header("x-old", "b")
        .header("x-new", "replaced");
    let req = request(&plugin, req);
    assert_eq!(req.header_value("x-product"), Some("web"));
    assert_eq!(req.header_value("x-client"), Some("client=192.0.2.1;"));
    assert_eq!(req.header_value("x-id"), Some("abc123"));
    assert_eq!(req.header_value("x-debug"), None);
    assert_eq!(req.header_value("x-trace"), None);
    assert_eq!(req.header_value("x-old"), None);
    assert_eq!(req.header_values("x-new"), ["a", "b"]);
    // Not the shop's rules.
    assert_eq!(req.header_value("x-api"), None);
}

#[test]
fn missing_request_id_is_empty() {
    let req = request(&plugin(), FakeRequest::get("/").product("web"));
    assert_eq!(req.header_value("x-id"), Some(""));
}

#[test]
fn product_rules_run_after_global_ones() {
    let plugin = plugin();
    let req = request(&plugin, shop("/api/items"));
    assert_eq!(req.header_values("x-product"), ["shop", "again"]);
    assert_eq!(req.header_value("x-api"), Some("v1"));
    assert_eq!(req.header_value("x-client"), Some("shop"));
    let req = request(&plugin, shop("/home"));
    assert_eq!(req.header_value("x-api"), None);
}

#[test]
fn response_edits_judged_on_the_request() {
    let plugin = plugin();
    let backend = || {
        FakeResponse::new(200)
            .header("x-internal", "secret")
            .header("x-backend", "b1")
            .header("cache-control", "max-age=60")
    };
    let mut req = shop("/cart").with_context("request_id", "id-7");
    let resp = response(&plugin, &mut req, backend());
    assert_eq!(resp.header_value("x-internal"), None);
    assert_eq!(resp.header_value("x-served"), Some("shop.example.com/cart"));
    assert_eq!(resp.header_value("x-request-id"), Some("id-7"));
    assert_eq!(
        resp.header_value("x-backend"),
        Some("b1"),
        "condition unmet"
    );

    let mut req = shop("/cart").header("x-want-origin", "1");
    let resp = response(&plugin, &mut req, backend());
    assert_eq!(resp.header_value("x-backend"), None);
    assert_eq!(resp.header_value("x-origin"), Some("b1"));
    assert_eq!(
        resp.header_values("cache-control"),
        ["max-age=60", "no-store"]
    );

    // BFE's req_header_value_in: the first value counts, not any of them.
    let mut req = shop("/cart")
        .header("x-want-origin", "0")
        .header("x-want-origin", "1");
    let resp = response(&plugin, &mut req, backend());
    assert_eq!(resp.header_value("x-backend"), Some("b1"));
}

#[test]
fn a_value_that_renders_invalid_is_skipped() {
    let plugin = plugin();
    let req = FakeRequest::get("/").with_context("request_id", "a\nb");
    let req = request(&plugin, req);
    assert_eq!(req.header_value("x-id"), None);
    assert_eq!(req.header_value("x-product"), Some(""));
}

#[test]
fn bad_values_and_names_name_the_key() {
    let cases = [
        (
            "set = { x-a = \"%{nope}\" }",
            "global.request[0]: set.x-a: unknown variable %{nope} (known: client_ip, \
             product, request_id, host, path)",
        ),
        (
            "add = { x-a = \"%{host\" }",
            "global.request[0]: add.x-a: \"%{host\" has a `%{` without `}`",
        ),
        (
            "set = { x-a = \"a\\u0001\" }",
            "global.request[0]: set.x-a: \"a\\u{1}\" is not a header value",
        ),
        (
            "set = { \"x a\" = \"1\" }",
            "global.request[0]: set.\"x a\": \"x a\" is not a header name",
        ),
        (
            "delete = [\"x-a\", \"\"]",
            "global.request[0]: delete[1]: \"\" is not a header name",
        ),
        (
            "rename = { x-a = \"x:b\" }",
            "global.request[0]: rename.x-a: \"x:b\" is not a header name",
        ),
        (
            "path = \"/\"",
            "global.request[0]: set one or more of rename, delete, set, add",
        ),
        (
            "path = \"x\"\ndelete = [\"a\"]",
            "global.request[0]: path: a path must start with '/' (\"x\")",
        ),
    ];
    for (rule, expected) in cases {
        let err = config_error(init, &format!("[[global.request]]\n{rule}"));
        assert_eq!(err, format!("header plugin config: {expected}"), "{rule}");
    }
    let config = "[[products.shop.response]]\ndelete = [\"a\"]\n\
                  [[products.shop.response]]\nset = { b = \"%{x}\" }";
    let err = config_error(init, config);
    assert!(
        err.contains("products.shop.response[1]: set.b: unknown variable %{x}"),
        "{err}"
    );
}

#[test]
fn kit_conditions() {
    let config = r#"
[[global.request]]
method = "POST"
cond = 'req_query_key_in("debug")'
set = { x-debug = "1" }

[[products."my shop".response]]
set = { x-a = "1" }
"#;
    let plugin = TestPlugin::init(init, config).unwrap();
    // BFE's req_method_in: case-insensitive.
    let req = request(&plugin, FakeRequest::new("post", "/a?debug"));
    assert_eq!(req.header_value("x-debug"), Some("1"));
    let req = request(&plugin, FakeRequest::new("POST", "/a"));
    assert_eq!(req.header_value("x-debug"), None);
    let mut req = FakeRequest::get("/").product("my shop");
    let resp = response(&plugin, &mut req, FakeResponse::new(200));
    assert_eq!(resp.header_value("x-a"), Some("1"));
    let err = config_error(
        init,
        "[[products.\"my shop\".response]]\nset = { b = \"%{x}\" }",
    );
    assert!(
        err.contains("products.\"my shop\".response[0]: set.b:"),
        "{err}"
    );
}

#[test]
fn unknown_keys_are_errors() {
    let err = config_error(init, "[[global.request]]\nsett = { a = \"1\" }");
    assert!(err.contains("unknown field `sett`"), "{err}");
    let err = config_error(init, "[global]\nrequests = []");
    assert!(err.contains("unknown field `requests`"), "{err}");
    let err = config_error(init, "[[global.response]]\ndelete = \"x-a\"");
    assert!(err.contains("expected a sequence"), "{err}");
}

hookgate_plugin_kit::test_documented_configs!();
