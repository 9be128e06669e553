//! [`Out`]: the bytes a connection has yet to write, in order: whole buffers handed
//! over (large body pieces, written from where they are) and, after them, a staging
//! buffer that heads, chunk framing and small body pieces are copied into, so that a
//! small response goes out in one write.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::AsyncWrite;

/// The staging buffer's first size: a typical response head and a small body.
const STAGING: usize = 512;
/// The most buffers handed to one vectored write.
const MAX_SLICES: usize = 16;

/// Bytes waiting to be written.
#[derive(Default)]
pub(crate) struct Out {
    pieces: VecDeque<Bytes>,
    /// Written after every piece.
    staging: Vec<u8>,
    /// How much of `staging` has been written (only once `pieces` is empty).
    staged_from: usize,
}

impl Out {
    /// The buffer to copy small things into, after everything queued.
    pub(crate) fn staging(&mut self) -> &mut Vec<u8> {
        if self.staging.capacity() == 0 {
            self.staging.reserve(STAGING);
        }
        &mut self.staging
    }

    /// Queues `data`: copied if shorter than `copy_below`, else written from its own
    /// buffer.
    pub(crate) fn put(&mut self, data: Bytes, copy_below: usize) {
        if data.len() < copy_below {
            self.staging().extend_from_slice(&data);
            return;
        }
        if self.staged_from < self.staging.len() {
            let mut staged = std::mem::take(&mut self.staging);
            staged.drain(..self.staged_from);
            self.pieces.push_back(Bytes::from(staged));
        } else {
            self.staging.clear();
        }
        self.staged_from = 0;
        self.pieces.push_back(data);
    }

    /// Whether everything has been written.
    pub(crate) fn is_empty(&self) -> bool {
        self.pieces.is_empty() && self.staged_from == self.staging.len()
    }

    /// How many bytes are queued.
    pub(crate) fn len(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum::<usize>() + self.staging.len() - self.staged_from
    }

    /// Gives the staging buffer's memory back (the connection goes idle).
    pub(crate) fn release(&mut self) {
        if self.is_empty() {
            self.staging = Vec::new();
            self.staged_from = 0;
        }
    }

    /// Writes everything queued to `io`.
    pub(crate) fn poll_write<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while !self.is_empty() {
            let n = if self.pieces.is_empty() {
                ready!(Pin::new(&mut *io).poll_write(cx, &self.staging[self.staged_from..]))?
            } else if io.is_write_vectored() {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let mut count = 0;
                for piece in self.pieces.iter().take(MAX_SLICES - 1) {
                    slices[count] = IoSlice::new(piece);
                    count += 1;
                }
                if count == self.pieces.len() {
                    slices[count] = IoSlice::new(&self.staging[self.staged_from..]);
                    count += 1;
                }
                ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]))?
            } else {
                let front = self.pieces.front().map_or(&[][..], |b| &b[..]);
                ready!(Pin::new(&mut *io).poll_write(cx, front))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.advance(n);
        }
        self.staging.clear();
        self.staged_from = 0;
        Poll::Ready(Ok(()))
    }

    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            match self.pieces.front_mut() {
                Some(front) if n >= front.len() => {
                    n -= front.len();
                    self.pieces.pop_front();
                }
                Some(front) => {
                    front.advance(n);
                    return;
                }
                None => {
                    self.staged_from = (self.staged_from + n).min(self.staging.len());
                    return;
                }
            }
        }
    }

    /// Everything queued, as one buffer.
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        let mut all: Vec<u8> = self.pieces.iter().flat_map(|p| p.iter().copied()).collect();
        all.extend_from_slice(&self.staging[self.staged_from..]);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pieces_and_staging_go_out_in_order() {
        let mut out = Out::default();
        out.staging().extend_from_slice(b"head;");
        out.put(Bytes::from(vec![b'x'; 10]), 4);
        out.staging().extend_from_slice(b";tail");
        out.put(Bytes::from_static(b"ab"), 4);
        let mut expected = b"head;".to_vec();
        expected.extend_from_slice(&[b'x'; 10]);
        expected.extend_from_slice(b";tailab");
        assert_eq!(out.to_vec(), expected);
        // A writer that takes three bytes at a time.
        let (mut client, mut server) = tokio::io::duplex(3);
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut server, &mut all)
                .await
                .unwrap();
            all
        });
        std::future::poll_fn(|cx| out.poll_write(&mut client, cx))
            .await
            .unwrap();
        assert!(out.is_empty());
        drop(client);
        assert_eq!(reader.await.unwrap(), expected);
    }
}
