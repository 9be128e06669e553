//! The upstream side: connections to backends, over TCP or TLS (`transport`, `tls`: a
//! cluster's `tls` table): HTTP/1.1 pooled and reused with keep-alive, or HTTP/2
//! shared by concurrent requests (`multiplex`, for `protocol = "h2c"` or `"h2"`).
//!
//! [`Connections::send`] forwards one request to one backend:
//!
//! 1. it takes the backend's most recently used idle connection that is ready
//!    (`pool`; waiting a moment for one whose previous exchange is just finishing), or
//!    opens one (`connect`: TCP with `TCP_NODELAY`, then the TLS handshake if the
//!    backend's cluster has `tls`, both bounded by the connect timeout);
//! 2. it hands the request to hyper and waits for the response head, bounded by the
//!    response timeout (`exchange`);
//! 3. it returns the response with an [`UpstreamBody`], which streams from the backend
//!    and, once it has ended cleanly, puts the connection back in the pool (`body`).
//!
//! Bodies stream both ways; nothing is buffered. A failure says how far the request
//! got ([`UpstreamError`]), which is what the retry rules of DESIGN §3 need: after a
//! connect failure the request comes back untouched, streamed body included, for the
//! next backend. A pooled connection found closed before the request was written to it
//! (the backend dropped it while idle) is replaced by a new one without the caller
//! noticing; this is possible because the request body is only handed to hyper once a
//! sender is known ready, and hyper gives back a request it did not start writing
//! (`request_body` makes it the caller's type again).
//!
//! Requests carrying `Upgrade` (WebSocket) get a connection of their own, opened with
//! upgrades enabled and never pooled, so that `hyper::upgrade::on` works on a 101.

mod body;
mod connect;
mod error;
mod exchange;
mod multiplex;
mod pool;
mod request_body;
#[cfg(test)]
mod tests;
mod tls;
mod transport;

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, UPGRADE};
use http::{Request, Response, Version};
use hyper::body::Incoming;

use crate::config::ClusterConfig;

pub use body::{ReadTimeout, UpstreamBody};
pub use error::{tls_failure, UpstreamError};
pub use tls::{tls_cause, BackendTls, TlsConfigError, TlsFailure};
pub use transport::Transport;

use connect::{connect, Upgrades};
use exchange::{exchange, Exchange};
pub use pool::PoolSettings;
use pool::{Pool, Sender};
use request_body::{BodySent, RequestBody};

/// The connections to one backend: its pool of idle HTTP/1.1 connections, or its
/// shared HTTP/2 connections, and how they are made.
///
/// Each [`Backend`](crate::balance::Backend) owns one, so connections live as long as
/// the backend does: across re-resolutions of a backend given by name that keep its
/// address. `Send + Sync`; there is no lock shared by all requests: each backend's
/// pool has its own, held for a push or a pop.
pub struct Connections {
    /// Where the backend is.
    addr: SocketAddr,
    /// `Arc` because a response body hands its connection back after `send` has
    /// returned.
    pool: Arc<Pool>,
}

/// How the proxy talks to one backend.
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    /// Its idle connections (HTTP/1.1).
    pub pool: PoolSettings,
    /// TCP or TLS.
    pub transport: Transport,
    /// HTTP/2, with at most this many streams per connection; `None`: HTTP/1.1.
    pub h2_max_streams: Option<u32>,
}

impl Endpoint {
    /// How the proxy talks to the backend at `addr` (given by the name `host`, if it
    /// was) of a cluster with `config`.
    pub fn of(config: &ClusterConfig, addr: SocketAddr, host: Option<&str>) -> Endpoint {
        Endpoint {
            pool: PoolSettings {
                idle_timeout: Duration::from_millis(config.pool_idle_timeout_ms),
                max_idle: config.pool_max_idle_per_backend,
            },
            transport: Transport::of(config.tls_loaded.as_ref(), addr, host),
            h2_max_streams: config
                .protocol
                .is_h2()
                .then_some(config.h2_max_streams_per_connection),
        }
    }
}

/// Time limits of one attempt to one backend.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// For the TCP connect of a new connection.
    pub connect: Duration,
    /// From the end of the request body to the response head.
    pub response: Duration,
    /// Between two reads of the response body.
    pub read: Duration,
    /// Between two writes of the request body (or the head).
    pub send: Duration,
}

impl Connections {
    /// The connections to the backend at `addr`, made as `endpoint` says.
    pub fn new(addr: SocketAddr, endpoint: Endpoint) -> Connections {
        Connections {
            addr,
            pool: Arc::new(Pool::new(
                endpoint.pool,
                endpoint.transport,
                endpoint.h2_max_streams,
            )),
        }
    }

    /// Plain HTTP/1.1 over TCP to `addr`, with the default pool settings.
    pub fn plain(addr: SocketAddr) -> Connections {
        Connections::new(addr, Endpoint::default())
    }

    /// Closes the connections idle for longer than the pool's idle timeout (the
    /// running proxy calls this every second).
    pub fn sweep(&self) {
        self.pool.sweep();
    }

    /// How they are made.
    pub fn transport(&self) -> &Transport {
        &self.pool.transport
    }

    /// Sends `request` to the backend.
    ///
    /// `request` is already rewritten by the caller: origin-form URI, `Host` set,
    /// hop-by-hop headers removed (except `Connection: upgrade` and `Upgrade` for an
    /// upgrade).
    ///
    /// Reuses an idle pooled connection when one is ready (closed ones are dropped),
    /// else connects (`TCP_NODELAY`, bounded by `timeouts.connect`); then waits at most
    /// `timeouts.response` for the response head. If the request carries `Upgrade`, the
    /// connection is new, has upgrades enabled and is never pooled, so the caller can
    /// use `hyper::upgrade::on(&mut response)` on a 101.
    ///
    /// The returned response's body streams from the backend; the connection is reused
    /// only once that body has ended cleanly (see [`UpstreamBody`]).
    ///
    /// # Errors
    ///
    /// [`UpstreamError::Connect`] (with the request given back) when nothing was sent,
    /// [`UpstreamError::Timeout`] when the response head was late,
    /// [`UpstreamError::Stale`] when a reused connection failed before a response,
    /// [`UpstreamError::Failed`] when the exchange broke after sending or the response
    /// was not valid HTTP.
    pub async fn send<B>(
        &self,
        request: Request<B>,
        timeouts: Timeouts,
    ) -> Result<Response<UpstreamBody>, UpstreamError<B>>
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let (addr, pool) = (self.addr, &self.pool);
        if request.headers().contains_key(UPGRADE) {
            return send_unpooled(addr, &pool.transport, request, timeouts, Upgrades::Yes).await;
        }
        if let Some(h2) = &pool.h2 {
            return send_h2(h2, addr, &pool.transport, request, timeouts).await;
        }

        let mut request = request;
        if let Some(mut sender) = checkout(pool).await {
            let sent = BodySent::default();
            let erased = request.map(|body| RequestBody::new(body, sent.clone()));
            match exchange(&mut sender, erased, timeouts.response, &sent).await {
                Exchange::Response(response) => {
                    return Ok(pooled_response(response, sender, pool, timeouts.read));
                }
                Exchange::Unsent(unsent, error) => {
                    tracing::debug!(
                        backend = %addr,
                        %error,
                        "pooled connection closed before the request was written; using a new one"
                    );
                    request = match recover(unsent) {
                        Some(request) => request,
                        None => return Err(UpstreamError::failed(error)),
                    };
                }
                Exchange::Timeout => return Err(UpstreamError::Timeout),
                // No response head on a reused connection: it was closed (or reset)
                // under the request, unless what came was not HTTP.
                Exchange::Failed(error) if !error.is_parse() => {
                    return Err(UpstreamError::Stale { source: error })
                }
                Exchange::Failed(error) => return Err(UpstreamError::failed(error)),
            }
        }

        let mut sender: Sender = match connect(addr, &pool.transport, timeouts, Upgrades::No).await
        {
            Ok(sender) => sender,
            Err(source) => return Err(UpstreamError::Connect { request, source }),
        };
        let sent = BodySent::default();
        let erased = request.map(|body| RequestBody::new(body, sent.clone()));
        match exchange(&mut sender, erased, timeouts.response, &sent).await {
            Exchange::Response(response) => {
                Ok(pooled_response(response, sender, pool, timeouts.read))
            }
            Exchange::Unsent(unsent, error) => match recover(unsent) {
                Some(request) => Err(UpstreamError::Connect {
                    request,
                    source: connect::closed_before_sending(addr, error),
                }),
                None => Err(UpstreamError::failed(error)),
            },
            Exchange::Timeout => Err(UpstreamError::Timeout),
            Exchange::Failed(error) => Err(UpstreamError::failed(error)),
        }
    }
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// A pooled connection ready for a request, if there is one.
///
/// A connection whose response body has just ended goes back to the pool at once, but
/// hyper's connection task (possibly on another thread) marks it ready a moment later.
/// Rather than open a new connection for that moment, a request that finds no ready
/// connection waits up to [`SETTLE`] for the most recently used open one. A connection
/// that stays busy longer (the backend answered before the request body was fully
/// sent, and the upload goes on) goes back to the pool.
async fn checkout(pool: &Pool) -> Option<Sender> {
    let mut sender = pool.checkout()?;
    if sender.is_ready() {
        return Some(sender);
    }
    match tokio::time::timeout(SETTLE, sender.ready()).await {
        Ok(Ok(())) => Some(sender),
        Ok(Err(_closed)) => None,
        Err(_busy) => {
            pool.checkin(sender);
            None
        }
    }
}

/// How long a request waits for a pooled connection to become ready before opening a
/// new one: a thread hop, with room to spare.
const SETTLE: Duration = Duration::from_millis(1);

/// One request on a new connection that is not pooled afterwards.
async fn send_unpooled<B>(
    addr: SocketAddr,
    transport: &Transport,
    request: Request<B>,
    timeouts: Timeouts,
    upgrades: Upgrades,
) -> Result<Response<UpstreamBody>, UpstreamError<B>>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut sender = match connect::<RequestBody>(addr, transport, timeouts, upgrades).await {
        Ok(sender) => sender,
        Err(source) => return Err(UpstreamError::Connect { request, source }),
    };
    let sent = BodySent::default();
    let erased = request.map(|body| RequestBody::new(body, sent.clone()));
    // The sender may be dropped with the response in hand: hyper still finishes the
    // response (and a 101 hands the socket to `hyper::upgrade::on`), then closes.
    match exchange(&mut sender, erased, timeouts.response, &sent).await {
        Exchange::Response(response) => {
            Ok(response.map(|incoming| UpstreamBody::unpooled(incoming, timeouts.read)))
        }
        Exchange::Unsent(unsent, error) => match recover(unsent) {
            Some(request) => Err(UpstreamError::Connect {
                request,
                source: connect::closed_before_sending(addr, error),
            }),
            None => Err(UpstreamError::failed(error)),
        },
        Exchange::Timeout => Err(UpstreamError::Timeout),
        Exchange::Failed(error) => Err(UpstreamError::failed(error)),
    }
}

/// One request on a shared HTTP/2 connection (`h2c` or `h2` clusters).
async fn send_h2<B>(
    conns: &multiplex::H2Conns<RequestBody>,
    addr: SocketAddr,
    transport: &Transport,
    mut request: Request<B>,
    timeouts: Timeouts,
) -> Result<Response<UpstreamBody>, UpstreamError<B>>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    multiplex::h2_form(&mut request, !matches!(transport, Transport::Tcp), addr);
    // A connection found closing (GOAWAY) before the request went out: once more on a
    // fresh one.
    let mut again = false;
    loop {
        let (mut sender, slot) = match conns.checkout(addr, transport, timeouts).await {
            Ok(taken) => taken,
            Err(source) => return Err(UpstreamError::Connect { request, source }),
        };
        let sent = BodySent::default();
        let erased = request.map(|body| RequestBody::new(body, sent.clone()));
        match exchange(&mut sender, erased, timeouts.response, &sent).await {
            Exchange::Response(response) => {
                let read = timeouts.read;
                return Ok(
                    response.map(|incoming| UpstreamBody::streamed(incoming, Some(slot), read))
                );
            }
            Exchange::Unsent(unsent, error) => {
                request = match recover(unsent) {
                    Some(request) => request,
                    None => return Err(UpstreamError::failed(error)),
                };
                if again {
                    return Err(UpstreamError::Connect {
                        request,
                        source: connect::closed_before_sending(addr, error),
                    });
                }
                again = true;
            }
            Exchange::Timeout => return Err(UpstreamError::Timeout),
            // The connection itself was lost: every stream on it fails, and only the
            // first counts against the backend (the others are like a pooled
            // connection found closed).
            Exchange::Failed(error)
                if multiplex::connection_lost(&error) && !slot.first_to_report_loss() =>
            {
                return Err(UpstreamError::Stale { source: error })
            }
            Exchange::Failed(error) => return Err(UpstreamError::failed(error)),
        }
    }
}

/// The response, with a body that hands the connection back to `pool` when it ends,
/// unless the backend said it closes the connection.
fn pooled_response(
    response: Response<Incoming>,
    sender: Sender,
    pool: &Arc<Pool>,
    read_timeout: Duration,
) -> Response<UpstreamBody> {
    if keeps_alive(&response) {
        let pool = Arc::clone(pool);
        response.map(|incoming| UpstreamBody::pooled(incoming, sender, pool, read_timeout))
    } else {
        response.map(|incoming| UpstreamBody::unpooled(incoming, read_timeout))
    }
}

/// Whether the backend keeps the connection open after `response` (RFC 9112 §9.3).
fn keeps_alive(response: &Response<Incoming>) -> bool {
    let has = |token: &str| crate::header_list::has(response.headers(), CONNECTION, token);
    match response.version() {
        Version::HTTP_11 => !has("close"),
        Version::HTTP_10 => has("keep-alive") && !has("close"),
        _ => false,
    }
}

/// The caller's request back from its erased form.
///
/// `None` cannot happen: the body was erased from a `B` within the same `send` call.
/// Should it happen anyway, the caller gets a `Failed` error instead of a panic.
fn recover<B: 'static>(request: Request<RequestBody>) -> Option<Request<B>> {
    let (head, body) = request.into_parts();
    body.into_inner::<B>()
        .map(|body| Request::from_parts(head, body))
}
