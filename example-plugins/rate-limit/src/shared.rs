//! [`Shared`]: a rule's counts kept in a Redis store of the proxy (`redis = "NAME"`),
//! so that every proxy sharing the store enforces one limit. Each request runs one
//! atomic script through the host (the request waits, holding no worker); the reply
//! decides, or the rule's `on_store_error` when the store is down or slow.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hookgate_plugin_api::{Callout, CalloutResult, Outcome, RedisCommand};

use crate::rule::{too_many, Over};

/// Counts in a fixed window that starts with a client's first request (as the local
/// counters do), for each key: `INCRBY` it by its increment (`ARGV[i + 1]`), set its
/// expiry (`ARGV[1]` ms) on the first count; the count and the milliseconds left, for
/// each key in turn.
const FIXED: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCRBY', key, ARGV[i + 1])
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
";

/// Counts in a sliding window, estimated from two fixed windows aligned on the
/// server's clock (the count of the current one, plus the previous one's weighted by
/// how much of it the sliding window still covers); for each key, the estimate and
/// the milliseconds until the current fixed window ends.
const SLIDING: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local w = tonumber(ARGV[1])
local current = math.floor(now / w)
local elapsed = now - current * w
local out = {}
for i, key in ipairs(KEYS) do
  local k = key .. ':' .. current
  local n = redis.call('INCRBY', k, ARGV[i + 1])
  redis.call('PEXPIRE', k, w * 2)
  local previous = tonumber(redis.call('GET', key .. ':' .. (current - 1)) or '0')
  out[#out + 1] = n + math.floor(previous * (w - elapsed) / w)
  out[#out + 1] = w - elapsed
end
return out
";

/// The most keys one sync sends.
const SYNC_BATCH: usize = 512;

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
    /// Counted here first and sent every period (`sync_ms`), if set.
    pub(crate) sync: Option<Synced>,
}

/// A shared rule's local pre-counts: what this proxy let on since its last sync, what
/// a sync in flight sent, and the fleet's count the last sync learned, per key.
#[derive(Debug)]
pub(crate) struct Synced {
    pub(crate) period: Duration,
    keys: Mutex<HashMap<String, Local>>,
}

#[derive(Debug)]
struct Local {
    /// Let on here since the last sync started.
    pending: u32,
    /// Sent by the sync in flight.
    sending: u32,
    /// The count the last sync returned (the fleet's, this proxy's included).
    known: i64,
    /// When `known` stops holding (the window it counted ends).
    until: Instant,
}

/// What a sync sent: each key and its increment.
pub(crate) type Sent = Vec<(String, u32)>;

impl Synced {
    pub(crate) fn new(period: Duration) -> Synced {
        Synced {
            period,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<String, Local>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Shared {
    /// The script that counts one request of `client` (an IP or a header value).
    pub(crate) fn count(&self, client: &str) -> Callout {
        self.script(&[(self.key(client), 1)])
    }

    /// `client`'s key: in braces, a Redis Cluster hash tag, so that the keys a script
    /// derives from it (a sliding window's) are in its slot.
    fn key(&self, client: &str) -> String {
        format!("{{{}{client}}}", self.prefix)
    }

    /// The script adding each increment to its key.
    fn script(&self, increments: &[(String, u32)]) -> Callout {
        let source = match self.window {
            Window::Fixed => FIXED,
            Window::Sliding => SLIDING,
        };
        let mut command = RedisCommand::script(source).arg(self.window_ms);
        for (key, by) in increments {
            command = command.key(key.as_str()).arg(*by);
        }
        Callout::redis(&self.store, command)
    }

    /// With `sync_ms`: counts one request of `client` here, against what the fleet
    /// counted at the last sync plus what this proxy let on since; `Some` refuses it.
    pub(crate) fn count_locally(
        &self,
        synced: &Synced,
        client: &str,
        now: Instant,
    ) -> Option<Outcome> {
        let mut keys = synced.keys();
        let key = self.key(client);
        let local = keys.entry(key).or_insert(Local {
            pending: 0,
            sending: 0,
            known: 0,
            until: now,
        });
        if now >= local.until {
            local.known = 0;
        }
        let counted = local.known + i64::from(local.pending) + i64::from(local.sending);
        if counted >= i64::from(self.limit) {
            let left = local.until.saturating_duration_since(now);
            return Some(self.refuse(left.max(Duration::from_secs(1))));
        }
        local.pending += 1;
        None
    }

    /// With `sync_ms`, at a sync: the script sending what was let on here since the
    /// last one (at most [`SYNC_BATCH`] keys; the rest go next time), and what it
    /// sends; `None` when there is nothing to send. Keys whose window ended with
    /// nothing left to send are forgotten.
    pub(crate) fn outgoing(&self, synced: &Synced, now: Instant) -> Option<(Callout, Sent)> {
        let mut keys = synced.keys();
        keys.retain(|_, l| l.pending > 0 || l.sending > 0 || now < l.until);
        let mut sent = Vec::new();
        for (key, local) in keys.iter_mut() {
            if sent.len() == SYNC_BATCH {
                break;
            }
            if local.pending > 0 && local.sending == 0 {
                local.sending = std::mem::take(&mut local.pending);
                sent.push((key.clone(), local.sending));
            }
        }
        drop(keys);
        // In key order, so that a sync's script reads the same on every run.
        sent.sort_unstable();
        (!sent.is_empty()).then(|| (self.script(&sent), sent))
    }

    /// Takes a sync's reply: each key learns the fleet's count. A failed sync puts
    /// its counts back to be sent next time, and says why.
    pub(crate) fn learned(
        &self,
        synced: &Synced,
        sent: Sent,
        result: &CalloutResult,
        now: Instant,
    ) -> Result<(), String> {
        let counts = result.reply().and_then(|reply| {
            let pairs = reply.as_array().map(<[_]>::to_vec).unwrap_or_default();
            let numbers: Vec<i64> = pairs.iter().filter_map(|v| v.as_int()).collect();
            if numbers.len() == sent.len() * 2 && numbers.len() == pairs.len() {
                Ok(numbers)
            } else {
                Err(format!("an unexpected reply {reply:?}"))
            }
        });
        let mut keys = synced.keys();
        for (i, (key, _)) in sent.iter().enumerate() {
            let Some(local) = keys.get_mut(key) else {
                continue;
            };
            let sending = std::mem::take(&mut local.sending);
            match &counts {
                Ok(numbers) => {
                    local.known = numbers[2 * i];
                    let left = u64::try_from(numbers[2 * i + 1]).unwrap_or(0);
                    local.until = now + Duration::from_millis(left);
                }
                Err(_) => local.pending += sending,
            }
        }
        counts.map(|_| ())
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
