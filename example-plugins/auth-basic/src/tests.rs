//! Unit tests against the SDK's fake host. Hashes are bcrypt at cost 4, so that each
//! verification takes about a millisecond.

use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
use hookgate_plugin_api::{Outcome, Point, Reply};
use hookgate_plugin_kit::testing::config_error;

use super::init;

/// `alice-pw`, `bob-pw` and `root-pw`.
const ALICE: &str = "$2y$04$evnJrLjlT5q9Fy2ReeyYP.rz3xyI7RZTF4JFSvX/FL3NakEycZjJq";
const BOB: &str = "$2b$04$EdxkrcklSw0yVs7fCWiKAe9PVz0jVxvNw4ReaU2Mn65JjlfBfNWIC";
const ROOT: &str = "$2y$04$rb/dWEF7YwPEq9eyWrjGtuNCQHY7b2tvRRg0EVuMaucmuex.JcMei";

fn config() -> String {
    format!(
        r#"
        [[global.rules]]
        path_prefix = "/admin/"
        realm = "admin"
        users = {{ root = "{ROOT}" }}

        [[products.shop.rules]]
        realm = "shop"
        remove_authorization = true
        users = {{ alice = "{ALICE}", bob = "{BOB}" }}

        [[products.blog.rules]]
        method = "POST"
        users = {{ bob = "{BOB}" }}
        "#
    )
}

fn plugin(config: &str) -> TestPlugin {
    match TestPlugin::init(init, config) {
        Ok(plugin) => plugin,
        Err(e) => panic!("init failed: {e}"),
    }
}

/// `Authorization: Basic base64(user:password)`.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

fn challenge(realm: &str) -> Outcome {
    let reply = Reply::new(401)
        .header("www-authenticate", &format!("Basic realm=\"{realm}\""))
        .header("content-type", "text/plain")
        .body("unauthorized\n");
    Outcome::Respond(reply)
}

#[test]
fn no_rules_register_nothing() {
    let plugin = plugin("[products.shop]\nrules = []");
    for point in Point::ALL {
        assert_eq!(plugin.handler_count(point), 0, "{point}");
    }
}

#[test]
fn missing_or_wrong_credentials_get_the_challenge() {
    let plugin = plugin(&config());
    assert_eq!(plugin.handler_count(Point::FoundProduct), 1);
    let shop = || FakeRequest::get("/cart").product("shop");
    assert_eq!(plugin.found_product(&mut shop()), Ok(challenge("shop")));
    for auth in [
        basic("alice", "bob-pw"),
        basic("carol", "alice-pw"),
        basic("alice", ""),
        "Bearer abc".to_owned(),
        "Basic ###".to_owned(),
    ] {
        let mut req = shop().header("authorization", &auth);
        assert_eq!(
            plugin.found_product(&mut req),
            Ok(challenge("shop")),
            "{auth}"
        );
        assert_eq!(req.context("auth_user"), None);
    }
    // Counted on the host's /metrics, by reason.
    assert_eq!(
        plugin.metric_value("auth_basic_refused", &["missing"]),
        Some(1.0)
    );
    assert_eq!(
        plugin.metric_value("auth_basic_refused", &["wrong"]),
        Some(5.0)
    );
}

#[test]
fn right_credentials_go_on_with_the_user_in_the_context() {
    let plugin = plugin(&config());
    for (user, password) in [("alice", "alice-pw"), ("bob", "bob-pw")] {
        // Twice: the second check is served by the cache.
        for _ in 0..2 {
            let auth = basic(user, password);
            let mut req = FakeRequest::get("/cart")
                .product("shop")
                .header("Authorization", &auth);
            assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));
            assert_eq!(req.context("auth_user"), Some(user));
            // remove_authorization = true for shop.
            assert_eq!(req.header_value("authorization"), None);
        }
    }
}

#[test]
fn authorization_is_kept_unless_asked() {
    let plugin = plugin(&config());
    let auth = basic("bob", "bob-pw");
    let mut req = FakeRequest::new("POST", "/post")
        .product("blog")
        .header("authorization", &auth);
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));
    assert_eq!(req.context("auth_user"), Some("bob"));
    assert_eq!(req.header_value("authorization"), Some(auth.as_str()));
}

#[test]
fn the_first_matching_rule_decides_global_first() {
    let plugin = plugin(&config());
    // /admin/ on shop: the global rule's users, not shop's.
    let admin = |auth: &str| {
        FakeRequest::get("/admin/x")
            .product("shop")
            .header("authorization", auth)
    };
    let mut req = admin(&basic("alice", "alice-pw"));
    assert_eq!(plugin.found_product(&mut req), Ok(challenge("admin")));
    let mut req = admin(&basic("root", "root-pw"));
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));
    assert_eq!(req.context("auth_user"), Some("root"));

    // blog: only POST is protected, with the default realm; other products are open.
    let mut get = FakeRequest::get("/post").product("blog");
    assert_eq!(plugin.found_product(&mut get), Ok(Outcome::GoOn));
    let mut post = FakeRequest::new("POST", "/post").product("blog");
    assert_eq!(plugin.found_product(&mut post), Ok(challenge("restricted")));
    let mut web = FakeRequest::get("/cart").product("web");
    assert_eq!(plugin.found_product(&mut web), Ok(Outcome::GoOn));
}

#[test]
fn syntax_and_unknown_keys_fail_naming_the_key() {
    let err = config_error(init, "[[global.rules]]\nrealm = \"x\"\n");
    assert!(err.starts_with("auth-basic plugin config: "), "{err}");
    assert!(err.contains("missing field `users`"), "{err}");
    let err = config_error(
        init,
        &format!("[[global.rules]]\nusers = {{ a = \"{ALICE}\" }}\nstrip = true\n"),
    );
    assert!(err.contains("unknown field `strip`"), "{err}");
    let err = config_error(init, "[[global.rules]]\nusers = { a = 1 }\n");
    assert!(err.contains("expected a string"), "{err}");
}

#[test]
fn bad_values_fail_naming_the_key_path() {
    let cases = [
        (
            "[[products.shop.rules]]\nusers = { alice = \"alice-pw\" }".to_owned(),
            "products.shop.rules[0].users.alice: not a bcrypt hash",
        ),
        (
            // A valid $2x$ hash of an old, buggy implementation: refused.
            format!("[[global.rules]]\nusers = {{ a = \"{}\" }}", ALICE.replace("$2y$", "$2x$")),
            "global.rules[0].users.a: not a bcrypt hash",
        ),
        (
            format!("[[global.rules]]\nusers = {{ a = \"{}\" }}", &ALICE[..50]),
            "global.rules[0].users.a: not a bcrypt hash",
        ),
        (
            format!("[[global.rules]]\nusers = {{ a = \"{}\" }}", ALICE.replace("$04$", "$03$")),
            "global.rules[0].users.a: bcrypt cost 3 is outside 4 to 31",
        ),
        (
            format!("[[global.rules]]\nusers = {{ \"a:b\" = \"{ALICE}\" }}"),
            "global.rules[0].users: \"a:b\": a user name cannot hold `:`",
        ),
        (
            format!("[[global.rules]]\nrealm = 'a\"b'\nusers = {{ a = \"{ALICE}\" }}"),
            "global.rules[0].realm: ",
        ),
        (
            "[[global.rules]]\nusers = {}".to_owned(),
            "global.rules[0].users: no user",
        ),
        (
            format!("[[global.rules]]\nusers = {{ a = \"{ALICE}\" }}\n[[global.rules]]\npath_prefix = \"admin\"\nusers = {{ a = \"{ALICE}\" }}"),
            "global.rules[1]: path_prefix: a path must start with '/'",
        ),
    ];
    for (config, expected) in cases {
        let err = config_error(init, &config);
        let expected = format!("auth-basic plugin config: {expected}");
        assert!(err.starts_with(&expected), "{config}\n=> {err}");
    }
}

hookgate_plugin_kit::test_documented_configs!();
