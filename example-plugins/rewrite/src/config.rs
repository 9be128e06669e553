//! The plugin's config: TOML, checked once at init into [`Rewrite`] rules under the
//! kit's [`ScopedRules`](hookgate_plugin_kit::ScopedRules); every error names the rule's
//! key path and the key, e.g. `products.shop.rules[1]: set_path: ...`.

use std::collections::BTreeMap;

use hookgate_plugin_kit::Condition;
use http::uri::{Authority, PathAndQuery};
use http::HeaderValue;
use serde::Deserialize;

use crate::rule::Rewrite;

/// One rule as written: the condition keys (flattened into the kit's table form),
/// actions, and whether it is the last.
#[derive(Deserialize)]
pub struct RuleFile {
    #[serde(flatten)]
    when: Condition,
    set_host: Option<String>,
    set_path: Option<String>,
    replace_path_prefix: Option<PrefixFile>,
    #[serde(default)]
    add_query: BTreeMap<String, String>,
    #[serde(default)]
    delete_query: Vec<String>,
    #[serde(default)]
    last: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefixFile {
    from: String,
    to: String,
}

impl TryFrom<RuleFile> for Rewrite {
    type Error = String;

    fn try_from(file: RuleFile) -> Result<Rewrite, String> {
        let RuleFile {
            when,
            set_host,
            set_path,
            replace_path_prefix,
            add_query,
            delete_query,
            last,
        } = file;
        let acts = set_host.is_some()
            || set_path.is_some()
            || replace_path_prefix.is_some()
            || !add_query.is_empty()
            || !delete_query.is_empty();
        if !acts && !last {
            return Err(
                "set one or more of set_host, set_path, replace_path_prefix, \
                 add_query, delete_query (or last = true)"
                    .to_owned(),
            );
        }
        let set_host = set_host
            .map(|host| checked_host(host, "set_host"))
            .transpose()?;
        let set_path = set_path
            .map(|path| checked_path(path, "set_path"))
            .transpose()?;
        let replace_path_prefix = match replace_path_prefix {
            Some(PrefixFile { from, to }) => {
                let from = checked_path(from, "replace_path_prefix.from")?;
                Some((from, checked_path(to, "replace_path_prefix.to")?))
            }
            None => None,
        };
        for (i, name) in delete_query.iter().enumerate() {
            if !query_key(name) {
                return Err(format!("delete_query[{i}]: {name:?} is not a query key"));
            }
        }
        for (name, value) in &add_query {
            if !query_key(name) {
                return Err(format!("add_query: {name:?} is not a query key"));
            }
            if value.contains('&') || !query_text(value) {
                return Err(format!("add_query.{name}: {value:?} is not a query value"));
            }
        }
        let add_query = (add_query.iter())
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        Ok(Rewrite {
            when,
            set_host,
            set_path,
            replace_path_prefix,
            delete_query,
            add_query,
            last,
        })
    }
}

/// A Host the request can carry: a host name or address, with an optional port.
fn checked_host(host: String, key: &str) -> Result<String, String> {
    if HeaderValue::from_str(&host).is_ok() && host.parse::<Authority>().is_ok() {
        Ok(host)
    } else {
        Err(format!("{key}: {host:?} is not a host[:port]"))
    }
}

/// A path the request target can carry: starts with `/`, no query, no fragment.
fn checked_path(path: String, key: &str) -> Result<String, String> {
    let valid =
        path.starts_with('/') && !path.contains(['?', '#']) && path.parse::<PathAndQuery>().is_ok();
    if valid {
        Ok(path)
    } else {
        Err(format!(
            "{key}: {path:?} is not a path starting with \"/\" (without query)"
        ))
    }
}

/// A key `delete_query` and `add_query` can name.
fn query_key(name: &str) -> bool {
    !name.is_empty() && !name.contains(['&', '=']) && query_text(name)
}

/// Text a query can carry as it is (already percent-encoded where needed).
fn query_text(text: &str) -> bool {
    !text.contains('#') && format!("/?{text}").parse::<PathAndQuery>().is_ok()
}

/// A rule is read as written ([`RuleFile`]) and checked into what the request path needs.
impl<'de> Deserialize<'de> for Rewrite {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rewrite, D::Error> {
        RuleFile::deserialize(deserializer)
            .and_then(|raw| Rewrite::try_from(raw).map_err(serde::de::Error::custom))
    }
}
