//! One client connection: a session from accept to close.
//!
//! Accept runs before anything is read; on TLS listeners the handshake follows and
//! Handshake runs after it succeeds; then hyper serves HTTP/1.1 or HTTP/2 (ALPN, or
//! prior knowledge on plain listeners) and each request runs through
//! [`request::handle`](super::request). Finish runs exactly once per accepted
//! connection, whatever ended it (a guard's `Drop`, so even a cancelled task runs it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hookgate_plugin_api::{Action, Point};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit};
use tokio_rustls::TlsAcceptor;

use super::protocol::{self, Protocol};
use crate::session::SessionState;
use crate::snapshot::Snapshot;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection's state shared with its requests.
pub struct Conn {
    /// The configuration the connection was accepted under.
    pub snapshot: Arc<Snapshot>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The client's IP as a header value, made once for `X-Forwarded-For`.
    pub peer_header: http::HeaderValue,
    /// Whether the connection is TLS.
    pub is_tls: bool,
    /// Requests ask the connection task to close through this.
    pub control: ConnControl,
    // Internal: a std mutex, because it is held only for a chain call (never across
    // an await) and only HTTP/2 streams of this one connection contend for it.
    session: Mutex<SessionState>,
    /// The connection's place under `server.max_connections`, given back on drop, so
    /// that a WebSocket tunnel counts, and the shutdown drain waits for it.
    _slot: Option<OwnedSemaphorePermit>,
}

impl Conn {
    /// The session, for one chain call.
    pub(crate) fn lock_session(&self) -> MutexGuard<'_, SessionState> {
        // A poisoned lock means a panic in the host while it was held; the session
        // data is still usable for the rest of the connection.
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs Accept or Handshake; `false` means close the connection (Close, or a
    /// handler failure under fail-closed).
    fn session_point(&self, point: Point) -> bool {
        let chains = &self.snapshot.plugins.chains;
        let chain = match point {
            Point::Accept => &chains.accept,
            _ => &chains.handshake,
        };
        if chain.is_empty() {
            return true;
        }
        let mut session = self.lock_session();
        !matches!(chain.run(point, &mut *session), Ok(Action::Close) | Err(_))
    }
}

/// Requests ending their connection: abort (Close: nothing more is sent) or close
/// after the response in flight (Finish).
#[derive(Default)]
pub struct ConnControl {
    abort: Notify,
    close: Notify,
    /// Set with `close`: a request that arrives anyway (pipelined behind the one that
    /// ended keep-alive, already in hyper's buffer) is not served.
    closing: AtomicBool,
}

impl ConnControl {
    /// Drop the connection now, sending nothing more (HTTP/2: the whole connection).
    pub fn abort(&self) {
        self.abort.notify_one()
    }

    /// No keep-alive: close once the responses in flight are sent.
    pub fn close_after_response(&self) {
        self.closing.store(true, Ordering::Release);
        self.close.notify_one()
    }

    /// Whether the connection is closing: no new request is served on it.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Resolves when a request asks to drop the connection.
    pub(crate) async fn abort_requested(&self) {
        self.abort.notified().await
    }

    /// Resolves when a request asks to close after the responses in flight.
    pub(crate) async fn close_requested(&self) {
        self.close.notified().await
    }
}

impl Drop for Conn {
    /// Finish: the connection is over, however it ended (DESIGN §2.3: exactly once per
    /// accepted connection).
    fn drop(&mut self) {
        let chain = &self.snapshot.plugins.chains.finish;
        if !chain.is_empty() {
            let session = self
                .session
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            // The return value at Finish is ignored.
            let _ = chain.run(Point::Finish, session);
        }
    }
}

/// Serves one accepted TCP connection to its end.
pub async fn serve_connection(
    tcp: TcpStream,
    slot: Option<OwnedSemaphorePermit>,
    id: u64,
    listener: Arc<str>,
    tls: Option<TlsAcceptor>,
    snapshot: Arc<Snapshot>,
    shutdown: watch::Receiver<bool>,
) {
    let (Ok(peer), Ok(local)) = (tcp.peer_addr(), tcp.local_addr()) else {
        return;
    };
    let _ = tcp.set_nodelay(true);
    let is_tls = tls.is_some();
    let conn = Arc::new(Conn {
        snapshot,
        peer,
        peer_header: super::forwarded::ip_value(peer.ip()),
        is_tls,
        control: ConnControl::default(),
        session: Mutex::new(SessionState::new(id, peer, local, listener).on_tls_listener(is_tls)),
        _slot: slot,
    });
    if !conn.session_point(Point::Accept) {
        return;
    }
    let Some(acceptor) = tls else {
        return protocol::serve(TokioIo::new(tcp), Protocol::Sniff, conn, shutdown).await;
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            tracing::debug!(%peer, %error, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let protocol = {
        let info = crate::tls::tls_info(stream.get_ref().1);
        let protocol = Protocol::of_alpn(info.alpn.as_deref());
        let mut session = conn.lock_session();
        session.protocol = match protocol {
            Protocol::Http2 => "h2",
            _ => "https",
        };
        session.tls = Some(info);
        protocol
    };
    if !conn.session_point(Point::Handshake) {
        return;
    }
    protocol::serve(TokioIo::new(stream), protocol, conn, shutdown).await
}
