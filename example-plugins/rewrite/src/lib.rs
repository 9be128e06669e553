//! Rewrites the request sent to the backend, like BFE's `mod_rewrite`.
//!
//! At **AfterLocation** (product and cluster are known, so routing saw the original
//! request) the `[global]` rules and then the request's product's rules are tried in
//! order. Every rule whose conditions hold applies its actions, and later rules see
//! the rewritten request; a rule with `last = true` that applies stops the rest,
//! product rules included. Conditions are `hookgate-plugin-kit`'s table form: `path`
//! (exact), `path_prefix`, `host`, `method`, `header`, `client_ip`, `cond`; none means
//! every request. Actions, applied in this order:
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

mod config;
mod rule;
#[cfg(test)]
mod tests;

use hookgate_plugin_api::{export_plugin, Outcome, Registry};
use hookgate_plugin_kit::ScopedRules;

use rule::Rewrite;

/// Parses the config once and registers the AfterLocation handler.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let rules = ScopedRules::<Rewrite>::from_toml(config)
        .map_err(|e| format!("rewrite plugin config: {e}"))?;
    reg.on_after_location(move |req| {
        for rule in rules.rules_for_request(req) {
            if rule.apply(req) && rule.last {
                break;
            }
        }
        Outcome::GoOn
    });
    Ok(())
}

export_plugin!(init, points = [AfterLocation]);
