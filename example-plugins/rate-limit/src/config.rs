//! The config as written, checked once at init into [`Limits`]: rules with their
//! counters, ready for the request path. Conditions and per-product scoping are the
//! kit's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookgate_plugin_kit::{AtLeastOne, Condition, HeaderName, ScopedRules};
use serde::Deserialize;

use crate::counter::Counters;
use crate::rule::{Over, Rule};
use crate::shared::{default_prefix, OnStoreError, Shared, Synced, Window};

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
    /// A Redis store of the proxy (`[redis.NAME]`) that keeps the counts, shared by
    /// every proxy using it.
    redis: Option<String>,
    #[serde(default)]
    window: WindowName,
    #[serde(default)]
    on_store_error: OnStoreErrorName,
    key_prefix: Option<String>,
    /// Count here and send the counts to the store every this many ms, instead of a
    /// round trip per request.
    sync_ms: Option<AtLeastOne<u64>>,
    #[serde(flatten)]
    when: Condition,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum WindowName {
    #[default]
    Fixed,
    Sliding,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum OnStoreErrorName {
    #[default]
    Open,
    Closed,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum ActionName {
    #[default]
    Respond,
    Close,
}

impl TryFrom<RuleEntry> for Rule {
    type Error = String;

    /// The counters' sweeps are timed from now; their windows from each client's first
    /// request.
    fn try_from(entry: RuleEntry) -> Result<Rule, String> {
        let (limit, window) = (
            entry.limit.get(),
            Duration::from_millis(entry.window_ms.get()),
        );
        let over = match entry.action {
            ActionName::Respond => Over::Respond,
            ActionName::Close => Over::Close,
        };
        let key_header = entry.key_header.map(|name| name.as_str().to_owned());
        let shared = match entry.redis {
            None if matches!(entry.window, WindowName::Sliding) => {
                return Err(
                    "`window = \"sliding\"` needs `redis` (local counts use fixed windows)"
                        .to_owned(),
                )
            }
            None if entry.key_prefix.is_some() => {
                return Err("`key_prefix` needs `redis`".to_owned())
            }
            None if entry.sync_ms.is_some() => return Err("`sync_ms` needs `redis`".to_owned()),
            None => None,
            Some(store) if store.is_empty() => {
                return Err("`redis` is empty; name a [redis.NAME] store".to_owned())
            }
            Some(store) => {
                let window_name = match entry.window {
                    WindowName::Fixed => Window::Fixed,
                    WindowName::Sliding => Window::Sliding,
                };
                let prefix = entry.key_prefix.unwrap_or_else(|| {
                    let rule = format!(
                        "{limit}/{}/{key_header:?}/{window_name:?}/{:?}",
                        entry.window_ms.get(),
                        entry.when
                    );
                    default_prefix(&rule)
                });
                Some(Arc::new(Shared {
                    store,
                    window: window_name,
                    on_error: match entry.on_store_error {
                        OnStoreErrorName::Open => OnStoreError::Open,
                        OnStoreErrorName::Closed => OnStoreError::Closed,
                    },
                    prefix,
                    limit,
                    window_ms: entry.window_ms.get(),
                    over,
                    sync: (entry.sync_ms).map(|ms| Synced::new(Duration::from_millis(ms.get()))),
                }))
            }
        };
        let now = Instant::now();
        Ok(Rule {
            when: entry.when,
            key_header,
            over,
            by_ip: Counters::new(limit, window, now),
            by_value: Counters::new(limit, window, now),
            shared,
        })
    }
}

/// Parses and checks the config text (TOML).
pub(crate) fn parse(text: &str) -> Result<Limits, String> {
    ScopedRules::from_toml(text).map_err(|e| e.to_string())
}

/// A rule is read as written ([`RuleEntry`]) and checked into what the request path needs.
impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rule, D::Error> {
        let entry = RuleEntry::deserialize(deserializer)?;
        Rule::try_from(entry).map_err(serde::de::Error::custom)
    }
}
