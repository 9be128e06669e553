//! Listeners: binding every configured address (with `server.backlog`) and accepting
//! connections, at most `server.max_connections` open at once (more wait in the
//! kernel's queue), until the server stops accepting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::serve::serve_connection;
use crate::server::Server;

/// One bound listener.
pub struct Bound {
    listener: TcpListener,
    name: Arc<str>,
    tls: Option<TlsAcceptor>,
}

/// Binds `addr` (TLS when `tls` is given).
pub fn bind(addr: SocketAddr, backlog: u32, tls: Option<TlsAcceptor>) -> std::io::Result<Bound> {
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

/// Accepts connections on `bound` and serves each, until the server stops accepting.
pub async fn accept_loop(bound: Bound, server: Arc<Server>) {
    let mut shutdown = server.shutdown();
    let mut failures = FailureLog::default();
    loop {
        let slot = tokio::select! {
            slot = server.slot() => slot,
            _ = shutdown.changed() => return,
        };
        let Some(slot) = slot else { return };
        let accepted = tokio::select! {
            accepted = bound.listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (tcp, _) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning, and log at most
                // once a second, with how many failed since the last line.
                failures.failed(&error, &bound.name);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let id = server.next_id();
        let slot = server.occupy(slot);
        let name = Arc::clone(&bound.name);
        let tls = bound.tls.clone();
        let shutdown = server.shutdown();
        tokio::spawn(serve_connection(
            tcp,
            Some(slot),
            id,
            name,
            tls,
            server.current(),
            shutdown,
        ));
    }
}

/// Accept failures, logged at most once a second with a count.
#[derive(Default)]
struct FailureLog {
    last: Option<tokio::time::Instant>,
    unlogged: u64,
}

impl FailureLog {
    fn failed(&mut self, error: &std::io::Error, listener: &str) {
        self.unlogged += 1;
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            return;
        }
        tracing::warn!(%error, listener, failures = self.unlogged, "accept failed");
        self.last = Some(now);
        self.unlogged = 0;
    }
}
