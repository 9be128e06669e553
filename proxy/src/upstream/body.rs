//! [`UpstreamBody`]: a backend's response body, streamed, handing its connection back
//! to the pool when it ends.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::pool::{Pool, Sender};

/// The body of a backend's response.
///
/// Frames are passed on as hyper reads them from the backend, nothing is buffered. Once
/// the body has ended cleanly (its last frame was read, or it is dropped after
/// [`is_end_stream`](Body::is_end_stream) became true) the connection goes back to the
/// backend's pool for the next request; a body dropped early or ended by an error lets
/// hyper close the connection instead.
pub struct UpstreamBody {
    incoming: Incoming,
    /// Where the connection goes once the body has ended; `None` for connections that
    /// are never reused (upgrades, `Connection: close`) and once handed back or failed.
    reuse: Option<Reuse>,
}

/// A connection waiting for its response body to end before going back to its pool.
struct Reuse {
    sender: Sender,
    pool: Arc<Pool>,
}

impl UpstreamBody {
    /// A body whose connection goes back to `pool` when it ends.
    pub(crate) fn pooled(incoming: Incoming, sender: Sender, pool: Arc<Pool>) -> UpstreamBody {
        let mut body = UpstreamBody {
            incoming,
            reuse: Some(Reuse { sender, pool }),
        };
        // A response without a body (204, 304, `Content-Length: 0`) frees the
        // connection at once, whether or not anyone polls the body.
        if body.incoming.is_end_stream() {
            body.hand_back();
        }
        body
    }

    /// A body whose connection is not reused.
    pub(crate) fn unpooled(incoming: Incoming) -> UpstreamBody {
        UpstreamBody {
            incoming,
            reuse: None,
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
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.incoming).poll_frame(cx));
        match &frame {
            // With a known length the last data frame already ends the body: callers
            // such as hyper's server stop polling there.
            Some(Ok(_)) if this.incoming.is_end_stream() => this.hand_back(),
            Some(Ok(_)) => {}
            None => this.hand_back(),
            Some(Err(_)) => this.reuse = None,
        }
        Poll::Ready(frame)
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
