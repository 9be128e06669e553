//! Reading a body into memory for the body points (RequestBody, ResponseBody), and
//! [`Prefixed`]: a body whose first bytes were read that way and whose rest still
//! streams (a body longer than every asking instance's limit, which they skip).
//!
//! Trailers of a body read whole are dropped: a body read for plugins is sent on with
//! a `Content-Length`, and the only common users of trailers (gRPC) are never read.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

/// What was read of a body.
pub(crate) struct Read {
    /// The bytes read.
    pub bytes: Bytes,
    /// Whether that is the whole body (else it was longer than the limit, and the rest
    /// is still in the stream).
    pub complete: bool,
}

/// Reads `body` until it ends or more than `limit` bytes have been read.
pub(crate) async fn read<B>(body: &mut B, limit: u64) -> Result<Read, B::Error>
where
    B: Body<Data = Bytes> + Unpin,
{
    // Internal: one frame is the common case for small bodies; keep it without a copy.
    let mut first: Option<Bytes> = None;
    let mut more = BytesMut::new();
    let mut len = 0u64;
    while len <= limit {
        let Some(frame) = body.frame().await else {
            return Ok(Read {
                bytes: joined(first, more),
                complete: true,
            });
        };
        let Ok(data) = frame?.into_data() else {
            tracing::debug!("trailers of a body read for plugins dropped");
            continue;
        };
        len += data.len() as u64;
        match &first {
            None if more.is_empty() => first = Some(data),
            _ => {
                if let Some(first) = first.take() {
                    more.extend_from_slice(&first);
                }
                more.extend_from_slice(&data);
            }
        }
    }
    Ok(Read {
        bytes: joined(first, more),
        complete: body.is_end_stream(),
    })
}

fn joined(first: Option<Bytes>, more: BytesMut) -> Bytes {
    first.unwrap_or_else(|| more.freeze())
}

/// The bytes read ahead of a body, then the rest of it.
pub struct Prefixed<B> {
    prefix: Option<Bytes>,
    rest: B,
}

impl<B> Prefixed<B> {
    /// `prefix`, then what is left of `rest`.
    pub(crate) fn new(prefix: Bytes, rest: B) -> Self {
        Prefixed {
            prefix: Some(prefix).filter(|p| !p.is_empty()),
            rest,
        }
    }
}

impl<B> Body for Prefixed<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(prefix) = this.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        Pin::new(&mut this.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let prefix = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + prefix);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + prefix);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    fn chunks(
        parts: &[&'static str],
    ) -> impl Body<Data = Bytes, Error = std::convert::Infallible> + Unpin {
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn reads_a_body_whole_within_the_limit() {
        let mut body = chunks(&["ab", "cd"]);
        let read = read(&mut body, 4).await.unwrap();
        assert_eq!(&read.bytes[..], b"abcd");
        assert!(read.complete);
        let mut one = Full::new(Bytes::from_static(b"xyz"));
        let read = super::read(&mut one, 100).await.unwrap();
        assert_eq!((&read.bytes[..], read.complete), (&b"xyz"[..], true));
    }

    #[tokio::test]
    async fn stops_past_the_limit_and_sends_the_rest_after_what_it_read() {
        let mut body = chunks(&["ab", "cd", "ef", "gh"]);
        let read = read(&mut body, 3).await.unwrap();
        assert_eq!(&read.bytes[..], b"abcd");
        assert!(!read.complete);
        let whole = Prefixed::new(read.bytes, body).collect().await.unwrap();
        assert_eq!(&whole.to_bytes()[..], b"abcdefgh");
    }
}
