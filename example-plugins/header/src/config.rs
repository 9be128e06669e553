//! The plugin's config: TOML, checked once at init into [`HeaderRule`]s under the kit's
//! [`ScopedRules`], one table for `request` rules and one for `response` rules (the
//! kit's [`Sections`] hold both); every error names the rule's key path and the key,
//! e.g. `products.shop.response[0]: set.x-a: ...`.

use std::collections::BTreeMap;

use hookgate_plugin_kit::{config_key, Condition, HeaderName, ScopedRules, Sections};
use serde::Deserialize;

use crate::rule::HeaderRule;
use crate::template::Template;

/// `[global]` or `[products.<name>]`: two lists of rules.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    request: Vec<HeaderRule>,
    #[serde(default)]
    response: Vec<HeaderRule>,
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
    let mut sections =
        Sections::<Section>::from_toml(text).map_err(|e| format!("header plugin config: {e}"))?;
    Ok(Config {
        request: sections.rules(|section| std::mem::take(&mut section.request)),
        response: sections.rules(|section| std::mem::take(&mut section.response)),
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
                    let key = config_key(action, &name);
                    let value = Template::parse(&value).map_err(|e| format!("{key}: {e}"))?;
                    Ok((header_name(&name, &key)?, value))
                })
                .collect::<Result<Vec<_>, String>>()
        };
        Ok(HeaderRule {
            when,
            rename: (rename.iter())
                .map(|(from, to)| {
                    let key = config_key("rename", from);
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

/// The lowercase form of a header name; `key` names it in the error.
fn header_name(name: &str, key: &str) -> Result<String, String> {
    match HeaderName::try_from(name.to_owned()) {
        Ok(name) => Ok(name.as_str().to_owned()),
        Err(e) => Err(format!("{key}: {e}")),
    }
}

/// A rule is read as written ([`RuleFile`]) and checked into what the request path needs.
impl<'de> Deserialize<'de> for HeaderRule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<HeaderRule, D::Error> {
        RuleFile::deserialize(deserializer)
            .and_then(|raw| HeaderRule::try_from(raw).map_err(serde::de::Error::custom))
    }
}
