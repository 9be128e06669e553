//! Edits request and response headers by rules, like BFE's `mod_header`.
//!
//! `request` rules run at **AfterLocation** (product and cluster are known) on the
//! headers sent to the backend; `response` rules run at **ReadResponse** on the
//! headers sent to the client (also on the proxy's own error pages, not on
//! redirects). The `[global]` rules run first, then the request's product's; every
//! rule whose conditions hold applies. Conditions (`hookgate-plugin-kit`'s table form:
//! `path`, `path_prefix`, `host`, `method`, `header`, `client_ip`, `cond`; none means
//! every request) are judged on the request, for response rules too. A rule's edits run in this order:
//!
//! - `rename = { from = "to" }`: every value of `from` moves to `to`;
//! - `delete = [names]`;
//! - `set = { name = "value" }`: replaces every value;
//! - `add = { name = "value" }`: appends a value.
//!
//! Values may use `%{client_ip}`, `%{product}`, `%{request_id}` (the request context's
//! `request_id`, set by the request-id plugin; empty without it), `%{host}` and
//! `%{path}`.
//!
//! ```toml
//! [[global.request]]
//! set = { x-client-ip = "%{client_ip}", x-request-id = "%{request_id}" }
//! delete = ["x-debug"]
//!
//! [[global.response]]
//! set = { x-request-id = "%{request_id}" }
//! delete = ["x-powered-by"]
//!
//! [[products.shop.request]]
//! path_prefix = "/api/"
//! add = { x-api-product = "%{product}" }
//!
//! [[products.shop.response]]
//! rename = { server = "x-origin-server" }
//! ```
//!
//! What the server does with each return value is the callback contract in
//! `hookgate-plugin-api`'s crate docs.

mod config;
mod rule;
mod template;
#[cfg(test)]
mod tests;

use std::cell::RefCell;

use hookgate_plugin_api::{export_plugin, Outcome, Registry, ResponseOutcome};

use hookgate_plugin_api::Request;
use hookgate_plugin_kit::ScopedRules;
use rule::{HeaderRule, Target};

thread_local! {
    // Internal: values with variables are rendered here. Handlers are shared by the
    // proxy's worker threads and get `&self`, so a buffer per thread, kept between
    // requests, is what spares a request an allocation.
    static RENDER_BUF: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Parses the config once and registers a handler at each point that has rules.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let config::Config { request, response } = config::parse(config)?;
    let (request_any, request_own) = has_rules(&request);
    if request_any {
        reg.on_after_location(move |req| {
            RENDER_BUF.with_borrow_mut(|buf| {
                for rule in request.rules_for(product(req, request_own)) {
                    rule.apply(&mut Target::Request(req), buf);
                }
            });
            Outcome::GoOn
        });
    }
    let (response_any, response_own) = has_rules(&response);
    if response_any {
        reg.on_read_response(move |req, resp| {
            RENDER_BUF.with_borrow_mut(|buf| {
                for rule in response.rules_for(product(req, response_own)) {
                    rule.apply(&mut Target::Response(req, resp), buf);
                }
            });
            ResponseOutcome::GoOn
        });
    }
    Ok(())
}

/// Whether there is any rule, and whether some product has rules of its own.
fn has_rules(rules: &ScopedRules<HeaderRule>) -> (bool, bool) {
    let global = rules.global().len();
    let own = (rules.products()).any(|p| rules.rules_for(p).count() > global);
    (!rules.is_empty(), own)
}

/// The request's product, asked for (a call into the host) only if some product has
/// rules of its own.
fn product<'r>(req: &'r Request<'_>, own: bool) -> &'r str {
    if own {
        req.product()
    } else {
        ""
    }
}

export_plugin!(init, points = [AfterLocation, ReadResponse]);
