//! An access log, like BFE's `mod_access`: one line per request at **RequestFinish**
//! and one per connection at **Finish**, appended to a file in the combined log format
//! or as JSON. **BeforeLocation** notes when each request started, for its time and
//! duration. What the server does with each return value is the callback contract in
//! `hookgate-plugin-api`'s crate docs.
//!
//! Lines are appended to a shared buffer that a writer thread writes out every
//! `flush_interval_ms` (sooner past 64 KiB) and when the handlers are dropped: the proxy
//! drops them after draining at shutdown, so no line is lost.
//!
//! Config (TOML):
//!
//! ```toml
//! path = "/var/log/hookgate/access.log"  # required; created if missing, appended to
//! format = "combined"                    # or "json"
//! flush_interval_ms = 1000               # the default
//! ```
//!
//! ## Layout
//! - `config`: the TOML, checked once at init; opens the file.
//! - `line`: what a request and a connection line hold, in either format.
//! - `writer`: the thread that owns the file.

mod config;
mod line;
mod writer;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hookgate_plugin_api::{export_plugin, Action, Outcome, Registry};

use config::{Config, Format};
use line::{ConnectionLine, Line, RequestLine, START_KEY};
use writer::Writer;

/// Parses the config once, opens the log file, starts the writer thread and registers
/// the handlers.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let config = Config::parse(config).map_err(|e| format!("access-log plugin config: {e}"))?;
    let writer = Writer::start(config.file, config.path, config.flush_every)
        .map_err(|e| format!("access-log plugin: cannot start the writer thread: {e}"))?;
    // Shared by the two handlers; dropping the last one flushes the file.
    let log = Arc::new(Log {
        format: config.format,
        writer,
    });

    reg.on_before_location(|req| {
        // A second instance keeps the first one's start.
        if req.context(START_KEY).is_none() {
            let now = SystemTime::now().duration_since(UNIX_EPOCH);
            let micros = now.map_or(0, |d| d.as_micros());
            req.set_context(START_KEY, &micros.to_string());
        }
        Outcome::GoOn
    });
    let requests = Arc::clone(&log);
    reg.on_request_finish(move |req, response| {
        requests.write(&RequestLine::new(req, response, SystemTime::now()));
        Action::GoOn
    });
    reg.on_finish(move |session| {
        log.write(&ConnectionLine::new(session, SystemTime::now()));
        Action::GoOn
    });
    Ok(())
}

struct Log {
    format: Format,
    writer: Writer,
}

impl Log {
    fn write(&self, line: &impl Line) {
        self.writer.send(line.render(self.format));
    }
}

export_plugin!(init, points = [BeforeLocation, RequestFinish, Finish]);

#[cfg(test)]
mod tests;
