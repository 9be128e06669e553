//! Unit tests against the SDK's fake host: JWKS fetches scripted, timers fired by
//! hand, tokens signed by a test issuer.

use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
use hookgate_plugin_api::{CalloutResult, Outcome, Point, Reply};
use hookgate_plugin_kit::testing::config_error;
use serde_json::json;

use super::init;
use crate::testing::Issuer;

const JWKS_URL: &str = "http://idp.test/jwks.json";

fn config(extra: &str) -> String {
    format!(
        "[global]\njwks = \"{JWKS_URL}\"\nissuer = \"https://idp.test/\"\naudience = [\"api\"]\n\
         claims_to_headers = {{ sub = \"x-user\", groups = \"x-groups\" }}\n{extra}"
    )
}

/// A plugin whose timer fetched `issuer`'s keys.
fn plugin_with_keys(issuer: &Issuer, extra: &str) -> TestPlugin {
    let plugin = TestPlugin::init(init, &config(extra)).unwrap();
    plugin.script_callout(
        JWKS_URL,
        CalloutResult::response(200).with_body(issuer.jwks()),
    );
    plugin.fire_timers().unwrap();
    plugin
}

fn claims(sub: &str) -> serde_json::Value {
    json!({
        "sub": sub, "iss": "https://idp.test/", "aud": "api",
        "exp": Issuer::now() + 300, "groups": ["ops", "dev"],
    })
}

fn bearer(token: &str) -> FakeRequest {
    FakeRequest::get("/orders")
        .product("shop")
        .header("authorization", &format!("Bearer {token}"))
}

/// The `WWW-Authenticate` challenge of the 401 `plugin` gives a request with `token`.
fn challenge(plugin: &TestPlugin, token: &str) -> String {
    let reply = refused(plugin.found_product(&mut bearer(token)).unwrap());
    assert_eq!(reply.status(), 401);
    reply.header_value("www-authenticate").unwrap().to_owned()
}

fn refused(outcome: Outcome) -> Reply {
    match outcome {
        Outcome::Respond(reply) => reply,
        other => panic!("expected a 401, got {other:?}"),
    }
}

#[test]
fn registers_found_product_and_one_timer_per_jwks() {
    let text =
        config("refresh_ms = 60000\n[products.other]\njwks = \"cluster:idp\"\nrefresh_ms = 1000");
    let plugin = TestPlugin::init(init, &text).unwrap();
    for point in Point::ALL {
        let expected = usize::from(point == Point::FoundProduct);
        assert_eq!(plugin.handler_count(point), expected, "{point}");
    }
    let periods = plugin.timer_periods();
    let periods: Vec<u128> = periods.iter().map(|p| p.as_millis()).collect();
    assert_eq!(periods, [60000, 1000]);
}

#[test]
fn the_timer_fetches_the_jwks_and_a_good_token_goes_on_with_its_claims() {
    let issuer = Issuer::new(&["k1"]);
    let plugin = plugin_with_keys(&issuer, "");
    let fetched = plugin.callouts();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].target(), JWKS_URL);
    let mut req = bearer(&issuer.token("k1", &claims("ada"))).header("x-user", "forged");
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));
    assert_eq!(req.header_value("x-user"), Some("ada"));
    assert_eq!(req.header_value("x-groups"), Some("ops,dev"));
    assert_eq!(
        plugin.metric_value("jwt_requests", &["shop", "accepted"]),
        Some(1.0)
    );
}

#[test]
fn no_token_is_a_401_with_a_bearer_challenge_without_error() {
    let issuer = Issuer::new(&["k1"]);
    let plugin = plugin_with_keys(&issuer, "realm = \"shop \\\"api\\\"\"");
    let reply = refused(plugin.found_product(&mut FakeRequest::get("/")).unwrap());
    assert_eq!(reply.status(), 401);
    assert_eq!(
        reply.header_value("www-authenticate"),
        Some(r#"Bearer realm="shop \"api\"""#)
    );
    let basic = FakeRequest::get("/").header("authorization", "Basic YTpi");
    let reply = refused(plugin.found_product(&mut basic.clone()).unwrap());
    assert_eq!(reply.status(), 401);
}

#[test]
fn bad_tokens_are_401_invalid_token_saying_why() {
    let issuer = Issuer::new(&["k1"]);
    let stranger = Issuer::new(&["k1", "k9"]);
    let plugin = plugin_with_keys(&issuer, "");
    let now = Issuer::now();
    let mut expired = claims("ada");
    expired["exp"] = json!(now - 3600);
    let mut early = claims("ada");
    early["nbf"] = json!(now + 3600);
    let mut no_iss = claims("ada");
    no_iss.as_object_mut().unwrap().remove("iss");
    let mut no_aud = claims("ada");
    no_aud.as_object_mut().unwrap().remove("aud");
    let mut no_exp = claims("ada");
    no_exp.as_object_mut().unwrap().remove("exp");
    let cases = [
        (issuer.token("k1", &expired), "token expired"),
        (issuer.token("k1", &early), "token not valid yet"),
        (
            issuer.token(
                "k1",
                &json!({"iss": "https://evil.test/", "aud": "api", "exp": now + 60}),
            ),
            "wrong issuer",
        ),
        (
            issuer.token(
                "k1",
                &json!({"iss": "https://idp.test/", "aud": "web", "exp": now + 60}),
            ),
            "wrong audience",
        ),
        (issuer.token("k1", &no_iss), "missing claim \\\"iss\\\""),
        (issuer.token("k1", &no_aud), "missing claim \\\"aud\\\""),
        (issuer.token("k1", &no_exp), "missing claim \\\"exp\\\""),
        (stranger.token("k1", &claims("ada")), "bad signature"),
        (
            stranger.token("k9", &claims("ada")),
            "no key \\\"k9\\\" in the JWKS",
        ),
        ("not.a.token".to_owned(), "malformed token"),
    ];
    for (token, why) in cases {
        let challenge = challenge(&plugin, &token);
        let expected = format!(
            "Bearer realm=\"hookgate\", error=\"invalid_token\", error_description=\"{why}\""
        );
        assert_eq!(challenge, expected);
    }
    assert_eq!(
        plugin.metric_value("jwt_requests", &["shop", "invalid"]),
        Some(10.0)
    );
}

#[test]
fn an_algorithm_outside_the_list_is_refused_before_any_key() {
    let issuer = Issuer::new(&["k1"]);
    let plugin = plugin_with_keys(&issuer, "algorithms = [\"RS256\"]");
    let challenge = challenge(&plugin, &issuer.token("k1", &claims("ada")));
    assert!(
        challenge.contains("algorithm ES256 not accepted"),
        "{challenge}"
    );
}

#[test]
fn required_claims_beyond_the_spec_ones_are_checked() {
    let issuer = Issuer::new(&["k1"]);
    let plugin = plugin_with_keys(&issuer, "required_claims = [\"exp\", \"tenant\"]");
    let challenge = challenge(&plugin, &issuer.token("k1", &claims("ada")));
    assert!(
        challenge.contains(r#"missing claim \"tenant\""#),
        "{challenge}"
    );
    let mut with = claims("ada");
    with["tenant"] = json!("t1");
    let ok = plugin.found_product(&mut bearer(&issuer.token("k1", &with)));
    assert_eq!(ok, Ok(Outcome::GoOn));
}

#[test]
fn a_rotated_jwks_is_picked_up_by_the_next_tick_and_a_failed_fetch_keeps_the_keys() {
    let old = Issuer::new(&["old"]);
    let new = Issuer::new(&["new"]);
    let plugin = plugin_with_keys(&old, "");
    let old_token = old.token("old", &claims("ada"));
    let new_token = new.token("new", &claims("bob"));
    assert_eq!(
        plugin.found_product(&mut bearer(&old_token)),
        Ok(Outcome::GoOn)
    );
    assert_eq!(
        refused(plugin.found_product(&mut bearer(&new_token)).unwrap()).status(),
        401
    );

    plugin.clear_callout_scripts();
    plugin.script_callout(JWKS_URL, CalloutResult::response(200).with_body(new.jwks()));
    plugin.fire_timers().unwrap();
    assert_eq!(
        plugin.found_product(&mut bearer(&new_token)),
        Ok(Outcome::GoOn)
    );
    let challenge = challenge(&plugin, &old_token);
    assert!(
        challenge.contains(r#"no key \"old\" in the JWKS"#),
        "{challenge}"
    );

    // A failing fetch (down, 500, no usable key, not JSON) keeps the keys.
    for answer in [
        CalloutResult::failed("connect: refused"),
        CalloutResult::response(500),
        CalloutResult::response(200).with_body("{\"keys\": [{\"kty\": \"XX\"}]}"),
        CalloutResult::response(200).with_body("<html>"),
    ] {
        plugin.clear_callout_scripts();
        plugin.script_callout(JWKS_URL, answer);
        plugin.fire_timers().unwrap();
        assert_eq!(
            plugin.found_product(&mut bearer(&new_token)),
            Ok(Outcome::GoOn)
        );
    }
    let warned = plugin.logs();
    let warned = warned
        .iter()
        .filter(|l| l.message.contains("keeping the keys I had"));
    assert_eq!(warned.count(), 4);
}

#[test]
fn before_any_keys_a_request_fetches_them_itself_or_fails_under_the_policy() {
    let issuer = Issuer::new(&["k1"]);
    let token = issuer.token("k1", &claims("ada"));
    let plugin = TestPlugin::init(init, &config("")).unwrap();
    let mut req = bearer(&token);
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::Wait));
    plugin.script_callout(
        JWKS_URL,
        CalloutResult::response(200).with_body(issuer.jwks()),
    );
    assert_eq!(plugin.resume(&mut req), Ok(Outcome::GoOn));
    assert_eq!(req.header_value("x-user"), Some("ada"));
    // The keys stay: the next request does not wait.
    assert_eq!(plugin.found_product(&mut bearer(&token)), Ok(Outcome::GoOn));

    let down = TestPlugin::init(init, &config("")).unwrap();
    let mut req = bearer(&token);
    assert_eq!(down.found_product(&mut req), Ok(Outcome::Wait));
    down.script_callout(JWKS_URL, CalloutResult::failed("timeout"));
    let failed = down.resume(&mut req).unwrap_err();
    assert_eq!(failed, format!("no JWKS keys yet: {JWKS_URL}: timeout"));
}

#[test]
fn products_layer_over_global_and_may_opt_out_or_use_a_condition() {
    let issuer = Issuer::new(&["k1"]);
    let extra = "[products.public]\nenabled = false\n\
                 [products.docs]\ncond = 'req_path_prefix_in(\"/private/\", false)'\n";
    let plugin = plugin_with_keys(&issuer, extra);
    let mut public = FakeRequest::get("/")
        .product("public")
        .header("x-user", "kept");
    assert_eq!(plugin.found_product(&mut public), Ok(Outcome::GoOn));
    assert_eq!(
        public.header_value("x-user"),
        Some("kept"),
        "no policy: untouched"
    );
    let mut open = FakeRequest::get("/guide")
        .product("docs")
        .header("x-user", "forged");
    assert_eq!(plugin.found_product(&mut open), Ok(Outcome::GoOn));
    assert_eq!(
        open.header_value("x-user"),
        None,
        "claim headers are never the client's"
    );
    let private = FakeRequest::get("/private/x").product("docs");
    assert_eq!(
        refused(plugin.found_product(&mut private.clone()).unwrap()).status(),
        401
    );
}

#[test]
fn config_errors_name_the_key() {
    let cases = [
        (
            "[global]\njwks = \"ftp://x\"",
            "global.jwks: \"ftp://x\" is neither",
        ),
        (
            "[global]\njwks = \"cluster:\"",
            "global.jwks: \"cluster:\" without a name",
        ),
        ("[global]\nenabled = true", "global.jwks: missing"),
        (
            "[products.a]\njwks = \"cluster:idp\"\njwks_path = \"x\"",
            "products.a.jwks_path: must start with `/`",
        ),
        (
            "[global]\njwks = \"http://a/\"\nrefresh_ms = 5",
            "global.refresh_ms: 5; expected at least 100",
        ),
        (
            "[global]\njwks = \"http://a/\"\nalgorithms = [\"XX1\"]",
            "global.algorithms: \"XX1\" is not a JWS algorithm",
        ),
        (
            "[global]\njwks = \"http://a/\"\nclaims_to_headers = { sub = \"x y\" }",
            "global.claims_to_headers.sub",
        ),
        ("[global]\njwks = \"http://a/\"\nbogus = 1", "bogus"),
        (
            "[global]\njwks = \"http://a/\"\ncond = 'nope('",
            "global.cond",
        ),
    ];
    for (text, expected) in cases {
        let err = config_error(init, text);
        assert!(err.starts_with("jwt plugin config: "), "{err}");
        assert!(err.contains(expected), "{text}: {err}");
    }
}
