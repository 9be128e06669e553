//! [`InputError`]: BFE input the import cannot read at all (exit 1).

use std::fmt;

/// A file that is missing, unreadable, not JSON, or not shaped as BFE reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file, relative to the configuration directory (or as given).
    pub file: String,
    /// Where in it (`Config.shop[0].Cond`); empty for the whole file.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl InputError {
    /// An error in `file` at `key`.
    pub fn new(file: &str, key: impl Into<String>, message: impl Into<String>) -> InputError {
        InputError {
            file: file.to_owned(),
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.message)
        }
    }
}

impl std::error::Error for InputError {}
