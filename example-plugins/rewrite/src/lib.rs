//! Rewrites the request sent to the backend, like BFE's `mod_rewrite`.
//!
//! At **AfterLocation** (product and cluster are known, so routing saw the original
//! request) the `[global]` rules and then the request's product's rules are tried in
//! order. Every rule whose conditions hold applies its actions, and later rules see
//! the rewritten request; a rule with `last = true` that applies stops the rest,
//! product rules included. Conditions: `path` (exact), `path_prefix`, `host`,
//! `method`, `header`; none means every request. Actions, applied in this order:
//!
//! - `set_host`: the Host the backend sees;
//! - `set_path`: a new path (the query is kept);
//! - `replace_path_prefix = { from, to }`: a path starting with `from` starts with
//!   `to` instead;
//! - `delete_query = [keys]`: removes every pair with one of these keys;
//! - `add_query = { key = "value" }`: appends the pairs (already percent-encoded).
//!
//! ```toml
//! [[global.rules]]
//! delete_query = ["utm_source", "utm_medium"]
//!
//! [[products.shop.rules]]
//! path_prefix = "/api/v1/"
//! replace_path_prefix = { from = "/api/v1/", to = "/v1/" }
//! set_host = "api.internal"
//! add_query = { via = "hookgate" }
//! last = true
//!
//! [[products.shop.rules]]
//! path = "/"
//! set_path = "/index.html"
//! ```
//!
//! What the server does with each return value is the callback contract in
//! `hookgate-plugin-api`'s crate docs.

mod condition;
mod config;
mod rule;
mod scoped;
#[cfg(test)]
mod tests;

use hookgate_plugin_api::{export_plugin, Outcome, Registry};

/// Parses the config once and registers the AfterLocation handler.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let rules = config::parse(config)?;
    reg.on_after_location(move |req| {
        for rule in rules.for_product(req.product()) {
            if rule.apply(req) && rule.last {
                break;
            }
        }
        Outcome::GoOn
    });
    Ok(())
}

export_plugin!(init, points = [AfterLocation]);
