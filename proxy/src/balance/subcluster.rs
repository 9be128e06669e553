//! [`Subcluster`]: a group of backends, and the choice of one of them.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use super::backend::{Backend, CachePadded};
use super::health_state::HealthStates;
use super::key;
use super::ring::Ring;
use super::wrr;
use crate::config::{Balance, ClusterConfig, SubclusterConfig};

/// A weighted group of backends inside a cluster (BFE's subcluster: typically one
/// data centre).
#[derive(Debug)]
pub struct Subcluster {
    /// The subcluster's name.
    pub name: Arc<str>,
    /// Share of the cluster's traffic; 0 takes none.
    pub weight: u32,
    /// Backends in config order.
    pub backends: Vec<Arc<Backend>>,
    /// One period of the smooth WRR sequence, as indices into `backends`.
    /// Internal: `OnceLock`s are filled at construction for the cluster's mode, and
    /// lazily (once) should a caller ever ask for another mode; reading one is a
    /// single atomic load.
    wrr: OnceLock<Vec<u32>>,
    /// The consistent-hash ring.
    ring: OnceLock<Ring>,
    /// Position in the WRR sequence, and the rotation that breaks least-connection
    /// ties. Padded: every request of the subcluster bumps it.
    next: CachePadded<AtomicUsize>,
}

impl Subcluster {
    /// Builds subcluster `name` of `cluster`, numbering its backends from
    /// `*next_backend_id` on; they read the time from `clock`.
    pub(super) fn new(
        cluster: &Arc<str>,
        name: &str,
        config: &SubclusterConfig,
        cluster_config: &ClusterConfig,
        next_backend_id: &mut usize,
        health: &HealthStates,
    ) -> Subcluster {
        let name: Arc<str> = Arc::from(name);
        let backends = config
            .backends
            .iter()
            .map(|backend| {
                let id = *next_backend_id;
                *next_backend_id += 1;
                Arc::new(Backend::new(
                    id,
                    backend.addr,
                    backend.weight,
                    Arc::clone(cluster),
                    Arc::clone(&name),
                    cluster_config,
                    health,
                ))
            })
            .collect();
        let subcluster = Subcluster {
            name,
            weight: config.weight,
            backends,
            wrr: OnceLock::new(),
            ring: OnceLock::new(),
            next: CachePadded(AtomicUsize::new(0)),
        };
        match cluster_config.balance {
            Balance::Wrr => drop(subcluster.wrr()),
            Balance::Hash => drop(subcluster.ring()),
            Balance::LeastConn => {}
        }
        subcluster
    }

    /// A healthy backend whose id is not in `tried`, chosen by `balance`:
    ///
    /// - `Wrr`: the next entry of nginx's smooth weighted round-robin sequence,
    ///   skipping entries that are down or tried;
    /// - `LeastConn`: fewest [`Backend::active`] requests; ties go to the higher
    ///   weight, then rotate;
    /// - `Hash`: the first usable backend clockwise from the client IP's position on
    ///   a ring of about 100 × weight virtual nodes per backend.
    ///
    /// Backends of weight 0 are never chosen. `None` if no backend is usable.
    pub fn backend(
        &self,
        balance: Balance,
        client_ip: IpAddr,
        tried: &[usize],
    ) -> Option<&Arc<Backend>> {
        let usable = |backend: &&Arc<Backend>| !tried.contains(&backend.id) && backend.is_healthy();
        match balance {
            Balance::Wrr => {
                let sequence = self.wrr();
                if sequence.is_empty() {
                    return None;
                }
                let start = self.next.0.fetch_add(1, Ordering::Relaxed) % sequence.len();
                let (before, after) = sequence.split_at(start);
                after
                    .iter()
                    .chain(before)
                    .filter_map(|&index| self.backends.get(index as usize))
                    .find(usable)
            }
            Balance::LeastConn => {
                if self.backends.is_empty() {
                    return None;
                }
                let start = self.next.0.fetch_add(1, Ordering::Relaxed) % self.backends.len();
                let (before, after) = self.backends.split_at(start);
                let mut best: Option<(&Arc<Backend>, usize)> = None;
                for backend in after.iter().chain(before) {
                    if backend.weight == 0 || !usable(&backend) {
                        continue;
                    }
                    let active = backend.active();
                    // Strictly better only: among equals the first after `start`
                    // wins, so ties rotate.
                    let better = best.is_none_or(|(chosen, fewest)| {
                        active < fewest || (active == fewest && backend.weight > chosen.weight)
                    });
                    if better {
                        best = Some((backend, active));
                    }
                }
                best.map(|(backend, _)| backend)
            }
            Balance::Hash => self
                .ring()
                .walk(key::ip(client_ip, key::RING))
                .filter_map(|index| self.backends.get(index))
                .find(usable),
        }
    }

    /// Whether some backend of non-zero weight is healthy.
    pub fn has_healthy_backend(&self) -> bool {
        self.backends
            .iter()
            .any(|backend| backend.weight > 0 && backend.is_healthy())
    }

    fn wrr(&self) -> &[u32] {
        self.wrr.get_or_init(|| {
            let weights: Vec<u32> = self.backends.iter().map(|b| b.weight).collect();
            wrr::sequence(&weights)
        })
    }

    fn ring(&self) -> &Ring {
        self.ring
            .get_or_init(|| Ring::new(self.backends.iter().map(|b| (b.addr, b.weight))))
    }
}
