//! [`WriteTimeout`]: a stream whose writes fail once one has made no progress for a
//! while: a peer that stops reading (a client that no longer takes its response, a
//! backend that no longer takes its request body) cannot hold a connection, its
//! buffers and whatever waits on it, forever. nginx's `send_timeout` and
//! `proxy_send_timeout`: the time between two successful writes, not the whole
//! transfer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A stream whose pending writes time out after `timeout` without progress.
pub struct WriteTimeout<I> {
    inner: I,
    timeout: Duration,
    /// Armed while a write is pending; boxed so that the stream stays `Unpin`, and
    /// kept once made (reset, not reallocated).
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<I> WriteTimeout<I> {
    /// `inner`, whose writes fail with `TimedOut` after `timeout` without progress.
    pub fn new(inner: I, timeout: Duration) -> WriteTimeout<I> {
        WriteTimeout {
            inner,
            timeout,
            sleep: None,
            armed: false,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &I {
        &self.inner
    }

    /// `Pending` from the inner stream: arm the timer (once per stall) and poll it.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        if !self.armed {
            let deadline = Instant::now() + self.timeout;
            match &mut self.sleep {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.armed = true;
        }
        match self
            .sleep
            .as_mut()
            .map(|s| std::future::Future::poll(s.as_mut(), cx))
        {
            Some(Poll::Ready(())) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no write progress for {:?}", self.timeout),
            ))),
            _ => Poll::Pending,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteTimeout<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Pending => this.stalled(cx),
            ready => {
                this.armed = false;
                ready
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.stalled(cx),
            ready => {
                this.armed = false;
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.stalled(cx),
            ready => {
                this.armed = false;
                ready
            }
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_write_without_progress_times_out() {
        // A pipe whose reader never reads: its 64-byte buffer fills, then writes pend.
        let (writer, _reader) = tokio::io::duplex(64);
        let mut stream = WriteTimeout::new(writer, Duration::from_secs(5));
        let started = Instant::now();
        let error = stream.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn progress_restarts_the_wait() {
        let (writer, mut reader) = tokio::io::duplex(64);
        let mut stream = WriteTimeout::new(writer, Duration::from_secs(5));
        let drain = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            for _ in 0..4 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                let _ = tokio::io::AsyncReadExt::read(&mut reader, &mut buf).await;
            }
            reader
        });
        // Four stalls of 4 s each: never 5 s without progress.
        stream.write_all(&[0u8; 64 * 4]).await.unwrap();
        drop(drain.await.unwrap());
    }
}
