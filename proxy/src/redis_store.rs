//! Redis stores (plugin API 0.2.3): the `[redis.NAME]` entries of the config, which
//! plugins' handlers and timers send commands and scripts to through the host
//! ([`RedisStores::run`]), waiting like callouts.
//!
//! Each store is one multiplexed connection that reconnects by itself (redis-rs's
//! `ConnectionManager`): commands from every request are pipelined on it, so a store
//! needs no pool of its own. A Redis Cluster store (`cluster = [nodes]`) is redis-rs's
//! cluster connection: one multiplexed connection per node, commands routed by their
//! first key's slot, `MOVED` and `ASK` followed. It connects on first use, never while the config loads,
//! so a Redis that is down delays no start or reload. A script runs by `EVALSHA`, and
//! by `EVAL` (which also caches it on the server) when the server answers `NOSCRIPT`.
//! Each command has a time limit (its own, at most the store's `timeout_ms`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hookgate_plugin_api::abi::{CalloutResultAbi, RString, RedisSpecAbi};
use hookgate_plugin_api::RedisValue;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;

use crate::config::RedisConfig;

/// Every store of a config, by name.
#[derive(Default)]
pub struct RedisStores {
    stores: BTreeMap<String, Store>,
}

/// One store: where it is, its limits, its connection once made, its counts.
pub struct Store {
    server: Server,
    timeout: Duration,
    connect_timeout: Duration,
    /// What its commands did (on `/metrics`).
    pub counts: RedisCounts,
}

/// A standalone server, or a Redis Cluster.
enum Server {
    One {
        client: redis::Client,
        connection: OnceLock<ConnectionManager>,
    },
    Cluster {
        nodes: Vec<String>,
        /// Made by the first command that finds the cluster (its slots discovered);
        /// it then follows `MOVED` and `ASK` and reconnects to nodes by itself.
        connection: tokio::sync::OnceCell<ClusterConnection>,
    },
}

/// What a store's commands did.
#[derive(Debug, Default)]
pub struct RedisCounts {
    /// Answered (an error reply included: the server answered).
    pub answered: AtomicU64,
    /// Not answered in time.
    pub timed_out: AtomicU64,
    /// Failed otherwise (no connection, a broken reply).
    pub failed: AtomicU64,
    /// Their time, in microseconds, summed.
    pub micros: AtomicU64,
}

impl RedisStores {
    /// The stores `config` names (checked by config validation: each URL parses).
    pub fn new(config: &BTreeMap<String, RedisConfig>) -> RedisStores {
        let stores = config
            .iter()
            .filter_map(|(name, store)| {
                let server = match (&store.url, &store.cluster) {
                    (Some(url), _) => Server::One {
                        client: redis::Client::open(url.as_str()).ok()?,
                        connection: OnceLock::new(),
                    },
                    (None, Some(nodes)) => Server::Cluster {
                        nodes: nodes.clone(),
                        connection: tokio::sync::OnceCell::new(),
                    },
                    (None, None) => return None,
                };
                let store = Store {
                    server,
                    timeout: Duration::from_millis(store.timeout_ms.max(1)),
                    connect_timeout: Duration::from_millis(store.connect_timeout_ms.max(1)),
                    counts: RedisCounts::default(),
                };
                Some((name.clone(), store))
            })
            .collect();
        RedisStores { stores }
    }

    /// The stores, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Store)> {
        self.stores
            .iter()
            .map(|(name, store)| (name.as_str(), store))
    }

    /// Runs one command or script: its reply as a callout result (status 200, the
    /// reply in the body), or the error (`timeout`, `redis: …`, `no Redis store …`).
    pub async fn run(&self, spec: &RedisSpecAbi) -> CalloutResultAbi {
        let Some(store) = self.stores.get(spec.store.as_str()) else {
            return failed(format!(
                "no Redis store {:?} in the config",
                spec.store.as_str()
            ));
        };
        let limit = match spec.timeout_ms {
            0 => store.timeout,
            ms => Duration::from_millis(ms).min(store.timeout),
        };
        let started = Instant::now();
        let outcome = tokio::time::timeout(limit, store.run(spec)).await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        store.counts.micros.fetch_add(micros, Ordering::Relaxed);
        let (counter, result) = match outcome {
            Ok(Ok(value)) => (&store.counts.answered, answered(&value)),
            // An error reply: the server answered.
            Ok(Err(error)) if matches!(error.kind(), redis::ErrorKind::Server(_)) => {
                (&store.counts.answered, failed(format!("redis: {error}")))
            }
            Ok(Err(error)) if error.is_timeout() => {
                (&store.counts.timed_out, failed("timeout".to_owned()))
            }
            Ok(Err(error)) => (&store.counts.failed, failed(format!("redis: {error}"))),
            Err(_) => (&store.counts.timed_out, failed("timeout".to_owned())),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }
}

impl Store {
    /// Runs `spec` on the store's connection (made on first use).
    async fn run(&self, spec: &RedisSpecAbi) -> redis::RedisResult<redis::Value> {
        match &self.server {
            Server::One { client, connection } => {
                let mut connection = match connection.get() {
                    Some(connection) => connection.clone(),
                    None => {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(self.connect_timeout))
                            .set_response_timeout(Some(self.timeout))
                            .set_number_of_retries(1);
                        let made = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
                        connection.get_or_init(|| made).clone()
                    }
                };
                query(&mut connection, spec).await
            }
            Server::Cluster { nodes, connection } => {
                let made = connection
                    .get_or_try_init(|| async {
                        let client = ClusterClient::builder(nodes.iter().map(String::as_str))
                            .connection_timeout(self.connect_timeout)
                            .response_timeout(self.timeout)
                            .retries(1)
                            .build()?;
                        client.get_async_connection().await
                    })
                    .await?;
                query(&mut made.clone(), spec).await
            }
        }
    }
}

/// Sends a command, or a script by `EVALSHA` and by `EVAL` when the server answers
/// `NOSCRIPT`, on `connection` (a server's, or a cluster's: it routes by the first
/// key).
async fn query(
    connection: &mut impl ConnectionLike,
    spec: &RedisSpecAbi,
) -> redis::RedisResult<redis::Value> {
    if spec.script.is_empty() {
        let mut args = spec.args.iter();
        let name = args.next().map(|a| a.as_slice()).unwrap_or(b"PING");
        let mut command = redis::cmd(&String::from_utf8_lossy(name));
        for arg in args {
            command.arg(arg.as_slice());
        }
        return command.query_async(connection).await;
    }
    let script = redis::Script::new(spec.script.as_str());
    let with_args = |mut command: redis::Cmd| {
        command.arg(spec.keys);
        for arg in spec.args.iter() {
            command.arg(arg.as_slice());
        }
        command
    };
    let mut evalsha = redis::cmd("EVALSHA");
    evalsha.arg(script.get_hash());
    match with_args(evalsha).query_async(connection).await {
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            let mut eval = redis::cmd("EVAL");
            eval.arg(spec.script.as_str());
            with_args(eval).query_async(connection).await
        }
        other => other,
    }
}

fn failed(error: String) -> CalloutResultAbi {
    CalloutResultAbi {
        error: Some(RString::from(error)).into(),
        ..CalloutResultAbi::default()
    }
}

fn answered(value: &redis::Value) -> CalloutResultAbi {
    CalloutResultAbi {
        status: 200,
        body: plugin_value(value, 0).to_resp().into(),
        ..CalloutResultAbi::default()
    }
}

/// A reply as plugins see it: RESP3's maps, sets and pushes as arrays, doubles and
/// big numbers as text, booleans as 0 and 1.
fn plugin_value(value: &redis::Value, depth: usize) -> RedisValue {
    use redis::Value as V;
    if depth > 16 {
        return RedisValue::Error("reply nested too deep".to_owned());
    }
    let all =
        |items: &[V]| RedisValue::Array(items.iter().map(|v| plugin_value(v, depth + 1)).collect());
    match value {
        V::Nil => RedisValue::Nil,
        V::Int(n) => RedisValue::Int(*n),
        V::BulkString(bytes) => RedisValue::Bytes(bytes.clone()),
        V::Array(items) | V::Set(items) => all(items),
        V::Push { data, .. } => all(data),
        V::SimpleString(s) => RedisValue::Status(s.clone()),
        V::Okay => RedisValue::Status("OK".to_owned()),
        V::Map(pairs) => RedisValue::Array(
            (pairs.iter())
                .flat_map(|(k, v)| [plugin_value(k, depth + 1), plugin_value(v, depth + 1)])
                .collect(),
        ),
        V::Attribute { data, .. } => plugin_value(data, depth + 1),
        V::Double(d) => RedisValue::Bytes(d.to_string().into_bytes()),
        V::Boolean(b) => RedisValue::Int(i64::from(*b)),
        V::VerbatimString { text, .. } => RedisValue::Bytes(text.clone().into_bytes()),
        V::BigNumber(n) => RedisValue::Bytes(format!("{n:?}").into_bytes()),
        V::ServerError(e) => RedisValue::Error(format!("{e:?}")),
        _ => RedisValue::Error("a reply this hookgate does not know".to_owned()),
    }
}
