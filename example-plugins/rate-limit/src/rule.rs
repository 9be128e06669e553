//! [`Rule`]: a condition, whose requests are counted per client, and what to do with a
//! request over the limit.

use std::cell::LazyCell;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookgate_plugin_api::{Callout, Outcome, Reply};
use hookgate_plugin_kit::{Condition, Facts, RequestFacts};

use crate::counter::Counters;
use crate::ip_hash::IpHash;
use crate::shared::Shared;

/// One limit.
pub(crate) struct Rule {
    pub when: Condition,
    /// Lowercase header whose value is the client key; the client IP when `None`, or
    /// when the request lacks the header.
    pub key_header: Option<String>,
    pub over: Over,
    /// Counts keyed by client IP: the key nearly every request is counted by, hence
    /// the cheap hash.
    pub by_ip: Counters<IpAddr, IpHash>,
    /// Counts keyed by header value (a separate map, so a header value can never
    /// stand for somebody's IP).
    pub by_value: Counters<String>,
    /// Counts kept in a Redis store instead (`redis = "NAME"`): the counters above
    /// then stay empty.
    pub shared: Option<Arc<Shared>>,
}

/// What a rule says about a request.
pub(crate) enum Verdict {
    /// Within the limit, or not a request the rule counts.
    Pass,
    /// Over the limit.
    Over(Outcome),
    /// Counted in a shared store: the script to run, and whose reply decides.
    Ask(Callout, Arc<Shared>),
}

/// What happens to a request over the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Over {
    /// 429 with `Retry-After`.
    Respond,
    /// Close the connection without a byte.
    Close,
}

impl Rule {
    /// Counts `req` at `now` if the rule applies to it. The clock is read on first
    /// use only, so requests no rule applies to never read it.
    pub(crate) fn check(
        &self,
        req: &RequestFacts<'_, '_>,
        now: &LazyCell<Instant, impl FnOnce() -> Instant>,
    ) -> Verdict {
        if !self.when.matches(req) {
            return Verdict::Pass;
        }
        let header = self.key_header.as_deref().and_then(|name| req.header(name));
        if let Some(shared) = &self.shared {
            let client = match (header, req.client_ip()) {
                (Some(value), _) => format!("h:{value}"),
                (None, Some(ip)) => format!("ip:{}", ip.to_canonical()),
                (None, None) => return Verdict::Pass,
            };
            return match &shared.sync {
                Some(synced) => match shared.count_locally(synced, &client, **now) {
                    Some(outcome) => Verdict::Over(outcome),
                    None => Verdict::Pass,
                },
                None => Verdict::Ask(shared.count(&client), Arc::clone(shared)),
            };
        }
        let retry_after = match header {
            Some(value) => self.by_value.hit(value, **now),
            None => match req.client_ip() {
                Some(ip) => self.by_ip.hit(&ip.to_canonical(), **now),
                None => None,
            },
        };
        let Some(retry_after) = retry_after else {
            return Verdict::Pass;
        };
        // Through the proxy's log, rate-limited per call site by the SDK: the key may
        // be a header value a client chose.
        match header {
            Some(value) => hookgate_plugin_api::warn!("over the limit: key {value:?}"),
            None => hookgate_plugin_api::warn!("over the limit: client {:?}", req.client_ip()),
        }
        Verdict::Over(match self.over {
            Over::Close => Outcome::Close,
            Over::Respond => too_many(retry_after),
        })
    }
}

/// 429, with `Retry-After` in whole seconds, rounded up (at least 1).
pub(crate) fn too_many(retry_after: Duration) -> Outcome {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let reply = Reply::new(429)
        .header("retry-after", &secs.max(1).to_string())
        .header("content-type", "text/plain");
    Outcome::Respond(reply.body("too many requests\n"))
}
