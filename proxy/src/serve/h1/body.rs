//! [`RequestBody`]: an HTTP/1.1 request's body as the request's life reads it, fed by
//! the connection's loop ([`Feed`]), which owns the socket and decodes the framing.
//!
//! One chunk is handed over at a time, and the loop reads from the socket only while
//! the body is wanted: a request whose body nobody reads costs no reads (the client is
//! held back by TCP), and `Expect: 100-continue` is answered when the body is first
//! wanted, as hyper did.
//!
//! Internal: a chunk slot and two wakers behind a mutex that only the request's reader
//! and its connection's loop take, each for a few instructions; a request without a
//! body has no slot at all.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// The body of a request read by our HTTP/1.1 codec.
#[derive(Debug)]
pub struct RequestBody {
    shared: Option<Arc<Shared>>,
    /// The length still to come, if the framing said it.
    left: Option<u64>,
    ended: bool,
}

/// The connection's side: hands decoded chunks to the body.
#[derive(Debug)]
pub(crate) struct Feed {
    shared: Arc<Shared>,
    finished: bool,
}

#[derive(Debug, Default)]
struct Shared(Mutex<Slot>);

#[derive(Debug, Default)]
struct Slot {
    data: Option<Bytes>,
    end: Option<Result<(), (io::ErrorKind, &'static str)>>,
    /// The reader is waiting for a chunk.
    wanted: bool,
    reader_gone: bool,
    reader: Option<Waker>,
    feeder: Option<Waker>,
}

impl Shared {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the reader wants of the feed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wants {
    /// A chunk.
    Data,
    /// Nothing now (it has one, or has not asked).
    Nothing,
    /// Nothing ever: the body was dropped.
    Gone,
}

impl RequestBody {
    /// A body without bytes.
    pub(crate) fn empty() -> RequestBody {
        RequestBody {
            shared: None,
            left: Some(0),
            ended: true,
        }
    }

    /// A body of `length` bytes (`None`: chunked), and its feed.
    pub(crate) fn channel(length: Option<u64>) -> (RequestBody, Feed) {
        let shared = Arc::new(Shared::default());
        let body = RequestBody {
            shared: Some(Arc::clone(&shared)),
            left: length,
            ended: false,
        };
        (
            body,
            Feed {
                shared,
                finished: false,
            },
        )
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let Some(shared) = this.shared.as_ref().filter(|_| !this.ended) else {
            return Poll::Ready(None);
        };
        let mut slot = shared.slot();
        let feeder = if let Some(data) = slot.data.take() {
            if let Some(left) = &mut this.left {
                *left = left.saturating_sub(data.len() as u64);
            }
            // Asked for the next one at once: the loop reads it while this one goes on.
            slot.wanted = true;
            let feeder = slot.feeder.take();
            drop(slot);
            if let Some(feeder) = feeder {
                feeder.wake();
            }
            return Poll::Ready(Some(Ok(Frame::data(data))));
        } else if let Some(end) = slot.end {
            this.ended = true;
            return Poll::Ready(
                end.err()
                    .map(|(kind, what)| Err(io::Error::new(kind, what))),
            );
        } else {
            if !slot
                .reader
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                slot.reader = Some(cx.waker().clone());
            }
            slot.wanted = true;
            slot.feeder.take()
        };
        drop(slot);
        if let Some(feeder) = feeder {
            feeder.wake();
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.left == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.left {
            Some(left) => SizeHint::with_exact(left),
            None => SizeHint::default(),
        }
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            let mut slot = shared.slot();
            slot.reader_gone = true;
            let feeder = slot.feeder.take();
            drop(slot);
            if let Some(feeder) = feeder {
                feeder.wake();
            }
        }
    }
}

impl Feed {
    /// What the reader wants; if nothing now, the loop is woken when it does.
    pub(crate) fn poll_wants(&mut self, cx: &mut Context<'_>) -> Wants {
        let mut slot = self.shared.slot();
        if slot.reader_gone {
            return Wants::Gone;
        }
        if slot.wanted && slot.data.is_none() {
            return Wants::Data;
        }
        if !slot
            .feeder
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            slot.feeder = Some(cx.waker().clone());
        }
        Wants::Nothing
    }

    /// Hands over a chunk (only when [`Wants::Data`]).
    pub(crate) fn send(&mut self, data: Bytes) {
        let mut slot = self.shared.slot();
        slot.data = Some(data);
        slot.wanted = false;
        Self::wake(slot);
    }

    /// The body is complete.
    pub(crate) fn finish(&mut self) {
        self.end(Ok(()));
    }

    /// The body failed: `kind` says whose fault (`UnexpectedEof`, `InvalidData`: the
    /// client's framing; `ConnectionReset`: the client went away).
    pub(crate) fn fail(&mut self, kind: io::ErrorKind, what: &'static str) {
        self.end(Err((kind, what)));
    }

    fn end(&mut self, end: Result<(), (io::ErrorKind, &'static str)>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let mut slot = self.shared.slot();
        slot.end = Some(end);
        Self::wake(slot);
    }

    fn wake(mut slot: MutexGuard<'_, Slot>) {
        let reader = slot.reader.take();
        drop(slot);
        if let Some(reader) = reader {
            reader.wake();
        }
    }
}

impl Drop for Feed {
    /// The connection stopped feeding before the end: for the reader, the client
    /// went away.
    fn drop(&mut self) {
        self.fail(io::ErrorKind::ConnectionReset, "client connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn chunks_come_when_wanted_then_the_end() {
        let (mut body, mut feed) = RequestBody::channel(Some(5));
        assert_eq!(body.size_hint().exact(), Some(5));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(feed.poll_wants(&mut cx), Wants::Nothing, "not asked yet");
        let reader = tokio::spawn(async move {
            let collected = body.frame().await.unwrap().unwrap().into_data().unwrap();
            assert_eq!(body.size_hint().exact(), Some(0));
            let rest = body.collect().await.unwrap().to_bytes();
            (collected, rest)
        });
        let mut sent = 0;
        // As the connection's loop does: ask again after each step, so that the
        // waker is registered whenever it waits.
        std::future::poll_fn(|cx| loop {
            match feed.poll_wants(cx) {
                Wants::Data if sent == 0 => {
                    feed.send(Bytes::from_static(b"hello"));
                    sent += 1;
                }
                Wants::Data => {
                    feed.finish();
                    return Poll::Ready(());
                }
                _ => return Poll::Pending,
            }
        })
        .await;
        let (first, rest) = reader.await.unwrap();
        assert_eq!((&first[..], &rest[..]), (&b"hello"[..], &b""[..]));
    }

    #[tokio::test]
    async fn a_feed_dropped_early_is_the_client_gone() {
        let (mut body, feed) = RequestBody::channel(None);
        drop(feed);
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
        assert!(body.frame().await.is_none());
    }
}
