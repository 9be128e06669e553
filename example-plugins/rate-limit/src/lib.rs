//! Limits requests per client over a time window, like BFE's `mod_prison`.
//!
//! - **FoundProduct**: every rule whose condition holds counts the request against
//!   the client's budget, `[global]` rules first, then the product's own; the first
//!   rule whose budget is spent refuses the request: `429 Too Many Requests` with
//!   `Retry-After` (the default), or closing the connection (`action = "close"`).
//!
//! The client is its IP (after the proxy's trusted `X-Forwarded-For` handling, see
//! `server.trusted_proxies`), or the value of `key_header` when the request has it. A
//! client's window starts with its first request and lasts `window_ms`; `limit`
//! requests fit in it. Conditions are `hookgate-plugin-kit`'s table form inline in
//! each rule: `host`, `method`, `path`, `path_prefix`, `header` (name, optional value;
//! first value, as in BFE), `client_ip`, `cond` (a BFE expression); none = every
//! request.
//!
//! ```toml
//! [global]
//! rules = [{ limit = 100, window_ms = 1000 }]
//!
//! [products.api]
//! rules = [
//!   { path = "/login", method = "POST", limit = 5, window_ms = 60000, action = "close" },
//!   { path_prefix = "/v1/", key_header = "x-api-key", limit = 1000, window_ms = 60000 },
//! ]
//! ```

mod config;
mod counter;
mod ip_hash;
mod rule;
mod shared;

use std::cell::LazyCell;
use std::sync::Arc;

use hookgate_plugin_api::{export_plugin, Outcome, Registry};
use hookgate_plugin_kit::RequestFacts;

use rule::Verdict;

use hookgate_plugin_kit::Clock;

/// Parses the config once and registers the FoundProduct check, if there is a rule.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    init_with_clock(config, reg, Clock::Real)
}

/// [`init`], with the windows reading the time from `clock`.
fn init_with_clock(config: &str, reg: &mut Registry<'_>, clock: Clock) -> Result<(), String> {
    let limits = config::parse(config).map_err(|e| format!("rate-limit plugin config: {e}"))?;
    if limits.is_empty() {
        return Ok(());
    }
    let refused = reg.counter(
        "rate_limit_refused",
        "Requests refused for being over a limit, by product",
        &["product"],
    )?;
    let store_errors = reg.counter(
        "rate_limit_store_errors",
        "Counts a Redis store could not give, by product and the rule's on_store_error",
        &["product", "on_store_error"],
    )?;
    for shared in limits.all().filter_map(|rule| rule.shared.clone()) {
        let Some(synced) = &shared.sync else {
            continue;
        };
        let (store_errors, clock) = (store_errors.clone(), clock.clone());
        reg.every(synced.period, move |timer| {
            let Some(synced) = &shared.sync else {
                return;
            };
            let Some((callout, sent)) = shared.outgoing(synced, clock.now()) else {
                return;
            };
            let (shared, store_errors, clock) =
                (Arc::clone(&shared), store_errors.clone(), clock.clone());
            timer.wait(vec![callout], move |results| {
                let (Some(synced), Some(result)) = (&shared.sync, results.first()) else {
                    return;
                };
                if let Err(why) = shared.learned(synced, sent, result, clock.now()) {
                    store_errors.inc(&["", "sync"]);
                    hookgate_plugin_api::warn!(
                        "Redis store {:?}: sync failed, sending again next time: {why}",
                        shared.store
                    );
                }
            });
        })?;
    }
    reg.on_found_product(move |req| {
        // The clock is read once for all the rules that count the request, and not at
        // all when none does.
        let now = LazyCell::new(|| clock.now());
        let mut rules = limits.rules_for_request(req).peekable();
        if rules.peek().is_none() {
            return Outcome::GoOn;
        }
        let facts = RequestFacts::of(req);
        let mut asks = Vec::new();
        for rule in rules {
            match rule.check(&facts, &now) {
                Verdict::Pass => {}
                Verdict::Over(outcome) => {
                    refused.inc(&[req.product()]);
                    return outcome;
                }
                Verdict::Ask(callout, shared) => asks.push((callout, shared)),
            }
        }
        if asks.is_empty() {
            return Outcome::GoOn;
        }
        // Rules counted in a Redis store: one script each, all at once; the request
        // waits for the replies.
        let (callouts, shared): (Vec<_>, Vec<_>) = asks.into_iter().unzip();
        let (refused, store_errors) = (refused.clone(), store_errors.clone());
        req.wait(callouts, move |req, results| {
            for (rule, result) in shared.iter().zip(&results) {
                let decided = match rule.decide(result) {
                    Ok(decided) => decided,
                    Err((why, decided)) => {
                        let policy = rule.on_error.name();
                        store_errors.inc(&[req.product(), policy]);
                        hookgate_plugin_api::warn!(
                            "Redis store {:?}: {why}; on_store_error = {policy}",
                            rule.store
                        );
                        decided
                    }
                };
                if let Some(outcome) = decided {
                    refused.inc(&[req.product()]);
                    return outcome;
                }
            }
            Outcome::GoOn
        })
    });
    Ok(())
}

export_plugin!(init, points = [FoundProduct]);

#[cfg(test)]
mod tests;
