//! Redirects requests by rules, like BFE's `mod_redirect`.
//!
//! At **FoundProduct** (the product is known, the cluster not yet) the `[global]` rules
//! and then the request's product's rules are tried in order; the first whose
//! conditions hold answers with a redirect, and the request goes no further (the
//! proxy sends `Location`; ReadResponse does not run). A rule has conditions
//! (`hookgate-plugin-kit`'s table form: `path`, `path_prefix`, `host`, `method`,
//! `header`, `client_ip`, `cond`; none means every request), exactly one
//! target, and a `status` (301, 302, 303, 307 or 308; default 302):
//!
//! - `set_url`: this URL;
//! - `add_prefix`: this prefix, then the request's path and query;
//! - `set_scheme`: the same host, path and query under `http` or `https`; a request
//!   already on that scheme is not redirected by the rule.
//!
//! ```toml
//! [[global.rules]]
//! path = "/old-home"
//! set_url = "https://www.example.com/"
//! status = 301
//!
//! [[products.shop.rules]]
//! path_prefix = "/checkout/"
//! set_scheme = "https"
//! status = 308
//!
//! [[products.shop.rules]]
//! path_prefix = "/blog/"
//! method = "GET"
//! add_prefix = "https://blog.example.com"
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

use rule::Redirect;

/// Parses the config once and registers the FoundProduct handler.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let rules = ScopedRules::<Redirect>::from_toml(config)
        .map_err(|e| format!("redirect plugin config: {e}"))?;
    reg.on_found_product(move |req| {
        for rule in rules.rules_for_request(req) {
            if let Some(location) = rule.location(req) {
                let redirect = hookgate_plugin_api::Redirect::to(&location).status(rule.status);
                return Outcome::Redirect(redirect);
            }
        }
        Outcome::GoOn
    });
    Ok(())
}

export_plugin!(init, points = [FoundProduct]);
