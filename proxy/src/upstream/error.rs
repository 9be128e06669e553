//! [`UpstreamError`]: how far a request got before the backend failed it.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::SocketAddr;

use super::tls::TlsFailure;

/// Why [`Connections::send`](super::Connections::send) returned no response.
///
/// The variants follow the retry rules of DESIGN §3: after `Connect` the request can be
/// sent to another backend as it is; after `Timeout` or `Failed` it was (at least
/// partly) sent, so only an idempotent request without a body may be retried.
// The request comes back by value, as the retry loop wants it; boxing it would only
// move the size from the stack to an allocation on a path that is already slow.
#[allow(clippy::large_enum_variant)]
pub enum UpstreamError<B> {
    /// Nothing was sent: the TCP connect (or the HTTP/1 handshake on a new connection)
    /// failed or timed out. `request` is given back untouched, body included.
    Connect {
        /// The request, as it was passed to `send`.
        request: http::Request<B>,
        /// Why; its message names the backend (`connect to 10.0.0.1:80: connection
        /// refused`) and its kind is the underlying one (`ConnectionRefused`,
        /// `TimedOut`, ...).
        source: io::Error,
    },
    /// The request was (at least partly) sent but no response head came within the
    /// response timeout. The connection has been closed.
    Timeout,
    /// A reused pooled connection failed before any response byte: the backend had
    /// closed it while it idled (a race any keep-alive client meets). An idempotent
    /// request without a body can go again on a fresh connection to the same backend,
    /// and the backend is not to blame.
    Stale {
        /// hyper's error.
        source: hyper::Error,
    },
    /// The connection failed after the request was sent, or the backend's response was
    /// not valid HTTP.
    Failed {
        /// hyper's error.
        source: hyper::Error,
        /// The backend sent something that is not a valid HTTP/1 response head (a
        /// parse error), as opposed to a connection that broke.
        invalid_response: bool,
    },
}

impl<B> UpstreamError<B> {
    pub(crate) fn failed(source: hyper::Error) -> UpstreamError<B> {
        let invalid_response = source.is_parse();
        UpstreamError::Failed {
            source,
            invalid_response,
        }
    }
}

// Internal: Debug and Display are written by hand so that they do not require
// `B: Debug`; the request is shown by its head only.
impl<B> fmt::Debug for UpstreamError<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::Connect { request, source } => f
                .debug_struct("Connect")
                .field("method", request.method())
                .field("uri", request.uri())
                .field("source", source)
                .finish_non_exhaustive(),
            UpstreamError::Timeout => f.write_str("Timeout"),
            UpstreamError::Stale { source } => {
                f.debug_struct("Stale").field("source", source).finish()
            }
            UpstreamError::Failed {
                source,
                invalid_response,
            } => f
                .debug_struct("Failed")
                .field("source", source)
                .field("invalid_response", invalid_response)
                .finish(),
        }
    }
}

impl<B> fmt::Display for UpstreamError<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Already reads "connect to ADDR: cause".
            UpstreamError::Connect { source, .. } => fmt::Display::fmt(source, f),
            UpstreamError::Timeout => {
                f.write_str("backend sent no response head within the response timeout")
            }
            UpstreamError::Stale { source } => {
                write!(
                    f,
                    "reused backend connection closed before a response: {source}"
                )
            }
            UpstreamError::Failed {
                source,
                invalid_response: true,
            } => write!(f, "invalid response from backend: {source}"),
            UpstreamError::Failed { source, .. } => {
                write!(f, "backend connection failed: {source}")
            }
        }
    }
}

impl<B> StdError for UpstreamError<B> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            // Transparent: `source` already printed its own message, so the chain goes
            // on with its cause.
            UpstreamError::Connect { source, .. } => source.source(),
            UpstreamError::Timeout => None,
            UpstreamError::Failed { source, .. } | UpstreamError::Stale { source } => Some(source),
        }
    }
}

/// The payload of a [`UpstreamError::Connect`] source: names the backend.
#[derive(Debug, thiserror::Error)]
#[error("connect to {addr}: {source}")]
pub(crate) struct ConnectFailed {
    addr: SocketAddr,
    source: io::Error,
}

impl ConnectFailed {
    /// `source` with the backend named, keeping its kind.
    pub(crate) fn io(addr: SocketAddr, source: io::Error) -> io::Error {
        io::Error::new(source.kind(), ConnectFailed { addr, source })
    }
}

/// The TLS cause of a [`UpstreamError::Connect`] source, if its handshake failed.
pub fn tls_failure(source: &io::Error) -> Option<TlsFailure> {
    let failed = source.get_ref()?.downcast_ref::<ConnectFailed>()?;
    TlsFailure::of(&failed.source)
}
