//! Logs through `tracing`: the filter from `RUST_LOG` (default `info`), text by
//! default or JSON with `HOOKGATE_LOG_FORMAT=json`, always on stderr.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if std::env::var("HOOKGATE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Err means a subscriber is already installed (tests, embedding): keep it.
    drop(result);
}
