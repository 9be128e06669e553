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
use crate::route::RouteTable;
use crate::upstream::{Endpoint, Transport, Upstream};

/// Routing tables, clusters, plugin chains and upstream pools of one configuration.
pub struct Snapshot {
    /// Host → product → cluster.
    pub routes: RouteTable,
    /// Clusters by name.
    pub clusters: HashMap<Arc<str>, Arc<Cluster>>,
    /// Plugin instances and their chains.
    pub plugins: Plugins,
    /// Connection pools, one per backend.
    pub upstream: Upstream,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Box<[IpNet]>,
    /// Counters; carried over from snapshot to snapshot on reload.
    pub metrics: Arc<Metrics>,
    /// Front-door settings (body limit, path rules, HTTP/2 streams).
    pub edge: Edge,
    /// `server.slow_handler_ms`, unless 0.
    pub slow_handler: Option<Duration>,
}

/// How the proxy talks to each backend (its cluster's settings), indexed by backend id.
fn endpoints(clusters: &HashMap<Arc<str>, Arc<Cluster>>, count: usize) -> Vec<Endpoint> {
    let mut endpoints = vec![Endpoint::default(); count];
    for cluster in clusters.values() {
        for backend in cluster.subclusters.iter().flat_map(|s| &s.backends) {
            if let Some(slot) = endpoints.get_mut(backend.id) {
                *slot = Endpoint {
                    pool: cluster.pool,
                    transport: Transport::of(cluster.tls.as_ref(), backend.addr),
                    h2_max_streams: cluster.protocol.is_h2().then_some(cluster.h2_max_streams),
                };
            }
        }
    }
    endpoints
}

impl Snapshot {
    /// Builds the snapshot of a validated config and its loaded plugins; backends
    /// take their health from `health` (kept across reloads).
    pub fn new(
        config: &Config,
        plugins: Plugins,
        metrics: Arc<Metrics>,
        health: &HealthStates,
    ) -> Snapshot {
        // The plugin set's metrics are the served ones from now on.
        crate::plugin::metric_store::store().commit(&plugins.metrics);
        let (clusters, backend_count) = balance::clusters(config, health);
        let upstream = Upstream::with_endpoints(endpoints(&clusters, backend_count));
        Snapshot {
            routes: RouteTable::new(config),
            clusters,
            plugins,
            upstream,
            trusted_proxies: config.server.trusted_proxies.clone().into_boxed_slice(),
            metrics,
            edge: Edge::new(&config.server),
            slow_handler: (config.server.slow_handler_ms != 0)
                .then(|| Duration::from_millis(config.server.slow_handler_ms)),
        }
    }
}
