//! The plugin's config: TOML, checked once at init and compiled into [`Rewrite`]
//! rules; every error names the key, e.g. `products.shop.rules[1].set_path`.

use std::collections::BTreeMap;

use http::uri::{Authority, PathAndQuery};
use http::HeaderValue;
use serde::Deserialize;

use crate::condition::{Condition, HeaderMatch, When};
use crate::rule::Rewrite;
use crate::scoped::Scoped;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    global: Section,
    #[serde(default)]
    products: BTreeMap<String, Section>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    rules: Vec<RuleFile>,
}

/// One rule as written: conditions, actions, and whether it is the last.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    path: Option<String>,
    path_prefix: Option<String>,
    host: Option<String>,
    method: Option<String>,
    header: Option<HeaderMatch>,
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

/// Parses and checks the config.
pub fn parse(text: &str) -> Result<Scoped<Rewrite>, String> {
    let error = |detail: &str| format!("rewrite plugin config: {detail}");
    let file: File = toml::from_str(text).map_err(|e| error(e.to_string().trim_end()))?;
    let products = (file.products.into_iter())
        .map(|(name, section)| (name, section.rules))
        .collect();
    Scoped::build(file.global.rules, products, "rules", rule).map_err(|e| error(&e))
}

fn rule(file: RuleFile, key: &str) -> Result<Rewrite, String> {
    let RuleFile {
        path,
        path_prefix,
        host,
        method,
        header,
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
        return Err(format!(
            "{key}: set one or more of set_host, set_path, replace_path_prefix, \
             add_query, delete_query (or last = true)"
        ));
    }
    let when = When {
        path,
        path_prefix,
        host,
        method,
        header,
    };
    let when = Condition::new(when, key)?;
    let set_host = set_host
        .map(|host| checked_host(host, &format!("{key}.set_host")))
        .transpose()?;
    let set_path = set_path
        .map(|path| checked_path(path, &format!("{key}.set_path")))
        .transpose()?;
    let replace_path_prefix = match replace_path_prefix {
        Some(PrefixFile { from, to }) => {
            let key = format!("{key}.replace_path_prefix");
            let from = checked_path(from, &format!("{key}.from"))?;
            Some((from, checked_path(to, &format!("{key}.to"))?))
        }
        None => None,
    };
    for (i, name) in delete_query.iter().enumerate() {
        if !query_key(name) {
            return Err(format!(
                "{key}.delete_query[{i}]: {name:?} is not a query key"
            ));
        }
    }
    for (name, value) in &add_query {
        if !query_key(name) {
            return Err(format!("{key}.add_query: {name:?} is not a query key"));
        }
        if value.contains('&') || !query_text(value) {
            return Err(format!(
                "{key}.add_query.{name}: {value:?} is not a query value"
            ));
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
