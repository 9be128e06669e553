//! The kit's errors: [`ParseError`] for a condition expression, [`ConfigError`] for a
//! rule file.

use std::fmt;

/// A condition expression that does not parse or compile. Its Display reads
/// `column 17: expected ')' or ','`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    column: usize,
    message: String,
}

impl ParseError {
    pub(crate) fn new(column: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            column,
            message: message.into(),
        }
    }

    /// Where the problem starts: 1-based, counted in characters.
    pub fn column(&self) -> usize {
        self.column
    }

    /// What went wrong, without the column.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A rule file that does not deserialise: the key path that failed
/// (`products.shop.rules[0].cond`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    key: String,
    message: String,
}

impl ConfigError {
    /// An error at `key` (a dotted path, empty for the document), for a plugin's own
    /// checks after parsing, so that they read like the kit's.
    ///
    /// ```
    /// use hookgate_plugin_kit::ConfigError;
    ///
    /// let e = ConfigError::new("products.shop.allow_origins[0]", "not an origin");
    /// assert_eq!(e.to_string(), "products.shop.allow_origins[0]: not an origin");
    /// ```
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The dotted key path that failed; empty for the document itself.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What went wrong there.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}
