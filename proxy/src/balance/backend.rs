//! [`Backend`]: one upstream address of a subcluster, its health (a [`HealthState`]
//! shared across configurations) and its active requests.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::health_state::{HealthKey, HealthState, HealthStates};
use crate::config::{BackendName, ClusterConfig};
use crate::upstream::{Connections, Endpoint};

/// One upstream address of a subcluster, and the connections to it.
pub struct Backend {
    /// Unique in the process (across reloads and re-resolutions): what a request's
    /// retries remember as tried.
    pub id: usize,
    /// Where to connect.
    pub addr: SocketAddr,
    /// `addr` as text, for logs, route info and the `Host` of health checks.
    pub name: Arc<str>,
    /// The `name:port` it was resolved from, if it was given by name.
    pub host: Option<Arc<str>>,
    /// Weight inside the subcluster; 0 takes no traffic.
    pub weight: u32,
    /// The index of its entry in the subcluster's `backends` (several backends share
    /// one when a name resolves to several addresses).
    pub(super) entry: usize,
    /// Cluster and subcluster names, for logs.
    cluster: Arc<str>,
    subcluster: Arc<str>,
    /// Its health, shared with the same backend in other configurations.
    health: Arc<HealthState>,
    /// Its pooled or shared connections.
    connections: Connections,
    /// Requests in flight, for least connections. Padded to its own cache line: it is
    /// written by every request, while the fields above are read by every choice.
    active: CachePadded<AtomicUsize>,
}

/// Where backend ids come from: one counter for the process, so that an id is never
/// reused by another backend.
static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

/// Where a backend is in the config, and what it is called there.
pub(super) struct Placement<'a> {
    /// The cluster's and subcluster's names.
    pub cluster: &'a Arc<str>,
    pub subcluster: &'a Arc<str>,
    /// The cluster's settings.
    pub config: &'a ClusterConfig,
    /// The index of the backend's entry in the subcluster.
    pub entry: usize,
    /// The entry's weight.
    pub weight: u32,
    /// The name the entry gives, if it gives one.
    pub host: Option<&'a BackendName>,
}

/// Keeps a value on its own cache line(s) so that writes to it do not invalidate
/// neighbours that other cores only read. 128 bytes: adjacent-line prefetching on
/// x86_64 pairs 64-byte lines.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(super) struct CachePadded<T>(pub(super) T);

impl Backend {
    /// The backend at `addr` placed as `at` says, with the cluster's health
    /// thresholds, its health state taken from `health`, and no connection yet.
    pub(super) fn new(addr: SocketAddr, at: &Placement<'_>, health: &HealthStates) -> Backend {
        let name: Arc<str> = Arc::from(addr.to_string());
        let key = HealthKey::new(at.cluster, addr, at.config);
        let health = health.get(key, at.subcluster, &name, at.config);
        let host = at.host.map(|host| Arc::from(host.to_string()));
        let endpoint = Endpoint::of(at.config, addr, at.host.map(|h| &*h.host));
        Backend {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            addr,
            name,
            host,
            weight: at.weight,
            entry: at.entry,
            cluster: Arc::clone(at.cluster),
            subcluster: Arc::clone(at.subcluster),
            health,
            connections: Connections::new(addr, endpoint),
            active: CachePadded(AtomicUsize::new(0)),
        }
    }

    /// Its connections.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Its health state (shared with the same backend in other configurations).
    pub fn health(&self) -> &Arc<HealthState> {
        &self.health
    }

    /// Whether the backend may take requests (see [`HealthState::is_healthy`]).
    #[inline]
    pub fn is_healthy(&self) -> bool {
        self.health.is_healthy()
    }

    /// An exchange with this backend failed by the backend's fault (see
    /// [`HealthState::upstream_failed`]).
    pub fn upstream_failed(&self) {
        self.health.upstream_failed()
    }

    /// An exchange with this backend succeeded (see
    /// [`HealthState::upstream_succeeded`]).
    pub fn upstream_succeeded(&self) {
        self.health.upstream_succeeded()
    }

    /// The result of one active health check (see [`HealthState::check_result`]).
    pub fn check_result(&self, ok: bool) {
        self.health.check_result(ok)
    }

    /// Counts a request as active (for least connections) until the guard drops.
    pub fn start_request(self: &Arc<Self>) -> ActiveRequest {
        self.active.0.fetch_add(1, Ordering::Relaxed);
        ActiveRequest {
            backend: Arc::clone(self),
        }
    }

    /// Requests in flight.
    pub fn active(&self) -> usize {
        self.active.0.load(Ordering::Relaxed)
    }

    /// The cluster's name.
    pub fn cluster(&self) -> &Arc<str> {
        &self.cluster
    }

    /// The subcluster's name.
    pub fn subcluster(&self) -> &Arc<str> {
        &self.subcluster
    }
}

/// For logs: its address, and the name it was resolved from, if any
/// (`10.0.0.7:8443 (api.internal:8443)`).
impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            None => f.write_str(&self.name),
            Some(host) => write!(f, "{} ({host})", self.name),
        }
    }
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .field("host", &self.host)
            .field("weight", &self.weight)
            .field("cluster", &self.cluster)
            .field("subcluster", &self.subcluster)
            .field("healthy", &self.is_healthy())
            .field("active", &self.active())
            .finish()
    }
}

/// A request in flight on a backend; [`Backend::active`] counts it until this drops.
#[derive(Debug)]
pub struct ActiveRequest {
    backend: Arc<Backend>,
}

impl ActiveRequest {
    /// The backend the request runs on.
    pub fn backend(&self) -> &Arc<Backend> {
        &self.backend
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.backend.active.0.fetch_sub(1, Ordering::Relaxed);
    }
}
