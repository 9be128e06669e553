//! [`Subcluster`]: a group of backends, and the choice of one of them.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::backend::{Backend, CachePadded};
use super::health_state::HealthStates;
use super::key;
use super::members::{Members, Source};
use crate::config::{Balance, ClusterConfig, SubclusterConfig};
use crate::resolve::Names;

/// A weighted group of backends inside a cluster (BFE's subcluster: typically one
/// data centre).
#[derive(Debug)]
pub struct Subcluster {
    /// The subcluster's name.
    pub name: Arc<str>,
    /// Share of the cluster's traffic; 0 takes none.
    pub weight: u32,
    /// Its backends now: swapped whole when a backend name resolves to other
    /// addresses ([`Subcluster::refresh`]).
    members: ArcSwap<Members>,
    /// What the members are built from.
    cluster: Arc<str>,
    config: Arc<ClusterConfig>,
    entries: SubclusterConfig,
    /// Position in the WRR sequence, and the rotation that breaks least-connection
    /// ties. Padded: every request of the subcluster bumps it.
    next: CachePadded<AtomicUsize>,
}

impl Subcluster {
    /// Builds subcluster `name` of `cluster`: its backends' health from `health`,
    /// the addresses of those given by name from `names`.
    pub(super) fn new(
        cluster: &Arc<str>,
        name: &str,
        entries: &SubclusterConfig,
        config: &Arc<ClusterConfig>,
        health: &HealthStates,
        names: &Names,
    ) -> Subcluster {
        let name: Arc<str> = Arc::from(name);
        let source = Source {
            cluster,
            subcluster: &name,
            config,
            entries,
        };
        let members = Members::build(&source, names, health, None);
        prepare(&members, config.balance);
        Subcluster {
            weight: entries.weight,
            members: ArcSwap::from_pointee(members),
            cluster: Arc::clone(cluster),
            config: Arc::clone(config),
            entries: entries.clone(),
            next: CachePadded(AtomicUsize::new(0)),
            name,
        }
    }

    /// Its backends now.
    pub fn members(&self) -> Arc<Members> {
        self.members.load_full()
    }

    /// Rebuilds the members from the addresses `names` has now, keeping every
    /// backend whose entry and address stay (see [`Members::build`]). Returns whether
    /// they changed.
    pub fn refresh(&self, names: &Names, health: &HealthStates) -> bool {
        let old = self.members.load_full();
        let source = Source {
            cluster: &self.cluster,
            subcluster: &self.name,
            config: &self.config,
            entries: &self.entries,
        };
        let members = Members::build(&source, names, health, Some(&old));
        if members.same_as(&old) {
            return false;
        }
        prepare(&members, self.config.balance);
        tracing::info!(
            cluster = %self.cluster,
            subcluster = %self.name,
            backends = ?members.backends.iter().map(|b| &*b.name).collect::<Vec<_>>(),
            "subcluster members changed"
        );
        self.members.store(Arc::new(members));
        true
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
    ) -> Option<Arc<Backend>> {
        let members = self.members.load();
        let backends = &members.backends;
        let usable = |backend: &&Arc<Backend>| !tried.contains(&backend.id) && backend.is_healthy();
        let chosen = match balance {
            Balance::Wrr => {
                let sequence = members.wrr();
                if sequence.is_empty() {
                    return None;
                }
                let start = self.next.0.fetch_add(1, Ordering::Relaxed) % sequence.len();
                let (before, after) = sequence.split_at(start);
                after
                    .iter()
                    .chain(before)
                    .filter_map(|&index| backends.get(index as usize))
                    .find(usable)
            }
            Balance::LeastConn => {
                if backends.is_empty() {
                    return None;
                }
                let start = self.next.0.fetch_add(1, Ordering::Relaxed) % backends.len();
                let (before, after) = backends.split_at(start);
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
            Balance::Hash => members
                .ring()
                .walk(key::ip(client_ip, key::RING))
                .filter_map(|index| backends.get(index))
                .find(usable),
        };
        chosen.cloned()
    }

    /// Whether some backend of non-zero weight is healthy.
    pub fn has_healthy_backend(&self) -> bool {
        self.members
            .load()
            .backends
            .iter()
            .any(|backend| backend.weight > 0 && backend.is_healthy())
    }
}

/// Builds the sequence or ring `balance` uses now rather than on the first request.
fn prepare(members: &Members, balance: Balance) {
    match balance {
        Balance::Wrr => drop(members.wrr()),
        Balance::Hash => drop(members.ring()),
        Balance::LeastConn => {}
    }
}
