//! [`Rewrite`]: one compiled rule, and how it changes a request.

use hookgate_plugin_api::Request;
use hookgate_plugin_kit::{Condition, RequestFacts};

/// A rule: when it applies, what it changes, in this order: host, path, path prefix,
/// deleted query keys, added query pairs.
#[derive(Debug)]
pub struct Rewrite {
    pub when: Condition,
    /// The Host sent to the backend.
    pub set_host: Option<String>,
    pub set_path: Option<String>,
    /// (from, to).
    pub replace_path_prefix: Option<(String, String)>,
    /// Keys whose pairs are removed from the query.
    pub delete_query: Vec<String>,
    /// Pairs to append, ready as `k=v&k2=v2`, or empty.
    pub add_query: String,
    /// Whether no rule runs after this one, when it applies.
    pub last: bool,
}

impl Rewrite {
    /// Rewrites `req` if the conditions hold; `true` if they did.
    pub fn apply(&self, req: &mut Request<'_>) -> bool {
        if !self.when.matches(&RequestFacts::of(req)) {
            return false;
        }
        // The values were checked at init, so the setters accept them.
        if let Some(host) = &self.set_host {
            req.set_host(host);
        }
        if let Some(path) = &self.set_path {
            req.set_path(path);
        }
        if let Some((from, to)) = &self.replace_path_prefix {
            if let Some(rest) = req.path().strip_prefix(from.as_str()) {
                let path = format!("{to}{rest}");
                req.set_path(&path);
            }
        }
        if let Some(query) = self.query(req.query().unwrap_or("")) {
            req.set_query(Some(query.as_str()).filter(|q| !q.is_empty()));
        }
        true
    }

    /// `query` without the deleted keys, with the added pairs; `None` if that is
    /// `query` itself (most requests, for a rule that only deletes).
    fn query(&self, query: &str) -> Option<String> {
        let deleted = |pair: &str| {
            let key = pair.split_once('=').map_or(pair, |(key, _)| key);
            self.delete_query.iter().any(|d| d == key)
        };
        if self.add_query.is_empty() && !query.split('&').any(deleted) {
            return None;
        }
        let kept = query
            .split('&')
            .filter(|pair| !pair.is_empty() && !deleted(pair));
        let added = Some(self.add_query.as_str()).filter(|a| !a.is_empty());
        let mut out = String::with_capacity(query.len() + self.add_query.len() + 1);
        for part in kept.chain(added) {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(part);
        }
        Some(out)
    }
}
