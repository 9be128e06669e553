//! [`Condition`]: when a rule applies. The keys are those of the proxy's route rules:
//! `path` (exact), `path_prefix`, `host`, `method` and `header`.

use hookgate_plugin_api::Request;
use http::uri::Authority;
use http::{HeaderName, HeaderValue, Method};
use serde::Deserialize;

/// `header = { name = "x-canary", value = "1" }`: one of the header's values equals
/// `value`; without `value`, the header is present.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    name: String,
    value: Option<String>,
}

/// A rule's conditions as written.
pub struct When {
    pub path: Option<String>,
    pub path_prefix: Option<String>,
    pub host: Option<String>,
    pub method: Option<String>,
    pub header: Option<HeaderMatch>,
}

/// A rule's conditions, checked at init: every one given must hold, and a rule with
/// none matches every request.
#[derive(Debug)]
pub struct Condition {
    path: Option<String>,
    path_prefix: Option<String>,
    /// Lowercase, without port (as [`Request::host`] gives it).
    host: Option<String>,
    /// Case-sensitive, as HTTP methods are.
    method: Option<String>,
    /// Lowercase name, and the value to find, if any.
    header: Option<(String, Option<String>)>,
}

impl Condition {
    /// Checks the conditions of the rule at `key` (e.g. `products.shop.rules[1]`).
    pub fn new(when: When, key: &str) -> Result<Condition, String> {
        for (name, path) in [("path", &when.path), ("path_prefix", &when.path_prefix)] {
            if let Some(path) = path.as_deref().filter(|p| !p.starts_with('/')) {
                return Err(format!("{key}.{name}: {path:?} does not start with \"/\""));
            }
        }
        let host = when.host.map(|host| match host.parse::<Authority>() {
            Ok(authority) if authority.port().is_none() => Ok(host.to_ascii_lowercase()),
            _ => Err(format!(
                "{key}.host: {host:?} is not a host name without port"
            )),
        });
        let method = when
            .method
            .map(|method| match Method::from_bytes(method.as_bytes()) {
                Ok(_) => Ok(method),
                Err(_) => Err(format!("{key}.method: {method:?} is not an HTTP method")),
            });
        let header = when.header.map(|HeaderMatch { name, value }| {
            let Ok(parsed) = HeaderName::from_bytes(name.as_bytes()) else {
                return Err(format!("{key}.header.name: {name:?} is not a header name"));
            };
            if let Some(value) = value.as_deref() {
                if HeaderValue::from_str(value).is_err() {
                    return Err(format!(
                        "{key}.header.value: {value:?} is not a header value"
                    ));
                }
            }
            Ok((parsed.as_str().to_owned(), value))
        });
        Ok(Condition {
            path: when.path,
            path_prefix: when.path_prefix,
            host: host.transpose()?,
            method: method.transpose()?,
            header: header.transpose()?,
        })
    }

    /// Whether the request meets every condition. Each getter crosses into the host, so
    /// only what a condition needs is asked for: a rule without conditions asks nothing.
    pub fn matches(&self, req: &Request<'_>) -> bool {
        let path_ok = match (&self.path, &self.path_prefix) {
            (None, None) => true,
            (exact, prefix) => {
                let path = req.path();
                exact.as_deref().is_none_or(|p| p == path)
                    && prefix.as_deref().is_none_or(|p| path.starts_with(p))
            }
        };
        path_ok
            && self.host.as_deref().is_none_or(|h| h == req.host())
            && self.method.as_deref().is_none_or(|m| m == req.method())
            && self.header.as_ref().is_none_or(|(name, value)| {
                let mut values = req.header_all(name);
                match value {
                    Some(wanted) => values.any(|v| v == wanted),
                    None => values.next().is_some(),
                }
            })
    }
}
