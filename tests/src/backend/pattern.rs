//! A large response body streamed in chunks, with content a test can check.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// The first `len` bytes every streamed body is made of: byte `i` is `i % 251` (a
/// prime, so that shifted or dropped chunks show).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// [`pattern`] as a body of known length, `chunk` bytes per frame.
pub(super) struct Pattern {
    sent: usize,
    len: usize,
    chunk: usize,
    delay: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Pattern {
    pub(super) fn new(len: usize, chunk: usize, delay: Duration) -> Pattern {
        Pattern {
            sent: 0,
            len,
            chunk,
            delay,
            sleep: None,
        }
    }
}

impl Body for Pattern {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent >= self.len {
            return Poll::Ready(None);
        }
        if !self.delay.is_zero() {
            let delay = self.delay;
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        let end = self.len.min(self.sent + self.chunk);
        let data: Vec<u8> = (self.sent..end).map(|i| (i % 251) as u8).collect();
        self.sent = end;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(data)))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.len
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.len - self.sent) as u64)
    }
}
