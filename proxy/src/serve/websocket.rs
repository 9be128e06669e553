//! HTTP/1.1 Upgrade (WebSocket): the request callbacks run before the upgrade, like for
//! any request (so auth and block plugins protect WebSocket endpoints too); after the
//! backend's 101, bytes are tunnelled both ways until either side closes.

use http::header::{CONNECTION, UPGRADE};

use crate::header_list;
use http::{Request, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::connection::Conn;
use super::incoming::ClientUpgrade;
use super::observed::{Observed, Observer};

/// Whether the request asks to switch protocols (`Connection: upgrade` + `Upgrade`) to
/// something the backend may answer. `h2c` is not: HTTP/2 is spoken with prior
/// knowledge or over TLS, and an `Upgrade: h2c` request is forwarded as plain
/// HTTP/1.1 with its hop-by-hop headers (`Upgrade`, `HTTP2-Settings`) removed.
pub(crate) fn is_upgrade<B>(request: &Request<B>) -> bool {
    let headers = request.headers();
    request.version() == Version::HTTP_11
        && headers.contains_key(UPGRADE)
        && !header_list::has(headers, UPGRADE, "h2c")
        && header_list::has(headers, CONNECTION, "upgrade")
}

/// Once both sides have switched, copies bytes between them until one closes, or no
/// byte has gone either way for `server.tunnel_idle_timeout_ms`. The tunnel holds its
/// connection (`conn`): the connection slot stays taken and Finish runs only when the
/// tunnel ends.
pub(crate) fn tunnel(client: ClientUpgrade, upstream: OnUpgrade, conn: Arc<Conn>) {
    tokio::spawn(async move {
        let idle_timeout = conn.snapshot.edge.timeouts.tunnel_idle;
        let _conn = conn;
        let (client, upstream) = match tokio::join!(client.ready(), upstream) {
            (Ok(client), Ok(upstream)) => (client, upstream),
            (Err(error), _) => {
                tracing::debug!(%error, "upgrade did not complete");
                return;
            }
            (_, Err(error)) => {
                tracing::debug!(%error, "upgrade did not complete");
                return;
            }
        };
        let last = Arc::new(LastByte::new());
        let mut client = Observed::new(client, Arc::clone(&last));
        let mut upstream = Observed::new(TokioIo::new(upstream), Arc::clone(&last));
        tokio::select! {
            result = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
                if let Err(error) = result {
                    tracing::debug!(%error, "tunnel ended with an error");
                }
            }
            () = last.idle_for(idle_timeout) => {
                tracing::debug!(?idle_timeout, "tunnel idle timeout: closing both sides");
            }
        }
    });
}

impl Observer for LastByte {
    fn read(&self) {
        self.touch();
    }

    fn wrote(&self) {
        self.touch();
    }
}

/// When a byte last went through a tunnel, either way.
struct LastByte {
    start: Instant,
    /// Milliseconds since `start`.
    at: AtomicU64,
}

impl LastByte {
    fn new() -> LastByte {
        LastByte {
            start: Instant::now(),
            at: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.at.store(ms, Ordering::Relaxed);
    }

    /// Resolves once no byte has gone through for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let last = self.start + Duration::from_millis(self.at.load(Ordering::Relaxed));
            if last.elapsed() >= timeout {
                return;
            }
            tokio::time::sleep_until(last + timeout).await;
        }
    }
}
