//! Inspects request bodies: HMAC signatures (webhooks), JSON well-formedness and
//! denied patterns (a WAF-style check), per product. The example of the body points
//! of Plugin API 0.2.
//!
//! - **FoundProduct**: the first rule whose condition holds, `[global]` rules first,
//!   then the product's own, asks for the body
//!   ([`Request::want_body`](hookgate_plugin_api::Request::want_body)) and keeps the
//!   rule in the request's typed state. A request no rule matches is streamed as
//!   usual: nothing is buffered for it.
//! - **RequestBody**: the body, read whole by the proxy up to the instance's
//!   `body_limit` (`[[plugins]] body_limit`, 64 KiB by default), is checked in this
//!   order: `signature` (401 when missing or wrong), `json` (400 when not JSON),
//!   `deny` (403 when a pattern occurs, ASCII case ignored). Each refusal is logged
//!   and counted as `body_check_refused{reason}` (`signature`, `json`, `pattern`).
//!
//! A body over the limit gets 413 from the proxy (`over_limit = "reject"`, the
//! default: a check cannot pass on part of a body) or is sent on unchecked
//! (`over_limit = "skip"`, refused at init for a rule with a `signature`, which a
//! padded body would then bypass). A request a rule matches whose body the proxy does
//! not offer (a WebSocket upgrade, a gRPC request: the client chooses both headers)
//! gets 403, counted as `unreadable`: the check is never skipped by a header.
//!
//! The signature is GitHub's webhook form: the header holds `prefix` then the
//! lowercase or uppercase hex of HMAC-SHA256(secret, body), compared in constant time.
//!
//! Conditions are `hookgate-plugin-kit`'s table form inline in each rule: `host`,
//! `method`, `path`, `path_prefix`, `header`, `client_ip`, `cond` (a BFE expression);
//! none = every request.
//!
//! ```toml
//! [[global.rules]]
//! method = "POST"
//! deny = ["<script", "union select"]
//!
//! [[products.shop.rules]]
//! path_prefix = "/hooks/"
//! json = true
//! signature = { header = "x-hub-signature-256", prefix = "sha256=", secret = "s3cret" }
//!
//! [[products.shop.rules]]
//! path_prefix = "/uploads/"
//! deny = ["EICAR-STANDARD-ANTIVIRUS-TEST-FILE"]
//! over_limit = "skip"
//! ```

mod check;
mod config;

use std::sync::Arc;

use hookgate_plugin_api::{export_plugin, warn, Outcome, Registry, Reply};

use crate::check::{Checks, Refusal};

/// The checks the FoundProduct handler chose for a request, kept for RequestBody.
#[derive(Default)]
struct Chosen(Option<Arc<Checks>>);

/// Parses the config once and registers FoundProduct and RequestBody, if there is a
/// rule.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let rules = config::parse(config).map_err(|e| format!("body-check plugin config: {e}"))?;
    if rules.is_empty() {
        return Ok(());
    }
    let refused = reg.counter(
        "body_check_refused",
        "Requests refused for their body, by reason: signature, json, pattern, unreadable",
        &["reason"],
    )?;
    let refused_at_found_product = refused.clone();
    reg.on_found_product(move |req| {
        let Some(rule) = rules.first_match(req) else {
            return Outcome::GoOn;
        };
        let checks = Arc::clone(&rule.checks);
        if !req.want_body(checks.over_limit) {
            // No body to check (an upgrade, gRPC): refused, never let through unchecked.
            refused_at_found_product.inc(&[Refusal::Unreadable.reason()]);
            warn!("refused {} {}: unreadable", req.method(), req.path());
            return Outcome::Respond(reply(Refusal::Unreadable));
        }
        req.local::<Chosen>().0 = Some(checks);
        Outcome::GoOn
    });
    reg.on_request_body(move |req| {
        let Some(checks) = req.take_local::<Chosen>().and_then(|c| c.0) else {
            return Outcome::GoOn;
        };
        let signature = checks.signature_header().and_then(|h| req.header(h));
        let verdict = checks.check(req.body().unwrap_or_default(), signature);
        let Err(refusal) = verdict else {
            return Outcome::GoOn;
        };
        refused.inc(&[refusal.reason()]);
        warn!(
            "refused {} {}: {}",
            req.method(),
            req.path(),
            refusal.reason()
        );
        Outcome::Respond(reply(refusal))
    });
    Ok(())
}

/// The response a refusal gets.
fn reply(refusal: Refusal) -> Reply {
    let (status, text) = match refusal {
        Refusal::Signature => (401, "bad signature\n"),
        Refusal::Json => (400, "body is not JSON\n"),
        Refusal::Pattern => (403, "forbidden\n"),
        Refusal::Unreadable => (403, "body cannot be checked\n"),
    };
    Reply::new(status)
        .header("content-type", "text/plain")
        .body(text)
}

export_plugin!(init, points = [FoundProduct, RequestBody]);

#[cfg(test)]
mod tests;
