//! [`Members`]: the backends of a subcluster at one moment, and the WRR sequence and
//! hash ring over them; rebuilt when a backend name resolves to other addresses.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use super::backend::{Backend, Placement};
use super::health_state::HealthStates;
use super::ring::Ring;
use super::wrr;
use crate::config::{BackendAddr, ClusterConfig, SubclusterConfig};
use crate::resolve::Names;

/// The backends of a subcluster: one per address of each entry, in config order (the
/// addresses of one name sorted).
#[derive(Debug)]
pub struct Members {
    /// The backends.
    pub backends: Vec<Arc<Backend>>,
    /// One period of the smooth WRR sequence, as indices into `backends`. Filled when
    /// built for the cluster's mode, and lazily (once) should a caller ever ask for
    /// another mode; reading one is a single atomic load.
    wrr: OnceLock<Vec<u32>>,
    /// The consistent-hash ring.
    ring: OnceLock<Ring>,
}

/// What a subcluster's members are built from.
pub(super) struct Source<'a> {
    pub cluster: &'a Arc<str>,
    pub subcluster: &'a Arc<str>,
    pub config: &'a ClusterConfig,
    pub entries: &'a SubclusterConfig,
}

impl Members {
    /// The members of `source` now: an entry by IP is one backend; an entry by name
    /// is one backend per address `names` has for it (none if it never resolved). A
    /// backend of `old` for the same entry and address is kept as it is (connections,
    /// health, active count); the others are new, their health from `health`.
    pub(super) fn build(
        source: &Source<'_>,
        names: &Names,
        health: &HealthStates,
        old: Option<&Members>,
    ) -> Members {
        let mut backends = Vec::with_capacity(source.entries.backends.len());
        for (entry, backend) in source.entries.backends.iter().enumerate() {
            let addrs: Vec<SocketAddr> = match &backend.addr {
                BackendAddr::Ip(addr) => vec![*addr],
                BackendAddr::Name(name) => names.addrs(name),
            };
            let placement = Placement {
                cluster: source.cluster,
                subcluster: source.subcluster,
                config: source.config,
                entry,
                weight: backend.weight,
                host: backend.addr.name(),
            };
            for addr in addrs {
                let kept = old.and_then(|old| {
                    old.backends
                        .iter()
                        .find(|b| b.entry == entry && b.addr == addr)
                });
                backends.push(match kept {
                    Some(backend) => Arc::clone(backend),
                    None => Arc::new(Backend::new(addr, &placement, health)),
                });
            }
        }
        Members {
            backends,
            wrr: OnceLock::new(),
            ring: OnceLock::new(),
        }
    }

    /// Whether these are the same backends as `other`'s, in the same order.
    pub(super) fn same_as(&self, other: &Members) -> bool {
        self.backends.len() == other.backends.len()
            && self
                .backends
                .iter()
                .zip(&other.backends)
                .all(|(a, b)| Arc::ptr_eq(a, b))
    }

    /// The smooth WRR sequence over the backends' weights.
    pub(super) fn wrr(&self) -> &[u32] {
        self.wrr.get_or_init(|| {
            let weights: Vec<u32> = self.backends.iter().map(|b| b.weight).collect();
            wrr::sequence(&weights)
        })
    }

    /// The consistent-hash ring over the backends' addresses and weights.
    pub(super) fn ring(&self) -> &Ring {
        self.ring
            .get_or_init(|| Ring::new(self.backends.iter().map(|b| (b.addr, b.weight))))
    }
}
