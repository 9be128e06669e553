//! What a request brings from its client, whichever codec read it: the body
//! ([`IncomingBody`]: hyper's for HTTP/2, ours for HTTP/1.1) and, for an upgrade (only
//! HTTP/1.1 has them), the connection the tunnel takes over once the backend agrees
//! ([`ClientUpgrade`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use super::body::BoxError;
use super::h1::RequestBody;
use super::rewind::Rewound;

/// A request body as received.
#[derive(Debug)]
pub enum IncomingBody {
    /// Read by hyper (HTTP/2).
    Hyper(hyper::body::Incoming),
    /// Read by our HTTP/1.1 codec.
    H1(RequestBody),
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            IncomingBody::Hyper(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            IncomingBody::H1(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            IncomingBody::Hyper(body) => body.is_end_stream(),
            IncomingBody::H1(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            IncomingBody::Hyper(body) => body.size_hint(),
            IncomingBody::H1(body) => body.size_hint(),
        }
    }
}

/// A client stream a tunnel can take over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Our codec's side of an upgrade: the connection and the bytes the client sent
/// behind its request, handed over once the 101 is written.
pub(crate) type Handover = (Box<dyn Io>, Bytes);

/// The client's side of an upgraded connection: our codec puts it on a request that
/// asks to upgrade ([`websocket::is_upgrade`](super::websocket::is_upgrade)), as a
/// request extension, and hands the connection over once the 101 is written. (HTTP/2
/// requests never upgrade.)
// Internal: `Clone` because request extensions must be; it is taken once, and a clone
// (never made) would hold nothing.
pub(crate) struct ClientUpgrade(oneshot::Receiver<Handover>);

impl Clone for ClientUpgrade {
    fn clone(&self) -> Self {
        ClientUpgrade(oneshot::channel().1)
    }
}

impl ClientUpgrade {
    /// An upgrade for a request, and the codec's side that hands the connection over.
    pub(crate) fn channel() -> (oneshot::Sender<Handover>, ClientUpgrade) {
        let (sender, receiver) = oneshot::channel();
        (sender, ClientUpgrade(receiver))
    }

    /// The upgrade `request` carries, taken off it.
    pub(crate) fn take<B>(request: &mut http::Request<B>) -> Option<ClientUpgrade> {
        request.extensions_mut().remove::<ClientUpgrade>()
    }

    /// The client's stream, once the 101 has gone out.
    pub(crate) async fn ready(self) -> io::Result<Box<dyn Io>> {
        match self.0.await {
            Ok((io, read)) => Ok(Box::new(Rewound::new(io, read))),
            Err(_) => Err(io::Error::other("the client connection was not upgraded")),
        }
    }
}
