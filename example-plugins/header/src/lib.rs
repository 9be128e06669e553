//! Edits request and response headers by rules, like BFE's `mod_header`.
//!
//! `request` rules run at **AfterLocation** (product and cluster are known) on the
//! headers sent to the backend; `response` rules run at **ReadResponse** on the
//! headers sent to the client (also on the proxy's own error pages, not on
//! redirects). The `[global]` rules run first, then the request's product's; every
//! rule whose conditions hold applies. Conditions (`path`, `path_prefix`, `host`,
//! `method`, `header`; none means every request) are judged on the request, for
//! response rules too. A rule's edits run in this order:
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

mod condition;
mod config;
mod rule;
mod scoped;
mod template;
#[cfg(test)]
mod tests;

use std::cell::RefCell;

use hookgate_plugin_api::{export_plugin, Action, Outcome, Registry};

use rule::Target;

thread_local! {
    // Internal: values with variables are rendered here. Handlers are shared by the
    // proxy's worker threads and get `&self`, so a buffer per thread, kept between
    // requests, is what spares a request an allocation.
    static RENDER_BUF: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Parses the config once and registers a handler at each point that has rules.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let config::Config { request, response } = config::parse(config)?;
    if !request.is_empty() {
        reg.on_after_location(move |req| {
            RENDER_BUF.with_borrow_mut(|buf| {
                for rule in request.for_request(req) {
                    rule.apply(&mut Target::Request(req), buf);
                }
            });
            Outcome::GoOn
        });
    }
    if !response.is_empty() {
        reg.on_read_response(move |req, resp| {
            RENDER_BUF.with_borrow_mut(|buf| {
                for rule in response.for_request(req) {
                    rule.apply(&mut Target::Response(req, resp), buf);
                }
            });
            Action::GoOn
        });
    }
    Ok(())
}

export_plugin!(init, points = [AfterLocation, ReadResponse]);
