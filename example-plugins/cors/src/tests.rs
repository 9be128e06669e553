use hookgate_plugin_api::testing::{FakeRequest, FakeResponse, TestPlugin};
use hookgate_plugin_api::{Outcome, Point, Reply, ResponseOutcome};
use hookgate_plugin_kit::testing::config_error;

use super::init;

const SHOP: &str = "[products.shop]\n\
                    allow_origins = [\"https://shop.example.com\", \"http://localhost:3000\"]\n\
                    allow_methods = [\"GET\", \"PUT\"]\n\
                    allow_headers = [\"content-type\", \"X-Token\"]\n\
                    expose_headers = [\"x-request-id\"]\n\
                    allow_credentials = true\n\
                    max_age = 600\n";

fn preflight(origin: &str) -> FakeRequest {
    FakeRequest::new("OPTIONS", "/api/cart")
        .header("origin", origin)
        .header("access-control-request-method", "PUT")
        .product("shop")
}

fn answer(plugin: &TestPlugin, mut req: FakeRequest) -> Reply {
    match plugin.found_product(&mut req) {
        Ok(Outcome::Respond(reply)) => reply,
        other => panic!("expected an answer, got {other:?}"),
    }
}

/// The response a backend gave to `req`, after ReadResponse.
fn marked(plugin: &TestPlugin, req: FakeRequest, resp: FakeResponse) -> FakeResponse {
    let (mut req, mut resp) = (req, resp);
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));
    assert_eq!(
        plugin.read_response(&mut req, &mut resp),
        Ok(ResponseOutcome::GoOn)
    );
    resp
}

#[test]
fn a_preflight_from_an_allowed_origin_is_answered() {
    let plugin = TestPlugin::init(init, SHOP).unwrap();
    assert_eq!(plugin.handler_count(Point::FoundProduct), 1);
    assert_eq!(plugin.handler_count(Point::ReadResponse), 1);
    let reply = answer(&plugin, preflight("https://shop.example.com"));
    let expected = Reply::new(204)
        .header("access-control-allow-origin", "https://shop.example.com")
        .header("vary", "Origin")
        .header("access-control-allow-methods", "GET, PUT")
        .header("access-control-allow-headers", "content-type, X-Token")
        .header("access-control-max-age", "600")
        .header("access-control-allow-credentials", "true");
    assert_eq!(reply, expected);

    // ReadResponse leaves the answer as it is.
    let mut req = preflight("https://shop.example.com");
    let mut resp = FakeResponse::new(204).header("vary", "Origin");
    assert_eq!(
        plugin.read_response(&mut req, &mut resp),
        Ok(ResponseOutcome::GoOn)
    );
    assert_eq!(resp.header_values("vary"), ["Origin"]);
    assert_eq!(resp.header_value("access-control-expose-headers"), None);
}

#[test]
fn a_preflight_from_another_origin_is_refused() {
    let plugin = TestPlugin::init(init, SHOP).unwrap();
    for origin in [
        "https://evil.example",
        "https://shop.example.com:8443",
        "null",
    ] {
        let reply = answer(&plugin, preflight(origin));
        assert_eq!(reply.status(), 403, "{origin}");
        assert_eq!(reply.header_value("access-control-allow-origin"), None);
    }
}

#[test]
fn other_requests_go_on() {
    let plugin = TestPlugin::init(init, SHOP).unwrap();
    let requests = [
        // OPTIONS without Access-Control-Request-Method is not a preflight.
        FakeRequest::new("OPTIONS", "/").header("origin", "https://shop.example.com"),
        FakeRequest::new("OPTIONS", "*").header("access-control-request-method", "GET"),
        FakeRequest::get("/").header("origin", "https://shop.example.com"),
    ];
    for req in requests {
        let mut req = req.product("shop");
        assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn), "{req:?}");
    }
    // Another product, without a policy.
    let mut req = preflight("https://shop.example.com").product("blog");
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));
}

#[test]
fn responses_to_allowed_origins_are_marked() {
    let plugin = TestPlugin::init(init, SHOP).unwrap();
    let req = FakeRequest::get("/api")
        .header("origin", "http://localhost:3000")
        .product("shop");
    let backend = FakeResponse::new(200).header("vary", "Accept-Encoding");
    let resp = marked(&plugin, req, backend);
    assert_eq!(
        resp.header_value("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(resp.header_values("vary"), ["Accept-Encoding", "Origin"]);
    assert_eq!(
        resp.header_value("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        resp.header_value("access-control-expose-headers"),
        Some("x-request-id")
    );
}

#[test]
fn responses_to_other_origins_only_vary() {
    let plugin = TestPlugin::init(init, SHOP).unwrap();
    for req in [
        FakeRequest::get("/").header("origin", "https://evil.example"),
        FakeRequest::get("/"),
    ] {
        let resp = marked(&plugin, req.product("shop"), FakeResponse::new(200));
        assert_eq!(resp.header_value("access-control-allow-origin"), None);
        assert_eq!(resp.header_value("access-control-allow-credentials"), None);
        assert_eq!(resp.header_values("vary"), ["Origin"]);
    }
    // Vary already covers it.
    let backend = FakeResponse::new(200).header("vary", "accept, origin");
    let resp = marked(&plugin, FakeRequest::get("/").product("shop"), backend);
    assert_eq!(resp.header_values("vary"), ["accept, origin"]);
    // Products without a policy are left alone.
    let resp = marked(
        &plugin,
        FakeRequest::get("/").product("blog"),
        FakeResponse::new(200),
    );
    assert!(resp.header_values("vary").is_empty());
}

#[test]
fn global_defaults_and_any_origin() {
    let config = "[global]\n\
                  allow_origins = [\"*\"]\n\
                  max_age = 60\n\
                  [products.shop]\n\
                  allow_origins = [\"https://shop.example.com\"]\n\
                  [products.internal]\n\
                  allow_origins = []\n";
    let plugin = TestPlugin::init(init, config).unwrap();
    // Any product without a section: any origin, echoed; defaults for the rest.
    let reply = answer(&plugin, preflight("https://a.example").product("blog"));
    assert_eq!(reply.status(), 204);
    assert_eq!(
        reply.header_value("access-control-allow-origin"),
        Some("https://a.example")
    );
    assert_eq!(
        reply.header_value("access-control-allow-methods"),
        Some("GET, HEAD, POST")
    );
    assert_eq!(reply.header_value("access-control-max-age"), Some("60"));
    assert_eq!(reply.header_value("access-control-allow-headers"), None);
    assert_eq!(reply.header_value("access-control-allow-credentials"), None);
    // The product's list replaces the global one.
    assert_eq!(
        answer(&plugin, preflight("https://a.example")).status(),
        403
    );
    let reply = answer(&plugin, preflight("https://shop.example.com"));
    assert_eq!(reply.header_value("access-control-max-age"), Some("60"));
    // An empty list allows no origin.
    let reply = answer(&plugin, preflight("https://a.example").product("internal"));
    assert_eq!(reply.status(), 403);
}

#[test]
fn config_errors_name_the_key() {
    let error = |config: &str| config_error(init, config);
    let err = error("[products.shop]\nallow_origin = [\"https://a.example\"]\n");
    assert!(err.starts_with("cors plugin config: "), "{err}");
    assert!(err.contains("unknown field `allow_origin`"), "{err}");
    let err = error("[products.shop]\nallow_origins = \"https://a.example\"\n");
    assert!(err.contains("allow_origins"), "{err}");
    let err = error("[products.shop]\nallow_origins = [\"*\"]\nmax_age = -1\n");
    assert!(err.contains("max_age"), "{err}");

    for bad in [
        "https://a.example/",
        "https://a.example/path",
        "a.example",
        "https://user@a.example",
        "null",
        "",
    ] {
        let err = error(&format!("[products.shop]\nallow_origins = [{bad:?}]\n"));
        assert!(
            err.contains("products.shop.allow_origins[0]: "),
            "{bad}: {err}"
        );
        assert!(err.contains("is not an origin"), "{bad}: {err}");
    }
    let err = error("[products.shop]\nallow_origins = [\"https://a.example:443\"]\n");
    assert!(err.contains("products.shop.allow_origins[0]: "), "{err}");
    assert!(err.contains("default port"), "{err}");
    let other_port = "[products.shop]\nallow_origins = [\"http://a.example:8080\"]\n";
    assert!(TestPlugin::init(init, other_port).is_ok());
    let err = error("[global]\nallow_origins = [\"https://a.example/\"]\n[products.shop]\n");
    assert!(err.contains("global.allow_origins[0]: "), "{err}");
    let err = error("[products.shop]\nmax_age = 5\n");
    assert!(
        err.contains("products.shop.allow_origins: missing"),
        "{err}"
    );

    let shop = "[products.shop]\nallow_origins = [\"https://a.example\"]\n";
    let err = error(&format!("{shop}allow_methods = [\"GET\", \"P U T\"]\n"));
    assert!(
        err.contains("products.shop.allow_methods[1]: \"P U T\""),
        "{err}"
    );
    let err = error(&format!("{shop}allow_headers = [\"x token\"]\n"));
    assert!(
        err.contains("products.shop.allow_headers[0]: \"x token\""),
        "{err}"
    );
    let err = error(&format!("[global]\nexpose_headers = [\"a:b\"]\n{shop}"));
    assert!(err.contains("global.expose_headers[0]: \"a:b\""), "{err}");
    let err =
        error("[global]\nallow_credentials = true\n[products.shop]\nallow_origins = [\"*\"]\n");
    assert!(
        err.contains("products.shop: allow_credentials = true"),
        "{err}"
    );
}

hookgate_plugin_kit::test_documented_configs!();
