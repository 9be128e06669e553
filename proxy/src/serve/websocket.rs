//! HTTP/1.1 Upgrade (WebSocket): the request callbacks run before the upgrade, like for
//! any request (so auth and block plugins protect WebSocket endpoints too); after the
//! backend's 101, bytes are tunnelled both ways until either side closes.

use http::header::{CONNECTION, UPGRADE};
use http::{Request, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

use super::connection::Conn;

/// Whether the request asks to switch protocols (`Connection: upgrade` + `Upgrade`) to
/// something the backend may answer. `h2c` is not: HTTP/2 is spoken with prior
/// knowledge or over TLS, and an `Upgrade: h2c` request is forwarded as plain
/// HTTP/1.1 with its hop-by-hop headers (`Upgrade`, `HTTP2-Settings`) removed.
pub(crate) fn is_upgrade<B>(request: &Request<B>) -> bool {
    let upgrade = request.headers().get_all(UPGRADE);
    request.version() == Version::HTTP_11
        && upgrade.iter().next().is_some()
        && !upgrade
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|protocol| protocol.trim().eq_ignore_ascii_case("h2c"))
        && request
            .headers()
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// Once both sides have switched, copies bytes between them until one closes. The
/// tunnel holds its connection (`conn`): the connection slot stays taken and Finish
/// runs only when the tunnel ends.
pub(crate) fn tunnel(client: OnUpgrade, upstream: OnUpgrade, conn: Arc<Conn>) {
    tokio::spawn(async move {
        let _conn = conn;
        let (client, upstream) = match tokio::join!(client, upstream) {
            (Ok(client), Ok(upstream)) => (client, upstream),
            (Err(error), _) | (_, Err(error)) => {
                tracing::debug!(%error, "upgrade did not complete");
                return;
            }
        };
        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(%error, "tunnel ended with an error");
        }
    });
}
