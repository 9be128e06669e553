//! [`RequestBody`]: the caller's request body behind one type.
//!
//! hyper types a connection's sender by the request body it carries, and a pool holds
//! senders of one type; erasing the body lets one pool serve every caller. The body can
//! be turned back into the caller's type while hyper has not started on it, so a
//! request handed back by a dead pooled connection can still be given back whole.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::Notify;

/// The error type of an erased body.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// A request body of any type, as pooled connections see it; it marks its
/// [`BodySent`] once it has been read to its end.
pub(crate) struct RequestBody {
    inner: Box<dyn ErasedBody>,
    sent: BodySent,
}

/// Whether a request body has been handed over whole: the response timeout runs from
/// then (nginx counts it from the end of the request, not from its start, so a long
/// upload is bounded by the send and body timeouts instead).
#[derive(Clone, Debug, Default)]
pub(crate) struct BodySent(Arc<(AtomicBool, Notify)>);

impl BodySent {
    fn mark(&self) {
        if !self.0 .0.swap(true, Ordering::AcqRel) {
            self.0 .1.notify_waiters();
        }
    }

    /// Resolves once the body has been handed over whole.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.0 .1.notified();
            if self.0 .0.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

impl RequestBody {
    /// Erases `body`; `sent` is marked when it has been read to its end (at once if
    /// it is empty).
    pub(crate) fn new<B>(body: B, sent: BodySent) -> RequestBody
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
    {
        if body.is_end_stream() {
            sent.mark();
        }
        RequestBody {
            inner: Box::new(body),
            sent,
        }
    }

    /// The body given to [`RequestBody::new`], if it was a `B`.
    pub(crate) fn into_inner<B: 'static>(self) -> Option<B> {
        self.inner.into_any().downcast::<B>().ok().map(|body| *body)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let frame = this.inner.poll_erased(cx);
        if matches!(frame, Poll::Ready(None)) || this.inner.erased_is_end_stream() {
            this.sent.mark();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.erased_is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.erased_size_hint()
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody").finish_non_exhaustive()
    }
}

// Internal: the object-safe part of `Body`, plus the way back to the concrete type.
// Taking `&mut self` instead of `Pin<&mut Self>` is sound because every implementor
// is `Unpin`.
trait ErasedBody: Send {
    fn poll_erased(&mut self, cx: &mut Context<'_>)
        -> Poll<Option<Result<Frame<Bytes>, BoxError>>>;
    fn erased_is_end_stream(&self) -> bool;
    fn erased_size_hint(&self) -> SizeHint;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

impl<B> ErasedBody for B
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    fn poll_erased(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Body::poll_frame(Pin::new(self), cx).map_err(Into::into)
    }

    fn erased_is_end_stream(&self) -> bool {
        Body::is_end_stream(self)
    }

    fn erased_size_hint(&self) -> SizeHint {
        Body::size_hint(self)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Empty, Full};

    use super::*;

    #[tokio::test]
    async fn an_untouched_body_comes_back_as_its_own_type() {
        let body = RequestBody::new(
            Full::new(Bytes::from_static(b"intact")),
            BodySent::default(),
        );
        assert!(!body.is_end_stream());
        let body = body.into_inner::<Full<Bytes>>().unwrap();
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "intact");
    }

    #[test]
    fn another_type_does_not_come_back() {
        let body = RequestBody::new(Full::new(Bytes::from_static(b"x")), BodySent::default());
        assert!(body.into_inner::<Empty<Bytes>>().is_none());
    }

    #[tokio::test]
    async fn erased_frames_pass_through() {
        let body = RequestBody::new(
            Full::new(Bytes::from_static(b"frames")),
            BodySent::default(),
        );
        assert_eq!(body.size_hint().exact(), Some(6));
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "frames");
    }
}
