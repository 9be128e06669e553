//! One request and its response head on one connection.

use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};

use super::request_body::BodySent;

/// A connection's request handle: HTTP/1.1 (one at a time) or HTTP/2 (multiplexed).
pub(crate) trait Dispatch<B> {
    /// hyper's `try_send_request`.
    fn dispatch(
        &mut self,
        request: Request<B>,
    ) -> impl std::future::Future<
        Output = Result<Response<Incoming>, hyper::client::conn::TrySendError<Request<B>>>,
    >;
}

impl<B: Body + 'static> Dispatch<B> for http1::SendRequest<B> {
    fn dispatch(
        &mut self,
        request: Request<B>,
    ) -> impl std::future::Future<
        Output = Result<Response<Incoming>, hyper::client::conn::TrySendError<Request<B>>>,
    > {
        self.try_send_request(request)
    }
}

impl<B: Body + Unpin + Send + 'static> Dispatch<B> for http2::SendRequest<B>
where
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn dispatch(
        &mut self,
        request: Request<B>,
    ) -> impl std::future::Future<
        Output = Result<Response<Incoming>, hyper::client::conn::TrySendError<Request<B>>>,
    > {
        self.try_send_request(request)
    }
}

/// How far one request got on one connection.
pub(crate) enum Exchange<B> {
    /// The response head arrived.
    Response(Response<Incoming>),
    /// The connection closed before the request was written to it; hyper gave the
    /// request back untouched.
    Unsent(Request<B>, hyper::Error),
    /// No response head within the timeout; dropping hyper's future closed the
    /// connection.
    Timeout,
    /// The request was (at least partly) written, then the exchange failed.
    Failed(hyper::Error),
}

/// Sends `request` on `sender` and waits for the response head at most `timeout`
/// after `sent` (the request body handed over whole).
///
/// `try_send_request`, unlike `send_request`, gives the request back when the
/// connection closed before writing it: that is what lets a request on a stale pooled
/// connection be retried on a new one without losing a streamed body.
pub(crate) async fn exchange<B, S>(
    sender: &mut S,
    request: Request<B>,
    timeout: Duration,
    sent: &BodySent,
) -> Exchange<B>
where
    B: Body + 'static,
    S: Dispatch<B>,
{
    let response = sender.dispatch(request);
    tokio::pin!(response);
    let late = async {
        sent.wait().await;
        tokio::time::sleep(timeout).await
    };
    let result = tokio::select! {
        biased;
        result = &mut response => result,
        () = late => return Exchange::Timeout,
    };
    match result {
        Ok(response) => Exchange::Response(response),
        Err(mut error) => match error.take_message() {
            Some(request) => Exchange::Unsent(request, error.into_error()),
            None => Exchange::Failed(error.into_error()),
        },
    }
}
