//! The event log: one line per callback, appended with `O_APPEND`.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

/// One event line being built: `<name> <point> <target> key=value…`.
pub struct Line(String);

impl Line {
    /// Starts a line; `target` is the request path or the session id.
    pub fn new(name: &str, point: &str, target: &str) -> Line {
        Line(format!("{name} {point} {}", word(target)))
    }

    /// Adds `key=value` (`-` for an empty value).
    pub fn field(mut self, key: &str, value: &str) -> Line {
        let _ = write!(self.0, " {key}={}", word(value));
        self
    }

    /// Appends the line to `log`. The file is opened, written with one `write` call and
    /// closed per event: with `O_APPEND`, lines from concurrent threads (and from several
    /// probe instances sharing a log) never interleave.
    pub fn append(mut self, log: &Path) {
        self.0.push('\n');
        let file = OpenOptions::new().create(true).append(true).open(log);
        // A probe that cannot write its log must not change what the proxy does; the
        // test then fails on the missing events.
        if let Ok(mut file) = file {
            let _ = file.write_all(self.0.as_bytes());
        }
    }

    /// The line, without its newline.
    #[cfg(test)]
    pub fn text(&self) -> &str {
        &self.0
    }
}

/// A value as one whitespace-free word: `-` when empty.
fn word(value: &str) -> String {
    if value.is_empty() {
        return "-".to_owned();
    }
    value
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect()
}
