//! The plugin's config: TOML, checked once at init and compiled into [`HeaderRule`]s;
//! every error names the key, e.g. `products.shop.response[0].set.x-a`.

use std::collections::BTreeMap;

use http::HeaderName;
use serde::Deserialize;

use crate::condition::{Condition, HeaderMatch, When};
use crate::rule::HeaderRule;
use crate::scoped::Scoped;
use crate::template::Template;

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
    request: Vec<RuleFile>,
    #[serde(default)]
    response: Vec<RuleFile>,
}

/// One rule as written: conditions and edits.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    path: Option<String>,
    path_prefix: Option<String>,
    host: Option<String>,
    method: Option<String>,
    header: Option<HeaderMatch>,
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
    pub request: Scoped<HeaderRule>,
    /// Edits of the response, at ReadResponse.
    pub response: Scoped<HeaderRule>,
}

/// Parses and checks the config.
pub fn parse(text: &str) -> Result<Config, String> {
    let error = |detail: &str| format!("header plugin config: {detail}");
    let file: File = toml::from_str(text).map_err(|e| error(e.to_string().trim_end()))?;
    let (mut request, mut response) = (BTreeMap::new(), BTreeMap::new());
    for (name, section) in file.products {
        request.insert(name.clone(), section.request);
        response.insert(name, section.response);
    }
    Ok(Config {
        request: Scoped::build(file.global.request, request, "request", rule)
            .map_err(|e| error(&e))?,
        response: Scoped::build(file.global.response, response, "response", rule)
            .map_err(|e| error(&e))?,
    })
}

fn rule(file: RuleFile, key: &str) -> Result<HeaderRule, String> {
    let RuleFile {
        path,
        path_prefix,
        host,
        method,
        header,
        rename,
        delete,
        set,
        add,
    } = file;
    if rename.is_empty() && delete.is_empty() && set.is_empty() && add.is_empty() {
        return Err(format!(
            "{key}: set one or more of rename, delete, set, add"
        ));
    }
    let when = When {
        path,
        path_prefix,
        host,
        method,
        header,
    };
    let values = |action: &str, map: BTreeMap<String, String>| {
        (map.into_iter())
            .map(|(name, value)| {
                let key = format!("{key}.{action}.{}", toml_key(&name));
                let value = Template::parse(&value).map_err(|e| format!("{key}: {e}"))?;
                Ok((header_name(&name, &key)?, value))
            })
            .collect::<Result<Vec<_>, String>>()
    };
    Ok(HeaderRule {
        when: Condition::new(when, key)?,
        rename: (rename.iter())
            .map(|(from, to)| {
                let key = format!("{key}.rename.{}", toml_key(from));
                Ok((header_name(from, &key)?, header_name(to, &key)?))
            })
            .collect::<Result<_, String>>()?,
        delete: (delete.iter().enumerate())
            .map(|(i, name)| header_name(name, &format!("{key}.delete[{i}]")))
            .collect::<Result<_, _>>()?,
        set: values("set", set)?,
        add: values("add", add)?,
    })
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
