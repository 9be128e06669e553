//! [`Cluster`]: its subclusters, the weighted choice among them, and [`clusters`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::health_state::HealthStates;
use super::key;
use super::subcluster::Subcluster;
use crate::config::{BackendProtocol, Balance, ClusterConfig, Config, HealthCheckConfig};
use crate::resolve::Names;
use crate::upstream::Timeouts;

/// A named group of subclusters that routes send requests to.
#[derive(Debug)]
pub struct Cluster {
    /// The cluster's name.
    pub name: Arc<str>,
    /// How a backend is chosen inside a subcluster.
    pub balance: Balance,
    /// Bound on connecting to a backend.
    pub connect_timeout: Duration,
    /// Bound on waiting for a backend's response head, from the end of the request
    /// body.
    pub response_timeout: Duration,
    /// Bound between two reads of a response body.
    pub read_timeout: Duration,
    /// Bound between two writes of a request body.
    pub send_timeout: Duration,
    /// The protocol spoken to its backends.
    pub protocol: BackendProtocol,
    /// Whether a 5xx response counts as a failure of its backend.
    pub fail_on_5xx: bool,
    /// Retries on other backends of the same subcluster after a connect failure.
    pub retries: u32,
    /// Retries in other subclusters once those are spent.
    pub cross_retry: u32,
    /// The active health check, if any (run by [`crate::health`]).
    pub health_check: Option<HealthCheckConfig>,
    /// Subclusters in config order; [`Cluster::subcluster`] returns indices into it.
    pub subclusters: Vec<Subcluster>,
    /// Running sums of the subclusters' weights: the client's key falls in
    /// `cumulative[i - 1]..cumulative[i]` for subcluster `i`.
    cumulative: Vec<u64>,
}

impl Cluster {
    /// Builds cluster `name`, with fresh health states; backends given by name have
    /// no address.
    pub fn new(name: &str, config: &ClusterConfig) -> Cluster {
        Cluster::with_state(name, config, &HealthStates::default(), &Names::default())
    }

    /// [`Cluster::new`] whose backends take their health states from `health` (the
    /// running proxy's, shared across reloads) and the addresses of backend names
    /// from `names`.
    pub fn with_state(
        name: &str,
        config: &ClusterConfig,
        health: &HealthStates,
        names: &Names,
    ) -> Cluster {
        let name: Arc<str> = Arc::from(name);
        let shared = Arc::new(config.clone());
        let subclusters: Vec<Subcluster> = config
            .subclusters
            .iter()
            .map(|(sub, entries)| Subcluster::new(&name, sub, entries, &shared, health, names))
            .collect();
        let cumulative = subclusters
            .iter()
            .scan(0u64, |sum, s| {
                *sum += u64::from(s.weight);
                Some(*sum)
            })
            .collect();
        Cluster {
            name,
            balance: config.balance,
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            response_timeout: Duration::from_millis(config.response_timeout_ms),
            read_timeout: Duration::from_millis(config.read_timeout_ms),
            send_timeout: Duration::from_millis(config.send_timeout_ms),
            fail_on_5xx: config.fail_on_5xx,
            protocol: config.protocol,
            retries: config.retries,
            cross_retry: config.cross_retry,
            health_check: config.health_check.clone(),
            subclusters,
            cumulative,
        }
    }

    /// The time limits of an attempt to one of its backends.
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: self.connect_timeout,
            response: self.response_timeout,
            read: self.read_timeout,
            send: self.send_timeout,
        }
    }

    /// The index of the subcluster for a client, by weight, keyed on its IP: a hash of
    /// the IP falls on the cumulative weights, so one client sticks to one subcluster
    /// while clients spread by weight.
    ///
    /// Subclusters whose index is in `tried`, of weight 0, or without a healthy
    /// backend are skipped. When the keyed one is skipped, a second hash of the same
    /// IP falls on the weights of the remaining ones: still deterministic per client,
    /// and its traffic spreads over the others by weight. `None` if none is eligible.
    pub fn subcluster(&self, client_ip: IpAddr, tried: &[usize]) -> Option<usize> {
        let total = self.cumulative.last().copied().filter(|&t| t > 0)?;
        let eligible = |index: usize| {
            !tried.contains(&index)
                && self
                    .subclusters
                    .get(index)
                    .is_some_and(|s| s.weight > 0 && s.has_healthy_backend())
        };
        let hash = key::ip(client_ip, key::SUBCLUSTER);
        let point = key::scale(hash, total);
        let keyed = self.cumulative.partition_point(|&sum| sum <= point);
        if eligible(keyed) {
            return Some(keyed);
        }
        let remaining: u64 = (0..self.subclusters.len())
            .filter(|&i| eligible(i))
            .map(|i| self.weight(i))
            .sum();
        if remaining == 0 {
            return None;
        }
        let mut point = key::scale(key::mix(hash), remaining);
        let mut last = None;
        for index in (0..self.subclusters.len()).filter(|&i| eligible(i)) {
            let weight = self.weight(index);
            if point < weight {
                return Some(index);
            }
            point -= weight;
            last = Some(index);
        }
        // Reached only if health changed between the two passes.
        last
    }

    fn weight(&self, index: usize) -> u64 {
        self.subclusters
            .get(index)
            .map_or(0, |s| u64::from(s.weight))
    }
}

/// Every cluster of `config`, by name; backends take their health from `health` and
/// the addresses of backend names from `names`.
pub fn clusters(
    config: &Config,
    health: &HealthStates,
    names: &Names,
) -> HashMap<Arc<str>, Arc<Cluster>> {
    config
        .clusters
        .iter()
        .map(|(name, cluster)| {
            let cluster = Cluster::with_state(name, cluster, health, names);
            (Arc::clone(&cluster.name), Arc::new(cluster))
        })
        .collect()
}
