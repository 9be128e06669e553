//! The consistent-hash ring of a subcluster.
//!
//! Internal: each backend owns about 100 × weight virtual nodes whose positions depend
//! on its address only, so taking a backend out (or marking it down) moves only the
//! keys that pointed at it; a lookup is a binary search and then a walk clockwise past
//! nodes of backends that cannot take the request.

use std::net::SocketAddr;

use super::key;

/// Virtual nodes per unit of weight.
const NODES_PER_WEIGHT: u64 = 100;
/// Most nodes in one ring; beyond, node counts are scaled down proportionally.
const MAX_NODES: u64 = 1 << 15;

/// Sorted `(position, backend index)` pairs.
pub(super) struct Ring {
    nodes: Vec<(u64, u32)>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Thousands of nodes say nothing in a log; their number does.
        f.debug_struct("Ring")
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

impl Ring {
    /// A ring over backends given as `(address, weight)`; weight 0 gets no node.
    pub(super) fn new(backends: impl ExactSizeIterator<Item = (SocketAddr, u32)> + Clone) -> Ring {
        let total: u64 = backends
            .clone()
            .map(|(_, w)| u64::from(w) * NODES_PER_WEIGHT)
            .sum();
        let mut nodes = Vec::with_capacity(usize::try_from(total.min(MAX_NODES)).unwrap_or(0));
        for (index, (addr, weight)) in backends.enumerate() {
            let mut count = u64::from(weight) * NODES_PER_WEIGHT;
            if total > MAX_NODES && count > 0 {
                count = (count * MAX_NODES / total).max(1);
            }
            // A backend list is far shorter than u32::MAX; so is `count`.
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            for replica in 0..count {
                let replica = u32::try_from(replica).unwrap_or(u32::MAX);
                nodes.push((key::vnode(addr, replica), index));
            }
        }
        nodes.sort_unstable();
        Ring { nodes }
    }

    /// Backend indices clockwise from `key`'s position, each node once: the caller
    /// takes the first that can serve.
    pub(super) fn walk(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.nodes.partition_point(|&(position, _)| position < key);
        let (before, after) = self.nodes.split_at(start);
        after.iter().chain(before).map(|&(_, index)| index as usize)
    }
}
