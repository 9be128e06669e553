//! The config as written, checked once at init into a [`Blocklist`] that the handlers
//! read without further parsing. Conditions and per-product scoping are the kit's.

use std::net::IpAddr;

use hookgate_plugin_api::Reply;
use hookgate_plugin_kit::{Condition, ScopedRules};
use ipnet::IpNet;
use serde::Deserialize;

/// What the plugin enforces.
pub(crate) struct Blocklist {
    /// Clients closed at Accept, by the socket's peer address (merged CIDRs).
    pub deny: Vec<IpNet>,
    /// Request rules: `[global]`, then `[products.<name>]`.
    pub rules: ScopedRules<Rule>,
}

/// A request rule: when its condition holds, the request is blocked.
#[derive(Deserialize)]
#[serde(try_from = "RuleEntry")]
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

/// A rule as written: the kit's condition keys inline, beside the action.
#[derive(Deserialize)]
struct RuleEntry {
    #[serde(default)]
    action: ActionName,
    status: Option<Status>,
    body: Option<String>,
    #[serde(flatten)]
    when: Condition,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum ActionName {
    #[default]
    Respond,
    Close,
}

/// An HTTP status from 200 to 599.
#[derive(Deserialize, Clone, Copy)]
#[serde(try_from = "u16")]
struct Status(u16);

impl TryFrom<u16> for Status {
    type Error = String;

    fn try_from(status: u16) -> Result<Status, String> {
        if (200..=599).contains(&status) {
            Ok(Status(status))
        } else {
            Err(format!("{status} is not an HTTP status (200 to 599)"))
        }
    }
}

impl TryFrom<RuleEntry> for Rule {
    type Error = &'static str;

    fn try_from(entry: RuleEntry) -> Result<Rule, Self::Error> {
        let then = match (entry.action, entry.status, entry.body) {
            (ActionName::Close, None, None) => Block::Close,
            (ActionName::Close, _, _) => {
                return Err("`status` and `body` need action = \"respond\"")
            }
            (ActionName::Respond, status, body) => {
                let status = status.map_or(403, |s| s.0);
                let reply = Reply::new(status).header("content-type", "text/plain");
                Block::Respond(reply.body(body.as_deref().unwrap_or("forbidden\n")))
            }
        };
        Ok(Rule {
            when: entry.when,
            then,
        })
    }
}

/// Parses and checks the config text (TOML): `global.deny` here, the rules by the kit.
pub(crate) fn parse(text: &str) -> Result<Blocklist, String> {
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| e.to_string().trim_end().to_owned())?;
    let deny = match doc.get_mut("global").and_then(toml::Value::as_table_mut) {
        Some(global) => global.remove("deny"),
        None => None,
    };
    let deny = match deny {
        Some(list) => Vec::<String>::deserialize(list).map_err(|e| format!("global.deny: {e}"))?,
        None => Vec::new(),
    };
    let rules = ScopedRules::from_toml(&doc.to_string()).map_err(|e| e.to_string())?;
    Ok(Blocklist {
        deny: ip_nets("global.deny", &deny)?,
        rules,
    })
}

/// Parses IP addresses and CIDRs (`key` names the list), merged into the fewest nets.
fn ip_nets(key: &str, list: &[String]) -> Result<Vec<IpNet>, String> {
    let mut nets = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let net = (item.parse::<IpNet>())
            .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("{key}[{i}]: {item:?} is not an IP address or CIDR"))?;
        nets.push(net);
    }
    Ok(IpNet::aggregate(&nets))
}
