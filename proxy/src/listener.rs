//! Listeners: bind every configured address, accept connections (at most
//! `server.max_connections` open at once; more wait in the kernel's queue), and on
//! SIGTERM/SIGINT stop accepting, let in-flight requests finish within
//! `server.drain_timeout_ms`, and return.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::plugin::Plugins;
use crate::serve::serve_connection;
use crate::snapshot::Snapshot;
use crate::tls::{self, TlsError};

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener address cannot be bound.
    #[error("listen {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A TLS listener's certificates are unusable.
    #[error("TLS listener {addr}: {source}")]
    Tls {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: TlsError,
    },
    /// Signal handlers cannot be installed.
    #[error("signals: {0}")]
    Signal(std::io::Error),
}

/// One bound listener.
struct Bound {
    listener: TcpListener,
    name: Arc<str>,
    tls: Option<TlsAcceptor>,
}

/// Re-reads the configuration and the plugins, for a reload.
pub type Reloader = Arc<dyn Fn() -> Result<(Config, Plugins), String> + Send + Sync>;

/// The running server's shared state: the current snapshot, connection counts, the
/// health-check tasks, and how to reload.
pub struct Server {
    snapshot: ArcSwap<Snapshot>,
    slots: Arc<Semaphore>,
    max_connections: usize,
    ids: AtomicU64,
    health: Mutex<Vec<JoinHandle<()>>>,
    shutdown: watch::Receiver<bool>,
    reloader: Option<Reloader>,
}

impl Server {
    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Client connections open now.
    pub fn connections_open(&self) -> u64 {
        (self.max_connections - self.slots.available_permits()) as u64
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
        let metrics = Arc::clone(&self.snapshot().metrics);
        let snapshot = Arc::new(Snapshot::new(&config, plugins, metrics));
        self.start_health_checks(&snapshot);
        self.snapshot.store(snapshot);
        tracing::info!("configuration reloaded");
        Ok(())
    }

    fn start_health_checks(&self, snapshot: &Snapshot) {
        let clusters: Vec<_> = snapshot.clusters.values().cloned().collect();
        let tasks = crate::health::spawn(&clusters, self.shutdown.clone());
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        for old in health.drain(..) {
            old.abort();
        }
        *health = tasks;
    }
}

/// Binds, serves until SIGTERM/SIGINT, drains, returns.
pub async fn run(
    config: &Config,
    plugins: Plugins,
    reloader: Option<Reloader>,
) -> Result<(), ServeError> {
    let mut bound = Vec::new();
    let backlog = config.server.backlog;
    for addr in &config.server.listen {
        let listener = bind(*addr, backlog, None);
        bound.push(listener.map_err(|source| ServeError::Bind {
            addr: *addr,
            source,
        })?);
    }
    for tls_listener in &config.server.tls {
        let addr = tls_listener.listen;
        let server_config =
            tls::server_config(tls_listener).map_err(|source| ServeError::Tls { addr, source })?;
        let listener = bind(addr, backlog, Some(TlsAcceptor::from(server_config)));
        bound.push(listener.map_err(|source| ServeError::Bind { addr, source })?);
    }
    let admin = match config.server.admin {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::Bind { addr, source })?,
        ),
        None => None,
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let max = config
        .server
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS);
    let snapshot = Snapshot::new(config, plugins, Arc::default());
    let server = Arc::new(Server {
        snapshot: ArcSwap::from_pointee(snapshot),
        slots: Arc::new(Semaphore::new(max)),
        max_connections: max,
        ids: AtomicU64::new(1),
        health: Mutex::new(Vec::new()),
        shutdown: shutdown_rx.clone(),
        reloader,
    });
    server.start_health_checks(&server.snapshot());
    if let Some(admin) = admin {
        tracing::info!(addr = %admin.local_addr().map_or_else(|_| "?".into(), |a| a.to_string()), "admin listening");
        tokio::spawn(crate::admin::serve(
            admin,
            Arc::clone(&server),
            config.server.admin_token.clone(),
            shutdown_rx.clone(),
        ));
    }
    let mut accept_loops = Vec::new();
    for listener in bound {
        accept_loops.push(tokio::spawn(accept_loop(listener, Arc::clone(&server))));
    }

    wait_for_signal().await?;
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    let _ = shutdown_tx.send(true);
    for accept in accept_loops {
        let _ = accept.await;
    }
    let drain = Duration::from_millis(config.server.drain_timeout_ms);
    let all_slots = u32::try_from(max).unwrap_or(u32::MAX);
    match tokio::time::timeout(drain, server.slots.acquire_many(all_slots)).await {
        Ok(_) => tracing::info!("drained"),
        Err(_) => tracing::warn!(
            open = server.connections_open(),
            "drain time over; closing the remaining connections"
        ),
    }
    let health = std::mem::take(&mut *server.health.lock().unwrap_or_else(PoisonError::into_inner));
    for task in health {
        task.abort();
    }
    Ok(())
}

fn bind(addr: SocketAddr, backlog: u32, tls: Option<TlsAcceptor>) -> std::io::Result<Bound> {
    let listener = listen(addr, backlog)?;
    let local = listener.local_addr().unwrap_or(addr);
    let kind = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %local, kind, "listening");
    Ok(Bound {
        listener,
        name: addr.to_string().into(),
        tls,
    })
}

/// A listening socket on `addr` with `SO_REUSEADDR` (as tokio's `bind`) and the given
/// backlog (`server.backlog`; tokio's own is 1024 and not configurable).
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    TcpListener::from_std(socket.into())
}

async fn accept_loop(bound: Bound, server: Arc<Server>) {
    let mut shutdown = server.shutdown.clone();
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&server.slots).acquire_owned() => slot,
            _ = shutdown.changed() => return,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            accepted = bound.listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (tcp, _) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(%error, listener = %bound.name, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let id = server.ids.fetch_add(1, Ordering::Relaxed);
        let snapshot = server.snapshot();
        let name = Arc::clone(&bound.name);
        let tls = bound.tls.clone();
        let shutdown = server.shutdown.clone();
        tokio::spawn(serve_connection(
            tcp,
            Some(slot),
            id,
            name,
            tls,
            snapshot,
            shutdown,
        ));
    }
}

async fn wait_for_signal() -> Result<(), ServeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}
