//! Gives every request an id, like BFE's `mod_logid`.
//!
//! At **BeforeLocation** (before the product is known) it sets `X-Request-Id` to a
//! random 128-bit value written as 32 lowercase hex digits, and stores the id in the
//! request context under [`CONTEXT_KEY`] (`request_id`), where later plugins find it
//! (the header plugin's `%{request_id}`, a logger). A request that already carries the
//! header keeps it only if its client IP is trusted; any other client's id is replaced,
//! so that no client chooses the id that logs and backends see. The client IP is the
//! proxy's: the peer, or behind `server.trusted_proxies` the address it put in
//! `X-Forwarded-For`.
//!
//! Config (TOML; both keys optional, defaults shown in the comments):
//!
//! ```toml
//! header = "x-request-id"                 # the header that carries the id
//! trusted = ["10.0.0.0/8", "192.0.2.7"]   # clients whose own id is kept (default: none)
//! ```
//!
//! What the server does with each return value is the callback contract in
//! `hookgate-plugin-api`'s crate docs.

mod config;
mod id;
#[cfg(test)]
mod tests;

use hookgate_plugin_api::{export_plugin, Outcome, Registry, Reply};

use config::Config;
use id::RequestId;

/// The request-context key under which the id is stored for other plugins.
pub const CONTEXT_KEY: &str = "request_id";

/// Parses the config once and registers the BeforeLocation handler.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let config = Config::parse(config)?;
    reg.on_before_location(move |req| {
        if config.trusts(req.client_ip()) {
            if let Some(kept) = req
                .header(config.header.as_str())
                .filter(|id| !id.is_empty())
            {
                let kept = kept.to_owned();
                req.set_context(CONTEXT_KEY, &kept);
                return Outcome::GoOn;
            }
        }
        let Ok(id) = RequestId::random() else {
            // getrandom(2) only fails before the kernel's pool is seeded; a request
            // without its id must not reach the backend, so fail closed.
            let reply = Reply::new(500).body("request id: no random source\n");
            return Outcome::Respond(reply);
        };
        let id = id.as_str();
        req.set_header(config.header.as_str(), id);
        req.set_context(CONTEXT_KEY, id);
        Outcome::GoOn
    });
    Ok(())
}

export_plugin!(init, points = [BeforeLocation]);
