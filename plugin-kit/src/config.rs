//! Config parsing that names the failing key: [`from_toml`] for a whole file, and the
//! key paths every error of the kit is written with.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use crate::ConfigError;

/// Parses a config file into `T`; an error names the key path that failed,
/// `listeners."127.0.0.1:8443".sni[1]`, with keys quoted as TOML needs them.
///
/// ```
/// use hookgate_plugin_kit::{from_toml, HeaderName};
///
/// #[derive(serde::Deserialize)]
/// struct Config {
///     header: HeaderName,
/// }
/// let config: Config = from_toml(r#"header = "X-Request-Id""#)?;
/// assert_eq!(config.header.as_str(), "x-request-id");
///
/// let err = from_toml::<Config>(r#"header = "bad name""#).err().unwrap();
/// assert_eq!(err.key(), "header");
/// # Ok::<(), hookgate_plugin_kit::ConfigError>(())
/// ```
pub fn from_toml<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    deserialize_at(toml::Value::Table(parse(text)?), "")
}

/// The document's table, or the syntax error (whose message carries the line).
pub(crate) fn parse(text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::new("", e.to_string().trim_end()))
}

/// Deserialises `value`, found at key path `at`, into `T`; errors name `at` followed
/// by the path inside `value`.
pub(crate) fn deserialize_at<T: DeserializeOwned>(
    value: toml::Value,
    at: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut key = at.to_owned();
        for segment in e.path().iter() {
            match segment {
                Segment::Seq { index } => key.push_str(&format!("[{index}]")),
                Segment::Map { key: name } | Segment::Enum { variant: name } => {
                    key = config_key(&key, name);
                }
                Segment::Unknown => key = config_key(&key, "?"),
            }
        }
        ConfigError::new(key, e.inner().message().trim_end())
    })
}

/// `parent.name`, with `name` quoted unless TOML allows it bare.
///
/// ```
/// use hookgate_plugin_kit::config_key;
///
/// assert_eq!(config_key("products.shop", "root"), "products.shop.root");
/// assert_eq!(config_key("products", "my shop"), r#"products."my shop""#);
/// assert_eq!(config_key("", "global"), "global");
/// ```
pub fn config_key(parent: &str, name: &str) -> String {
    let bare = !name.is_empty()
        && (name.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let name = if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    };
    if parent.is_empty() {
        name
    } else {
        format!("{parent}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct File {
        ports: Vec<u16>,
        #[serde(default)]
        named: std::collections::BTreeMap<String, Vec<u16>>,
    }

    #[test]
    fn errors_name_the_key_with_odd_keys_quoted() {
        let cases = [
            ("ports = [1, -1]", "ports[1]"),
            ("ports = []\nnamed.\"a b\" = [1, 70000]", "named.\"a b\"[1]"),
            ("ports = []\nnamed.ok = \"x\"", "named.ok"),
            ("ports = []\nextra = 1", "extra"),
            ("", ""),
            ("ports = [", ""),
        ];
        for (text, key) in cases {
            let err = from_toml::<File>(text).unwrap_err();
            assert_eq!(err.key(), key, "{text}: {err}");
            assert!(!err.message().is_empty());
            assert!(!err.message().ends_with('\n'), "{err:?}");
        }
    }
}
