//! [`Shared`]: a rule's counts kept in a Redis store of the proxy (`redis = "NAME"`),
//! so that every proxy sharing the store enforces one limit. Each request runs one
//! atomic script through the host (the request waits, holding no worker); the reply
//! decides, or the rule's `on_store_error` when the store is down or slow.

use std::time::Duration;

use hookgate_plugin_api::{Callout, CalloutResult, Outcome, RedisCommand};

use crate::rule::{too_many, Over};

/// Counts in a fixed window that starts with a client's first request (as the local
/// counters do): `INCRBY` the client's key, set its expiry on the first count; the
/// count and the milliseconds left.
const FIXED: &str = r"
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

/// Counts in a sliding window, estimated from two fixed windows aligned on the
/// server's clock (the count of the current one, plus the previous one's weighted by
/// how much of it the sliding window still covers); the estimate and the milliseconds
/// until the current fixed window ends.
const SLIDING: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[1])
local current = math.floor(now / w)
local key = KEYS[1] .. ':' .. current
local n = redis.call('INCRBY', key, ARGV[2])
redis.call('PEXPIRE', key, w * 2)
local previous = tonumber(redis.call('GET', KEYS[1] .. ':' .. (current - 1)) or '0')
local elapsed = now - current * w
return {n + math.floor(previous * (w - elapsed) / w), w - elapsed}
";

/// Which window a shared rule counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Window {
    Fixed,
    Sliding,
}

/// What a shared rule does when its store fails (down, slow, an error reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnStoreError {
    /// Let the request on (the default: a limit is no reason to fail every request).
    Open,
    /// Refuse it as if over the limit.
    Closed,
}

impl OnStoreError {
    pub(crate) fn name(self) -> &'static str {
        match self {
            OnStoreError::Open => "open",
            OnStoreError::Closed => "closed",
        }
    }
}

/// A rule's counts in a Redis store.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: String,
    pub(crate) window: Window,
    pub(crate) on_error: OnStoreError,
    /// Keys are this, then the client key.
    pub(crate) prefix: String,
    pub(crate) limit: u32,
    pub(crate) window_ms: u64,
    pub(crate) over: Over,
}

impl Shared {
    /// The script that counts one request of `client` (an IP or a header value).
    pub(crate) fn count(&self, client: &str) -> Callout {
        let script = match self.window {
            Window::Fixed => FIXED,
            Window::Sliding => SLIDING,
        };
        let command = RedisCommand::script(script)
            .key(format!("{}{client}", self.prefix))
            .arg(self.window_ms)
            .arg(1u32);
        Callout::redis(&self.store, command)
    }

    /// What the script's reply means for the request: `Some` refuses it. A failed
    /// count is the rule's `on_store_error`, and `Err` says why for the log.
    pub(crate) fn decide(
        &self,
        result: &CalloutResult,
    ) -> Result<Option<Outcome>, (String, Option<Outcome>)> {
        let counted = result.reply().and_then(|reply| {
            let pair = reply.as_array().unwrap_or(&[]);
            match (
                pair.first().and_then(|v| v.as_int()),
                pair.get(1).and_then(|v| v.as_int()),
            ) {
                (Some(count), Some(left)) => Ok((count, left)),
                _ => Err(format!("an unexpected reply {reply:?}")),
            }
        });
        match counted {
            Ok((count, left_ms)) if count > i64::from(self.limit) => {
                let left = Duration::from_millis(u64::try_from(left_ms).unwrap_or(0));
                Ok(Some(self.refuse(left)))
            }
            Ok(_) => Ok(None),
            Err(why) => {
                let outcome = match self.on_error {
                    OnStoreError::Open => None,
                    OnStoreError::Closed => {
                        Some(self.refuse(Duration::from_millis(self.window_ms)))
                    }
                };
                Err((why, outcome))
            }
        }
    }

    fn refuse(&self, retry_after: Duration) -> Outcome {
        match self.over {
            Over::Close => Outcome::Close,
            Over::Respond => too_many(retry_after),
        }
    }
}

/// A stable name for a rule's keys when it sets no `key_prefix`: FNV-1a of what the
/// rule is, so that proxies with the same rule share its counts.
pub(crate) fn default_prefix(rule: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in rule.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("hookgate:rl:{hash:016x}:")
}
