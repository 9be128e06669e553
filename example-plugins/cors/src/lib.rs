//! Cross-origin resource sharing per product, like BFE's `mod_cors`. At
//! **FoundProduct**, a preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) is answered by the proxy: 204 with the configured
//! `Access-Control-Allow-*` headers, or 403 for an origin not allowed. At
//! **ReadResponse**, a response to an allowed origin gets `Access-Control-Allow-Origin`
//! (the origin itself), credentials and exposed headers; every response of a product
//! with a policy gets `Vary: Origin`. What the server does with each return value is
//! the callback contract in `hookgate-plugin-api`'s crate docs.
//!
//! Config (TOML); a product's keys override `[global]`'s, and products without a
//! section of their own use `[global]` if it lists origins:
//!
//! ```toml
//! [global]
//! allow_methods = ["GET", "POST"]        # default: GET, HEAD, POST
//! max_age = 600                          # seconds browsers may cache a preflight
//!
//! [products.shop]
//! allow_origins = ["https://shop.example.com"]   # required; ["*"]: any origin
//! allow_headers = ["content-type", "x-token"]
//! expose_headers = ["x-request-id"]
//! allow_credentials = true
//! ```
//!
//! ## Layout
//! - `config`: the TOML, checked once at init, as one `Policy` per product (layered
//!   over `[global]` by the kit).
//! - `policy`: the preflight answer and the marks on responses.

mod config;
mod policy;

use std::sync::Arc;

use hookgate_plugin_api::{export_plugin, Outcome, Registry, Request, ResponseOutcome};

use config::Policies;

/// Parses the config once and registers the FoundProduct and ReadResponse handlers.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let policies = Policies::parse(config).map_err(|e| format!("cors plugin config: {e}"))?;
    let policies = Arc::new(policies);
    let for_responses = Arc::clone(&policies);

    reg.on_found_product(move |req| {
        // Each getter crosses into the host; the method alone rules out nearly every
        // request, so it is asked first.
        if req.method() != "OPTIONS" {
            return Outcome::GoOn;
        }
        match (policies.policy(req.product()), req.header("origin")) {
            (Some(policy), Some(origin)) if asks_preflight(req) => {
                Outcome::Respond(policy.preflight(origin))
            }
            _ => Outcome::GoOn,
        }
    });
    reg.on_read_response(move |req, resp| {
        let Some(policy) = for_responses.policy(req.product()) else {
            return ResponseOutcome::GoOn;
        };
        let origin = req.header("origin");
        // ReadResponse runs on the preflight answer too: it is complete already.
        if origin.is_none() || !asks_preflight(req) {
            policy.mark(origin, resp);
        }
        ResponseOutcome::GoOn
    });
    Ok(())
}

/// Whether `req`, if it has an `Origin`, is a preflight: `OPTIONS` with
/// `Access-Control-Request-Method`.
fn asks_preflight(req: &Request<'_>) -> bool {
    req.method() == "OPTIONS" && req.header("access-control-request-method").is_some()
}

export_plugin!(init, points = [FoundProduct, ReadResponse]);

#[cfg(test)]
mod tests;
