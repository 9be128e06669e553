//! The plugin's config: TOML, checked once at init into [`HeaderRule`]s under the kit's
//! [`ScopedRules`], one table for `request` rules and one for `response` rules; every
//! error names the rule's key path and the key, e.g.
//! `products.shop.response[0]: set.x-a: ...`.

use std::collections::BTreeMap;

use hookgate_plugin_kit::{Condition, ScopedRules};
use http::HeaderName;
use serde::Deserialize;

use crate::rule::HeaderRule;
use crate::template::Template;

/// The layout: each section holds two lists of rules, kept as tables until each list
/// is handed to the kit as its `rules`.
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
    request: Vec<toml::Table>,
    #[serde(default)]
    response: Vec<toml::Table>,
}

/// One rule as written: the condition keys (flattened into the kit's table form) and
/// edits.
#[derive(Deserialize)]
pub struct RuleFile {
    #[serde(flatten)]
    when: Condition,
    #[serde(default)]
    rename: BTreeMap<String, String>,
    #[serde(default)]
    delete: Vec<String>,
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    add: BTreeMap<String, String>,
}

/// The rules, ready for the request path.
pub struct Config {
    /// Edits of the request, at AfterLocation.
    pub request: ScopedRules<HeaderRule>,
    /// Edits of the response, at ReadResponse.
    pub response: ScopedRules<HeaderRule>,
}

/// Parses and checks the config.
pub fn parse(text: &str) -> Result<Config, String> {
    let file: File = toml::from_str(text).map_err(|e| error(e.to_string().trim_end()))?;
    let (mut request, mut response) = (toml::Table::new(), toml::Table::new());
    for (name, section) in file.products {
        request.insert(name.clone(), rules(section.request));
        response.insert(name, rules(section.response));
    }
    Ok(Config {
        request: scoped("request", file.global.request, request)?,
        response: scoped("response", file.global.response, response)?,
    })
}

fn error(detail: &str) -> String {
    format!("header plugin config: {detail}")
}

/// A section the kit reads: `{ rules = [...] }`.
fn rules(list: Vec<toml::Table>) -> toml::Value {
    toml::Value::Table(toml::Table::from_iter([("rules".to_owned(), list.into())]))
}

/// One list (`request` or `response`) of every section, compiled by the kit.
fn scoped(
    list: &str,
    global: Vec<toml::Table>,
    products: toml::Table,
) -> Result<ScopedRules<HeaderRule>, String> {
    let doc = toml::Table::from_iter([
        ("global".to_owned(), rules(global)),
        ("products".to_owned(), products.into()),
    ]);
    ScopedRules::from_toml(&doc.to_string()).map_err(|e| {
        // The kit names the list `rules`; this file names it `request` or `response`.
        let key = match e.key().rfind(".rules[") {
            Some(at) => format!("{}.{list}{}", &e.key()[..at], &e.key()[at + 6..]),
            None => e.key().to_owned(),
        };
        error(&format!("{key}: {}", e.message()))
    })
}

impl TryFrom<RuleFile> for HeaderRule {
    type Error = String;

    fn try_from(file: RuleFile) -> Result<HeaderRule, String> {
        let RuleFile {
            when,
            rename,
            delete,
            set,
            add,
        } = file;
        if rename.is_empty() && delete.is_empty() && set.is_empty() && add.is_empty() {
            return Err("set one or more of rename, delete, set, add".to_owned());
        }
        let values = |action: &str, map: BTreeMap<String, String>| {
            (map.into_iter())
                .map(|(name, value)| {
                    let key = format!("{action}.{}", toml_key(&name));
                    let value = Template::parse(&value).map_err(|e| format!("{key}: {e}"))?;
                    Ok((header_name(&name, &key)?, value))
                })
                .collect::<Result<Vec<_>, String>>()
        };
        Ok(HeaderRule {
            when,
            rename: (rename.iter())
                .map(|(from, to)| {
                    let key = format!("rename.{}", toml_key(from));
                    Ok((header_name(from, &key)?, header_name(to, &key)?))
                })
                .collect::<Result<_, String>>()?,
            delete: (delete.iter().enumerate())
                .map(|(i, name)| header_name(name, &format!("delete[{i}]")))
                .collect::<Result<_, _>>()?,
            set: values("set", set)?,
            add: values("add", add)?,
        })
    }
}

/// The lowercase form of a header name.
fn header_name(name: &str, key: &str) -> Result<String, String> {
    match HeaderName::from_bytes(name.as_bytes()) {
        Ok(parsed) => Ok(parsed.as_str().to_owned()),
        Err(_) => Err(format!("{key}: {name:?} is not a header name")),
    }
}

/// A table key as TOML writes it: bare if it can be.
fn toml_key(name: &str) -> String {
    let bare = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    if bare && !name.is_empty() {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}
