//! Unit tests against the SDK's fake host. The counters' own tests (windows, sweeping,
//! threads) are in `counter.rs`.

use hookgate_plugin_kit::testing::config_error;
use std::net::IpAddr;
use std::time::Duration;

use hookgate_plugin_api::log::Level;
use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
use hookgate_plugin_api::{Outcome, Point};

use super::{init, init_with_clock};
use hookgate_plugin_kit::Clock;

fn plugin(config: &str) -> TestPlugin {
    match TestPlugin::init(init, config) {
        Ok(plugin) => plugin,
        Err(e) => panic!("init failed: {e}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The outcomes of `n` requests like `req`.
fn send(plugin: &TestPlugin, req: &FakeRequest, n: usize) -> Vec<Outcome> {
    (0..n)
        .map(|_| plugin.found_product(&mut req.clone()).unwrap())
        .collect()
}

fn statuses(outcomes: &[Outcome]) -> Vec<u16> {
    outcomes
        .iter()
        .map(|o| match o {
            Outcome::GoOn => 0,
            Outcome::Respond(reply) => reply.status(),
            Outcome::Close => 1,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn empty_config_registers_nothing() {
    let plugin = plugin("[products.shop]\nrules = []");
    for point in Point::ALL {
        assert_eq!(plugin.handler_count(point), 0, "{point}");
    }
}

#[test]
fn over_the_limit_is_429_with_retry_after() {
    let plugin = plugin("[global]\nrules = [{ limit = 3, window_ms = 60000 }]");
    assert_eq!(plugin.handler_count(Point::FoundProduct), 1);
    let req = FakeRequest::get("/").product("shop");
    let outcomes = send(&plugin, &req, 5);
    assert_eq!(statuses(&outcomes), [0, 0, 0, 429, 429]);
    let Outcome::Respond(reply) = &outcomes[3] else {
        unreachable!()
    };
    assert_eq!(reply.header_value("retry-after"), Some("60"));
    assert_eq!(reply.body_bytes(), b"too many requests\n");
    // Each refusal is counted on the host's /metrics, by product.
    assert_eq!(
        plugin.metric_value("rate_limit_refused", &["shop"]),
        Some(2.0)
    );
    // Each refusal is logged through the host (unless the call site's rate limit,
    // shared with the tests running beside this one, dropped it).
    for log in plugin.logs() {
        assert_eq!(
            (log.level, log.point),
            (Level::Warn, Some(Point::FoundProduct))
        );
        assert!(log.message.starts_with("over the limit: client"), "{log:?}");
    }
}

#[test]
fn each_client_ip_has_its_own_budget() {
    let plugin = plugin("[global]\nrules = [{ limit = 1, window_ms = 60000 }]");
    let a = FakeRequest::get("/").client_ip(ip("10.0.0.1"));
    let b = FakeRequest::get("/").client_ip(ip("10.0.0.2"));
    assert_eq!(statuses(&send(&plugin, &a, 2)), [0, 429]);
    assert_eq!(statuses(&send(&plugin, &b, 2)), [0, 429]);
    // An IPv4-mapped IPv6 address is the same client.
    let mapped = FakeRequest::get("/").client_ip(ip("::ffff:10.0.0.1"));
    assert_eq!(statuses(&send(&plugin, &mapped, 1)), [429]);
}

#[test]
fn key_header_separates_clients_and_falls_back_to_the_ip() {
    let plugin =
        plugin("[global]\nrules = [{ key_header = \"X-Api-Key\", limit = 1, window_ms = 60000 }]");
    let key = |k| FakeRequest::get("/").header("x-api-key", k);
    assert_eq!(statuses(&send(&plugin, &key("k1"), 2)), [0, 429]);
    assert_eq!(statuses(&send(&plugin, &key("k2"), 2)), [0, 429]);
    // Without the header, the client IP; a header value equal to that IP is another key.
    let bare = FakeRequest::get("/").client_ip(ip("10.0.0.9"));
    assert_eq!(statuses(&send(&plugin, &bare, 2)), [0, 429]);
    assert_eq!(statuses(&send(&plugin, &key("10.0.0.9"), 1)), [0]);
}

#[test]
fn global_rules_then_the_products_own_with_conditions() {
    let plugin = plugin(
        r#"
        [global]
        rules = [{ limit = 4, window_ms = 60000 }]
        [products.shop]
        rules = [
          { path = "/login", method = "POST", limit = 1, window_ms = 60000, action = "close" },
          { path_prefix = "/api/", header = { name = "x-tier", value = "free" }, limit = 1, window_ms = 60000 },
        ]
        "#,
    );
    let login = FakeRequest::new("POST", "/login").product("shop");
    assert_eq!(statuses(&send(&plugin, &login, 2)), [0, 1]);
    // Other paths and methods are not counted by the login rule, only by the global one.
    let free = FakeRequest::get("/api/x")
        .header("x-tier", "free")
        .product("shop");
    assert_eq!(statuses(&send(&plugin, &free, 2)), [0, 429]);
    // The global budget (4) is now spent by the 4 requests above, for every product.
    let web = FakeRequest::get("/").product("web");
    assert_eq!(statuses(&send(&plugin, &web, 1)), [429]);
    let other = FakeRequest::get("/")
        .product("web")
        .client_ip(ip("10.1.1.1"));
    assert_eq!(statuses(&send(&plugin, &other, 1)), [0]);
}

#[test]
fn after_the_window_requests_are_allowed_again() {
    let clock = Clock::manual();
    let config = "[global]\nrules = [{ limit = 2, window_ms = 50 }]";
    let plugin = match TestPlugin::init(|c, r| init_with_clock(c, r, clock.clone()), config) {
        Ok(plugin) => plugin,
        Err(e) => panic!("init failed: {e}"),
    };
    let req = FakeRequest::get("/");
    assert_eq!(statuses(&send(&plugin, &req, 3)), [0, 0, 429]);
    clock.advance(Duration::from_millis(49));
    assert_eq!(statuses(&send(&plugin, &req, 1)), [429]);
    clock.advance(Duration::from_millis(1));
    assert_eq!(statuses(&send(&plugin, &req, 3)), [0, 0, 429]);
}

#[test]
fn syntax_and_unknown_keys_fail_naming_the_key() {
    let err = config_error(init, "[global]\nrules = [{ limit = 1 }]");
    assert!(err.starts_with("rate-limit plugin config: "), "{err}");
    assert!(err.contains("missing field `window_ms`"), "{err}");
    let err = config_error(
        init,
        "[global]\nrules = [{ limit = 1, window_ms = 1, window = 2 }]",
    );
    assert!(err.contains("unknown field `window`"), "{err}");
    let err = config_error(init, "[global]\nrules = [{ limit = -1, window_ms = 1 }]");
    assert!(err.contains("limit"), "{err}");
    let err = config_error(init, "[products.a]\nlimit = 1");
    assert!(err.contains("unknown field `limit`"), "{err}");
}

#[test]
fn bad_values_fail_naming_the_key_path() {
    let cases = [
        (
            "[products.shop]\nrules = [{ limit = 1, window_ms = 1 }, { limit = 0, window_ms = 1 }]",
            "products.shop.rules[1].limit: must be at least 1",
        ),
        (
            "[global]\nrules = [{ limit = 1, window_ms = 0 }]",
            "global.rules[0].window_ms: must be at least 1",
        ),
        (
            "[products.\"a.b\"]\nrules = [{ limit = 1, window_ms = 1, path = \"x\" }]",
            "products.\"a.b\".rules[0]: path: a path must start with '/'",
        ),
        (
            "[global]\nrules = [{ limit = 1, window_ms = 1, cond = 'req_method_in(\"GET\"' }]",
            "global.rules[0]: cond: column ",
        ),
        (
            "[global]\nrules = [{ limit = 4294967296, window_ms = 1 }]",
            "global.rules[0].limit: 4294967296 is too large",
        ),
    ];
    for (config, expected) in cases {
        let err = config_error(init, config);
        let expected = format!("rate-limit plugin config: {expected}");
        assert!(err.starts_with(&expected), "{config}\n=> {err}");
    }
}

hookgate_plugin_kit::test_documented_configs!();
