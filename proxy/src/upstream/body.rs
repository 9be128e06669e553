//! [`UpstreamBody`]: a backend's response body, streamed, handing its connection back
//! to the pool when it ends.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::multiplex::StreamSlot;
use super::pool::{Pool, Sender};
use super::request_body::BoxError;

/// The body of a backend's response.
///
/// Frames are passed on as hyper reads them from the backend, nothing is buffered. Once
/// the body has ended cleanly (its last frame was read, or it is dropped after
/// [`is_end_stream`](Body::is_end_stream) became true) the connection goes back to the
/// backend's pool for the next request; a body dropped early or ended by an error lets
/// hyper close the connection instead.
pub struct UpstreamBody {
    incoming: Incoming,
    /// HTTP/2: the stream's slot on its connection, freed with the body.
    _stream: Option<StreamSlot>,
    /// Where the connection goes once the body has ended; `None` for connections that
    /// are never reused (upgrades, `Connection: close`) and once handed back or failed.
    reuse: Option<Reuse>,
    /// The read timeout: the longest wait for the next frame.
    read_timeout: Duration,
    /// Armed while waiting for a frame; boxed once so that the body stays `Unpin`.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

/// The error a response body ends with when the backend sends nothing for the read
/// timeout; the client sees the truncation (HTTP/1.1: the connection closes without
/// the last chunk; HTTP/2: the stream is reset with `INTERNAL_ERROR`).
#[derive(Debug, thiserror::Error)]
#[error("backend sent no response body data for {0:?} (read timeout)")]
pub struct ReadTimeout(Duration);

/// A connection waiting for its response body to end before going back to its pool.
struct Reuse {
    sender: Sender,
    pool: Arc<Pool>,
}

impl UpstreamBody {
    /// A body whose connection goes back to `pool` when it ends.
    pub(crate) fn pooled(
        incoming: Incoming,
        sender: Sender,
        pool: Arc<Pool>,
        read_timeout: Duration,
    ) -> UpstreamBody {
        let mut body = UpstreamBody {
            incoming,
            _stream: None,
            reuse: Some(Reuse { sender, pool }),
            read_timeout,
            sleep: None,
            armed: false,
        };
        // A response without a body (204, 304, `Content-Length: 0`) frees the
        // connection at once, whether or not anyone polls the body.
        if body.incoming.is_end_stream() {
            body.hand_back();
        }
        body
    }

    /// A body whose connection is not reused.
    pub(crate) fn unpooled(incoming: Incoming, read_timeout: Duration) -> UpstreamBody {
        UpstreamBody::streamed(incoming, None, read_timeout)
    }

    /// A body on an HTTP/2 connection: its stream slot is freed with it.
    pub(crate) fn streamed(
        incoming: Incoming,
        stream: Option<StreamSlot>,
        read_timeout: Duration,
    ) -> UpstreamBody {
        UpstreamBody {
            incoming,
            _stream: stream,
            reuse: None,
            read_timeout,
            sleep: None,
            armed: false,
        }
    }

    fn hand_back(&mut self) {
        if let Some(Reuse { sender, pool }) = self.reuse.take() {
            pool.checkin(sender);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let frame = match Pin::new(&mut this.incoming).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                frame
            }
            Poll::Pending => {
                if !this.armed {
                    let deadline = Instant::now() + this.read_timeout;
                    match &mut this.sleep {
                        Some(sleep) => sleep.as_mut().reset(deadline),
                        None => this.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                    this.armed = true;
                }
                if let Some(sleep) = this.sleep.as_mut() {
                    ready!(sleep.as_mut().poll(cx));
                }
                this.reuse = None;
                return Poll::Ready(Some(Err(ReadTimeout(this.read_timeout).into())));
            }
        };
        match &frame {
            // With a known length the last data frame already ends the body: callers
            // such as hyper's server stop polling there.
            Some(Ok(_)) if this.incoming.is_end_stream() => this.hand_back(),
            Some(Ok(_)) => {}
            None => this.hand_back(),
            Some(Err(_)) => this.reuse = None,
        }
        Poll::Ready(frame.map(|f| f.map_err(BoxError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        if self.incoming.is_end_stream() {
            self.hand_back();
        }
    }
}

impl fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("size_hint", &self.incoming.size_hint())
            .field("reusable", &self.reuse.is_some())
            .finish()
    }
}
