//! The plugin through the SDK's fake host.

use hookgate_plugin_kit::testing::config_error;
use std::net::IpAddr;

use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
use hookgate_plugin_api::{Outcome, Point};

use super::{init, CONTEXT_KEY};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn is_generated(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Runs BeforeLocation and returns the header the backend would see.
fn run(plugin: &TestPlugin, mut req: FakeRequest) -> FakeRequest {
    assert_eq!(plugin.before_location(&mut req), Ok(Outcome::GoOn));
    let header = req.header_value("x-request-id").map(str::to_owned);
    assert_eq!(
        req.context(CONTEXT_KEY),
        header.as_deref(),
        "context = header"
    );
    req
}

#[test]
fn registers_only_before_location() {
    let plugin = TestPlugin::init(init, "").unwrap();
    for point in Point::ALL {
        let expected = usize::from(point == Point::BeforeLocation);
        assert_eq!(plugin.handler_count(point), expected, "{point}");
    }
}

#[test]
fn sets_a_fresh_random_id_when_absent() {
    let plugin = TestPlugin::init(init, "").unwrap();
    let first = run(&plugin, FakeRequest::get("/"));
    let second = run(&plugin, FakeRequest::get("/"));
    let (first, second) = (
        first.header_value("x-request-id").unwrap(),
        second.header_value("x-request-id").unwrap(),
    );
    assert!(is_generated(first), "{first}");
    assert!(is_generated(second), "{second}");
    assert_ne!(first, second);
}

#[test]
fn untrusted_client_id_is_replaced() {
    let plugin = TestPlugin::init(init, "trusted = [\"10.0.0.0/8\"]").unwrap();
    let req = FakeRequest::get("/")
        .header("X-Request-Id", "chosen-by-client")
        .header("x-request-id", "second")
        .client_ip(ip("192.0.2.1"));
    let req = run(&plugin, req);
    let values = req.header_values("x-request-id");
    assert_eq!(values.len(), 1, "{values:?}");
    assert!(is_generated(values[0]), "{values:?}");
}

#[test]
fn trusted_client_id_is_kept() {
    let config = "trusted = [\"10.0.0.0/8\", \"192.0.2.7\", \"2001:db8::/32\"]";
    let plugin = TestPlugin::init(init, config).unwrap();
    for client in ["10.1.2.3", "192.0.2.7", "2001:db8::1", "::ffff:10.9.9.9"] {
        let req = FakeRequest::get("/")
            .header("x-request-id", "from-the-edge")
            .client_ip(ip(client));
        let req = run(&plugin, req);
        assert_eq!(
            req.header_value("x-request-id"),
            Some("from-the-edge"),
            "{client}"
        );
    }
    // The bare address is one host, not a network.
    let req = FakeRequest::get("/")
        .header("x-request-id", "from-the-edge")
        .client_ip(ip("192.0.2.8"));
    assert!(is_generated(
        run(&plugin, req).header_value("x-request-id").unwrap()
    ));
}

#[test]
fn trusted_client_without_an_id_gets_one() {
    let plugin = TestPlugin::init(init, "trusted = [\"192.0.2.0/24\"]").unwrap();
    let req = run(&plugin, FakeRequest::get("/"));
    assert!(is_generated(req.header_value("x-request-id").unwrap()));
    let req = run(&plugin, FakeRequest::get("/").header("x-request-id", ""));
    assert!(is_generated(req.header_value("x-request-id").unwrap()));
}

#[test]
fn custom_header_name() {
    let plugin = TestPlugin::init(init, "header = \"X-Log-Id\"").unwrap();
    let mut req = FakeRequest::get("/");
    assert_eq!(plugin.before_location(&mut req), Ok(Outcome::GoOn));
    let id = req.header_value("x-log-id").unwrap();
    assert!(is_generated(id));
    assert_eq!(req.context(CONTEXT_KEY), Some(id));
    assert_eq!(req.header_value("x-request-id"), None);
}

#[test]
fn bad_cidr_names_the_entry() {
    let err = config_error(init, "trusted = [\"10.0.0.0/8\", \"10.0.0.0/33\"]");
    assert_eq!(
        err,
        "request-id plugin config: trusted[1]: \"10.0.0.0/33\" is not an IP address or CIDR block"
    );
    let err = config_error(init, "trusted = [\"localhost\"]");
    assert!(err.contains("trusted[0]: \"localhost\""), "{err}");
}

#[test]
fn bad_header_name_is_an_error() {
    let err = config_error(init, "header = \"x request id\"");
    assert_eq!(
        err,
        "request-id plugin config: header: \"x request id\" is not a header name"
    );
}

#[test]
fn unknown_key_and_wrong_type_are_errors() {
    let err = config_error(init, "trust = [\"10.0.0.0/8\"]");
    assert!(err.starts_with("request-id plugin config: "), "{err}");
    assert!(err.contains("unknown field `trust`"), "{err}");
    let err = config_error(init, "trusted = \"10.0.0.0/8\"");
    assert!(err.contains("trusted"), "{err}");
    assert!(err.contains("expected a sequence"), "{err}");
}

hookgate_plugin_kit::test_documented_configs!();
