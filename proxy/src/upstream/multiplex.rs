//! HTTP/2 to a backend (`protocol = "h2c"` or `"h2"`): a few connections shared by
//! many requests at once, each carrying at most `h2_max_streams_per_connection`
//! streams; more requests open another connection.
//!
//! Internal: the proxy counts the streams of each connection itself (a [`StreamSlot`]
//! held by the response body), so that "more connections beyond the limit" holds:
//! HTTP/2 alone would queue the streams above the server's own limit on one connection.
//! A request takes the oldest connection with a free slot. Connections with no stream
//! are closed once idle past the pool's idle timeout.

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use http::header::{HOST, TE};
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request, Uri, Version};
use http_body::Body;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::error::ConnectFailed;
use super::transport::Transport;
use super::Timeouts;

/// One shared HTTP/2 connection.
pub(crate) struct H2Conn<B> {
    pub(crate) sender: SendRequest<B>,
    /// Streams open on it now.
    streams: AtomicU32,
    /// When its last stream ended (for the idle timeout).
    idle_since: Mutex<Instant>,
    /// Whether one of its streams already reported the connection's loss.
    loss_reported: AtomicBool,
}

/// A stream counted on its connection until dropped (with the response body).
pub struct StreamSlot {
    streams: Arc<dyn StreamCount>,
}

trait StreamCount: Send + Sync {
    fn release(&self);
    fn report_loss(&self) -> bool;
}

impl<B: Send + 'static> StreamCount for H2Conn<B> {
    fn report_loss(&self) -> bool {
        !self.loss_reported.swap(true, Ordering::AcqRel)
    }

    fn release(&self) {
        if self.streams.fetch_sub(1, Ordering::AcqRel) == 1 {
            *self
                .idle_since
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        }
    }
}

impl StreamSlot {
    /// Whether this stream is the first of its connection to report that the
    /// connection was lost: a lost connection fails every stream on it, and counts
    /// once against its backend.
    pub(crate) fn first_to_report_loss(&self) -> bool {
        self.streams.report_loss()
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.streams.release();
    }
}

impl std::fmt::Debug for StreamSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamSlot")
    }
}

/// Whether `error` (a stream's) is the loss of its whole connection (I/O failed, or the
/// backend went away), rather than a reset of that stream alone.
pub(crate) fn connection_lost(error: &hyper::Error) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(error) = next {
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            return h2.is_io() || h2.is_go_away();
        }
        if error.is::<io::Error>() {
            return true;
        }
        next = error.source();
    }
    false
}

/// One backend's HTTP/2 connections.
pub(crate) struct H2Conns<B> {
    conns: Mutex<Vec<Arc<H2Conn<B>>>>,
    max_streams: u32,
    /// Held while a connection is opened, so that a burst opens one, not one each.
    opening: tokio::sync::Mutex<()>,
}

impl<B: Body + Send + Unpin + 'static> H2Conns<B>
where
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    pub(crate) fn new(max_streams: u32) -> H2Conns<B> {
        H2Conns {
            conns: Mutex::new(Vec::new()),
            max_streams: max_streams.max(1),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    /// A sender on a connection with a free stream, and its slot; `None` if every open
    /// connection is full (or there is none).
    fn take(&self) -> Option<(SendRequest<B>, StreamSlot)> {
        let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        conns.retain(|c| !c.sender.is_closed());
        let conn = conns
            .iter()
            .find(|c| c.streams.load(Ordering::Acquire) < self.max_streams)?;
        conn.streams.fetch_add(1, Ordering::AcqRel);
        let slot = StreamSlot {
            streams: Arc::clone(conn) as Arc<dyn StreamCount>,
        };
        Some((conn.sender.clone(), slot))
    }

    /// A sender with a stream slot: on an open connection with room, else on a new
    /// one (a single handshake at a time per backend).
    pub(crate) async fn checkout(
        &self,
        addr: SocketAddr,
        transport: &Transport,
        timeouts: Timeouts,
    ) -> io::Result<(SendRequest<B>, StreamSlot)> {
        if let Some(taken) = self.take() {
            return Ok(taken);
        }
        let _opening = self.opening.lock().await;
        if let Some(taken) = self.take() {
            return Ok(taken);
        }
        let sender = connect(addr, transport, timeouts).await?;
        let conn = Arc::new(H2Conn {
            sender,
            streams: AtomicU32::new(1),
            idle_since: Mutex::new(Instant::now()),
            loss_reported: AtomicBool::new(false),
        });
        let slot = StreamSlot {
            streams: Arc::clone(&conn) as Arc<dyn StreamCount>,
        };
        let sender = conn.sender.clone();
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        Ok((sender, slot))
    }

    /// Closes the connections without a stream idle since before `deadline`.
    pub(crate) fn sweep(&self, idle_timeout: std::time::Duration) {
        let now = Instant::now();
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|c| {
                let idle = c.streams.load(Ordering::Acquire) == 0
                    && now.saturating_duration_since(
                        *c.idle_since.lock().unwrap_or_else(PoisonError::into_inner),
                    ) >= idle_timeout;
                !idle && !c.sender.is_closed()
            });
    }
}

/// Connects to `addr` over `transport` (TLS with ALPN `h2` for an `h2` cluster, plain
/// TCP for `h2c`) within `timeouts.connect`, does the HTTP/2 handshake and spawns the
/// connection task.
async fn connect<B>(
    addr: SocketAddr,
    transport: &Transport,
    timeouts: Timeouts,
) -> io::Result<SendRequest<B>>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let stream = transport.open(addr, timeouts, false).await?;
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .adaptive_window(true)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|error| ConnectFailed::io(addr, io::Error::other(error)))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(backend = %addr, error = ?error, "upstream HTTP/2 connection ended");
        }
    });
    Ok(sender)
}

/// `request`, as the proxy forwards it over HTTP/1.1, in HTTP/2 form: the authority
/// (the `Host` the proxy forwards) and the scheme in the URI, no `Host` header, and
/// `te: trailers` for a gRPC request (gRPC servers require it; the proxy passes
/// trailers on).
pub(crate) fn h2_form<B>(request: &mut Request<B>, tls: bool, addr: SocketAddr) {
    let authority = request
        .headers_mut()
        .remove(HOST)
        .and_then(|host| Authority::try_from(host.as_bytes()).ok())
        .or_else(|| request.uri().authority().cloned())
        .or_else(|| Authority::try_from(addr.to_string()).ok());
    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    let uri = Uri::builder()
        .scheme(if tls { Scheme::HTTPS } else { Scheme::HTTP })
        .path_and_query(path);
    let uri = match authority {
        Some(authority) => uri.authority(authority),
        None => uri,
    };
    if let Ok(uri) = uri.build() {
        *request.uri_mut() = uri;
    }
    *request.version_mut() = Version::HTTP_2;
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|ct| hookgate_plugin_api::body::is_grpc(ct.as_bytes()));
    if grpc {
        request
            .headers_mut()
            .insert(TE, HeaderValue::from_static("trailers"));
    }
}
