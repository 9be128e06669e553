//! The config as written, checked once at init into rules whose [`Checks`] the
//! handlers share. Conditions and per-product scoping are the kit's.

use std::sync::Arc;

use hookgate_plugin_api::OverLimit;
use hookgate_plugin_kit::{Condition, Conditional, ConfigError, HeaderName, ScopedRules, Sections};
use serde::Deserialize;

use crate::check::{Checks, Signature};

/// `[global]` or `[products.<name>]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    rules: Vec<Rule>,
}

/// A rule: when its condition holds, the body is checked.
#[derive(Deserialize)]
#[serde(try_from = "RuleEntry")]
pub(crate) struct Rule {
    pub when: Condition,
    pub checks: Arc<Checks>,
}

impl Conditional for Rule {
    fn condition(&self) -> &Condition {
        &self.when
    }
}

/// A rule as written: the kit's condition keys inline, beside the checks.
#[derive(Deserialize)]
struct RuleEntry {
    #[serde(default)]
    over_limit: OverLimitName,
    signature: Option<SignatureEntry>,
    #[serde(default)]
    json: bool,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(flatten)]
    when: Condition,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureEntry {
    header: HeaderName,
    #[serde(default)]
    prefix: String,
    secret: String,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum OverLimitName {
    #[default]
    Reject,
    Skip,
}

impl TryFrom<RuleEntry> for Rule {
    type Error = &'static str;

    fn try_from(entry: RuleEntry) -> Result<Rule, Self::Error> {
        if entry.signature.is_none() && !entry.json && entry.deny.is_empty() {
            return Err("the rule checks nothing: set `signature`, `json` or `deny`");
        }
        if entry.deny.iter().any(String::is_empty) {
            return Err("an empty `deny` pattern would refuse every body");
        }
        let signature = match entry.signature {
            Some(s) if s.secret.is_empty() => return Err("`signature.secret` is empty"),
            Some(s) => Some(Signature {
                header: s.header.as_str().to_ascii_lowercase(),
                prefix: s.prefix,
                secret: s.secret.into_bytes(),
            }),
            None => None,
        };
        if signature.is_some() && matches!(entry.over_limit, OverLimitName::Skip) {
            return Err("`over_limit = \"skip\"` with a `signature` would let a body padded past the limit through unsigned");
        }
        let over_limit = match entry.over_limit {
            OverLimitName::Reject => OverLimit::Reject,
            OverLimitName::Skip => OverLimit::Skip,
        };
        let checks = Checks {
            over_limit,
            signature,
            json: entry.json,
            deny: entry
                .deny
                .iter()
                .map(|p| p.to_ascii_lowercase().into_bytes())
                .collect(),
        };
        Ok(Rule {
            when: entry.when,
            checks: Arc::new(checks),
        })
    }
}

/// Parses and checks the config text (TOML).
pub(crate) fn parse(text: &str) -> Result<ScopedRules<Rule>, ConfigError> {
    let mut sections = Sections::<Section>::from_toml(text)?;
    Ok(sections.rules(|section| std::mem::take(&mut section.rules)))
}
