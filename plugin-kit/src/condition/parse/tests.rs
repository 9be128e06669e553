use crate::{Condition, FactsBuf};

fn cond(text: &str) -> Condition {
    Condition::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn error(text: &str) -> String {
    match Condition::parse(text) {
        Ok(_) => panic!("{text}: parsed"),
        Err(e) => e.to_string(),
    }
}

const T: &str = "default_t()";
const F: &str = "!default_t()";

fn eval(text: &str) -> bool {
    let text = text.replace('T', T).replace('F', F);
    cond(&text).matches(&FactsBuf::default())
}

#[test]
fn and_binds_tighter_than_or() {
    assert!(eval("T || F && F"));
    assert!(eval("F && F || T"));
    assert!(!eval("(T || F) && F"));
    assert_eq!(
        cond(&format!("{T} || {F} && {F}")),
        cond(&format!("{T} || ({F} && {F})"))
    );
}

#[test]
fn not_binds_tighter_than_and() {
    assert!(!eval("!T && F"));
    assert!(eval("!(F && T)"));
    assert!(eval("!!T"));
    assert_eq!(
        cond(&format!("!{T} && {T}")),
        cond(&format!("(!{T}) && {T}"))
    );
}

#[test]
fn binary_operators_associate_left() {
    let a = r#"req_method_in("A")"#;
    let b = r#"req_method_in("B")"#;
    let c = r#"req_method_in("C")"#;
    assert_eq!(
        cond(&format!("{a} && {b} && {c}")),
        cond(&format!("({a} && {b}) && {c}"))
    );
    assert_ne!(
        cond(&format!("{a} && {b} && {c}")),
        cond(&format!("{a} && ({b} && {c})"))
    );
    assert_eq!(
        cond(&format!("{a} || {b} || {c}")),
        cond(&format!("({a} || {b}) || {c}"))
    );
}

#[test]
fn whitespace_and_nesting() {
    assert!(eval("  ((T))  "));
    assert!(eval("\tT\n&&\n(F || T)"));
}

#[test]
fn string_literals_take_go_escapes_and_raw_strings() {
    let facts = FactsBuf::new("GET", "h", "/a\"b\\c\td/é");
    assert!(cond(r#"req_path_in("/a\"b\\c\td/\u00e9", false)"#).matches(&facts));
    assert!(cond(r#"req_path_in("/a\x22b\134c\td/\U000000e9", false)"#).matches(&facts));
    assert!(cond("req_path_in(`/a\"b\\c\td/é`, false)").matches(&facts));
}

#[test]
fn parse_errors_name_the_column_and_what_was_expected() {
    let cases = [
        (
            r#"req_host_in("a" "b")"#,
            r#"column 17: expected ')' or ','"#,
        ),
        (r#"req_host_in("a""#, "column 16: expected ')' or ','"),
        (
            r#"req_host_in("a"#,
            "column 13: unterminated string literal",
        ),
        ("req_host_in(`a", "column 13: unterminated raw string"),
        (
            r#"req_host_in("a\q")"#,
            r"column 15: invalid escape sequence: '\q'",
        ),
        (
            r#"req_host_in("\xff")"#,
            r"column 14: invalid escape sequence: '\xff'",
        ),
        (
            "req_host_in(,)",
            "column 13: expected an argument (a string, an integer, true or false)",
        ),
        (
            "req_host_in(\"a\",)",
            "column 17: expected an argument (a string, an integer, true or false)",
        ),
        (
            "req_host_in",
            "column 12: expected '(' after the primitive's name",
        ),
        ("", "column 1: expected a primitive, '(' or '!'"),
        (
            "default_t() &&",
            "column 15: expected a primitive, '(' or '!'",
        ),
        ("default_t() & default_t()", "column 13: expected '&&'"),
        ("default_t() | default_t()", "column 13: expected '||'"),
        (
            "default_t() default_t()",
            "column 13: expected '&&', '||' or the end of the expression",
        ),
        (
            "default_t())",
            "column 12: expected '&&', '||' or the end (unbalanced ')')",
        ),
        ("(default_t()", "column 13: expected '&&', '||' or ')'"),
        ("default_t() # x", "column 13: unexpected character '#'"),
        (
            "req_port_in(12ab)",
            "column 13: invalid integer literal \"12ab\"",
        ),
        ("réq_x()", "column 1: unknown primitive réq_x"),
        (
            "x && y()",
            "column 3: expected '(' after the primitive's name",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(error(text), want, "{text}");
    }
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        error(r#"req_path_in("é", true) #"#),
        "column 24: unexpected character '#'"
    );
}

#[test]
fn unknown_primitives_list_close_matches() {
    assert_eq!(
        error("default_t() || req_hst_in(\"a\")"),
        "column 16: unknown primitive req_hst_in (did you mean req_host_in?)"
    );
    assert!(error("req_path_prefix(\"/\", true)").contains("req_path_prefix_in"));
    assert_eq!(
        error("req_ua_regmatch(`x`)"),
        "column 1: req_ua_regmatch is a BFE primitive this kit does not support"
    );
}

#[test]
fn argument_count_and_types_are_checked_per_primitive() {
    let cases = [
        (
            r#"req_path_in("/a")"#,
            "column 1: req_path_in takes 2 arguments (path_list, case_insensitive), got 1",
        ),
        (
            "default_t(true)",
            "column 1: default_t takes 0 arguments (), got 1",
        ),
        (
            r#"req_host_in("a", "b")"#,
            "column 1: req_host_in takes 1 argument (host_list), got 2",
        ),
        (
            r#"req_path_in("/a", "true")"#,
            "column 19: req_path_in: argument 2 (case_insensitive) must be a bool, got a string",
        ),
        (
            "req_method_in(1)",
            "column 15: req_method_in: argument 1 (method_list) must be a string, got an integer",
        ),
        (
            r#"req_header_value_in(true, "x", false)"#,
            "column 21: req_header_value_in: argument 1 (header_name) must be a string, got a bool",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(error(text), want, "{text}");
    }
}
