//! BFE conditions, checked with the plugin kit: copied unchanged when it can evaluate
//! them, reported when it cannot.

use hookgate_plugin_kit::Condition;

use crate::json::Node;
use crate::{InputError, Report};

/// `cond` if the kit compiles it, else the reason.
pub fn check(cond: &str) -> Result<&str, String> {
    Condition::parse(cond)
        .map(|_| cond)
        .map_err(|e| e.to_string())
}

/// The `Cond` field of a rule, if the kit compiles it; otherwise the rule is reported
/// as skipped (naming `what`) and `None` returned.
pub fn of_rule<'a>(
    rule: &Node<'a>,
    what: &str,
    report: &mut Report,
) -> Result<Option<&'a str>, InputError> {
    let cond = rule.field("Cond")?.str()?;
    match check(cond) {
        Ok(cond) => Ok(Some(cond)),
        Err(reason) => {
            report.skipped(
                rule.file(),
                rule.key(),
                format!("{what} left out: its condition {cond:?} cannot be evaluated: {reason}"),
            );
            Ok(None)
        }
    }
}

/// `a && b`, parenthesised so that either may hold `||`.
pub fn and(a: &str, b: &str) -> String {
    format!("({a}) && ({b})")
}

/// A BFE string literal holding `text`: `"text"`, or a raw `` `text` `` when it holds
/// a quote, a backslash or a control character (Go's escapes differ from Rust's).
pub fn literal(text: &str) -> String {
    if text.contains(['"', '\\']) || text.chars().any(char::is_control) {
        format!("`{text}`")
    } else {
        format!("\"{text}\"")
    }
}

/// A `|`-separated BFE list of `items`, as one literal.
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    literal(
        &items
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join("|"),
    )
}
