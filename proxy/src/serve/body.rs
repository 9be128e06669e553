//! Bodies on their way through: [`ProxyBody`], what the client receives, with the hook
//! that runs RequestFinish once it has been sent (or sending failed); and
//! [`ClientBody`], what the backend receives of the client's body, counted against
//! the body limit, with its client-side failures recorded in a [`ClientFault`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::activity::InFlight;
use super::body_read::Prefixed;
use super::compress::Compressed;
use super::incoming::IncomingBody;
use crate::balance::ActiveRequest;
use crate::error::ProxyError;
use crate::upstream::UpstreamBody;

/// Errors a response body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the bytes of a response come from.
pub enum BodyKind {
    /// Nothing.
    Empty,
    /// Bytes held in memory (a plugin's reply, a redirect, an error page).
    Full(Option<Bytes>),
    /// Streamed from the backend.
    Upstream(UpstreamBody),
    /// Streamed from the backend after the bytes read for ResponseBody (a body longer
    /// than every asking plugin's limit, which they skip).
    Prefixed(Box<Prefixed<UpstreamBody>>),
    /// Another body, compressed as it streams (the product's `compress`).
    Compressed(Box<Compressed<BodyKind>>),
}

impl BodyKind {
    /// What is known of the body's length.
    pub fn size_hint(&self) -> SizeHint {
        match self {
            BodyKind::Empty => SizeHint::with_exact(0),
            BodyKind::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            BodyKind::Upstream(body) => body.size_hint(),
            BodyKind::Prefixed(body) => body.size_hint(),
            BodyKind::Compressed(body) => body.size_hint(),
        }
    }

    /// A body of these bytes.
    pub fn full(bytes: impl Into<Bytes>) -> BodyKind {
        let bytes = bytes.into();
        if bytes.is_empty() {
            BodyKind::Empty
        } else {
            BodyKind::Full(Some(bytes))
        }
    }
}

/// The response body handed to the codec. When the codec drops it (sent, or the
/// client went away), its [`WhenSent`] runs: the request's RequestFinish.
pub struct ProxyBody {
    kind: BodyKind,
    when_sent: Option<Box<dyn WhenSent>>,
    /// Keeps the backend counted as busy (least_conn) until the body is done.
    _active: Option<ActiveRequest>,
    /// Keeps the request in flight on its connection until the body is done.
    _in_flight: Option<InFlight>,
}

/// What runs once a response body is done. A trait, so that bodies know nothing of
/// the life of a request (which implements it).
pub(crate) trait WhenSent: Send {
    /// The body has been sent, or sending it failed.
    fn sent(self: Box<Self>);
}

impl ProxyBody {
    /// A body of this kind; `when_sent` runs when it is dropped.
    pub(crate) fn new(
        kind: BodyKind,
        when_sent: Option<Box<dyn WhenSent>>,
        active: Option<ActiveRequest>,
        in_flight: Option<InFlight>,
    ) -> ProxyBody {
        ProxyBody {
            kind,
            when_sent,
            _active: active,
            _in_flight: in_flight,
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        if let Some(when_sent) = self.when_sent.take() {
            when_sent.sent();
        }
    }
}

impl Body for BodyKind {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Every variant is Unpin, so BodyKind is too.
        match self.get_mut() {
            BodyKind::Empty => Poll::Ready(None),
            BodyKind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            BodyKind::Upstream(body) => Pin::new(body).poll_frame(cx),
            BodyKind::Prefixed(body) => Pin::new(&mut **body).poll_frame(cx),
            BodyKind::Compressed(body) => Pin::new(&mut **body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            BodyKind::Empty => true,
            BodyKind::Full(bytes) => bytes.is_none(),
            BodyKind::Upstream(body) => body.is_end_stream(),
            BodyKind::Prefixed(body) => body.is_end_stream(),
            BodyKind::Compressed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        BodyKind::size_hint(self)
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().kind).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.kind.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.kind.size_hint()
    }
}

/// The request body sent upstream: the client's stream, or nothing (a retry of a
/// request that had no body), or what was read of it for RequestBody.
pub enum ClientBody {
    /// The client's body, counted against the request's body limit.
    Stream(Box<ClientStream>),
    /// No body.
    Empty,
    /// The whole body, read for RequestBody (and perhaps replaced there): sent from
    /// memory, so it can be sent again on a retry. Boxed: a request body is moved
    /// with every request, and most have none of this.
    Read(Option<Box<Bytes>>),
    /// The bytes read for RequestBody, then the rest of the client's stream (a body
    /// longer than every asking plugin's limit, which they skip).
    Prefixed(Box<Prefixed<ClientBody>>),
}

/// The client's body as the backend receives it: at most `left` more bytes, at most
/// the body timeout between two reads; failures recorded in `fault`.
pub struct ClientStream {
    body: IncomingBody,
    left: u64,
    timeout: Duration,
    /// Armed while waiting for the client; kept once made.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
    fault: ClientFault,
}

impl ClientBody {
    /// A copy to send again after this one was sent, if the body allows it: none, or
    /// read whole into memory.
    pub(crate) fn replay(&self) -> Option<ClientBody> {
        match self {
            ClientBody::Empty => Some(ClientBody::Empty),
            ClientBody::Read(bytes) => Some(ClientBody::Read(bytes.clone())),
            ClientBody::Stream(stream) if stream.body.is_end_stream() => Some(ClientBody::Empty),
            ClientBody::Stream(_) | ClientBody::Prefixed(_) => None,
        }
    }

    /// The client's `body`, at most `limit` bytes of it, with at most `timeout` between
    /// two reads.
    pub(crate) fn new(
        body: IncomingBody,
        limit: u64,
        timeout: Duration,
        fault: ClientFault,
    ) -> ClientBody {
        ClientBody::Stream(Box::new(ClientStream {
            body,
            left: limit,
            timeout,
            sleep: None,
            armed: false,
            fault,
        }))
    }
}

/// The first failure of a request body that is the client's fault (too large,
/// broken framing, cut short, reset), shared by the body, which records it, and the
/// forwarding loop, which reads it when an attempt fails: a backend exchange that
/// failed because of its client is not the backend's failure.
//
// Internal: `None` for a request without a body (most of them), which cannot fail,
// so that they cost no allocation.
#[derive(Clone, Default)]
pub struct ClientFault(Option<Arc<AtomicUsize>>);

impl ClientFault {
    /// A place to record the failures of `body`.
    pub(crate) fn of(body: &IncomingBody) -> ClientFault {
        ClientFault((!body.is_end_stream()).then(Arc::default))
    }

    fn set(&self, error: ProxyError) {
        if let Some(cell) = &self.0 {
            let _ =
                cell.compare_exchange(0, error.index() + 1, Ordering::AcqRel, Ordering::Acquire);
        }
    }

    /// The recorded failure, if any.
    pub(crate) fn get(&self) -> Option<ProxyError> {
        let index = self.0.as_ref()?.load(Ordering::Acquire).checked_sub(1)?;
        ProxyError::ALL.get(index).copied()
    }
}

/// Which client error a failed read of the request body is: the peer going away
/// (reset, broken connection, HTTP/2 stream reset) or anything else (bad chunk
/// framing, a body shorter than its length: `InvalidInput`, `InvalidData`,
/// `UnexpectedEof`).
fn client_error_of(error: &(dyn std::error::Error + 'static)) -> ProxyError {
    let mut source = Some(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe => ProxyError::ClientClosed,
                _ => ProxyError::BadBody,
            };
        }
        if let Some(h2) = cause.downcast_ref::<h2::Error>() {
            return if h2.is_reset() || h2.is_go_away() || h2.is_io() {
                ProxyError::ClientClosed
            } else {
                ProxyError::BadBody
            };
        }
        source = cause.source();
    }
    ProxyError::BadBody
}

/// The error a body ends with when it grows past its limit.
#[derive(Debug, thiserror::Error)]
#[error("request body larger than max_body_bytes")]
struct TooLarge;

/// The error a body ends with when the client sends nothing for the body timeout.
#[derive(Debug, thiserror::Error)]
#[error("no request body data for {0:?} (body timeout)")]
struct BodyTimedOut(Duration);

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let stream = match self.get_mut() {
            ClientBody::Stream(stream) => stream,
            ClientBody::Empty => return Poll::Ready(None),
            ClientBody::Read(bytes) => {
                return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(*b))));
            }
            ClientBody::Prefixed(body) => return Pin::new(&mut **body).poll_frame(cx),
        };
        let stream = &mut **stream;
        match Pin::new(&mut stream.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                stream.armed = false;
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    if len > stream.left {
                        stream.fault.set(ProxyError::BodyTooLarge);
                        return Poll::Ready(Some(Err(TooLarge.into())));
                    }
                    stream.left -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => {
                stream.fault.set(client_error_of(&*error));
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if !stream.armed {
                    let deadline = Instant::now() + stream.timeout;
                    match &mut stream.sleep {
                        Some(sleep) => sleep.as_mut().reset(deadline),
                        None => stream.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                    stream.armed = true;
                }
                match stream.sleep.as_mut().map(|s| s.as_mut().poll(cx)) {
                    Some(Poll::Ready(())) => {
                        stream.fault.set(ProxyError::BodyTimeout);
                        Poll::Ready(Some(Err(BodyTimedOut(stream.timeout).into())))
                    }
                    _ => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Stream(stream) => stream.body.is_end_stream(),
            ClientBody::Empty => true,
            ClientBody::Read(bytes) => bytes.is_none(),
            ClientBody::Prefixed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Stream(stream) => stream.body.size_hint(),
            ClientBody::Empty => SizeHint::with_exact(0),
            ClientBody::Read(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ClientBody::Prefixed(body) => body.size_hint(),
        }
    }
}
