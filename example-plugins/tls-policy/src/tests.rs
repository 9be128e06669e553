//! Unit tests against the SDK's fake host.

use hookgate_plugin_kit::testing::config_error;
use std::net::SocketAddr;

use hookgate_plugin_api::testing::{FakeSession, TestPlugin};
use hookgate_plugin_api::{Action, PeerCertificate, Point};

use super::init;

const CONFIG: &str = r#"
[default]
min_version = "1.2"

[listeners."127.0.0.1:8443"]
min_version = "TLSv1.3"
sni = ["shop.example.com", "*.API.example.com"]

[listeners."[::1]:9443"]
sni = ["v6.example.com"]
"#;

fn plugin(config: &str) -> TestPlugin {
    match TestPlugin::init(init, config) {
        Ok(plugin) => plugin,
        Err(e) => panic!("init failed: {e}"),
    }
}

/// A TLS session on `listener` with this SNI and version.
fn session(listener: &str, sni: &str, version: &str) -> FakeSession {
    let local = listener.parse::<SocketAddr>().unwrap();
    FakeSession::new()
        .local_addr(local)
        .tls(sni)
        .tls_version(version)
}

#[test]
fn registers_only_handshake() {
    let plugin = plugin("");
    for point in Point::ALL {
        let expected = usize::from(point == Point::Handshake);
        assert_eq!(plugin.handler_count(point), expected, "{point}");
    }
}

#[test]
fn empty_config_allows_everything() {
    let plugin = plugin("");
    let mut s = session("127.0.0.1:8443", "any.example.org", "TLSv1.0");
    assert_eq!(plugin.handshake(&mut s), Ok(Action::GoOn));
}

#[test]
fn listed_names_are_allowed_exactly_or_by_wildcard() {
    let plugin = plugin(CONFIG);
    let on_8443 = |sni: &str| plugin.handshake(&mut session("127.0.0.1:8443", sni, "TLSv1.3"));
    for allowed in [
        "shop.example.com",
        "SHOP.example.com",
        "v1.api.example.com",
        "a.b.api.example.com",
    ] {
        assert_eq!(on_8443(allowed), Ok(Action::GoOn), "{allowed}");
    }
    for denied in [
        "www.example.com",
        "api.example.com",
        "xapi.example.com",
        "shop.example.com.evil",
    ] {
        assert_eq!(on_8443(denied), Ok(Action::Close), "{denied}");
    }
}

#[test]
fn no_sni_is_closed_where_names_are_listed() {
    let plugin = plugin(CONFIG);
    let local = "127.0.0.1:8443".parse::<SocketAddr>().unwrap();
    // A TLS 1.3 session without SNI: `tls` sets one, so start from a name-less view.
    let mut s = FakeSession::new().local_addr(local).tls_version("TLSv1.3");
    assert_eq!(plugin.handshake(&mut s), Ok(Action::Close));
    // The default lists no names: no SNI is fine there.
    let other = "127.0.0.1:7443".parse::<SocketAddr>().unwrap();
    let mut s = FakeSession::new().local_addr(other).tls_version("TLSv1.2");
    assert_eq!(plugin.handshake(&mut s), Ok(Action::GoOn));
}

#[test]
fn minimum_version_per_listener_with_the_default_elsewhere() {
    let plugin = plugin(CONFIG);
    let check =
        |listener, version| plugin.handshake(&mut session(listener, "shop.example.com", version));
    assert_eq!(check("127.0.0.1:8443", "TLSv1.3"), Ok(Action::GoOn));
    assert_eq!(check("127.0.0.1:8443", "TLSv1.2"), Ok(Action::Close));
    // Another listener: the default's minimum, and any name.
    assert_eq!(check("127.0.0.1:7443", "TLSv1.2"), Ok(Action::GoOn));
    assert_eq!(check("127.0.0.1:7443", "TLSv1.1"), Ok(Action::Close));
    assert_eq!(check("127.0.0.1:7443", "SSLv3"), Ok(Action::Close));
    // [::1]:9443 sets names only: the minimum falls back to the default's.
    let v6 = |version| plugin.handshake(&mut session("[::1]:9443", "v6.example.com", version));
    assert_eq!(v6("TLSv1.2"), Ok(Action::GoOn));
    assert_eq!(v6("TLSv1.1"), Ok(Action::Close));
}

#[test]
fn syntax_and_unknown_keys_fail_naming_the_key() {
    let err = config_error(init, "[default]\nmin_tls = \"1.2\"\n");
    assert!(err.starts_with("tls-policy plugin config: "), "{err}");
    assert!(err.contains("unknown field `min_tls`"), "{err}");
    let err = config_error(init, "[default]\nsni = \"a.example.com\"\n");
    assert!(err.contains("sni"), "{err}");
    assert!(err.contains("expected a sequence"), "{err}");
}

#[test]
fn bad_values_fail_naming_the_key_path() {
    let cases = [
        (
            "[default]\nmin_version = \"1.4\"",
            "default.min_version: \"1.4\" is not a TLS version",
        ),
        (
            "[listeners.\"127.0.0.1:8443\"]\nsni = [\"ok.example.com\", \"bad name\"]",
            "listeners.\"127.0.0.1:8443\".sni[1]: \"bad name\" is not a host name",
        ),
        (
            "[listeners.\"localhost:8443\"]\nmin_version = \"1.3\"",
            "listeners.\"localhost:8443\": not a listener address",
        ),
        (
            "[listeners.\"[::1]:8443\"]\n[listeners.\"[0::1]:8443\"]",
            "listeners.\"[::1]:8443\": the same listener as another entry",
        ),
        ("[default]\nsni = [\"*.*.example.com\"]", "default.sni[0]: "),
    ];
    for (config, expected) in cases {
        let err = config_error(init, config);
        let expected = format!("tls-policy plugin config: {expected}");
        assert!(err.starts_with(&expected), "{config}\n=> {err}");
    }
}

const CLIENTS: &str = r#"
[listeners."127.0.0.1:8443"]
client_san = { "admin.example.com" = ["DNS:ops.example.com", "email:OPS@example.com"], "*.example.com" = ["URI:spiffe://example.com/mesh"], "*.internal.example.com" = ["IP:10.0.0.7"] }
"#;

fn with_cert(sni: &str, sans: &[&str]) -> FakeSession {
    let cert = PeerCertificate {
        subject: "CN=client".into(),
        sans: sans.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    session("127.0.0.1:8443", sni, "TLSv1.3").client_certificate(cert)
}

#[test]
fn client_certificates_need_a_listed_san_for_the_most_specific_name() {
    let plugin = plugin(CLIENTS);
    let check = |mut s: FakeSession| plugin.handshake(&mut s);
    // The exact name's rule: one of its SANs, DNS and e-mail in any case.
    assert_eq!(
        check(with_cert("admin.example.com", &["DNS:OPS.example.com"])),
        Ok(Action::GoOn)
    );
    assert_eq!(
        check(with_cert("admin.example.com", &["email:ops@EXAMPLE.com"])),
        Ok(Action::GoOn)
    );
    assert_eq!(
        check(with_cert(
            "admin.example.com",
            &["URI:spiffe://example.com/mesh"]
        )),
        Ok(Action::Close),
        "the wildcard's SAN does not do for the exact name"
    );
    // No certificate where a rule applies.
    assert_eq!(
        check(session("127.0.0.1:8443", "admin.example.com", "TLSv1.3")),
        Ok(Action::Close)
    );
    // The wildcard's rule, and the longer wildcard's (IP addresses compared as such).
    assert_eq!(
        check(with_cert(
            "www.example.com",
            &["DNS:x", "URI:spiffe://example.com/mesh"]
        )),
        Ok(Action::GoOn)
    );
    assert_eq!(
        check(with_cert("db.internal.example.com", &["IP:10.0.0.07"])),
        Ok(Action::Close)
    );
    assert_eq!(
        check(with_cert("db.internal.example.com", &["IP:10.0.0.7"])),
        Ok(Action::GoOn)
    );
    // A name without a rule needs no certificate.
    assert_eq!(
        check(session("127.0.0.1:8443", "example.org", "TLSv1.3")),
        Ok(Action::GoOn)
    );
    // Another listener: the default has no rules.
    assert_eq!(
        check(session("127.0.0.1:7443", "admin.example.com", "TLSv1.3")),
        Ok(Action::GoOn)
    );
}

#[test]
fn bad_client_san_rules_fail_naming_the_key() {
    let cases = [
        (
            "[default]\nclient_san = { \"bad name\" = [\"DNS:a\"] }",
            "default.client_san: \"bad name\" is not a host name",
        ),
        (
            "[default]\nclient_san = { \"a.example.com\" = [\"CN=a\"] }",
            "default.client_san: \"a.example.com\": \"CN=a\" is not a subjectAltName",
        ),
        (
            "[default]\nclient_san = { \"a.example.com\" = [\"IP:ten\"] }",
            "default.client_san: \"a.example.com\": \"IP:ten\" is not an IP address",
        ),
        (
            "[default]\nclient_san = { \"a.example.com\" = [] }",
            "default.client_san: \"a.example.com\": no subjectAltName listed",
        ),
    ];
    for (config, expected) in cases {
        let err = config_error(init, config);
        let expected = format!("tls-policy plugin config: {expected}");
        assert!(err.starts_with(&expected), "{config}\n=> {err}");
    }
}

hookgate_plugin_kit::test_documented_configs!();
