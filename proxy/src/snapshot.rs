//! [`Snapshot`]: everything a request is routed and handled by, immutable once built.
//!
//! Internal: the proxy holds the current snapshot in an `ArcSwap`; each accepted
//! connection takes the snapshot current at that moment and keeps it to its end, so a
//! reload (a new snapshot stored whole) changes nothing under a request in flight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use crate::balance::{self, Cluster, HealthStates};
use crate::config::Config;
use crate::edge::Edge;
use crate::metrics::Metrics;
use crate::plugin::Plugins;
use crate::resolve::Names;
use crate::route::RouteTable;

/// Routing tables, clusters (with their backends' connections) and plugin chains of one
/// configuration.
pub struct Snapshot {
    /// Host → product → cluster.
    pub routes: RouteTable,
    /// Clusters by name.
    pub clusters: HashMap<Arc<str>, Arc<Cluster>>,
    /// Plugin instances and their chains.
    pub plugins: Plugins,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Box<[IpNet]>,
    /// Counters; carried over from snapshot to snapshot on reload.
    pub metrics: Arc<Metrics>,
    /// Front-door settings (body limit, path rules, HTTP/2 streams).
    pub edge: Edge,
    /// `server.slow_handler_ms`, unless 0.
    pub slow_handler: Option<Duration>,
    /// The Redis stores plugins may use.
    pub redis: crate::redis_store::RedisStores,
    /// Distributed tracing, if `[tracing]` is set.
    pub tracing: Option<crate::trace::Tracer>,
}

impl Snapshot {
    /// Builds the snapshot of a validated config and its loaded plugins; backends
    /// take their health from `health` and the addresses of backend names from
    /// `names` (both kept across reloads).
    pub fn new(
        config: &Config,
        plugins: Plugins,
        metrics: Arc<Metrics>,
        health: &HealthStates,
        names: &Names,
    ) -> Snapshot {
        // The plugin set's metrics are the served ones from now on.
        crate::plugin::metric_store::store().commit(&plugins.metrics);
        // And its generations are the ones that ran before the next reload.
        plugins.serve_generations();
        Snapshot {
            routes: RouteTable::new(config),
            clusters: balance::clusters(config, health, names),
            plugins,
            trusted_proxies: config.server.trusted_proxies.clone().into_boxed_slice(),
            metrics,
            edge: Edge::new(&config.server),
            slow_handler: (config.server.slow_handler_ms != 0)
                .then(|| Duration::from_millis(config.server.slow_handler_ms)),
            redis: crate::redis_store::RedisStores::new(&config.redis),
            tracing: config.tracing.as_ref().and_then(crate::trace::Tracer::new),
        }
    }
}

impl Snapshot {
    /// Every subcluster of every cluster.
    pub fn subclusters(&self) -> impl Iterator<Item = &balance::Subcluster> {
        self.clusters.values().flat_map(|c| &c.subclusters)
    }

    /// Closes backend connections idle past their pool's idle timeout (the running
    /// proxy calls this every second).
    pub fn sweep(&self) {
        for subcluster in self.subclusters() {
            for backend in &subcluster.members().backends {
                backend.connections().sweep();
            }
        }
    }

    /// Rebuilds the members of every subcluster from the addresses `names` has now
    /// (see [`balance::Subcluster::refresh`]). Returns whether any changed.
    pub fn refresh_members(&self, names: &Names, health: &HealthStates) -> bool {
        let mut changed = false;
        for subcluster in self.subclusters() {
            changed |= subcluster.refresh(names, health);
        }
        changed
    }
}
