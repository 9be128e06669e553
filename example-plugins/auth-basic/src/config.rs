//! The config as written ([`File`]), checked once at init into [`Realms`]: rules with
//! their users' hashes checked and their challenges built.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use bcrypt::HashParts;
use hookgate_plugin_api::Reply;
use serde::Deserialize;

use crate::condition::{Condition, HeaderKey, Keys};
use crate::rule::Rule;
use crate::verified::UserHash;

/// Every rule.
pub(crate) struct Realms {
    /// Rules for every product, tried before the product's own.
    pub global: Vec<Rule>,
    /// Rules by product name. Looked up on every request: a few string comparisons in
    /// a B-tree cost less than hashing the name.
    pub products: BTreeMap<String, Vec<Rule>>,
}

impl Realms {
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
    #[serde(default = "default_realm")]
    realm: String,
    users: BTreeMap<String, String>,
    #[serde(default)]
    remove_authorization: bool,
}

fn default_realm() -> String {
    "restricted".to_owned()
}

/// Parses and checks the config text (TOML).
pub(crate) fn parse(text: &str) -> Result<Realms, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    let compile = || -> Result<Realms, ConfigError> {
        let mut products = BTreeMap::new();
        for (name, section) in file.products {
            let key = format!("products.{}", key_part(&name));
            products.insert(name, rules(&key, section.rules)?);
        }
        let global = rules("global", file.global.rules)?;
        Ok(Realms { global, products })
    };
    compile().map_err(|e| e.to_string())
}

fn rules(section: &str, entries: Vec<RuleEntry>) -> Result<Vec<Rule>, ConfigError> {
    let mut rules = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let key = format!("{section}.rules[{i}]");
        if entry.realm.contains(['"', '\\']) || entry.realm.chars().any(char::is_control) {
            let problem = "a realm cannot hold `\"`, `\\` or control characters";
            return Err(ConfigError::new(format!("{key}.realm"), problem));
        }
        if entry.users.is_empty() {
            let problem = "no user: nobody could get in (the `block` plugin refuses requests)";
            return Err(ConfigError::new(format!("{key}.users"), problem));
        }
        for (user, hash) in &entry.users {
            let user_key = format!("{key}.users.{}", key_part(user));
            if user.contains(':') || user.chars().any(char::is_control) {
                let problem = "a user name cannot hold `:` or control characters";
                return Err(ConfigError::new(user_key, problem));
            }
            check_hash(hash).map_err(|problem| ConfigError::new(user_key, problem))?;
        }
        let keys = Keys {
            path: entry.path,
            path_prefix: entry.path_prefix,
            method: entry.method,
            header: entry.header,
        };
        let challenge = Reply::new(401)
            .header(
                "www-authenticate",
                &format!("Basic realm=\"{}\"", entry.realm),
            )
            .header("content-type", "text/plain")
            .body("unauthorized\n");
        rules.push(Rule {
            when: Condition::parse(&key, keys)?,
            users: (entry.users.into_iter())
                .map(|(user, hash)| (user, UserHash::new(hash)))
                .collect(),
            challenge,
            remove_authorization: entry.remove_authorization,
        });
    }
    Ok(rules)
}

/// Checks that `hash` is a bcrypt hash as `htpasswd -B` writes it.
fn check_hash(hash: &str) -> Result<(), String> {
    let not_bcrypt = || "not a bcrypt hash (`$2y$`, `$2b$` or `$2a$`; e.g. `htpasswd -nB user`)";
    if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
        return Err(not_bcrypt().to_owned());
    }
    let parts = HashParts::from_str(hash).map_err(|e| format!("{}: {e}", not_bcrypt()))?;
    if !(4..=31).contains(&parts.get_cost()) {
        return Err(format!(
            "bcrypt cost {} is outside 4 to 31",
            parts.get_cost()
        ));
    }
    Ok(())
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
