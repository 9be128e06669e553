//! HTTP Basic authentication with bcrypt-hashed passwords, like BFE's
//! `mod_auth_basic`.
//!
//! - **FoundProduct**: the first rule whose condition holds, `[global]` rules first,
//!   then the product's own, decides: a request without credentials of one of its
//!   users gets `401` with `WWW-Authenticate: Basic realm="..."`; with them, the user
//!   name goes into the request context as `auth_user` and, with
//!   `remove_authorization`, the `Authorization` header is removed before forwarding.
//!   A request no rule matches goes on untouched.
//!
//! Passwords are bcrypt hashes (`htpasswd -nB user`), never plain text. Successful
//! checks are cached (a bounded set of SHA-256 digests, never the password), so a
//! client pays for bcrypt once, not on every request. Conditions are
//! `hookgate-plugin-kit`'s table form inline in each rule: `host`, `method`, `path`,
//! `path_prefix`, `header` (name, optional value; first value, as in BFE),
//! `client_ip`, `cond` (a BFE expression); none = every request.
//!
//! ```toml
//! [[global.rules]]
//! path_prefix = "/admin/"
//! realm = "admin"
//! users = { root = "$2y$10$r6t6HQnQbd1N8doiWBjVHOrd41B6Lql2e456TzXCbPrs9T4I6Bcoa" }
//!
//! [[products.shop.rules]]
//! realm = "shop"
//! remove_authorization = true
//! users.alice = "$2y$10$r6t6HQnQbd1N8doiWBjVHOrd41B6Lql2e456TzXCbPrs9T4I6Bcoa"
//! ```

mod config;
mod rule;
mod verified;

use hookgate_plugin_api::{export_plugin, Outcome, Registry};

use crate::verified::Verified;

/// Parses the config once (checking every hash) and registers the FoundProduct check,
/// if there is a rule.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let realms = config::parse(config).map_err(|e| format!("auth-basic plugin config: {e}"))?;
    if realms.is_empty() {
        return Ok(());
    }
    let verified = Verified::default();
    let refused = reg.counter(
        "auth_basic_refused",
        "Requests answered 401, by reason: no credentials (missing) or not a user's (wrong)",
        &["reason"],
    )?;
    reg.on_found_product(move |req| {
        let Some(rule) = realms.first_match(req) else {
            return Outcome::GoOn;
        };
        let Some(user) = rule.user(req, &verified) else {
            let reason = match req.header("authorization") {
                None => "missing",
                Some(_) => "wrong",
            };
            refused.inc(&[reason]);
            return Outcome::Respond(rule.challenge.clone());
        };
        req.set_context("auth_user", user);
        if rule.remove_authorization {
            req.remove_header("authorization");
        }
        Outcome::GoOn
    });
    Ok(())
}

export_plugin!(init, points = [FoundProduct]);

#[cfg(test)]
mod tests;
