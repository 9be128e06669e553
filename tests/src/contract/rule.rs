//! [`Rule`]: a probe rule (see `tests/probe/src/lib.rs`), built in Rust and written as
//! TOML for [`Probe::new`](crate::Probe::new).

use std::fmt;

/// One `[[rule]]`: at `point`, do `action`, optionally only for a path.
#[derive(Clone, Debug)]
pub struct Rule {
    point: String,
    action: String,
    extra: Vec<(&'static str, String)>,
}

impl Rule {
    /// At `point` (`accept`, `found_product`…), return `action` (`go_on`, `response`,
    /// `redirect`, `finish`, `close`, `panic`).
    pub fn new(point: &str, action: &str) -> Rule {
        Rule {
            point: point.to_owned(),
            action: action.to_owned(),
            extra: Vec::new(),
        }
    }

    /// Only for this exact request path (request points only).
    pub fn path(self, path: &str) -> Rule {
        self.string("path", path)
    }

    /// The reply's status (Response; Finish: unset means no reply).
    pub fn status(mut self, status: u16) -> Rule {
        self.extra.push(("status", status.to_string()));
        self
    }

    /// The reply's body.
    pub fn body(self, body: &str) -> Rule {
        self.string("body", body)
    }

    /// The URL given to `set_redirect` (unset: Redirect without a URL).
    pub fn redirect(self, url: &str) -> Rule {
        self.string("redirect", url)
    }

    /// The code given to `set_redirect` (unset: the host's default).
    pub fn code(mut self, code: u16) -> Rule {
        self.extra.push(("code", code.to_string()));
        self
    }

    fn string(mut self, key: &'static str, value: &str) -> Rule {
        // TOML basic strings and Rust's Debug agree on the escapes plain text needs.
        self.extra.push((key, format!("{value:?}")));
        self
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "[[rule]]")?;
        writeln!(f, "point = {:?}", self.point)?;
        writeln!(f, "action = {:?}", self.action)?;
        for (key, value) in &self.extra {
            writeln!(f, "{key} = {value}")?;
        }
        Ok(())
    }
}

/// The TOML of several rules, in order (the first that applies wins).
pub fn rules(rules: &[Rule]) -> String {
    rules.iter().map(Rule::to_string).collect()
}
