//! The config, checked once at init; errors name the key.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::time::Duration;

use hookgate_plugin_kit::{from_toml, AtLeastOne};
use serde::Deserialize;

/// The config file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    path: PathBuf,
    #[serde(default)]
    format: Format,
    /// Default 1000.
    flush_interval_ms: Option<AtLeastOne<u64>>,
}

/// How lines are written.
#[derive(Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// The combined log format, with hookgate's fields appended as `key=value`.
    #[default]
    Combined,
    /// One JSON object per line.
    Json,
}

/// The checked config, with the log file open.
#[derive(Debug)]
pub(crate) struct Config {
    /// The log file's path, for error messages.
    pub(crate) path: PathBuf,
    /// The log file, opened for appending.
    pub(crate) file: File,
    pub(crate) format: Format,
    pub(crate) flush_every: Duration,
}

impl Config {
    /// Parses the config and opens the log file (created if missing, appended to).
    pub(crate) fn parse(text: &str) -> Result<Config, String> {
        let raw: Raw = from_toml(text).map_err(|e| e.to_string())?;
        // Opened here, so that an unwritable path fails the start-up, not the first line.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&raw.path)
            .map_err(|e| format!("path: cannot append to {}: {e}", raw.path.display()))?;
        Ok(Config {
            path: raw.path,
            file,
            format: raw.format,
            flush_every: Duration::from_millis(raw.flush_interval_ms.map_or(1000, AtLeastOne::get)),
        })
    }
}
