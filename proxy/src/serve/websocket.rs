//! HTTP/1.1 Upgrade (WebSocket): the request callbacks run before the upgrade, like for
//! any request (so auth and block plugins protect WebSocket endpoints too); after the
//! backend's 101, bytes are tunnelled both ways until either side closes.

use http::header::{CONNECTION, UPGRADE};
use http::{Request, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

use super::connection::Conn;

/// Whether the request asks to switch protocols (`Connection: upgrade` + `Upgrade`).
pub(crate) fn is_upgrade<B>(request: &Request<B>) -> bool {
    request.version() == Version::HTTP_11
        && request.headers().contains_key(UPGRADE)
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
