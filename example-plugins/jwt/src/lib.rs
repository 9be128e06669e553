//! Verifies JSON Web Tokens (BFE's mod_auth_jwt) with keys from a JWKS document that
//! a timer refreshes through the host's callouts (plugin API 0.2.2).
//!
//! - **FoundProduct**: the request's product picks its policy (`[products.<name>]`
//!   over `[global]`). A request without `Authorization: Bearer <token>`, or whose
//!   token fails (signature, algorithm, `exp`/`nbf` with `leeway_s`, `iss`, `aud`,
//!   required claims), gets 401 with `WWW-Authenticate: Bearer realm=…` (and
//!   `error="invalid_token"`, `error_description` for a bad token). A good token's
//!   claims listed in `claims_to_headers` are set as request headers (removed when
//!   absent, so a client cannot send its own).
//! - **Keys**: each JWKS document named (a URL, or `cluster:NAME` with `jwks_path`)
//!   is fetched by a timer every `refresh_ms`, from the start; a failed fetch keeps
//!   the keys it had. Until the first fetch succeeds, a request waits on a fetch of
//!   its own; if that fails too, the handler fails and the instance's `on_error`
//!   policy applies (fail-closed: 500).
//!
//! ```toml
//! [global]
//! jwks = "https://login.example.com/.well-known/jwks.json"
//! issuer = "https://login.example.com/"
//! audience = ["api"]
//! claims_to_headers = { sub = "x-user", scope = "x-scope" }
//!
//! [products.admin]
//! required_claims = ["exp", "admin"]
//!
//! [products.public]
//! enabled = false
//! ```

mod config;
mod keys;
mod verify;

#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use hookgate_plugin_api::metrics::Counter;
use hookgate_plugin_api::{debug, export_plugin, warn, Outcome, Registry, Request};
use hookgate_plugin_kit::RequestFacts;

use config::{Policies, Policy};
use keys::{Jwks, Keys};

/// Parses the config, starts a refresh timer per JWKS document, and registers the
/// FoundProduct check.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let policies = config::parse(config).map_err(|e| format!("jwt plugin config: {e}"))?;
    let policies = Arc::new(policies);
    let requests = reg.counter(
        "jwt_requests",
        "Requests the jwt plugin checked, by product and outcome (accepted, missing, invalid)",
        &["product", "outcome"],
    )?;
    for jwks in &policies.sources {
        let jwks = Arc::clone(jwks);
        reg.every(jwks.refresh, move |timer| {
            let fetched = Arc::clone(&jwks);
            timer.wait(vec![jwks.callout()], move |results| {
                let answer = results.into_iter().next().unwrap_or_default();
                match fetched.update(&answer) {
                    Ok(count) => debug!("JWKS {}: {count} keys", fetched.describe()),
                    Err(why) => warn!("JWKS {}: keeping the keys I had: {why}", fetched.describe()),
                }
            });
        })?;
    }
    reg.on_found_product(move |req| check(&policies, &requests, req));
    Ok(())
}

/// The FoundProduct check.
fn check(policies: &Arc<Policies>, requests: &Counter, req: &mut Request<'_>) -> Outcome {
    let Some(policy) = policies.for_product(req.product()) else {
        return Outcome::GoOn;
    };
    if let Some(cond) = &policy.cond {
        if !cond.matches(&RequestFacts::of(req)) {
            verify::claims_to_headers(policy, req, None);
            return Outcome::GoOn;
        }
    }
    let Some(token) = verify::bearer(req).map(str::to_owned) else {
        requests.inc(&[req.product(), "missing"]);
        return Outcome::Respond(verify::unauthorized(policy, None));
    };
    let jwks = policies.keys(policy);
    if let Some(keys) = jwks.current() {
        return decide(policy, &keys, &token, requests, req);
    }
    // No keys yet (the proxy just started, or the JWKS has been down since): this
    // request fetches them.
    let (policies, requests) = (Arc::clone(policies), requests.clone());
    req.wait(vec![jwks.callout()], move |req, results| {
        let Some(policy) = policies.for_product(req.product()) else {
            return Outcome::GoOn;
        };
        let jwks = policies.keys(policy);
        let answer = results.into_iter().next().unwrap_or_default();
        let keys = match (jwks.update(&answer), jwks.current()) {
            (_, Some(keys)) => keys,
            (Err(why), None) => return req.fail(&fetch_failed(jwks, &why)),
            (Ok(_), None) => return req.fail(&fetch_failed(jwks, "no keys")),
        };
        decide(policy, &keys, &token, &requests, req)
    })
}

fn fetch_failed(jwks: &Jwks, why: &str) -> String {
    format!("no JWKS keys yet: {}: {why}", jwks.describe())
}

/// Verifies `token` and answers accordingly.
fn decide(
    policy: &Policy,
    keys: &Keys,
    token: &str,
    requests: &Counter,
    req: &mut Request<'_>,
) -> Outcome {
    match verify::verify(policy, keys, token) {
        Ok(claims) => {
            requests.inc(&[req.product(), "accepted"]);
            verify::claims_to_headers(policy, req, Some(&claims));
            Outcome::GoOn
        }
        Err(why) => {
            requests.inc(&[req.product(), "invalid"]);
            Outcome::Respond(verify::unauthorized(policy, Some(&why)))
        }
    }
}

export_plugin!(init, points = [FoundProduct]);

#[cfg(test)]
mod tests;
