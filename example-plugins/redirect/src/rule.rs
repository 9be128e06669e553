//! [`Redirect`]: one compiled rule, and where it sends a request.

use std::borrow::Cow;

use hookgate_plugin_api::Request;
use hookgate_plugin_kit::{Condition, RequestFacts};

/// A rule: when it applies, where it sends the client, with which status.
#[derive(Debug)]
pub struct Redirect {
    pub when: Condition,
    pub target: Target,
    /// 301, 302, 303, 307 or 308.
    pub status: u16,
}

/// Where a rule sends the client.
#[derive(Debug)]
pub enum Target {
    /// `set_url`: this URL.
    Url(String),
    /// `add_prefix`: this prefix (no trailing `/`), then the request's path and query.
    Prefix(String),
    /// `set_scheme`: the same host (without port), path and query under this scheme;
    /// a request that already uses it is not redirected.
    Scheme(Scheme),
}

/// The scheme `set_scheme` switches to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Redirect {
    /// Where this rule sends `req`, or `None` if it does not apply.
    pub fn location<'s>(&'s self, req: &mut Request<'_>) -> Option<Cow<'s, str>> {
        if !self.when.matches(&RequestFacts::of(req)) {
            return None;
        }
        match &self.target {
            Target::Url(url) => Some(Cow::Borrowed(url)),
            Target::Prefix(prefix) => Some(Cow::Owned(format!("{prefix}{}", req.uri()))),
            Target::Scheme(scheme) => {
                let current = if req.session().is_tls() {
                    Scheme::Https
                } else {
                    Scheme::Http
                };
                if current == *scheme || req.host().is_empty() {
                    return None;
                }
                let scheme = match scheme {
                    Scheme::Http => "http",
                    Scheme::Https => "https",
                };
                Some(Cow::Owned(format!(
                    "{scheme}://{}{}",
                    req.host(),
                    req.uri()
                )))
            }
        }
    }
}
