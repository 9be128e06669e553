//! The config as written, checked once at init into a [`Blocklist`] that the handlers
//! read without further parsing. Conditions, networks, per-product scoping and the key
//! paths of errors are the kit's.

use hookgate_plugin_api::Reply;
use hookgate_plugin_kit::{
    config_key, Condition, Conditional, ConfigError, Networks, ScopedRules, Sections,
};
use serde::Deserialize;

/// What the plugin enforces.
pub(crate) struct Blocklist {
    /// Clients closed at Accept, by the socket's peer address.
    pub deny: Networks,
    /// Request rules: `[global]`, then `[products.<name>]`.
    pub rules: ScopedRules<Rule>,
}

/// `[global]` or `[products.<name>]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    deny: Option<Networks>,
    #[serde(default)]
    rules: Vec<Rule>,
}

/// A request rule: when its condition holds, the request is blocked.
#[derive(Deserialize)]
#[serde(try_from = "RuleEntry")]
pub(crate) struct Rule {
    pub when: Condition,
    pub then: Block,
}

impl Conditional for Rule {
    fn condition(&self) -> &Condition {
        &self.when
    }
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

/// Parses and checks the config text (TOML).
pub(crate) fn parse(text: &str) -> Result<Blocklist, ConfigError> {
    let mut sections = Sections::<Section>::from_toml(text)?;
    if let Some((name, _)) = sections.products().find(|(_, s)| s.deny.is_some()) {
        let key = config_key(&config_key("products", name), "deny");
        let message = "only [global] denies addresses: at Accept no product is known yet";
        return Err(ConfigError::new(key, message));
    }
    Ok(Blocklist {
        deny: sections.global().deny.clone().unwrap_or_default(),
        rules: sections.rules(|section| std::mem::take(&mut section.rules)),
    })
}
