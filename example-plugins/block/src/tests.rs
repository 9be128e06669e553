//! Unit tests against the SDK's fake host.

use hookgate_plugin_kit::testing::config_error;
use std::net::{IpAddr, SocketAddr};

use hookgate_plugin_api::testing::{FakeRequest, FakeSession, TestPlugin};
use hookgate_plugin_api::{Action, Outcome, Point, Reply};

use super::init;

fn plugin(config: &str) -> TestPlugin {
    match TestPlugin::init(init, config) {
        Ok(plugin) => plugin,
        Err(e) => panic!("init failed: {e}"),
    }
}

fn from(addr: &str) -> FakeSession {
    FakeSession::new().remote_addr(addr.parse::<SocketAddr>().unwrap())
}

fn forbidden() -> Outcome {
    let reply = Reply::new(403).header("content-type", "text/plain");
    Outcome::Respond(reply.body("forbidden\n"))
}

#[test]
fn empty_config_registers_nothing() {
    let plugin = plugin("");
    for point in Point::ALL {
        assert_eq!(plugin.handler_count(point), 0, "{point}");
    }
    let plugin = self::plugin("[global]\ndeny = []\n[products.shop]\nrules = []");
    for point in Point::ALL {
        assert_eq!(plugin.handler_count(point), 0, "{point}");
    }
}

#[test]
fn denied_ips_and_cidrs_are_closed_at_accept() {
    let plugin = plugin(r#"global.deny = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]"#);
    assert_eq!(plugin.handler_count(Point::Accept), 1);
    assert_eq!(plugin.handler_count(Point::FoundProduct), 0);
    for blocked in [
        "10.1.2.3:1000",
        "192.0.2.7:1",
        "[2001:db8::1]:443",
        "[::ffff:10.9.9.9]:80",
    ] {
        assert_eq!(
            plugin.accept(&mut from(blocked)),
            Ok(Action::Close),
            "{blocked}"
        );
    }
    for allowed in ["11.0.0.1:1000", "192.0.2.8:1", "[2001:db9::1]:443"] {
        assert_eq!(
            plugin.accept(&mut from(allowed)),
            Ok(Action::GoOn),
            "{allowed}"
        );
    }
}

#[test]
fn global_rules_apply_to_every_product_before_its_own() {
    let plugin = plugin(
        r#"
        [global]
        rules = [{ path_prefix = "/.git/" }]
        [products.shop]
        rules = [
          { path_prefix = "/", method = "DELETE", action = "close" },
          { path_prefix = "/.git/", action = "close" },
        ]
        "#,
    );
    for product in ["shop", "web", ""] {
        let mut req = FakeRequest::get("/.git/config").product(product);
        assert_eq!(plugin.found_product(&mut req), Ok(forbidden()), "{product}");
    }
    let mut req = FakeRequest::new("DELETE", "/cart/1").product("shop");
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::Close));
    let mut req = FakeRequest::new("DELETE", "/cart/1").product("web");
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));
    let mut req = FakeRequest::get("/cart/1").product("shop");
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));
}

#[test]
fn each_condition_narrows_a_rule() {
    let plugin = plugin(
        r#"
        [products.shop]
        rules = [
          { path = "/exact", status = 404, body = "" },
          { path_prefix = "/admin/", client_ip = ["203.0.113.0/24"] },
          { method = "trace", action = "close" },
          { header = { name = "X-Debug" }, action = "close" },
          { header = { name = "x-env", value = "test" }, status = 451, body = "not here\n" },
        ]
        "#,
    );
    let check = |req: FakeRequest| plugin.found_product(&mut req.product("shop")).unwrap();
    let status = |outcome: Outcome| match outcome {
        Outcome::Respond(reply) => reply.status(),
        other => panic!("not a response: {other:?}"),
    };

    assert_eq!(status(check(FakeRequest::get("/exact"))), 404);
    assert_eq!(check(FakeRequest::get("/exact/more")), Outcome::GoOn);

    let office: IpAddr = "203.0.113.9".parse().unwrap();
    let admin = FakeRequest::get("/admin/users");
    assert_eq!(status(check(admin.clone().client_ip(office))), 403);
    assert_eq!(check(admin), Outcome::GoOn);

    assert_eq!(check(FakeRequest::new("TRACE", "/")), Outcome::Close);
    assert_eq!(
        check(FakeRequest::get("/").header("x-debug", "1")),
        Outcome::Close
    );
    // BFE's req_header_key_in: an empty first value is no header.
    assert_eq!(
        check(FakeRequest::get("/").header("x-debug", "")),
        Outcome::GoOn
    );

    let env = |value| FakeRequest::get("/").header("x-env", value);
    let Outcome::Respond(reply) = check(env("test")) else {
        panic!("x-env: test is blocked");
    };
    assert_eq!(
        (reply.status(), reply.body_bytes()),
        (451, &b"not here\n"[..])
    );
    assert_eq!(check(env("prod")), Outcome::GoOn);
    // BFE's req_header_value_in reads the first value only.
    assert_eq!(check(env("prod").header("x-env", "test")), Outcome::GoOn);
}

#[test]
fn syntax_and_unknown_keys_fail_naming_the_key() {
    let err = config_error(init, "[global]\ndeny = \"10.0.0.0/8\"\n");
    assert!(err.starts_with("block plugin config: "), "{err}");
    assert!(err.contains("deny"), "{err}");
    assert!(err.contains("expected a sequence"), "{err}");

    let err = config_error(init, "[products.shop]\ndeny = []\n");
    assert!(err.contains("products.shop.deny: only [global]"), "{err}");
    let err = config_error(init, "[products.shop]\nrules = [{ path_prefx = \"/a\" }]\n");
    assert!(err.contains("unknown field `path_prefx`"), "{err}");
    let err = config_error(init, "[products.shop]\nrules = [{ action = \"drop\" }]\n");
    assert!(err.contains("unknown variant `drop`"), "{err}");
}

#[test]
fn bad_values_fail_naming_the_key_path() {
    let cases = [
        (
            r#"global.deny = ["10.0.0.0/8", "10.0.0.300"]"#,
            "global.deny[1]: ",
        ),
        (
            "[products.shop]\nrules = [{ path = \"/a\" }, { status = 1000 }]",
            "products.shop.rules[1].status: 1000 is not an HTTP status",
        ),
        (
            "[products.\"my shop\"]\nrules = [{ action = \"close\", status = 403 }]",
            "products.\"my shop\".rules[0]: `status` and `body` need action = \"respond\"",
        ),
        (
            "[global]\nrules = [{ path_prefix = \"admin\" }]",
            "global.rules[0]: path_prefix: a path must start with '/'",
        ),
        (
            "[global]\nrules = [{ cond = 'req_path_in(\"/a\"' }]",
            "global.rules[0]: cond: column ",
        ),
        (
            "[products.web]\nrules = [{ client_ip = [\"10.0.0.0/33\"] }]",
            "products.web.rules[0]: client_ip: ",
        ),
    ];
    for (config, expected) in cases {
        let err = config_error(init, config);
        assert!(
            err.starts_with(&format!("block plugin config: {expected}")),
            "{config}\n=> {err}"
        );
    }
}

hookgate_plugin_kit::test_documented_configs!();
