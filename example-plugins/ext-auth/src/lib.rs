//! Asks an auth service about each request before it is routed on (BFE's
//! mod_auth_request, nginx's `auth_request`), through the host's callouts: the
//! request waits without holding a worker.
//!
//! - **FoundProduct**: a sub-request to the auth service (`GET`, or `method`), with
//!   the headers listed in `forward` and `X-Original-Method` / `X-Original-URI`. A
//!   2xx lets the request go on, with the auth response's headers listed in `copy`
//!   copied into it; a 401 or 403 is the client's answer (with the service's
//!   `WWW-Authenticate` and body); anything else (another status, the service down,
//!   slow or too talkative) fails the handler: the instance's `on_error` policy
//!   applies (fail-closed: 500; fail-open: the request goes on unauthenticated).
//!
//! ```toml
//! target = "cluster:auth"          # a cluster of the proxy's config, or an http(s):// URL
//! path = "/check"                  # the path on the cluster (a URL carries its own)
//! forward = ["authorization", "cookie"]
//! copy = ["x-user"]
//! timeout_ms = 500
//! ```

mod config;

use std::sync::Arc;

use hookgate_plugin_api::{
    export_plugin, Callout, CalloutResult, Outcome, Registry, Reply, Request,
};

use config::Settings;

/// Parses the config once and registers the FoundProduct check.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let settings =
        Arc::new(config::parse(config).map_err(|e| format!("ext-auth plugin config: {e}"))?);
    reg.on_found_product(move |req| {
        let callout = sub_request(&settings, req);
        let settings = Arc::clone(&settings);
        req.wait(vec![callout], move |req, mut results| {
            let answer = results.pop().unwrap_or_default();
            decide(&settings, req, answer)
        })
    });
    Ok(())
}

/// The sub-request for `req`.
fn sub_request(settings: &Settings, req: &Request<'_>) -> Callout {
    let mut callout = match &settings.cluster {
        Some(cluster) => Callout::to_cluster(cluster, &settings.path),
        None => Callout::get(&settings.target),
    }
    .method(&settings.method)
    .timeout(settings.timeout)
    .body_limit(settings.body_limit)
    .header("x-original-method", req.method())
    .header("x-original-uri", req.uri());
    for name in &settings.forward {
        for value in req.header_all(name) {
            callout = callout.header(name, value);
        }
    }
    callout
}

/// What the auth service's answer means for the request.
fn decide(settings: &Settings, req: &mut Request<'_>, answer: CalloutResult) -> Outcome {
    if let Some(error) = &answer.error {
        return req.fail(&format!("auth service: {error}"));
    }
    match answer.status {
        200..=299 => {
            for name in &settings.copy {
                match answer.header_value(name) {
                    Some(value) => req.set_header(name, value),
                    None => req.remove_header(name),
                };
            }
            Outcome::GoOn
        }
        401 | 403 => {
            let mut reply = Reply::new(answer.status).body(answer.body.clone());
            for name in ["www-authenticate", "content-type"] {
                if let Some(value) = answer.header_value(name) {
                    reply = reply.header(name, value);
                }
            }
            Outcome::Respond(reply)
        }
        other => req.fail(&format!("auth service answered {other}")),
    }
}

export_plugin!(init, points = [FoundProduct]);

#[cfg(test)]
mod tests;
