//! The config as written, checked once at init into [`Limits`]: rules with their
//! counters, ready for the request path. Conditions and per-product scoping are the
//! kit's.

use std::time::{Duration, Instant};

use hookgate_plugin_kit::{AtLeastOne, Condition, HeaderName, ScopedRules};
use serde::Deserialize;

use crate::counter::Counters;
use crate::rule::{Over, Rule};

/// Every rule: `[global]`, then `[products.<name>]`.
pub(crate) type Limits = ScopedRules<Rule>;

/// A rule as written: the kit's condition keys inline, beside the limit.
#[derive(Deserialize)]
pub(crate) struct RuleEntry {
    limit: AtLeastOne<u32>,
    window_ms: AtLeastOne<u64>,
    key_header: Option<HeaderName>,
    #[serde(default)]
    action: ActionName,
    #[serde(flatten)]
    when: Condition,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum ActionName {
    #[default]
    Respond,
    Close,
}

impl From<RuleEntry> for Rule {
    /// The counters' sweeps are timed from now; their windows from each client's first
    /// request.
    fn from(entry: RuleEntry) -> Rule {
        let (limit, window) = (
            entry.limit.get(),
            Duration::from_millis(entry.window_ms.get()),
        );
        let now = Instant::now();
        Rule {
            when: entry.when,
            key_header: entry.key_header.map(|name| name.as_str().to_owned()),
            over: match entry.action {
                ActionName::Respond => Over::Respond,
                ActionName::Close => Over::Close,
            },
            by_ip: Counters::new(limit, window, now),
            by_value: Counters::new(limit, window, now),
        }
    }
}

/// Parses and checks the config text (TOML).
pub(crate) fn parse(text: &str) -> Result<Limits, String> {
    ScopedRules::from_toml(text).map_err(|e| e.to_string())
}

/// A rule is read as written ([`RuleEntry`]) and checked into what the request path needs.
impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rule, D::Error> {
        RuleEntry::deserialize(deserializer).map(Rule::from)
    }
}
