//! Opening a new HTTP/1.1 connection to a backend, over TCP or TLS.

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;

use http_body::Body;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use super::error::ConnectFailed;
use super::transport::Transport;
use super::Timeouts;

/// Whether the connection may switch protocols after a 101.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Upgrades {
    /// Keep-alive HTTP/1.1 only.
    No,
    /// A 101 hands the socket over to `hyper::upgrade::on`.
    Yes,
}

/// Connects to `addr` (`TCP_NODELAY`; with the TLS handshake if `transport` says so;
/// both within `timeouts.connect`), does the HTTP/1 handshake and spawns the
/// connection task; writes that stall for `timeouts.send` fail the connection. Errors
/// name the backend (and a TLS failure's cause: [`TlsFailure::of`](super::TlsFailure::of)).
pub(crate) async fn connect<B>(
    addr: SocketAddr,
    transport: &Transport,
    timeouts: Timeouts,
    upgrades: Upgrades,
) -> io::Result<SendRequest<B>>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let stream = transport.open(addr, timeouts, true).await?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| ConnectFailed::io(addr, io::Error::other(error)))?;
    match upgrades {
        Upgrades::No => {
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(backend = %addr, %error, "upstream connection ended");
                }
            });
        }
        Upgrades::Yes => {
            tokio::spawn(async move {
                if let Err(error) = connection.with_upgrades().await {
                    tracing::debug!(backend = %addr, %error, "upstream connection ended");
                }
            });
        }
    }
    Ok(sender)
}

/// The `Connect` source for a new connection that closed before the request was
/// written to it.
pub(crate) fn closed_before_sending(addr: SocketAddr, error: hyper::Error) -> io::Error {
    ConnectFailed::io(
        addr,
        io::Error::new(io::ErrorKind::ConnectionAborted, error),
    )
}
