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
        "[global]\nrules = [{ limit = 1, window_ms = 1, windw = 2 }]",
    );
    assert!(err.contains("unknown field `windw`"), "{err}");
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

mod shared {
    //! Rules counted in a Redis store: the script each request runs, and what the
    //! replies (scripted here) mean.

    use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
    use hookgate_plugin_api::{CalloutResult, Outcome, RedisValue};
    use hookgate_plugin_kit::testing::config_error;

    use super::{init, ip, plugin, statuses};

    fn counted(count: i64, left_ms: i64) -> CalloutResult {
        CalloutResult::redis(&RedisValue::Array(vec![
            RedisValue::Int(count),
            RedisValue::Int(left_ms),
        ]))
    }

    fn waits(plugin: &TestPlugin, req: &mut FakeRequest) {
        assert_eq!(plugin.found_product(req), Ok(Outcome::Wait));
    }

    #[test]
    fn each_request_runs_the_rules_script_on_its_store_keyed_by_client() {
        let plugin = plugin(
            "[global]\nrules = [{ limit = 2, window_ms = 1000, redis = \"main\", key_prefix = \"rl:\" }]",
        );
        let mut req = FakeRequest::get("/").client_ip(ip("10.0.0.7"));
        waits(&plugin, &mut req);
        let started = plugin.callouts();
        assert_eq!(started[0].target(), "redis:main");
        let command = started[0].redis_command().unwrap();
        assert_eq!(command.name(), "EVALSHA");
        assert_eq!(command.args(), ["{rl:ip:10.0.0.7}", "1000", "1"]);

        plugin.script_callout("redis:main", counted(2, 400));
        assert_eq!(plugin.resume(&mut req), Ok(Outcome::GoOn));
        plugin.clear_callout_scripts();
        plugin.script_callout("redis:main", counted(3, 400));
        let mut over = FakeRequest::get("/").client_ip(ip("10.0.0.7"));
        waits(&plugin, &mut over);
        let refused = plugin.resume(&mut over).unwrap();
        assert_eq!(statuses(std::slice::from_ref(&refused)), [429]);
        let Outcome::Respond(reply) = refused else {
            unreachable!()
        };
        assert_eq!(reply.header_value("retry-after"), Some("1"));
        assert_eq!(plugin.metric_value("rate_limit_refused", &[""]), Some(1.0));
    }

    #[test]
    fn a_header_key_and_a_sliding_window_pick_their_key_and_script() {
        let plugin = plugin(
            "[global]\nrules = [{ limit = 5, window_ms = 60000, redis = \"main\", window = \"sliding\", key_header = \"x-api-key\" }]",
        );
        let mut req = FakeRequest::get("/").header("x-api-key", "k1");
        waits(&plugin, &mut req);
        let command = plugin.callouts()[0].redis_command().unwrap();
        let key = &command.args()[0];
        assert!(
            key.starts_with("{hookgate:rl:") && key.ends_with(":h:k1}"),
            "{key}"
        );
        assert!(
            format!("{command:?}").contains("TIME"),
            "the sliding script"
        );
    }

    #[test]
    fn a_failing_store_is_the_rules_on_store_error() {
        for (policy, expected) in [("open", 0), ("closed", 429)] {
            let plugin = plugin(&format!(
                "[global]\nrules = [{{ limit = 2, window_ms = 1000, redis = \"main\", on_store_error = \"{policy}\" }}]"
            ));
            for answer in [
                CalloutResult::failed("timeout"),
                CalloutResult::failed("redis: connection refused"),
                CalloutResult::redis(&RedisValue::Status("OK".to_owned())),
            ] {
                plugin.clear_callout_scripts();
                plugin.script_callout("redis:main", answer);
                let mut req = FakeRequest::get("/").client_ip(ip("10.0.0.1"));
                waits(&plugin, &mut req);
                let outcome = plugin.resume(&mut req).unwrap();
                assert_eq!(statuses(&[outcome]), [expected], "{policy}");
            }
            assert_eq!(
                plugin.metric_value("rate_limit_store_errors", &["", policy]),
                Some(3.0)
            );
        }
    }

    #[test]
    fn local_rules_refuse_before_any_store_is_asked() {
        let plugin = plugin(
            "[global]\nrules = [{ limit = 1, window_ms = 60000 }, { limit = 9, window_ms = 1000, redis = \"main\" }]",
        );
        let mut first = FakeRequest::get("/").client_ip(ip("10.0.0.1"));
        waits(&plugin, &mut first);
        let second = plugin.found_product(&mut FakeRequest::get("/").client_ip(ip("10.0.0.1")));
        assert_eq!(statuses(&[second.unwrap()]), [429]);
        assert_eq!(
            plugin.callouts().len(),
            1,
            "the second never reached the store"
        );
    }

    #[test]
    fn rules_have_stable_distinct_default_prefixes() {
        let key = |config: &str| {
            let plugin = plugin(config);
            let mut req = FakeRequest::get("/").client_ip(ip("10.0.0.1"));
            waits(&plugin, &mut req);
            plugin.callouts()[0].redis_command().unwrap().args()[0].clone()
        };
        let a = "[global]\nrules = [{ limit = 2, window_ms = 1000, redis = \"main\" }]";
        let b = "[global]\nrules = [{ limit = 3, window_ms = 1000, redis = \"main\" }]";
        assert_eq!(key(a), key(a), "two proxies with one config share counts");
        assert_ne!(key(a), key(b));
    }

    #[test]
    fn with_sync_ms_requests_count_here_and_a_timer_sends_the_counts() {
        let clock = hookgate_plugin_kit::Clock::manual();
        let config = "[global]\nrules = [{ limit = 5, window_ms = 60000, redis = \"main\", key_prefix = \"rl:\", sync_ms = 100 }]";
        let plugin =
            TestPlugin::init(|c, r| super::init_with_clock(c, r, clock.clone()), config).unwrap();
        assert_eq!(
            plugin.timer_periods(),
            [std::time::Duration::from_millis(100)]
        );
        let a = FakeRequest::get("/").client_ip(ip("10.0.0.1"));
        let b = FakeRequest::get("/").client_ip(ip("10.0.0.2"));
        // Counted here, no wait: 2 from a, 1 from b.
        assert_eq!(statuses(&super::send(&plugin, &a, 2)), [0, 0]);
        assert_eq!(statuses(&super::send(&plugin, &b, 1)), [0]);
        assert!(plugin.callouts().is_empty());

        // The sync sends both keys' counts in one script; the fleet has counted 4 for
        // a (another proxy let 2 on) and 1 for b.
        plugin.script_callout(
            "redis:main",
            CalloutResult::redis(&RedisValue::Array(
                [4, 59_000, 1, 59_000].map(RedisValue::Int).to_vec(),
            )),
        );
        plugin.fire_timers().unwrap();
        let sent = plugin.callouts()[0].redis_command().unwrap();
        let mut args = sent.args();
        let keys: Vec<String> = args.drain(..2).collect();
        assert!(keys.contains(&"{rl:ip:10.0.0.1}".to_owned()), "{keys:?}");
        assert!(keys.contains(&"{rl:ip:10.0.0.2}".to_owned()), "{keys:?}");
        assert_eq!(args[0], "60000");
        // a: 4 known + 1 more fits 5, then refused; b: 1 known, 4 more fit.
        assert_eq!(statuses(&super::send(&plugin, &a, 2)), [0, 429]);
        assert_eq!(statuses(&super::send(&plugin, &b, 5)), [0, 0, 0, 0, 429]);

        // A failed sync keeps the counts to send again; nothing is lost or doubled.
        plugin.clear_callout_scripts();
        plugin.script_callout("redis:main", CalloutResult::failed("timeout"));
        plugin.fire_timers().unwrap();
        let retried = plugin.callouts().len();
        plugin.fire_timers().unwrap();
        let again = plugin.callouts()[retried].redis_command().unwrap();
        let increments: Vec<String> = again.args().split_off(3);
        let mut increments: Vec<u32> = increments.iter().map(|n| n.parse().unwrap()).collect();
        increments.sort_unstable();
        assert_eq!(increments, [1, 4], "a's 1 and b's 4, sent again");
        assert_eq!(
            plugin.metric_value("rate_limit_store_errors", &["", "sync"]),
            Some(2.0)
        );

        // The window the fleet's count held for ends: counting starts over.
        clock.advance(std::time::Duration::from_secs(60));
        assert_eq!(statuses(&super::send(&plugin, &a, 1)), [0]);
    }

    #[test]
    fn shared_settings_need_a_store() {
        for (rule, expected) in [
            (
                "{ limit = 1, window_ms = 1, window = \"sliding\" }",
                "needs `redis`",
            ),
            (
                "{ limit = 1, window_ms = 1, key_prefix = \"x\" }",
                "`key_prefix` needs `redis`",
            ),
            (
                "{ limit = 1, window_ms = 1, redis = \"\" }",
                "`redis` is empty",
            ),
            (
                "{ limit = 1, window_ms = 1, redis = \"m\", on_store_error = \"maybe\" }",
                "on_store_error",
            ),
        ] {
            let err = config_error(init, &format!("[global]\nrules = [{rule}]"));
            assert!(err.contains("global.rules[0]"), "{err}");
            assert!(err.contains(expected), "{rule}: {err}");
        }
    }
}
