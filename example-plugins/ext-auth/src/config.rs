//! The config, checked once at init into [`Settings`].

use std::time::Duration;

use hookgate_plugin_kit::{from_toml, ConfigError};
use serde::Deserialize;

/// What the plugin does, checked.
pub(crate) struct Settings {
    /// `cluster:NAME` or a URL.
    pub(crate) target: String,
    /// The cluster's name, if the target is one.
    pub(crate) cluster: Option<String>,
    pub(crate) path: String,
    pub(crate) method: String,
    pub(crate) forward: Vec<String>,
    pub(crate) copy: Vec<String>,
    pub(crate) timeout: Duration,
    pub(crate) body_limit: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    target: String,
    #[serde(default = "default_path")]
    path: String,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default = "default_forward")]
    forward: Vec<String>,
    #[serde(default)]
    copy: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_body_limit")]
    body_limit: u64,
}

fn default_path() -> String {
    "/".to_owned()
}
fn default_method() -> String {
    "GET".to_owned()
}
fn default_forward() -> Vec<String> {
    vec!["authorization".to_owned(), "cookie".to_owned()]
}
fn default_timeout_ms() -> u64 {
    1000
}
fn default_body_limit() -> u64 {
    16 * 1024
}

/// Parses and checks the config text (TOML).
pub(crate) fn parse(text: &str) -> Result<Settings, ConfigError> {
    let raw: Raw = from_toml(text)?;
    let cluster = raw.target.strip_prefix("cluster:").map(str::to_owned);
    let url_ok = raw.target.starts_with("http://") || raw.target.starts_with("https://");
    if cluster.as_deref().is_some_and(str::is_empty) || (cluster.is_none() && !url_ok) {
        let message = format!(
            "{:?} is neither \"cluster:NAME\" nor an http:// or https:// URL",
            raw.target
        );
        return Err(ConfigError::new("target", message));
    }
    if !raw.path.starts_with('/') {
        return Err(ConfigError::new("path", "must start with `/`"));
    }
    if raw.timeout_ms == 0 {
        return Err(ConfigError::new("timeout_ms", "0; expected at least 1"));
    }
    let lower = |names: Vec<String>| names.into_iter().map(|n| n.to_ascii_lowercase()).collect();
    Ok(Settings {
        target: raw.target,
        cluster,
        path: raw.path,
        method: raw.method.to_ascii_uppercase(),
        forward: lower(raw.forward),
        copy: lower(raw.copy),
        timeout: Duration::from_millis(raw.timeout_ms),
        body_limit: raw.body_limit.max(1),
    })
}
