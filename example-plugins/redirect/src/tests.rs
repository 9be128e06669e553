//! The plugin through the SDK's fake host.

use hookgate_plugin_api::testing::{FakeRequest, FakeSession, TestPlugin};
use hookgate_plugin_api::{Outcome, Point};
use hookgate_plugin_kit::testing::config_error;

use super::init;

const CONFIG: &str = r#"
[[global.rules]]
path = "/old-home"
set_url = "https://www.example.com/"
status = 301

[[global.rules]]
path_prefix = "/moved/"
set_url = "/new-place"

[[products.shop.rules]]
path_prefix = "/checkout/"
set_scheme = "https"
status = 308

[[products.shop.rules]]
path_prefix = "/blog/"
method = "GET"
add_prefix = "https://blog.example.com/"
status = 307

[[products.shop.rules]]
path_prefix = "/"
header = { name = "X-Legacy", value = "1" }
set_url = "https://legacy.example.com/"

[[products.shop.rules]]
host = "Beta.Shop.Example.com"
header = { name = "x-beta" }
set_url = "https://beta.example.com/"
"#;

/// Runs FoundProduct; `Some((location, code))` if it redirected.
fn redirect(plugin: &TestPlugin, mut req: FakeRequest) -> Option<(String, u16)> {
    match plugin.found_product(&mut req) {
        Ok(Outcome::Redirect(to)) => {
            // The outcome carries the target; the SDK handed it to the host as well.
            assert_eq!(req.redirect_url(), Some(to.url()));
            Some((to.url().to_owned(), to.code()))
        }
        Ok(Outcome::GoOn) => None,
        other => panic!("unexpected {other:?}"),
    }
}

fn shop(path: &str) -> FakeRequest {
    FakeRequest::get(path)
        .header("host", "shop.example.com:8080")
        .product("shop")
}

fn plugin() -> TestPlugin {
    TestPlugin::init(init, CONFIG).unwrap()
}

#[test]
fn registers_only_found_product() {
    let plugin = plugin();
    for point in Point::ALL {
        let expected = usize::from(point == Point::FoundProduct);
        assert_eq!(plugin.handler_count(point), expected, "{point}");
    }
}

#[test]
fn set_url_with_status_and_default_302() {
    let plugin = plugin();
    let home = FakeRequest::get("/old-home?x=1").product("web");
    assert_eq!(
        redirect(&plugin, home),
        Some(("https://www.example.com/".to_owned(), 301))
    );
    let moved = FakeRequest::get("/moved/a").product("web");
    assert_eq!(
        redirect(&plugin, moved),
        Some(("/new-place".to_owned(), 302))
    );
    // `path` is exact.
    assert_eq!(redirect(&plugin, FakeRequest::get("/old-home/x")), None);
}

#[test]
fn add_prefix_keeps_path_and_query() {
    let plugin = plugin();
    assert_eq!(
        redirect(&plugin, shop("/blog/post?id=7")),
        Some(("https://blog.example.com/blog/post?id=7".to_owned(), 307))
    );
    // Only for GET.
    let post = FakeRequest::new("POST", "/blog/post").product("shop");
    assert_eq!(redirect(&plugin, post), None);
    // BFE's req_method_in: the method is compared case-insensitively.
    let get = FakeRequest::new("get", "/blog/post").product("shop");
    assert!(redirect(&plugin, get).is_some());
}

#[test]
fn set_scheme_switches_plain_requests_only() {
    let plugin = plugin();
    assert_eq!(
        redirect(&plugin, shop("/checkout/pay?cart=3")),
        Some((
            "https://shop.example.com/checkout/pay?cart=3".to_owned(),
            308
        ))
    );
    let on_tls = shop("/checkout/pay").session(FakeSession::new().tls("shop.example.com"));
    assert_eq!(redirect(&plugin, on_tls), None);
}

#[test]
fn product_rules_only_for_their_product_after_global() {
    let plugin = plugin();
    for product in ["web", ""] {
        let req = FakeRequest::get("/checkout/pay").product(product);
        assert_eq!(redirect(&plugin, req), None, "{product:?}");
    }
    // A global rule comes first even where a product rule would match too.
    let req = shop("/moved/x").header("x-legacy", "1");
    assert_eq!(redirect(&plugin, req), Some(("/new-place".to_owned(), 302)));
    // Unmatched: go on.
    assert_eq!(redirect(&plugin, shop("/cart")), None);
}

#[test]
fn header_and_host_conditions() {
    let plugin = plugin();
    let legacy = |value: &str| {
        shop("/cart")
            .header("x-legacy", "0")
            .header("x-legacy", value)
    };
    // BFE's req_header_value_in: the first value counts, not any of them.
    assert_eq!(redirect(&plugin, legacy("1")), None);
    assert_eq!(
        redirect(&plugin, shop("/cart").header("x-legacy", "1")),
        Some(("https://legacy.example.com/".to_owned(), 302))
    );
    assert_eq!(
        redirect(&plugin, shop("/cart").header("x-legacy", "2")),
        None
    );
    let beta = || {
        FakeRequest::get("/")
            .header("host", "beta.shop.example.com")
            .product("shop")
    };
    assert_eq!(redirect(&plugin, beta()), None, "needs x-beta");
    assert_eq!(
        redirect(&plugin, beta().header("x-beta", "on")),
        Some(("https://beta.example.com/".to_owned(), 302))
    );
    // BFE's req_header_key_in: an empty first value does not count.
    assert_eq!(redirect(&plugin, beta().header("x-beta", "")), None);
}

#[test]
fn empty_config_redirects_nothing() {
    let plugin = TestPlugin::init(init, "").unwrap();
    assert_eq!(redirect(&plugin, shop("/old-home")), None);
}

#[test]
fn bad_status_names_the_rule() {
    let config = r#"
[[products.shop.rules]]
set_url = "/a"
[[products.shop.rules]]
set_url = "/b"
status = 200
"#;
    assert_eq!(
        config_error(init, config),
        "redirect plugin config: products.shop.rules[1]: status: \
         200 is not a redirect status (301, 302, 303, 307 or 308)"
    );
}

#[test]
fn bad_targets_are_errors() {
    let cases = [
        (
            "[[global.rules]]\npath = \"/a\"",
            "global.rules[0]: set one of",
        ),
        (
            "[[global.rules]]\nset_url = \"/a\"\nset_scheme = \"https\"",
            "global.rules[0]: set only one of",
        ),
        (
            "[[global.rules]]\nset_scheme = \"ftp\"",
            "global.rules[0]: set_scheme: \"ftp\" is not http or https",
        ),
        (
            "[[global.rules]]\nset_url = \"elsewhere\"",
            "global.rules[0]: set_url: \"elsewhere\" is not an absolute URL",
        ),
        (
            "[[products.\"my shop\".rules]]\nadd_prefix = \"https://a b\"",
            "products.\"my shop\".rules[0]: add_prefix: ",
        ),
    ];
    for (config, expected) in cases {
        let err = config_error(init, config);
        assert!(err.starts_with("redirect plugin config: "), "{err}");
        assert!(err.contains(expected), "{config}\n{err}");
    }
}

#[test]
fn bad_conditions_are_errors() {
    let rule = |condition: &str| format!("[[global.rules]]\n{condition}\nset_url = \"/x\"");
    let cases = [
        (
            "path = \"a\"",
            "global.rules[0]: path: a path must start with '/' (\"a\")",
        ),
        ("path_prefix = \"a\"", "global.rules[0]: path_prefix: "),
        (
            "host = \"a.example:80\"",
            "global.rules[0]: host: a host must not include a port (\"a.example:80\")",
        ),
        (
            "cond = \"req_path_in(\\\"/x\\\"\"",
            "global.rules[0]: cond: column ",
        ),
    ];
    for (condition, expected) in cases {
        let err = config_error(init, &rule(condition));
        assert!(err.contains(expected), "{condition}\n{err}");
    }
}

#[test]
fn unknown_keys_are_errors() {
    let err = config_error(init, "[[global.rules]]\nset_url = \"/a\"\nstauts = 301");
    assert!(err.contains("unknown field `stauts`"), "{err}");
    let err = config_error(init, "[global]\nrule = []");
    assert!(err.contains("unknown field `rule`"), "{err}");
    let err = config_error(init, "[product.shop]");
    assert!(err.contains("unknown field `product`"), "{err}");
    let err = config_error(
        init,
        "[[global.rules]]\nset_url = \"/a\"\nheader = { name = \"a\", val = \"1\" }",
    );
    assert!(err.contains("unknown field `val`"), "{err}");
}

hookgate_plugin_kit::test_documented_configs!();
