//! The life of one request: the one place the request-level callback points run, in
//! order, with what the server does with each return value (the contract is in
//! `hookgate_plugin_api`'s crate docs; DESIGN §2.3).
//!
//! ```text
//! BeforeLocation → product → FoundProduct → cluster → AfterLocation
//!   → [subcluster, backend, Forward, send]×attempts → ReadResponse → send → RequestFinish
//! ```
//!
//! Every early end is an [`End`]: a response (with or without ReadResponse, with or
//! without closing after it) or a silent close. Proxy errors are responses that pass
//! through ReadResponse with the request's error code set.

use std::sync::Arc;

use bytes::Bytes;
use hookgate_plugin_api::abi::ResponseData;
use hookgate_plugin_api::{Action, Point};
use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Response, StatusCode, Version};
use http_body::Body as _;
use hyper::body::Incoming;

use super::body::{request_finish, BodyKind, ClientFault, ProxyBody, RequestFinish};
use super::connection::Conn;
use super::{forward, forwarded, redirect, websocket};
use crate::balance::ActiveRequest;
use crate::edge::{self, Refusal};
use crate::error::ProxyError;
use crate::plugin::{Chain, RequestChainOutcome};
use crate::request::{PluginRequest, RequestState};
use crate::response::ResponseState;
use hookgate_plugin_api::abi::RequestHandlerBox;

/// Why hyper gets no response for a request.
#[derive(Debug)]
pub enum Refused {
    /// Close the connection without a response (a handler returned Close; or the
    /// connection is already closing).
    Closed,
    /// HTTP/2: a malformed request; hyper resets the stream with this error's reason
    /// (`PROTOCOL_ERROR`), which it finds as the error's source.
    Malformed(h2::Error),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Closed => f.write_str("closed by a plugin without a response"),
            Refused::Malformed(_) => f.write_str("malformed request"),
        }
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Refused::Closed => None,
            Refused::Malformed(reason) => Some(reason),
        }
    }
}

/// How a request ends.
pub(crate) enum End {
    /// Send this response.
    Respond {
        /// The response.
        response: Response<BodyKind>,
        /// Whether ReadResponse runs on it first.
        read_response: bool,
        /// Whether the connection closes after it.
        close: bool,
        /// The backend's busy mark (least_conn), kept until the body is done.
        active: Option<ActiveRequest>,
        /// A redirect: RequestFinish then sees no response (DESIGN §2.3 coverage).
        redirect: bool,
    },
    /// Send nothing; close the connection.
    Close,
}

impl End {
    pub(crate) fn respond(response: Response<BodyKind>, read_response: bool, close: bool) -> End {
        End::Respond {
            response,
            read_response,
            close,
            active: None,
            redirect: false,
        }
    }
}

/// A request on its way through the points.
pub(crate) struct Life {
    pub(crate) conn: Arc<Conn>,
    pub(crate) request: RequestState,
    /// The most body bytes the request may send (its product's `max_body_bytes`, or
    /// the server's; `u64::MAX` for no limit).
    pub(crate) body_limit: u64,
    /// The client-side failure of the request body, if one happened.
    pub(crate) fault: ClientFault,
    /// Whether the request has been handed on (to hyper as a response, or to
    /// RequestFinish); if not when the life is dropped, hyper dropped it because the
    /// client went away.
    settled: bool,
}

/// Serves one request; `Err` makes hyper drop the connection (`Closed`) or reset the
/// stream (`Malformed`).
///
/// Internal: the head is checked and the request's [`Life`] begun at once, when hyper
/// hands the request over, not when hyper first polls the future: a client that
/// closes right after sending its request makes hyper drop the future unpolled, and
/// the request must still end in RequestFinish (`client_closed`).
pub(crate) fn handle(
    request: http::Request<Incoming>,
    conn: Arc<Conn>,
) -> impl std::future::Future<Output = Result<Response<ProxyBody>, Refused>> + Send {
    let begun = begin(request, conn);
    async move {
        let Begun {
            mut life,
            admitted,
            body,
            on_upgrade,
        } = begun?;
        let end = match admitted {
            Ok(()) => life.route_and_forward(body, on_upgrade).await,
            Err(refusal) => life.refuse(refusal),
        };
        life.finish(end)
    }
}

/// A request handed over by hyper, checked at the front door.
struct Begun {
    life: Life,
    admitted: Result<(), Refusal>,
    body: Incoming,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
}

fn begin(mut request: http::Request<Incoming>, conn: Arc<Conn>) -> Result<Begun, Refused> {
    if conn.control.is_closing() {
        // Keep-alive already ended (RequestFinish returned Finish): this request,
        // pipelined behind that one, never reaches BeforeLocation.
        return Err(Refused::Closed);
    }
    let on_upgrade = websocket::is_upgrade(&request).then(|| hyper::upgrade::on(&mut request));
    let (mut head, body) = request.into_parts();
    let admitted = edge::admit(&mut head, &conn.snapshot.edge);
    if admitted == Err(Refusal::Malformed) {
        // A stream error: no request to run the points for (RFC 9113 §8.1.1).
        conn.snapshot.metrics.error(ProxyError::BadRequest);
        tracing::debug!(peer = %conn.peer, "malformed HTTP/2 request refused");
        return Err(Refused::Malformed(h2::Error::from(
            h2::Reason::PROTOCOL_ERROR,
        )));
    }
    let client_ip = forwarded::client_ip(
        &head.headers,
        conn.peer.ip(),
        &conn.snapshot.trusted_proxies,
    );
    {
        let mut session = conn.lock_session();
        session.request_count += 1;
        if head.version == Version::HTTP_2 {
            session.protocol = "h2";
        }
    }
    let mut life = Life {
        conn,
        request: RequestState::new(head, client_ip),
        body_limit: u64::MAX,
        fault: ClientFault::of(&body),
        settled: false,
    };
    life.request.client_ip_is_peer = client_ip == life.conn.peer.ip();
    Ok(Begun {
        life,
        admitted,
        body,
        on_upgrade,
    })
}

impl Drop for Life {
    /// hyper dropped the request before it was settled: the client went away (closed
    /// its connection or reset its stream) while the request was being served. If its
    /// body had failed first (cut before its length), that is the error: hyper takes
    /// the end of the stream for the client leaving, as nginx does, so no 400 can be
    /// sent, but the log says what the client did.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let error = self.fault.get().unwrap_or(ProxyError::ClientClosed);
        self.request.error = Some(error);
        self.conn.snapshot.metrics.error(error);
        tracing::debug!(peer = %self.conn.peer, "client went away before its response");
        request_finish(&self.conn, &mut self.request, None);
    }
}

impl Life {
    async fn route_and_forward(
        &mut self,
        body: Incoming,
        on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    ) -> End {
        let snapshot = Arc::clone(&self.conn.snapshot);
        let chains = &snapshot.plugins.chains;
        if let Some(end) = self.request_point(Point::BeforeLocation, &chains.before_location) {
            return end;
        }
        let Some(product) = snapshot.routes.product(self.request.host()) else {
            return self.proxy_error(ProxyError::NoProduct);
        };
        self.request.route.product = Some(Arc::clone(&product.name));
        let limit = product
            .max_body_bytes
            .unwrap_or(snapshot.edge.max_body_bytes);
        if limit > 0 {
            self.body_limit = limit;
            // A declared length over the limit is refused before anything reads the
            // body (so `Expect: 100-continue` gets the 413 instead of a 100).
            if body.size_hint().lower() > limit {
                return self.client_error(ProxyError::BodyTooLarge);
            }
        }
        if let Some(end) = self.request_point(Point::FoundProduct, &chains.found_product) {
            return end;
        }
        let head = &self.request.head;
        let cluster = product
            .cluster(
                &head.method,
                self.request.host(),
                head.uri.path(),
                &head.headers,
            )
            .and_then(|name| snapshot.clusters.get(name));
        let Some(cluster) = cluster else {
            return self.proxy_error(ProxyError::NoRoute);
        };
        self.request.route.cluster = Some(Arc::clone(&cluster.name));
        if let Some(end) = self.request_point(Point::AfterLocation, &chains.after_location) {
            return end;
        }
        forward::forward(self, cluster, body, on_upgrade).await
    }

    /// Runs a request point's chain; `Some` ends the request.
    fn request_point(&mut self, point: Point, chain: &Chain<RequestHandlerBox>) -> Option<End> {
        if chain.is_empty() {
            return None;
        }
        let outcome = {
            let mut session = self.conn.lock_session();
            let mut view = PluginRequest {
                request: &mut self.request,
                session: &mut session,
            };
            chain.run(point, &mut view).map_err(|_| ())
        };
        match outcome {
            Ok(RequestChainOutcome::GoOn) => None,
            Ok(RequestChainOutcome::Respond(data)) => {
                Some(match reply(data, &self.request.head.method) {
                    Some(response) => End::respond(response, true, false),
                    None => self.plugin_failed(point, "a reply with an invalid status or header"),
                })
            }
            Ok(RequestChainOutcome::Redirect) => Some(self.redirect(false)),
            Ok(RequestChainOutcome::Finish(data)) => {
                let method = &self.request.head.method;
                let response = match data.map(|d| reply(d, method)) {
                    Some(Some(response)) => response,
                    Some(None) => {
                        return Some(
                            self.plugin_failed(point, "a reply with an invalid status or header"),
                        )
                    }
                    None => error_page(StatusCode::INTERNAL_SERVER_ERROR),
                };
                Some(End::respond(response, false, true))
            }
            Ok(RequestChainOutcome::Close) => Some(End::Close),
            // Already logged and counted by the chain; fail-closed means 500.
            Err(()) => Some(self.proxy_error(ProxyError::PluginError)),
        }
    }

    /// A plugin produced something the host cannot send: treated as a plugin error.
    fn plugin_failed(&mut self, point: Point, what: &str) -> End {
        tracing::error!(point = point.name(), "plugin returned {what}");
        self.proxy_error(ProxyError::PluginError)
    }

    /// The redirect the request's redirect info describes (500 if it is unusable).
    fn redirect(&mut self, close: bool) -> End {
        match redirect::response(&self.request) {
            Some(response) => End::Respond {
                response: response.map(BodyKind::full),
                read_response: false,
                close,
                active: None,
                redirect: true,
            },
            None => {
                tracing::error!("plugin redirect has an invalid URL");
                self.proxy_error(ProxyError::PluginError)
            }
        }
    }

    /// A proxy error: its status, its code on the request, through ReadResponse.
    pub(crate) fn proxy_error(&mut self, error: ProxyError) -> End {
        self.request.error = Some(error);
        End::respond(error_page(error.status()), true, false)
    }

    /// A client's error found while the request was served (body too large or
    /// broken): like a proxy error, but an HTTP/1 connection closes after it, since
    /// the rest of the body is unread or unreadable. A client that went away gets
    /// nothing.
    pub(crate) fn client_error(&mut self, error: ProxyError) -> End {
        tracing::info!(peer = %self.conn.peer, code = error.code(), "client error");
        if error == ProxyError::ClientClosed {
            self.request.error = Some(error);
            return End::Close;
        }
        let close = self.request.head.version != Version::HTTP_2;
        let mut end = self.proxy_error(error);
        if let End::Respond { close: c, .. } = &mut end {
            *c = close;
        }
        end
    }

    /// A head the front door refused (DESIGN §6): 400 or 405 before any callback
    /// point (the request was never valid enough to route), then RequestFinish with
    /// the error code, so access logs see it. HTTP/1 connections close after it.
    fn refuse(&mut self, refusal: Refusal) -> End {
        let error = match refusal {
            Refusal::Answer(error) => error,
            Refusal::Malformed => ProxyError::BadRequest,
        };
        tracing::debug!(peer = %self.conn.peer, code = error.code(), "request refused");
        self.request.error = Some(error);
        let mut response = error_page(error.status());
        if error == ProxyError::MethodNotAllowed {
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(edge::ALLOW));
        }
        let close = self.request.head.version != Version::HTTP_2;
        End::respond(response, false, close)
    }

    /// Turns the end into what hyper sends, running ReadResponse and arranging
    /// RequestFinish.
    fn finish(mut self, end: End) -> Result<Response<ProxyBody>, Refused> {
        self.settled = true;
        let (response, read_response, mut close, active, mut redirected) = match end {
            End::Close => {
                match self.request.error {
                    Some(error) => self.conn.snapshot.metrics.error(error),
                    None => self.conn.snapshot.metrics.closed(),
                }
                self.conn.control.abort();
                request_finish(&self.conn, &mut self.request, None);
                return Err(Refused::Closed);
            }
            End::Respond {
                response,
                read_response,
                close,
                active,
                redirect,
            } => (response, read_response, close, active, redirect),
        };
        let (head, mut body) = response.into_parts();
        let mut state = ResponseState::new(head);
        let chain = &self.conn.snapshot.plugins.chains.read_response;
        if read_response && !chain.is_empty() {
            let action = {
                let mut session = self.conn.lock_session();
                let mut view = PluginRequest {
                    request: &mut self.request,
                    session: &mut session,
                };
                chain.run(Point::ReadResponse, &mut view, Some(&mut state))
            };
            match action {
                Ok(Action::Redirect) => match redirect::response(&self.request) {
                    Some(redirect) => {
                        let (head, bytes) = redirect.into_parts();
                        state = ResponseState::new(head);
                        body = BodyKind::full(bytes);
                        redirected = true;
                    }
                    None => {
                        self.request.error = Some(ProxyError::PluginError);
                        (state, body) = plain_error(ProxyError::PluginError);
                    }
                },
                Ok(Action::Finish) => close = true,
                Ok(_) => {}
                Err(_) => {
                    self.request.error = Some(ProxyError::PluginError);
                    (state, body) = plain_error(ProxyError::PluginError);
                }
            }
        }
        if let Some(replaced) = state.body.take() {
            body = BodyKind::full(replaced);
        }
        if close {
            if self.request.head.version == Version::HTTP_2 {
                self.conn.control.close_after_response();
            } else {
                state
                    .head
                    .headers
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
        }
        self.conn
            .snapshot
            .metrics
            .response(state.head.status.as_u16(), self.request.error);
        let finish = if self.conn.snapshot.plugins.chains.request_finish.is_empty() {
            None
        } else {
            let request = std::mem::replace(&mut self.request, RequestState::settled());
            Some(Box::new(RequestFinish {
                conn: Arc::clone(&self.conn),
                request,
                response: (!redirected).then(|| state.head_copy()),
            }))
        };
        Ok(Response::from_parts(
            state.head,
            ProxyBody::new(body, finish, active),
        ))
    }
}

/// A handler's reply as a response; `None` if its status or a header is invalid.
/// `Content-Length` is the body's, except that a reply to HEAD with no body keeps the
/// length its handler gave (the size the GET would have).
fn reply(data: ResponseData, method: &http::Method) -> Option<Response<BodyKind>> {
    let status = StatusCode::from_u16(data.status).ok()?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for header in data.headers.iter() {
        let name = http::header::HeaderName::from_bytes(header.0.as_bytes()).ok()?;
        let value = HeaderValue::from_str(header.1.as_str()).ok()?;
        headers.append(name, value);
    }
    let body = Bytes::from(data.body.into_vec());
    let keep_length =
        *method == http::Method::HEAD && body.is_empty() && headers.contains_key(CONTENT_LENGTH);
    if !keep_length {
        headers.insert(CONTENT_LENGTH, body.len().into());
    }
    Some(response.map(|()| BodyKind::full(body)))
}

/// A short plain-text page for a status the proxy answers itself.
pub(crate) fn error_page(status: StatusCode) -> Response<BodyKind> {
    let text = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut response = Response::new(());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONTENT_LENGTH, text.len().into());
    response.map(|()| BodyKind::full(text))
}

fn plain_error(error: ProxyError) -> (ResponseState, BodyKind) {
    let (head, body) = error_page(error.status()).into_parts();
    (ResponseState::new(head), body)
}
