use serde::Deserialize;

use crate::{Condition, FactsBuf};

#[derive(Deserialize)]
struct Doc {
    c: Condition,
}

fn table(toml_text: &str) -> Result<Condition, String> {
    toml::from_str::<Doc>(&format!("c = {toml_text}"))
        .map(|d| d.c)
        .map_err(|e| e.to_string())
}

fn expr(text: &str) -> Condition {
    Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn table_form_equals_expression_form() {
    let cases = [
        (
            r#"{ path_prefix = "/api/", method = "GET" }"#,
            r#"req_method_in("GET") && req_path_prefix_in("/api/", false)"#,
        ),
        (r#"{ host = "a.example" }"#, r#"req_host_in("a.example")"#),
        (
            r#"{ host = ["A.example", "b.example"] }"#,
            r#"req_host_in("a.example|b.example")"#,
        ),
        (r#"{ path = "/x" }"#, r#"req_path_in("/x", false)"#),
        (
            r#"{ header = { name = "X-Debug", value = "1" } }"#,
            r#"req_header_value_in("x-debug", "1", false)"#,
        ),
        (
            r#"{ header = { name = "x-debug" } }"#,
            r#"req_header_key_in("x-debug")"#,
        ),
        (
            r#"{ client_ip = ["10.0.0.0/8", "192.0.2.1"] }"#,
            r#"req_cip_range("10.0.0.0", "10.255.255.255") || req_cip_range("192.0.2.1", "192.0.2.1")"#,
        ),
        (
            r#"{ path = "/x", cond = "req_proto_secure() || req_cip_trusted()" }"#,
            r#"req_path_in("/x", false) && (req_proto_secure() || req_cip_trusted())"#,
        ),
        ("{}", "default_t()"),
        (
            r#"'req_host_in("a.example")'"#,
            r#"req_host_in("a.example")"#,
        ),
    ];
    for (toml_text, expression) in cases {
        let from_table = table(toml_text).unwrap_or_else(|e| panic!("{toml_text}: {e}"));
        assert_eq!(from_table, expr(expression), "{toml_text}");
    }
}

#[test]
fn table_keys_all_must_hold() {
    let c = table(r#"{ path_prefix = "/api/", method = "GET", header = { name = "x-debug" } }"#)
        .unwrap();
    let get = FactsBuf::new("GET", "h", "/api/v1").with_header("X-Debug", "1");
    assert!(c.matches(&get));
    assert!(!c.matches(&FactsBuf::new("GET", "h", "/api/v1")));
    assert!(!c.matches(&FactsBuf::new("POST", "h", "/api/v1").with_header("x-debug", "1")));
    assert!(table("{}").unwrap().matches(&FactsBuf::default()));
}

#[test]
fn table_errors_name_the_key() {
    let cases = [
        (
            r#"{ path_prefix = "api/" }"#,
            "path_prefix: a path must start with '/'",
        ),
        (
            r#"{ host = "a.example:80" }"#,
            "host: a host must not include a port",
        ),
        (
            r#"{ client_ip = ["10.0.0.0/33"] }"#,
            "client_ip: \"10.0.0.0/33\" is not an address or a network",
        ),
        (
            r#"{ cond = "req_host_in(" }"#,
            "cond: column 13: expected an argument",
        ),
        (r#"{ hots = "a" }"#, "unknown field `hots`"),
        (r#"{ header = { value = "1" } }"#, "missing field `name`"),
        (r#"{ method = 3 }"#, "a string or a list of strings"),
        (r#"{ method = [] }"#, "the list is empty"),
        (
            "3",
            "a BFE condition expression or a table of condition keys",
        ),
        (
            r#""req_host_in(1)""#,
            "column 13: req_host_in: argument 1 (host_list) must be a string",
        ),
    ];
    for (toml_text, want) in cases {
        let err = table(toml_text)
            .err()
            .unwrap_or_else(|| panic!("{toml_text}: accepted"));
        assert!(err.contains(want), "{toml_text}: {err}");
    }
}
