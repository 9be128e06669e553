//! The config as written ([`File`]), checked once at init into [`Limits`]: rules with
//! their counters, ready for the request path.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::condition::{is_token, Condition, HeaderKey, Keys};
use crate::counter::Counters;
use crate::rule::{Over, Rule};

/// Every rule.
pub(crate) struct Limits {
    /// Rules for every product, checked before the product's own.
    pub global: Vec<Rule>,
    /// Rules by product name. Looked up on every request: a few string comparisons in
    /// a B-tree cost less than hashing the name.
    pub products: BTreeMap<String, Vec<Rule>>,
}

impl Limits {
    /// The rules for a request of `product`: the global ones, then the product's own.
    pub(crate) fn rules(&self, product: &str) -> impl Iterator<Item = &Rule> {
        let own = self.products.get(product).map_or(&[][..], Vec::as_slice);
        self.global.iter().chain(own)
    }

    /// Whether there is any rule at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.global.is_empty() && self.products.values().all(Vec::is_empty)
    }
}

/// A config value that cannot be used, with the key it was read from.
#[derive(Debug)]
pub(crate) struct ConfigError {
    key: String,
    problem: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct File {
    global: Section,
    products: BTreeMap<String, Section>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Section {
    rules: Vec<RuleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    path: Option<String>,
    path_prefix: Option<String>,
    method: Option<String>,
    header: Option<HeaderKey>,
    limit: u32,
    window_ms: u64,
    key_header: Option<String>,
    #[serde(default)]
    action: ActionName,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum ActionName {
    #[default]
    Respond,
    Close,
}

/// Parses and checks the config text (TOML); the counters start at `now`.
pub(crate) fn parse(text: &str, now: Instant) -> Result<Limits, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    let compile = || -> Result<Limits, ConfigError> {
        let mut products = BTreeMap::new();
        for (name, section) in file.products {
            let key = format!("products.{}", key_part(&name));
            products.insert(name, rules(&key, section.rules, now)?);
        }
        let global = rules("global", file.global.rules, now)?;
        Ok(Limits { global, products })
    };
    compile().map_err(|e| e.to_string())
}

fn rules(section: &str, entries: Vec<RuleEntry>, now: Instant) -> Result<Vec<Rule>, ConfigError> {
    let mut rules = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let key = format!("{section}.rules[{i}]");
        if entry.limit == 0 {
            let problem = "must be at least 1 (the `block` plugin refuses requests outright)";
            return Err(ConfigError::new(format!("{key}.limit"), problem));
        }
        if entry.window_ms == 0 {
            return Err(ConfigError::new(
                format!("{key}.window_ms"),
                "must be at least 1",
            ));
        }
        if let Some(name) = entry.key_header.as_deref().filter(|n| !is_token(n)) {
            let problem = format!("{name:?} is not a header name");
            return Err(ConfigError::new(format!("{key}.key_header"), problem));
        }
        let keys = Keys {
            path: entry.path,
            path_prefix: entry.path_prefix,
            method: entry.method,
            header: entry.header,
        };
        let window = Duration::from_millis(entry.window_ms);
        rules.push(Rule {
            when: Condition::parse(&key, keys)?,
            key_header: entry.key_header.map(|n| n.to_ascii_lowercase()),
            over: match entry.action {
                ActionName::Respond => Over::Respond,
                ActionName::Close => Over::Close,
            },
            by_ip: Counters::new(entry.limit, window, now),
            by_value: Counters::new(entry.limit, window, now),
        });
    }
    Ok(rules)
}

/// A table key as TOML would need it written: bare, or quoted.
fn key_part(name: &str) -> String {
    let bare = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !name.is_empty() && name.chars().all(bare) {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}
