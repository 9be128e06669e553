//! [`Condition`]: which requests a rule applies to. The keys are the proxy's route-rule
//! keys (`path`, `path_prefix`, `method`, `header`); every key that is set must hold,
//! and a rule with none matches every request.

use hookgate_plugin_api::Request;
use serde::Deserialize;

use crate::config::ConfigError;

/// The condition keys as written. Each rule lists them inline (like the proxy's
/// routes), so the rule struct carries them and hands them over here; serde's
/// `flatten` cannot be combined with `deny_unknown_fields`.
pub(crate) struct Keys {
    pub path: Option<String>,
    pub path_prefix: Option<String>,
    pub method: Option<String>,
    pub header: Option<HeaderKey>,
}

/// `header = { name = "...", value = "..." }`; without `value`, presence is enough.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeaderKey {
    name: String,
    value: Option<String>,
}

/// A parsed condition, ready for the request path.
#[derive(Debug)]
pub(crate) struct Condition {
    path: Option<String>,
    path_prefix: Option<String>,
    /// Uppercase.
    method: Option<String>,
    /// Lowercase name, and the exact value if one is required.
    header: Option<(String, Option<String>)>,
}

impl Condition {
    /// Checks the keys of the rule at `key` (e.g. `products.shop.rules[0]`).
    pub(crate) fn parse(key: &str, keys: Keys) -> Result<Condition, ConfigError> {
        for (name, path) in [("path", &keys.path), ("path_prefix", &keys.path_prefix)] {
            if path.as_deref().is_some_and(|p| !p.starts_with('/')) {
                return Err(ConfigError::new(
                    format!("{key}.{name}"),
                    "a path must start with `/`",
                ));
            }
        }
        if let Some(method) = &keys.method {
            if !is_token(method) {
                let problem = format!("{method:?} is not an HTTP method");
                return Err(ConfigError::new(format!("{key}.method"), problem));
            }
        }
        let header = match keys.header {
            Some(HeaderKey { name, .. }) if !is_token(&name) => {
                let problem = format!("{name:?} is not a header name");
                return Err(ConfigError::new(format!("{key}.header.name"), problem));
            }
            Some(HeaderKey { value: Some(v), .. }) if v.chars().any(char::is_control) => {
                let problem = "a header value cannot hold control characters";
                return Err(ConfigError::new(format!("{key}.header.value"), problem));
            }
            Some(HeaderKey { name, value }) => Some((name.to_ascii_lowercase(), value)),
            None => None,
        };
        Ok(Condition {
            path: keys.path,
            path_prefix: keys.path_prefix,
            method: keys.method.map(|m| m.to_ascii_uppercase()),
            header,
        })
    }

    /// Whether `req` meets every key that is set.
    pub(crate) fn matches(&self, req: &Request<'_>) -> bool {
        self.path.as_deref().is_none_or(|p| req.path() == p)
            && (self.path_prefix.as_deref()).is_none_or(|p| req.path().starts_with(p))
            && (self.method.as_deref()).is_none_or(|m| req.method().eq_ignore_ascii_case(m))
            && self
                .header
                .as_ref()
                .is_none_or(|(name, value)| match value {
                    Some(value) => req.header_all(name).any(|v| v == value),
                    None => req.header(name).is_some(),
                })
    }
}

/// An RFC 9110 token: what header names and methods are made of.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
