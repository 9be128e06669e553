//! Blocks clients and requests, like BFE's `mod_block`.
//!
//! - **Accept**: a client whose address is in `global.deny` (IPs and CIDRs) is closed
//!   before anything is read, and before any TLS handshake.
//! - **FoundProduct**: request rules, `[global]` ones first, then the product's own;
//!   the first rule whose condition holds blocks the request, with a response (403
//!   unless set) or by closing the connection.
//!
//! Conditions are `hookgate-plugin-kit`'s table form inline in each rule (all keys
//! that are set must hold; none = every request): `host`, `method`, `path`,
//! `path_prefix`, `header` (name, optional value; first value, as in BFE), `client_ip`
//! (IPs and CIDRs; the client IP after the proxy's trusted `X-Forwarded-For` handling)
//! and `cond` (a BFE expression).
//!
//! ```toml
//! [global]
//! deny = ["192.0.2.0/24", "2001:db8::7"]
//! rules = [{ path_prefix = "/.git/" }]
//!
//! [products.shop]
//! rules = [
//!   { path_prefix = "/admin/", client_ip = ["203.0.113.0/24"], status = 404, body = "" },
//!   { method = "TRACE", action = "close" },
//!   { header = { name = "x-debug" }, action = "close" },
//! ]
//! ```

mod config;

use std::sync::Arc;

use hookgate_plugin_api::{export_plugin, Action, Outcome, Registry};

use crate::config::Block;

/// Parses the config once; registers Accept if `global.deny` is set, and FoundProduct
/// if there is any rule.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let list = config::parse(config).map_err(|e| format!("block plugin config: {e}"))?;
    let list = Arc::new(list);
    if !list.deny.is_empty() {
        let list = list.clone();
        reg.on_accept(move |session| {
            if list.deny.contains(session.remote_addr().ip()) {
                Action::Close
            } else {
                Action::GoOn
            }
        });
    }
    if list.rules.is_empty() {
        return Ok(());
    }
    reg.on_found_product(
        move |req| match list.rules.first_match(req).map(|r| &r.then) {
            None => Outcome::GoOn,
            Some(Block::Close) => Outcome::Close,
            Some(Block::Respond(reply)) => Outcome::Respond(reply.clone()),
        },
    );
    Ok(())
}

export_plugin!(init, points = [Accept, FoundProduct]);

#[cfg(test)]
mod tests;
