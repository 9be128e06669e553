//! [`Probe`]: instances of the `hookgate-probe` test plugin (`tests/probe`), and the
//! events they record.
//!
//! Every probe made in one directory appends to the same `events.log` there, so the
//! log shows the order of callbacks across plugin instances (the chain order).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::build::library;

/// One probe instance: a config file in a test's directory.
#[derive(Clone, Debug)]
pub struct Probe {
    name: String,
    config: PathBuf,
    log: PathBuf,
}

impl Probe {
    /// Writes `<dir>/probe-<name>.toml`: `name`, `log = "<dir>/events.log"`, then
    /// `rules` (TOML `[[rule]]` tables, see `tests/probe/src/lib.rs`; "" for none).
    pub fn new(dir: &Path, name: &str, rules: &str) -> Probe {
        let config = dir.join(format!("probe-{name}.toml"));
        let log = events_log(dir);
        let text = format!(
            "name = {name:?}\nlog = {:?}\n{rules}\n",
            log.display().to_string()
        );
        fs::write(&config, text).expect("write probe config");
        Probe {
            name: name.to_owned(),
            config,
            log,
        }
    }

    /// The probe library, built.
    pub fn library() -> PathBuf {
        library("hookgate_probe")
    }

    /// The `--plugin` argument: `<library>=<config>`.
    pub fn plugin_arg(&self) -> String {
        format!("{}={}", Probe::library().display(), self.config.display())
    }

    /// The instance name recorded with its events.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The config file (for `[[plugins]] config = ...`).
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The shared event log.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// This probe's events so far.
    pub fn events(&self) -> Vec<Event> {
        read_events(&self.log)
            .into_iter()
            .filter(|e| e.probe == self.name)
            .collect()
    }
}

/// The event log of the probes made in `dir`.
pub fn events_log(dir: &Path) -> PathBuf {
    dir.join("events.log")
}

/// Every event in a log, in order (empty if there is no log yet).
pub fn read_events(log: &Path) -> Vec<Event> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(Event::parse)
        .collect()
}

/// Polls the log until `done` holds for its events (callbacks such as Finish run after
/// the client is gone), at most `timeout`; returns the events, or panics listing them.
pub fn wait_for_events(
    log: &Path,
    timeout: Duration,
    done: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    let deadline = Instant::now() + timeout;
    loop {
        let events = read_events(log);
        if done(&events) {
            return events;
        }
        if Instant::now() >= deadline {
            let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
            panic!(
                "the expected events did not come within {timeout:?}; got:\n{}",
                lines.join("\n")
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// One recorded callback: `<probe> <point> <target> key=value…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The probe instance's name.
    pub probe: String,
    /// The point name (`accept`, `found_product`…).
    pub point: String,
    /// The request path at request points, the session id at session points.
    pub target: String,
    /// The other fields, in order (`-` stands for an empty value).
    pub fields: Vec<(String, String)>,
}

impl Event {
    fn parse(line: &str) -> Option<Event> {
        let mut words = line.split(' ');
        let probe = words.next()?.to_owned();
        let point = words.next()?.to_owned();
        let target = words.next()?.to_owned();
        let fields = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Some(Event {
            probe,
            point,
            target,
            fields,
        })
    }

    /// A field's value; `None` if absent, `Some("-")` if recorded empty.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The request path (request points).
    pub fn path(&self) -> &str {
        &self.target
    }

    /// The session id (the target at session points, the `session` field at request
    /// points).
    pub fn session(&self) -> Option<u64> {
        self.field("session").unwrap_or(&self.target).parse().ok()
    }

    /// The action the probe returned.
    pub fn action(&self) -> Option<&str> {
        self.field("action")
    }

    /// The response status at ReadResponse/RequestFinish (`None` for "none").
    pub fn status(&self) -> Option<u16> {
        self.field("status").and_then(|s| s.parse().ok())
    }

    /// The proxy's error code, if set.
    pub fn error(&self) -> Option<&str> {
        self.field("error").filter(|e| *e != "-")
    }

    /// The backend address, if chosen.
    pub fn backend(&self) -> Option<&str> {
        self.field("backend").filter(|b| *b != "-")
    }

    /// Whether this is `probe`'s event at `point`.
    pub fn is(&self, probe: &str, point: &str) -> bool {
        self.probe == probe && self.point == point
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.probe, self.point, self.target)?;
        for (key, value) in &self.fields {
            write!(f, " {key}={value}")?;
        }
        Ok(())
    }
}
