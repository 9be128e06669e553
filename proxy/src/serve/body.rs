//! [`ProxyBody`]: what the client receives, and the hook that runs RequestFinish once
//! the response has been sent (or sending failed).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hookgate_plugin_api::Point;
use http_body::{Body, Frame, SizeHint};

use crate::balance::ActiveRequest;
use crate::request::{PluginRequest, RequestState};
use crate::response::ResponseState;
use crate::upstream::UpstreamBody;

use super::connection::Conn;

/// Errors a response body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the bytes of a response come from.
pub enum BodyKind {
    /// Nothing.
    Empty,
    /// Bytes held in memory (a plugin's reply, a redirect, an error page).
    Full(Option<Bytes>),
    /// Streamed from the backend.
    Upstream(UpstreamBody),
}

impl BodyKind {
    /// A body of these bytes.
    pub fn full(bytes: impl Into<Bytes>) -> BodyKind {
        let bytes = bytes.into();
        if bytes.is_empty() {
            BodyKind::Empty
        } else {
            BodyKind::Full(Some(bytes))
        }
    }
}

/// The response body handed to hyper. When hyper drops it (sent, or the client went
/// away), RequestFinish runs with the request and the response head.
pub struct ProxyBody {
    kind: BodyKind,
    finish: Option<Box<RequestFinish>>,
    /// Keeps the backend counted as busy (least_conn) until the body is done.
    _active: Option<ActiveRequest>,
}

/// What RequestFinish needs once the body is done.
pub(crate) struct RequestFinish {
    pub(crate) conn: Arc<Conn>,
    pub(crate) request: RequestState,
    pub(crate) response: Option<ResponseState>,
}

impl RequestFinish {
    /// Runs the RequestFinish chain; Finish there means no keep-alive after this request.
    pub(crate) fn run(mut self) {
        let chain = &self.conn.snapshot.plugins.chains.request_finish;
        if chain.is_empty() {
            return;
        }
        let action = {
            let mut session = self.conn.lock_session();
            let mut view = PluginRequest {
                request: &mut self.request,
                session: &mut session,
            };
            chain.run(Point::RequestFinish, &mut view, self.response.as_mut())
        };
        if matches!(action, Ok(hookgate_plugin_api::Action::Finish)) {
            self.conn.control.close_after_response();
        }
    }
}

impl ProxyBody {
    /// A body of this kind; `finish` runs when it is dropped.
    pub(crate) fn new(
        kind: BodyKind,
        finish: Option<Box<RequestFinish>>,
        active: Option<ActiveRequest>,
    ) -> ProxyBody {
        ProxyBody {
            kind,
            finish,
            _active: active,
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        if let Some(finish) = self.finish.take() {
            finish.run();
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // Every variant is Unpin, so ProxyBody is too.
        match &mut self.get_mut().kind {
            BodyKind::Empty => Poll::Ready(None),
            BodyKind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            BodyKind::Upstream(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|r| r.map_err(BoxError::from))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Empty => true,
            BodyKind::Full(bytes) => bytes.is_none(),
            BodyKind::Upstream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Empty => SizeHint::with_exact(0),
            BodyKind::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            BodyKind::Upstream(body) => body.size_hint(),
        }
    }
}

/// The request body sent upstream: the client's stream, or nothing (a retry of a
/// request that had no body).
pub enum ClientBody {
    /// The client's body.
    Stream(hyper::body::Incoming),
    /// No body.
    Empty,
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ClientBody::Stream(body) => Pin::new(body).poll_frame(cx),
            ClientBody::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Stream(body) => body.is_end_stream(),
            ClientBody::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Stream(body) => body.size_hint(),
            ClientBody::Empty => SizeHint::with_exact(0),
        }
    }
}
