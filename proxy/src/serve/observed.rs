//! [`Observed`]: a stream that tells an [`Observer`] when bytes go through it, for the
//! waits measured by traffic (a connection's first byte after idling, a tunnel's last
//! byte). One wrapper for both, so that the `AsyncRead`/`AsyncWrite` plumbing exists
//! once.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What wants to know about a stream's traffic. Both methods are called on the I/O
/// path: keep them to an atomic or two.
pub(crate) trait Observer: Send + Sync {
    /// Bytes were read.
    fn read(&self) {}
    /// Bytes were written.
    fn wrote(&self) {}
}

/// A stream whose reads (and writes) are reported to its observer.
pub(crate) struct Observed<I, O: ?Sized> {
    inner: I,
    observer: Arc<O>,
}

impl<I, O: ?Sized> Observed<I, O> {
    pub(crate) fn new(inner: I, observer: Arc<O>) -> Observed<I, O> {
        Observed { inner, observer }
    }
}

impl<I: AsyncRead + Unpin, O: Observer + ?Sized> AsyncRead for Observed<I, O> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.observer.read();
        }
        result
    }
}

impl<I: AsyncWrite + Unpin, O: Observer + ?Sized> AsyncWrite for Observed<I, O> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.observer.wrote();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.observer.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
