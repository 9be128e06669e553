//! Running the proxy: bind every listener and the admin listener, serve until
//! SIGTERM/SIGINT (SIGHUP reloads), then stop accepting, let in-flight requests finish
//! within `server.drain_timeout_ms`, and return.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::listener::{self, accept_loop};
use crate::plugin::Plugins;
use crate::resolve::{resolve_new, Names};
use crate::server::{Reloader, Server};
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

/// Binds, serves until SIGTERM/SIGINT, drains, returns.
pub async fn run(
    config: &Config,
    plugins: Plugins,
    reloader: Option<Reloader>,
) -> Result<(), ServeError> {
    let mut signals = Signals::install().map_err(ServeError::Signal)?;
    crate::limits::raise_open_files(config.server.max_connections);
    let mut bound = Vec::new();
    let backlog = config.server.backlog;
    for addr in &config.server.listen {
        let listener = listener::bind(*addr, backlog, None);
        bound.push(listener.map_err(|source| ServeError::Bind {
            addr: *addr,
            source,
        })?);
    }
    for tls_listener in &config.server.tls {
        let addr = tls_listener.listen;
        let server_config =
            tls::server_config(tls_listener).map_err(|source| ServeError::Tls { addr, source })?;
        let listener = listener::bind(addr, backlog, Some(TlsAcceptor::from(server_config)));
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
    let names = Names::default();
    resolve_new(config, &names).await;
    let server = Server::start(config, plugins, names, shutdown_rx.clone(), reloader);
    if let Err(error) = crate::plugin::slow::start_watchdog(Arc::downgrade(&server)) {
        tracing::warn!(%error, "the watch on slow plugin handlers could not start");
    }
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

    wait_for_stop(&mut signals, &server).await;
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    let _ = shutdown_tx.send(true);
    for accept in accept_loops {
        let _ = accept.await;
    }
    let drain = Duration::from_millis(config.server.drain_timeout_ms);
    match tokio::time::timeout(drain, server.drained()).await {
        Ok(_) => tracing::info!("drained"),
        Err(_) => tracing::warn!(
            open = server.connections_open(),
            "drain time over; closing the remaining connections"
        ),
    }
    server.stop_health_checks();
    Ok(())
}

/// The signals the proxy acts on, installed before it serves (so that none of them
/// can kill it with the default action once it runs).
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }
}

/// Serves until SIGTERM or SIGINT; SIGHUP reloads, like `POST /reload` (nginx's and
/// systemd `ExecReload`'s convention), and the outcome is logged.
async fn wait_for_stop(signals: &mut Signals, server: &Arc<Server>) {
    loop {
        tokio::select! {
            _ = signals.terminate.recv() => return,
            _ = signals.interrupt.recv() => return,
            _ = signals.hangup.recv() => {
                tracing::info!("SIGHUP: reloading");
                if let Err(error) = Arc::clone(server).reload().await {
                    tracing::error!(%error, "reload failed; the running configuration stays");
                }
            }
        }
    }
}
