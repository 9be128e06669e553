use std::net::IpAddr;

use crate::{Condition, FactsBuf};

fn holds(expression: &str, facts: &FactsBuf) -> bool {
    let cond = Condition::parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
    cond.matches(facts)
}

fn get(uri: &str) -> FactsBuf {
    FactsBuf::new("GET", "www.example.com", uri)
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn default_t_always_holds() {
    assert!(holds("default_t()", &get("/")));
}

#[test]
fn host_in_ignores_case_and_port() {
    let mut f = FactsBuf::new("GET", "WWW.Example.com:8080", "/");
    assert!(holds(r#"req_host_in("a.example|www.example.com")"#, &f));
    assert!(!holds(r#"req_host_in("example.com")"#, &f));
    f.host = "example.com".into();
    assert!(holds(r#"req_host_in("example.com")"#, &f));
    let err = Condition::parse(r#"req_host_in("a.example:80")"#).unwrap_err();
    assert_eq!(err.column(), 13);
    assert!(err.message().contains("port"), "{err}");
}

#[test]
fn host_suffix_in() {
    let f = FactsBuf::new("GET", "API.Example.com:443", "/");
    assert!(holds(
        r#"req_host_suffix_in(".example.org|.example.com")"#,
        &f
    ));
    assert!(!holds(r#"req_host_suffix_in(".example.org")"#, &f));
}

#[test]
fn path_in_with_and_without_case() {
    let f = get("/API/Search");
    assert!(holds(r#"req_path_in("/x|/api/search", true)"#, &f));
    assert!(!holds(r#"req_path_in("/api/search", false)"#, &f));
    assert!(holds(r#"req_path_in("/API/Search", false)"#, &f));
    assert!(!holds(r#"req_path_in("/api", true)"#, &f));
}

#[test]
fn path_prefix_suffix_contain() {
    let f = get("/Api/report/x.PHP");
    assert!(holds(r#"req_path_prefix_in("/x|/api/", true)"#, &f));
    assert!(!holds(r#"req_path_prefix_in("/api/", false)"#, &f));
    assert!(holds(r#"req_path_suffix_in(".jsp|.php", true)"#, &f));
    assert!(!holds(r#"req_path_suffix_in(".php", false)"#, &f));
    assert!(holds(r#"req_path_contain("nothing|REPORT", true)"#, &f));
    assert!(!holds(r#"req_path_contain("REPORT", false)"#, &f));
}

#[test]
fn path_element_prefix_matches_whole_elements() {
    let cond = r#"req_path_element_prefix_in("/api/report", false)"#;
    assert!(holds(cond, &get("/api/report")));
    assert!(holds(cond, &get("/api/report/")));
    assert!(holds(cond, &get("/api/report/x")));
    assert!(!holds(cond, &get("/api/reports")));
    assert!(!holds(cond, &get("/api/rep")));
    assert!(!holds(cond, &get("/API/report")));
    assert!(holds(
        r#"req_path_element_prefix_in("/API/", true)"#,
        &get("/api")
    ));
}

#[test]
fn method_in_ignores_case() {
    assert!(holds(r#"req_method_in("post|get")"#, &get("/")));
    assert!(!holds(r#"req_method_in("POST|PUT")"#, &get("/")));
}

#[test]
fn query_exist() {
    assert!(holds("req_query_exist()", &get("/?a=1")));
    assert!(holds("req_query_exist()", &get("/?a")));
    assert!(!holds("req_query_exist()", &get("/?")));
    assert!(!holds("req_query_exist()", &get("/?&&")));
    assert!(!holds("req_query_exist()", &get("/")));
}

#[test]
fn query_keys() {
    let f = get("/s?word=x&rid_7=1&a%20b=2");
    assert!(holds(r#"req_query_key_in("wd|word")"#, &f));
    assert!(!holds(r#"req_query_key_in("WORD")"#, &f));
    assert!(holds(r#"req_query_key_in("a b")"#, &f));
    assert!(holds(r#"req_query_key_prefix_in("x|rid")"#, &f));
    assert!(!holds(r#"req_query_key_prefix_in("id")"#, &f));
}

#[test]
fn query_values_first_value_only() {
    let f = get("/s?uid=AbC1&uid=zzz&name=a+b%21");
    assert!(holds(r#"req_query_value_in("uid", "x|abc1", true)"#, &f));
    assert!(!holds(r#"req_query_value_in("uid", "abc1", false)"#, &f));
    assert!(!holds(r#"req_query_value_in("uid", "zzz", false)"#, &f));
    assert!(holds(r#"req_query_value_in("name", "a b!", false)"#, &f));
    assert!(holds(r#"req_query_value_prefix_in("uid", "ab", true)"#, &f));
    assert!(!holds(
        r#"req_query_value_prefix_in("uid", "ab", false)"#,
        &f
    ));
    assert!(holds(r#"req_query_value_suffix_in("uid", "c1", true)"#, &f));
    assert!(holds(
        r#"req_query_value_contain("uid", "q|bC", false)"#,
        &f
    ));
    assert!(!holds(r#"req_query_value_contain("uid", "bc", false)"#, &f));
    // Go's Values.Get: an absent key reads as the empty string.
    assert!(holds(r#"req_query_value_in("missing", "", false)"#, &f));
    assert!(!holds(r#"req_query_value_in("missing", "x", false)"#, &f));
}

#[test]
fn query_pairs_with_bad_escapes_or_semicolons_are_skipped() {
    let f = get("/s?a=%zz&b=1;c=2&d=ok");
    assert!(!holds(r#"req_query_key_in("a|b|c")"#, &f));
    assert!(holds(r#"req_query_key_in("d")"#, &f));
}

#[test]
fn header_keys() {
    let f = get("/")
        .with_header("Header-Test", "1")
        .with_header("x-empty", "");
    assert!(holds(r#"req_header_key_in("Header-Test")"#, &f));
    assert!(holds(r#"req_header_key_in("x|header-test")"#, &f));
    assert!(!holds(r#"req_header_key_in("x-empty|x-other")"#, &f));
}

#[test]
fn header_values() {
    let f = get("/")
        .with_header("Referer", "https://Example.org/login")
        .with_header("referer", "https://second.example/");
    assert!(holds(
        r#"req_header_value_in("Referer", "https://example.org/login", true)"#,
        &f
    ));
    assert!(!holds(
        r#"req_header_value_in("Referer", "https://example.org/login", false)"#,
        &f
    ));
    assert!(!holds(
        r#"req_header_value_in("referer", "https://second.example/", false)"#,
        &f
    ));
    assert!(holds(
        r#"req_header_value_prefix_in("referer", "x|https://Example", false)"#,
        &f
    ));
    assert!(holds(
        r#"req_header_value_suffix_in("Referer", "/LOGIN", true)"#,
        &f
    ));
    assert!(!holds(
        r#"req_header_value_suffix_in("Referer", "/LOGIN", false)"#,
        &f
    ));
    assert!(holds(
        r#"req_header_value_contain("Referer", "example.ORG", true)"#,
        &f
    ));
    assert!(!holds(
        r#"req_header_value_contain("User-Agent", "Firefox", true)"#,
        &f
    ));
}

#[test]
fn cookies_from_every_cookie_header() {
    let f = get("/")
        .with_header("cookie", "uid=Abc; theme=\"dark\"")
        .with_header("cookie", "deviceid=test123;flag");
    assert!(holds(r#"req_cookie_key_in("x|deviceid")"#, &f));
    assert!(holds(r#"req_cookie_key_in("flag")"#, &f));
    assert!(!holds(r#"req_cookie_key_in("UID")"#, &f));
    assert!(holds(r#"req_cookie_value_in("uid", "abc", true)"#, &f));
    assert!(!holds(r#"req_cookie_value_in("uid", "abc", false)"#, &f));
    assert!(holds(r#"req_cookie_value_in("theme", "dark", false)"#, &f));
    assert!(holds(
        r#"req_cookie_value_prefix_in("deviceid", "test", false)"#,
        &f
    ));
    assert!(holds(
        r#"req_cookie_value_suffix_in("deviceid", "123", false)"#,
        &f
    ));
    assert!(holds(
        r#"req_cookie_value_contain("deviceid", "ST1", true)"#,
        &f
    ));
    // An absent cookie is no match, even against "".
    assert!(!holds(r#"req_cookie_value_in("missing", "", false)"#, &f));
}

#[test]
fn cip_range_and_trusted() {
    let mut f = get("/");
    let cond = r#"req_cip_range("10.0.0.1", "10.0.0.10")"#;
    assert!(!holds(cond, &f));
    f.client_ip = ip("10.0.0.10");
    assert!(holds(cond, &f));
    f.client_ip = ip("::ffff:10.0.0.5");
    assert!(holds(cond, &f));
    f.client_ip = ip("10.0.0.11");
    assert!(!holds(cond, &f));
    f.client_ip = ip("2001:db8::1");
    assert!(!holds(cond, &f));
    assert!(holds(r#"req_cip_range("2001:db8::", "2001:db8::ff")"#, &f));
    assert!(!holds("req_cip_trusted()", &f));
    f.client_ip_trusted = true;
    assert!(holds("req_cip_trusted()", &f));
}

#[test]
fn ip_range_errors() {
    for (cond, column, what) in [
        (
            r#"req_cip_range("10.0.0.x", "10.0.0.1")"#,
            15,
            "invalid IP address",
        ),
        (r#"req_cip_range("10.0.0.9", "10.0.0.1")"#, 15, "after"),
        (r#"ses_sip_range("10.0.0.1", "::1")"#, 15, "family"),
    ] {
        let err = Condition::parse(cond).unwrap_err();
        assert_eq!(err.column(), column, "{err}");
        assert!(err.message().contains(what), "{err}");
    }
}

#[test]
fn proto_secure_port_sni_sip() {
    let mut f = get("/");
    assert!(!holds("req_proto_secure()", &f));
    assert!(!holds(r#"req_port_in("80")"#, &f));
    assert!(!holds(r#"ses_tls_sni_in("example.com")"#, &f));
    assert!(!holds(r#"ses_sip_range("10.0.0.1", "10.0.0.1")"#, &f));
    f.secure = true;
    f.port = Some(8080);
    f.sni = Some("Example.COM".into());
    f.peer_ip = ip("10.0.0.1");
    assert!(holds("req_proto_secure()", &f));
    assert!(holds(r#"req_port_in("80|8080")"#, &f));
    assert!(!holds(r#"req_port_in("80|443")"#, &f));
    assert!(holds(r#"ses_tls_sni_in("example.org|example.com")"#, &f));
    assert!(holds(r#"ses_sip_range("10.0.0.1", "10.0.0.1")"#, &f));
    let err = Condition::parse(r#"req_port_in("80|http")"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"column 13: req_port_in: invalid port "http""#
    );
}
