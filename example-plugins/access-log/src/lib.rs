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
//! - `line`: what a request and a connection line hold, in either format; `line/text`
//!   appends a line's pieces, `line/timestamp` its time, formatted once per second.
//! - `writer`: the thread that owns the file.

mod config;
mod line;
mod writer;

use std::cell::Cell;
use std::sync::Arc;
use std::time::SystemTime;

use hookgate_plugin_api::{export_plugin, Action, Outcome, Registry};

use config::{Config, Format};
use line::{ConnectionLine, Line, RequestLine};
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
        line::note_start(req, SystemTime::now());
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

thread_local! {
    // Internal: each handler thread renders its lines into one buffer that it keeps,
    // so that a line costs no allocation; it holds about the longest line the thread
    // wrote. Taken out and put back, so that nothing can borrow it twice.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl Log {
    fn write(&self, line: &impl Line) {
        // `try_with` fails only while the thread is exiting: then the line gets a
        // buffer of its own.
        let mut text = SCRATCH.try_with(Cell::take).unwrap_or_default();
        text.clear();
        line.render(self.format, &mut text);
        self.writer.send(&text);
        let _ = SCRATCH.try_with(|scratch| scratch.set(text));
    }
}

export_plugin!(init, points = [BeforeLocation, RequestFinish, Finish]);

#[cfg(test)]
mod tests;
