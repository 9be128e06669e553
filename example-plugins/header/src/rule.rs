//! [`HeaderRule`]: one compiled rule, and how it edits the request's or the response's
//! headers.

use hookgate_plugin_api::{Request, Response};
use hookgate_plugin_kit::{Condition, RequestFacts};

use crate::template::Template;

/// A rule: when it applies (judged on the request, also for response rules), and its
/// edits, applied in this order: rename, delete, set, add. Names are lowercase.
#[derive(Debug)]
pub struct HeaderRule {
    pub when: Condition,
    /// (from, to): every value of `from` moves to `to`, replacing `to`'s.
    pub rename: Vec<(String, String)>,
    pub delete: Vec<String>,
    pub set: Vec<(String, Template)>,
    pub add: Vec<(String, Template)>,
}

/// The headers a rule edits. Variables always come from the request.
pub enum Target<'a, 'r, 's> {
    Request(&'a mut Request<'r>),
    Response(&'a mut Request<'r>, &'a mut Response<'s>),
}

impl HeaderRule {
    /// Edits the target's headers if the conditions hold. `buf` is reused for
    /// rendering values with variables.
    pub fn apply(&self, target: &mut Target<'_, '_, '_>, buf: &mut String) {
        if !self.when.matches(&RequestFacts::of(target.request_mut())) {
            return;
        }
        for (from, to) in &self.rename {
            let values = target.take(from);
            if !values.is_empty() {
                target.remove(to);
                for value in &values {
                    target.add(to, value);
                }
            }
        }
        for name in &self.delete {
            target.remove(name);
        }
        for (name, value) in &self.set {
            let value = value.render(target.request(), buf);
            target.set(name, value);
        }
        for (name, value) in &self.add {
            let value = value.render(target.request(), buf);
            target.add(name, value);
        }
    }
}

// Internal: a value that does not render to valid HTTP (a variable's text) is skipped
// by the host's setters, which return `false` and change nothing.
impl<'r> Target<'_, 'r, '_> {
    fn request(&self) -> &Request<'r> {
        match self {
            Target::Request(req) => req,
            Target::Response(req, _) => req,
        }
    }

    fn request_mut(&mut self) -> &mut Request<'r> {
        match self {
            Target::Request(req) => req,
            Target::Response(req, _) => req,
        }
    }

    fn set(&mut self, name: &str, value: &str) {
        match self {
            Target::Request(req) => req.set_header(name, value),
            Target::Response(_, resp) => resp.set_header(name, value),
        };
    }

    fn add(&mut self, name: &str, value: &str) {
        match self {
            Target::Request(req) => req.add_header(name, value),
            Target::Response(_, resp) => resp.add_header(name, value),
        };
    }

    fn remove(&mut self, name: &str) {
        match self {
            Target::Request(req) => req.remove_header(name),
            Target::Response(_, resp) => resp.remove_header(name),
        };
    }

    /// Removes a header, returning its values (none: no allocation).
    fn take(&mut self, name: &str) -> Vec<String> {
        let values: Vec<String> = match self {
            Target::Request(req) => req.header_all(name).map(str::to_owned).collect(),
            Target::Response(_, resp) => resp.header_all(name).map(str::to_owned).collect(),
        };
        if !values.is_empty() {
            self.remove(name);
        }
        values
    }
}
