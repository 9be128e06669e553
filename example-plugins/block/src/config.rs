//! The config as written ([`File`]), checked once at init into a [`Blocklist`] that the
//! handlers read without further parsing.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use hookgate_plugin_api::Reply;
use ipnet::IpNet;
use serde::Deserialize;

use crate::condition::{Condition, HeaderKey, Keys};

/// What the plugin enforces.
pub(crate) struct Blocklist {
    /// Clients closed at Accept, by the socket's peer address (merged CIDRs).
    pub deny: Vec<IpNet>,
    /// Rules for every product, tried before the product's own.
    pub global: Vec<Rule>,
    /// Rules by product name. Looked up on every request: a few string comparisons in
    /// a B-tree cost less than hashing the name.
    pub products: BTreeMap<String, Vec<Rule>>,
}

impl Blocklist {
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

/// A request rule: when its condition holds, the request is blocked.
pub(crate) struct Rule {
    pub when: Condition,
    pub then: Block,
}

/// How a request is blocked.
pub(crate) enum Block {
    /// Close the connection without a byte.
    Close,
    /// Send this response (built once here, cloned per blocked request).
    Respond(Reply),
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
    global: GlobalSection,
    products: BTreeMap<String, ProductSection>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct GlobalSection {
    deny: Vec<String>,
    rules: Vec<RuleEntry>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ProductSection {
    rules: Vec<RuleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    path: Option<String>,
    path_prefix: Option<String>,
    method: Option<String>,
    header: Option<HeaderKey>,
    client_ip: Option<Vec<String>>,
    #[serde(default)]
    action: ActionName,
    status: Option<u16>,
    body: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum ActionName {
    #[default]
    Respond,
    Close,
}

/// Parses and checks the config text (TOML).
pub(crate) fn parse(text: &str) -> Result<Blocklist, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    let compile = || -> Result<Blocklist, ConfigError> {
        let mut products = BTreeMap::new();
        for (name, section) in file.products {
            let key = format!("products.{}", key_part(&name));
            products.insert(name, rules(&key, section.rules)?);
        }
        Ok(Blocklist {
            deny: ip_nets("global.deny", &file.global.deny)?,
            global: rules("global", file.global.rules)?,
            products,
        })
    };
    compile().map_err(|e| e.to_string())
}

fn rules(section: &str, entries: Vec<RuleEntry>) -> Result<Vec<Rule>, ConfigError> {
    let mut rules = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let key = format!("{section}.rules[{i}]");
        let then = match (entry.action, entry.status, &entry.body) {
            (ActionName::Close, Some(_), _) | (ActionName::Close, _, Some(_)) => {
                let problem = "`status` and `body` need action = \"respond\"";
                return Err(ConfigError::new(format!("{key}.action"), problem));
            }
            (ActionName::Close, None, None) => Block::Close,
            (ActionName::Respond, Some(status), _) if !(200..=599).contains(&status) => {
                let problem = format!("{status} is not an HTTP status (200 to 599)");
                return Err(ConfigError::new(format!("{key}.status"), problem));
            }
            (ActionName::Respond, status, body) => {
                let body = body.as_deref().unwrap_or("forbidden\n");
                let reply = Reply::new(status.unwrap_or(403)).header("content-type", "text/plain");
                Block::Respond(reply.body(body))
            }
        };
        let keys = Keys {
            path: entry.path,
            path_prefix: entry.path_prefix,
            method: entry.method,
            header: entry.header,
            client_ip: entry.client_ip,
        };
        let when = Condition::parse(&key, keys)?;
        rules.push(Rule { when, then });
    }
    Ok(rules)
}

/// Parses IP addresses and CIDRs (`key` names the list), merged into the fewest nets.
pub(crate) fn ip_nets(key: &str, list: &[String]) -> Result<Vec<IpNet>, ConfigError> {
    let mut nets = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let net = (item.parse::<IpNet>())
            .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| {
                let problem = format!("{item:?} is not an IP address or CIDR");
                ConfigError::new(format!("{key}[{i}]"), problem)
            })?;
        nets.push(net);
    }
    Ok(IpNet::aggregate(&nets))
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
