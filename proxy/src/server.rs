//! [`Server`]: the running proxy's shared state: the current [`Snapshot`] (swapped
//! whole on reload), the connection slots under `server.max_connections`, connection
//! counts, the health-check and resolver tasks, and how to reload.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::balance::{HealthKey, HealthStates};
use crate::config::Config;
use crate::plugin::Plugins;
use crate::resolve::task::OnChange;
use crate::resolve::{resolve_new, Names, Resolvers};
use crate::snapshot::Snapshot;

/// Re-reads the configuration and the plugins, for a reload.
pub type Reloader = Arc<dyn Fn() -> Result<(Config, Plugins), String> + Send + Sync>;

/// The running server's shared state: the current snapshot, connection counts, the
/// health-check tasks, and how to reload.
pub struct Server {
    /// The current configuration; shared with every connection, whose requests each
    /// take the one current when they start.
    snapshot: Arc<ArcSwap<Snapshot>>,
    slots: Arc<Semaphore>,
    /// Connections accepted and not yet closed (a slot taken by an accept loop that
    /// is still waiting for its connection does not count).
    open: Arc<AtomicU64>,
    max_connections: usize,
    ids: AtomicU64,
    /// Backend health, kept across reloads (old and new snapshots share it).
    health: HealthStates,
    /// The active health checks running, one per health state.
    checkers: Mutex<HashMap<HealthKey, JoinHandle<()>>>,
    /// The addresses of backend names, kept across reloads.
    names: Names,
    /// The tasks resolving them again.
    resolvers: Resolvers,
    /// Held by whoever changes which backends the current snapshot has (a reload
    /// storing a new snapshot, a resolver refreshing members), so that neither
    /// loses the other's change: whichever runs last reads the latest addresses.
    membership: Mutex<()>,
    shutdown: watch::Receiver<bool>,
    reloader: Option<Reloader>,
}

impl Server {
    /// The state of a server starting with `config` and `plugins`, with the
    /// addresses of backend names in `names` ([`resolve_new`] resolved them), stopping
    /// when `shutdown` turns true; health checks and resolver tasks start.
    pub fn start(
        config: &Config,
        plugins: Plugins,
        names: Names,
        shutdown: watch::Receiver<bool>,
        reloader: Option<Reloader>,
    ) -> Arc<Server> {
        let max = config
            .server
            .max_connections
            .clamp(1, Semaphore::MAX_PERMITS);
        let health = HealthStates::default();
        let snapshot = Snapshot::new(config, plugins, Arc::default(), &health, &names);
        let server = Arc::new(Server {
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            slots: Arc::new(Semaphore::new(max)),
            open: Arc::default(),
            max_connections: max,
            ids: AtomicU64::new(1),
            health,
            checkers: Mutex::default(),
            names,
            resolvers: Resolvers::default(),
            membership: Mutex::default(),
            shutdown,
            reloader,
        });
        let snapshot = server.snapshot();
        server.start_health_checks(&snapshot);
        snapshot.plugins.timers.start(Arc::downgrade(&snapshot));
        server.start_resolvers(config);
        // Idle pooled connections past their idle timeout are closed even without
        // traffic to notice them.
        // And memory freed by connections that closed goes back to the system.
        let janitor = Arc::downgrade(&server);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_secs(1));
            let mut trimmer = crate::memory::Trimmer::default();
            loop {
                ticks.tick().await;
                let Some(server) = janitor.upgrade() else {
                    return;
                };
                if *server.shutdown.borrow() {
                    return;
                }
                server.snapshot().sweep();
                if trimmer.tick(server.connections_open()) {
                    tokio::task::spawn_blocking(crate::memory::trim);
                }
            }
        });
        server
    }

    /// A place for one more connection; waits while `max_connections` are open.
    pub async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.slots).acquire_owned().await.ok()
    }

    /// The place `permit` holds, now taken by an accepted connection: counted open
    /// until the returned slot is dropped.
    pub fn occupy(&self, permit: OwnedSemaphorePermit) -> ConnectionSlot {
        self.open.fetch_add(1, Ordering::Relaxed);
        ConnectionSlot {
            _permit: permit,
            open: Arc::clone(&self.open),
        }
    }

    /// The next connection's id.
    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// A receiver that turns true when the server stops accepting.
    pub fn shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Waits until every connection has closed (all slots are free again).
    pub async fn drained(&self) {
        let all = u32::try_from(self.max_connections).unwrap_or(u32::MAX);
        let _ = self.slots.acquire_many(all).await;
    }

    /// Stops the health-check and resolver tasks.
    pub fn stop_health_checks(&self) {
        let mut checkers = self.checkers.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, task) in checkers.drain() {
            task.abort();
        }
        self.resolvers.stop();
    }
}

impl Server {
    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Where the current snapshot is, for connections to read it per request.
    pub fn current(&self) -> Arc<ArcSwap<Snapshot>> {
        Arc::clone(&self.snapshot)
    }

    /// Client connections open now.
    pub fn connections_open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Client connections accepted so far.
    pub fn connections_total(&self) -> u64 {
        self.ids.load(Ordering::Relaxed) - 1
    }

    /// Re-reads config and plugins and swaps the snapshot whole: connections accepted
    /// from now on use the new one; open ones keep theirs. Listeners and TLS
    /// certificates are not rebound (that needs a restart).
    pub async fn reload(self: Arc<Self>) -> Result<(), String> {
        let reloader = self.reloader.clone().ok_or("this server cannot reload")?;
        let (config, plugins) = tokio::task::spawn_blocking(move || reloader())
            .await
            .map_err(|e| format!("reload task: {e}"))??;
        resolve_new(&config, &self.names).await;
        let metrics = Arc::clone(&self.snapshot().metrics);
        let old = {
            let _membership = self
                .membership
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let snapshot = Arc::new(Snapshot::new(
                &config,
                plugins,
                Arc::clone(&metrics),
                &self.health,
                &self.names,
            ));
            self.start_health_checks(&snapshot);
            snapshot.plugins.timers.start(Arc::downgrade(&snapshot));
            self.snapshot.swap(snapshot)
        };
        self.start_resolvers(&config);
        metrics.retire(&old.plugins.instances);
        tracing::info!("configuration reloaded");
        Ok(())
    }

    /// Rebuilds the current snapshot's subcluster members from the latest addresses
    /// of backend names, and health-checks new backends (a resolver task calls this
    /// when a name's addresses change). Requests that started before keep the
    /// backends they chose.
    pub fn refresh_members(&self) {
        let _membership = self
            .membership
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let snapshot = self.snapshot();
        if snapshot.refresh_members(&self.names, &self.health) {
            self.start_health_checks(&snapshot);
        }
    }

    /// Makes the resolver tasks those of the names in `config`.
    fn start_resolvers(self: &Arc<Self>, config: &Config) {
        let server = Arc::downgrade(self);
        let on_change: OnChange = Arc::new(move || {
            if let Some(server) = server.upgrade() {
                server.refresh_members();
            }
        });
        self.resolvers
            .reconcile(config, &self.names, &on_change, &self.shutdown);
    }

    fn start_health_checks(&self, snapshot: &Snapshot) {
        let clusters: Vec<_> = snapshot.clusters.values().cloned().collect();
        let mut checkers = self.checkers.lock().unwrap_or_else(PoisonError::into_inner);
        crate::health::reconcile(&clusters, self.shutdown.clone(), &mut checkers);
    }
}

/// An accepted connection's place under `server.max_connections`; dropping it frees
/// the place and stops counting the connection as open.
#[derive(Debug)]
pub struct ConnectionSlot {
    _permit: OwnedSemaphorePermit,
    open: Arc<AtomicU64>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}
