//! What a request brings from its client, whichever codec read it: the body
//! ([`IncomingBody`]: hyper's for HTTP/2, ours for HTTP/1.1) and, for an upgrade, the
//! connection the tunnel takes over once the backend agrees ([`ClientUpgrade`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper_util::rt::TokioIo;
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

/// Where the client's side of an upgraded connection comes from.
pub(crate) enum ClientUpgrade {
    /// hyper's (unused while HTTP/1.1 is ours; kept for a request hyper reads).
    Hyper(hyper::upgrade::OnUpgrade),
    /// Our codec's.
    H1(oneshot::Receiver<Handover>),
}

impl ClientUpgrade {
    /// The upgrade a request carries: our codec's if it read the request, else
    /// hyper's.
    pub(crate) fn of<B>(request: &mut http::Request<B>) -> ClientUpgrade {
        match request.extensions_mut().remove::<UpgradeSlot>() {
            Some(UpgradeSlot(receiver)) => ClientUpgrade::H1(receiver),
            None => ClientUpgrade::Hyper(hyper::upgrade::on(request)),
        }
    }

    /// The client's stream, once the 101 has gone out.
    pub(crate) async fn ready(self) -> io::Result<Box<dyn Io>> {
        match self {
            ClientUpgrade::Hyper(on) => match on.await {
                Ok(upgraded) => Ok(Box::new(TokioIo::new(upgraded))),
                Err(error) => Err(io::Error::other(error)),
            },
            ClientUpgrade::H1(receiver) => match receiver.await {
                Ok((io, read)) => Ok(Box::new(Rewound::new(io, read))),
                Err(_) => Err(io::Error::other("the client connection was not upgraded")),
            },
        }
    }
}

/// The request extension our codec puts on an upgrade request.
// Internal: `Clone` because request extensions must be; the receiver is taken once,
// and a clone (never made) would hold nothing.
pub(crate) struct UpgradeSlot(pub(crate) oneshot::Receiver<Handover>);

impl Clone for UpgradeSlot {
    fn clone(&self) -> Self {
        UpgradeSlot(oneshot::channel().1)
    }
}
