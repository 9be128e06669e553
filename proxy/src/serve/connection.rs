//! [`Conn`]: one client connection's state, shared with its requests, and its
//! session-level callback points: Accept and Handshake ([`Conn::session_point`]), and
//! Finish, exactly once per accepted connection whatever ended it (in `Drop`, so even
//! a cancelled task runs it). Nothing of a request lives here.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::task::AtomicWaker;
use hookgate_plugin_api::{AcceptPoint, Action, Point};

use crate::server::ConnectionSlot;

use super::activity::Activity;
use arc_swap::ArcSwap;

use crate::session::SessionState;
use crate::snapshot::Snapshot;

/// A connection's state shared with its requests.
pub struct Conn {
    /// The configuration the connection was accepted under: its Accept, Handshake and
    /// Finish run with its chains, and its timeouts are its.
    pub snapshot: Arc<Snapshot>,
    /// The current configuration: each request runs on the one current when it
    /// starts, so a reload reaches every connection.
    pub(crate) current: Arc<ArcSwap<Snapshot>>,
    /// The client's address.
    pub peer: SocketAddr,
    /// The client's IP as a header value, made once for `X-Forwarded-For`.
    pub peer_header: http::HeaderValue,
    /// Whether the connection is TLS.
    pub is_tls: bool,
    /// Requests ask the connection task to close through this.
    pub control: ConnControl,
    /// What the connection is doing, for its header and idle timeouts.
    pub(crate) activity: Arc<Activity>,
    /// The TLS server name, set once after the handshake: route conditions read it
    /// per request without locking the session.
    pub(crate) sni: std::sync::OnceLock<Box<str>>,
    // Internal: a std mutex, because it is held only for a chain call (never across
    // an await) and only HTTP/2 streams of this one connection contend for it.
    session: Mutex<SessionState>,
    /// The connection's place under `server.max_connections`, given back on drop, so
    /// that a WebSocket tunnel counts, and the shutdown drain waits for it.
    _slot: Option<ConnectionSlot>,
}

impl Conn {
    /// A connection from `peer` to `local`, accepted on `listener` as the `id`th, taking
    /// `slot` under `server.max_connections`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        snapshot: Arc<Snapshot>,
        current: Arc<ArcSwap<Snapshot>>,
        id: u64,
        peer: SocketAddr,
        local: SocketAddr,
        listener: Arc<str>,
        is_tls: bool,
        slot: Option<ConnectionSlot>,
    ) -> Conn {
        Conn {
            snapshot,
            current,
            peer,
            peer_header: super::forwarded::ip_value(peer.ip()),
            is_tls,
            control: ConnControl::default(),
            activity: Arc::new(Activity::new()),
            sni: std::sync::OnceLock::new(),
            session: Mutex::new(
                SessionState::new(id, peer, local, listener).on_tls_listener(is_tls),
            ),
            _slot: slot,
        }
    }

    /// The session, for one chain call.
    pub(crate) fn lock_session(&self) -> MutexGuard<'_, SessionState> {
        // A poisoned lock means a panic in the host while it was held; the session
        // data is still usable for the rest of the connection.
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs Accept or Handshake; `false` means close the connection (Close, or a
    /// handler failure under fail-closed; the other values are ignored there).
    pub(crate) fn session_point(&self, point: AcceptPoint) -> bool {
        let chain = self.snapshot.plugins.chains.accept(point);
        if chain.is_empty() {
            return true;
        }
        let mut session = self.lock_session();
        let verdict = chain.run(point.into(), &mut *session);
        !matches!(verdict, Ok(Action::Close) | Err(_))
    }
}

/// Requests ending their connection: abort (Close: nothing more is sent) or close
/// after the response in flight (Finish).
///
/// Internal: one word of flags and one waker, so that the connection's loop, which
/// polls this at every wake of its task (every read and write of the connection),
/// pays two atomic loads for it, not the lock of a `Notify`'s waiter list.
#[derive(Default)]
pub struct ConnControl {
    /// [`ABORT`] and [`CLOSE`], once asked.
    asked: AtomicU8,
    waker: AtomicWaker,
}

/// Drop the connection now.
pub(crate) const ABORT: u8 = 1;
/// Close once the responses in flight are sent.
pub(crate) const CLOSE: u8 = 2;

impl ConnControl {
    /// Drop the connection now, sending nothing more (HTTP/2: the whole connection).
    pub fn abort(&self) {
        self.ask(ABORT)
    }

    /// No keep-alive: close once the responses in flight are sent.
    pub fn close_after_response(&self) {
        self.ask(CLOSE)
    }

    fn ask(&self, what: u8) {
        self.asked.fetch_or(what, Ordering::AcqRel);
        self.waker.wake();
    }

    /// Whether the connection is closing: no new request is served on it (a request
    /// that arrives anyway, pipelined behind the one that ended keep-alive, already in
    /// the connection's buffer, is not served).
    pub fn is_closing(&self) -> bool {
        self.asked.load(Ordering::Acquire) & CLOSE != 0
    }

    /// Resolves with what has been asked ([`ABORT`], [`CLOSE`]) once something beyond
    /// `seen` has.
    pub(crate) fn asked(&self, seen: u8) -> impl std::future::Future<Output = u8> + '_ {
        std::future::poll_fn(move |cx| self.poll_asked(seen, cx))
    }

    /// [`ConnControl::asked`], polled in place.
    pub(crate) fn poll_asked(
        &self,
        seen: u8,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u8> {
        let asked = self.asked.load(Ordering::Acquire);
        if asked & !seen != 0 {
            return std::task::Poll::Ready(asked);
        }
        self.waker.register(cx.waker());
        // Asked between the load and the registration: seen now.
        let asked = self.asked.load(Ordering::Acquire);
        if asked & !seen != 0 {
            return std::task::Poll::Ready(asked);
        }
        std::task::Poll::Pending
    }
}

impl Drop for Conn {
    /// Finish: the connection is over, however it ended (DESIGN §2.3: exactly once per
    /// accepted connection).
    fn drop(&mut self) {
        let chain = self.snapshot.plugins.chains.finish();
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn what_requests_ask_reaches_the_loop_once_and_is_kept() {
        let control = Arc::new(ConnControl::default());
        let waiting = tokio::time::timeout(Duration::from_millis(20), control.asked(0)).await;
        assert!(waiting.is_err(), "nothing asked yet");
        // Asked while the loop waits: it wakes.
        let asker = Arc::clone(&control);
        let wait = tokio::spawn(async move { asker.asked(0).await });
        tokio::task::yield_now().await;
        control.close_after_response();
        assert_eq!(wait.await.unwrap(), CLOSE);
        assert!(control.is_closing());
        // Seen: only something new resolves it again; asked before the wait: at once.
        let waiting = tokio::time::timeout(Duration::from_millis(20), control.asked(CLOSE)).await;
        assert!(waiting.is_err());
        control.abort();
        assert_eq!(control.asked(CLOSE).await, CLOSE | ABORT);
    }
}
