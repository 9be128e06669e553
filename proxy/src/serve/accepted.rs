//! An accepted TCP connection served to its end: Accept before anything is read; on
//! TLS listeners the handshake, then Handshake; then HTTP/1.1 or HTTP/2
//! ([`protocol`](super::protocol)), each request living its life in
//! [`life`](super::life); Finish when the [`Conn`] is dropped.

use std::sync::Arc;

use hookgate_plugin_api::AcceptPoint;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::server::ConnectionSlot;
use tokio_rustls::TlsAcceptor;

use super::activity::Watched;
use super::connection::Conn;
use super::protocol::{self, Protocol};
use crate::snapshot::Snapshot;
use crate::write_timeout::WriteTimeout;
use arc_swap::ArcSwap;

/// Serves one accepted TCP connection to its end.
pub async fn serve_connection(
    tcp: TcpStream,
    slot: Option<ConnectionSlot>,
    id: u64,
    listener: Arc<str>,
    tls: Option<TlsAcceptor>,
    current: Arc<ArcSwap<Snapshot>>,
    shutdown: watch::Receiver<bool>,
) {
    let (Ok(peer), Ok(local)) = (tcp.peer_addr(), tcp.local_addr()) else {
        return;
    };
    let _ = tcp.set_nodelay(true);
    // The connection's own configuration (its session points, its timeouts): the
    // one current at accept.
    let snapshot = current.load_full();
    let conn = Arc::new(Conn::new(
        snapshot,
        current,
        id,
        peer,
        local,
        listener,
        tls.is_some(),
        slot,
    ));
    if !conn.session_point(AcceptPoint::Accept) {
        return;
    }
    let timeouts = conn.snapshot.edge.timeouts;
    let Some(acceptor) = tls else {
        let io = Watched::new(
            WriteTimeout::new(tcp, timeouts.send),
            Arc::clone(&conn.activity),
        );
        return protocol::serve(io, Protocol::Sniff, conn, shutdown).await;
    };
    // The handshake counts against the header timeout, from accept. Boxed, as the
    // TLS connection's serving below: the task of every connection is as large as its
    // largest state, and a TLS session inline would make plain connections pay for it
    // while they idle.
    let deadline = conn.activity.accepted_at() + timeouts.header;
    let stream = match tokio::time::timeout_at(deadline, Box::pin(acceptor.accept(tcp))).await {
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
        let info = crate::tls::tls_info(stream.get_ref().1, id);
        let protocol = Protocol::of_alpn(info.alpn.as_deref());
        if let Some(sni) = info.sni.as_deref() {
            let _ = conn.sni.set(sni.into());
        }
        let mut session = conn.lock_session();
        session.protocol = match protocol {
            Protocol::Http2 => "h2",
            _ => "https",
        };
        session.tls = Some(info);
        protocol
    };
    if !conn.session_point(AcceptPoint::Handshake) {
        return;
    }
    let io = Watched::new(
        WriteTimeout::new(stream, timeouts.send),
        Arc::clone(&conn.activity),
    );
    Box::pin(protocol::serve(io, protocol, conn, shutdown)).await
}
