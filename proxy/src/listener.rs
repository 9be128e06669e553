//! Listeners: bind every configured address, accept connections (at most
//! `server.max_connections` open at once; more wait in the kernel's queue), and on
//! SIGTERM/SIGINT stop accepting, let in-flight requests finish within
//! `server.drain_timeout_ms`, and return.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
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

/// Binds, serves until SIGTERM/SIGINT, drains, returns.
pub async fn run(config: &Config, plugins: Plugins) -> Result<(), ServeError> {
    let mut bound = Vec::new();
    for addr in &config.server.listen {
        bound.push(bind(*addr, None).await?);
    }
    for tls_listener in &config.server.tls {
        let addr = tls_listener.listen;
        let server_config =
            tls::server_config(tls_listener).map_err(|source| ServeError::Tls { addr, source })?;
        bound.push(bind(addr, Some(TlsAcceptor::from(server_config))).await?);
    }
    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::new(config, plugins)));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let clusters: Vec<_> = snapshot.load().clusters.values().cloned().collect();
    let health = crate::health::spawn(&clusters, shutdown_rx.clone());

    let max = config
        .server
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let ids = Arc::new(AtomicU64::new(1));
    let mut accept_loops = Vec::new();
    for listener in bound {
        let ctx = AcceptContext {
            snapshot: Arc::clone(&snapshot),
            slots: Arc::clone(&slots),
            ids: Arc::clone(&ids),
            shutdown: shutdown_rx.clone(),
        };
        accept_loops.push(tokio::spawn(accept_loop(listener, ctx)));
    }

    wait_for_signal().await?;
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    let _ = shutdown_tx.send(true);
    for accept in accept_loops {
        let _ = accept.await;
    }
    let drain = Duration::from_millis(config.server.drain_timeout_ms);
    let all_slots = u32::try_from(max).unwrap_or(u32::MAX);
    match tokio::time::timeout(drain, slots.acquire_many(all_slots)).await {
        Ok(_) => tracing::info!("drained"),
        Err(_) => tracing::warn!(
            open = max - slots.available_permits(),
            "drain time over; closing the remaining connections"
        ),
    }
    for task in health {
        task.abort();
    }
    Ok(())
}

async fn bind(addr: SocketAddr, tls: Option<TlsAcceptor>) -> Result<Bound, ServeError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    let kind = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %local, kind, "listening");
    Ok(Bound {
        listener,
        name: addr.to_string().into(),
        tls,
    })
}

struct AcceptContext {
    snapshot: Arc<ArcSwap<Snapshot>>,
    slots: Arc<Semaphore>,
    ids: Arc<AtomicU64>,
    shutdown: watch::Receiver<bool>,
}

async fn accept_loop(bound: Bound, mut ctx: AcceptContext) {
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&ctx.slots).acquire_owned() => slot,
            _ = ctx.shutdown.changed() => return,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            accepted = bound.listener.accept() => accepted,
            _ = ctx.shutdown.changed() => return,
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
        let id = ctx.ids.fetch_add(1, Ordering::Relaxed);
        let snapshot = ctx.snapshot.load_full();
        let name = Arc::clone(&bound.name);
        let tls = bound.tls.clone();
        let shutdown = ctx.shutdown.clone();
        tokio::spawn(async move {
            serve_connection(tcp, id, name, tls, snapshot, shutdown).await;
            drop(slot);
        });
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
