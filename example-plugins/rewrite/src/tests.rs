//! The plugin through the SDK's fake host.

use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
use hookgate_plugin_api::{Outcome, Point};
use hookgate_plugin_kit::testing::config_error;

use super::init;

const CONFIG: &str = r#"
[[global.rules]]
delete_query = ["utm_source", "utm_medium"]

[[products.shop.rules]]
path_prefix = "/old/"
replace_path_prefix = { from = "/old/", to = "/new/" }
add_query = { v = "2", lang = "en" }
set_host = "backend.internal:8080"
last = true

[[products.shop.rules]]
path_prefix = "/new/"
set_path = "/never"

[[products.shop.rules]]
path = "/exact"
method = "POST"
set_path = "/posted"

[[products.shop.rules]]
header = { name = "x-stop" }
last = true

[[products.shop.rules]]
set_host = "fallback.internal"
"#;

fn plugin() -> TestPlugin {
    TestPlugin::init(init, CONFIG).unwrap()
}

/// Runs AfterLocation; returns the target and the Host the backend would see.
fn rewrite(plugin: &TestPlugin, mut req: FakeRequest) -> (String, String) {
    assert_eq!(plugin.after_location(&mut req), Ok(Outcome::GoOn));
    let host = req.header_value("host").unwrap_or_default().to_owned();
    (req.uri().to_owned(), host)
}

fn shop(method: &str, uri: &str) -> FakeRequest {
    FakeRequest::new(method, uri)
        .header("host", "shop.example.com")
        .product("shop")
}

fn pair(uri: &str, host: &str) -> (String, String) {
    (uri.to_owned(), host.to_owned())
}

#[test]
fn registers_only_after_location() {
    let plugin = plugin();
    for point in Point::ALL {
        let expected = usize::from(point == Point::AfterLocation);
        assert_eq!(plugin.handler_count(point), expected, "{point}");
    }
}

#[test]
fn prefix_query_and_host_then_last_stops() {
    let plugin = plugin();
    let req = shop("GET", "/old/a?utm_source=mail&keep=1&utm_source_x=2");
    // The rewritten path starts with /new/, but `last` keeps the /never rule (and the
    // fallback host) from running.
    assert_eq!(
        rewrite(&plugin, req),
        pair(
            "/new/a?keep=1&utm_source_x=2&lang=en&v=2",
            "backend.internal:8080"
        )
    );
}

#[test]
fn later_rules_see_earlier_rewrites_without_last() {
    let plugin = plugin();
    assert_eq!(
        rewrite(&plugin, shop("GET", "/new/b?x=1")),
        pair("/never?x=1", "fallback.internal")
    );
}

#[test]
fn global_rules_apply_to_every_product() {
    let plugin = plugin();
    let web = |uri: &str| {
        FakeRequest::get(uri)
            .header("host", "www.example.com")
            .product("web")
    };
    assert_eq!(
        rewrite(&plugin, web("/old/a?utm_source=1")),
        pair("/old/a", "www.example.com")
    );
    assert_eq!(
        rewrite(&plugin, web("/x?a=1&utm_medium=2&&b")),
        pair("/x?a=1&b", "www.example.com")
    );
    assert_eq!(rewrite(&plugin, web("/x")), pair("/x", "www.example.com"));
    // Nothing to delete: the query is left exactly as it came.
    assert_eq!(
        rewrite(&plugin, web("/x?a&&utm=1")),
        pair("/x?a&&utm=1", "www.example.com")
    );
}

#[test]
fn method_and_exact_path_conditions() {
    let plugin = plugin();
    assert_eq!(
        rewrite(&plugin, shop("POST", "/exact?q")),
        pair("/posted?q", "fallback.internal")
    );
    assert_eq!(
        rewrite(&plugin, shop("GET", "/exact")),
        pair("/exact", "fallback.internal")
    );
    // BFE's req_method_in: case-insensitive.
    assert_eq!(
        rewrite(&plugin, shop("post", "/exact")),
        pair("/posted", "fallback.internal")
    );
    assert_eq!(
        rewrite(&plugin, shop("POST", "/exact/more")),
        pair("/exact/more", "fallback.internal")
    );
}

#[test]
fn a_rule_with_only_last_stops_the_rest() {
    let plugin = plugin();
    let req = shop("GET", "/a").header("x-stop", "1");
    assert_eq!(rewrite(&plugin, req), pair("/a", "shop.example.com"));
    // BFE's req_header_key_in: an empty first value does not count.
    let req = shop("GET", "/a").header("x-stop", "");
    assert_eq!(rewrite(&plugin, req), pair("/a", "fallback.internal"));
}

#[test]
fn bad_actions_name_the_key() {
    let cases = [
        ("path = \"/a\"", "global.rules[0]: set one or more of"),
        (
            "set_path = \"a\"",
            "global.rules[0]: set_path: \"a\" is not a path",
        ),
        (
            "set_path = \"/a?b=1\"",
            "global.rules[0]: set_path: \"/a?b=1\"",
        ),
        (
            "set_host = \"a b\"",
            "global.rules[0]: set_host: \"a b\" is not a host[:port]",
        ),
        (
            "replace_path_prefix = { from = \"/a/\", to = \"b/\" }",
            "global.rules[0]: replace_path_prefix.to: \"b/\"",
        ),
        (
            "delete_query = [\"a\", \"b=c\"]",
            "global.rules[0]: delete_query[1]: \"b=c\" is not a query key",
        ),
        (
            "add_query = { \"a&b\" = \"1\" }",
            "global.rules[0]: add_query: \"a&b\" is not a query key",
        ),
        (
            "add_query = { a = \"1&b=2\" }",
            "global.rules[0]: add_query.a: \"1&b=2\" is not a query value",
        ),
        (
            "add_query = { a = \"x y\" }",
            "global.rules[0]: add_query.a: \"x y\"",
        ),
        (
            "set_path = \"/a\"\ncond = \"req_method_in(\"",
            "global.rules[0]: cond: column ",
        ),
    ];
    for (rule, expected) in cases {
        let err = config_error(init, &format!("[[global.rules]]\n{rule}"));
        assert!(err.starts_with("rewrite plugin config: "), "{err}");
        assert!(err.contains(expected), "{rule}\n{err}");
    }
    let config = "[[products.shop.rules]]\nlast = true\n[[products.shop.rules]]\nset_path = \"x\"";
    assert!(config_error(init, config).contains("products.shop.rules[1]: set_path: \"x\""));
}

#[test]
fn unknown_keys_are_errors() {
    let err = config_error(init, "[[global.rules]]\nset_pth = \"/a\"");
    assert!(err.contains("unknown field `set_pth`"), "{err}");
    let err = config_error(
        init,
        "[[global.rules]]\nreplace_path_prefix = { form = \"/a\", to = \"/b\" }",
    );
    assert!(err.contains("unknown field `form`"), "{err}");
    let err = config_error(init, "[global]\nlast = true");
    assert!(err.contains("unknown field `last`"), "{err}");
}

hookgate_plugin_kit::test_documented_configs!();
