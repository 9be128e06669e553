//! [`Rule`]: a condition, whose requests are counted per client, and what to do with a
//! request over the limit.

use std::cell::LazyCell;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use hookgate_plugin_api::{Outcome, Reply};
use hookgate_plugin_kit::{Condition, Facts, RequestFacts};

use crate::counter::Counters;
use crate::ip_hash::IpHash;

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
    /// Counts `req` at `now` if the rule applies to it; `Some` when it is over the
    /// limit. The clock is read on first use only, so requests no rule applies to
    /// never read it.
    pub(crate) fn check(
        &self,
        req: &RequestFacts<'_, '_>,
        now: &LazyCell<Instant, impl FnOnce() -> Instant>,
    ) -> Option<Outcome> {
        if !self.when.matches(req) {
            return None;
        }
        let header = self.key_header.as_deref().and_then(|name| req.header(name));
        let retry_after = match header {
            Some(value) => self.by_value.hit(value, **now),
            None => self.by_ip.hit(&req.client_ip()?.to_canonical(), **now),
        }?;
        // Through the proxy's log, rate-limited per call site by the SDK: the key may
        // be a header value a client chose.
        match header {
            Some(value) => hookgate_plugin_api::warn!("over the limit: key {value:?}"),
            None => hookgate_plugin_api::warn!("over the limit: client {:?}", req.client_ip()),
        }
        Some(match self.over {
            Over::Close => Outcome::Close,
            Over::Respond => too_many(retry_after),
        })
    }
}

/// 429, with `Retry-After` in whole seconds, rounded up (at least 1).
fn too_many(retry_after: Duration) -> Outcome {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let reply = Reply::new(429)
        .header("retry-after", &secs.max(1).to_string())
        .header("content-type", "text/plain");
    Outcome::Respond(reply.body("too many requests\n"))
}
