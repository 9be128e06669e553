//! The life of one request: the one place every request-level callback point runs, in
//! the order of the lifecycle chart of `hookgate_plugin_api`'s crate docs, with what
//! the server does with each return value (the callback contract, DESIGN §2.3).
//!
//! ```text
//! the codec hands a request over ─ admit (front door) ─ refused (400, 405) ────────┐
//!   BeforeLocation → product → FoundProduct → cluster → AfterLocation             │
//!   → [read the body → RequestBody]   (only for plugins that asked for the body)  │
//!   → [subcluster, backend, Forward, send] × attempts (Retries)                   │
//!   → ReadResponse → [read the body → ResponseBody]   (likewise)                  │
//!   → [gRPC: a local error answer → Trailers-Only (`grpc`)]                       │
//!   → send → RequestFinish  ◄─────────────────────────────────────────────────────┘
//! ```
//!
//! Every early end is an [`End`]: a response (through ReadResponse or not, closing
//! after it or not) or a silent close. Proxy errors are responses that pass through
//! ReadResponse with the request's error code set; heads the front door refuses skip
//! every point but RequestFinish. Every chain is called the same way ([`call`]); the
//! verdict's meaning differs per point and is written out at each.

use std::future::Future;
use std::sync::Arc;

use hookgate_plugin_api::{Action, Point, RequestPoint, ResponsePoint};
use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Response, StatusCode, Version};
use http_body::Body as _;

use super::activity::InFlight;
use super::body::{BodyKind, ClientBody, ClientFault, ProxyBody, WhenSent};
use super::body_read::{self, Prefixed};
use super::compress::{Compress, Compressed, Plan};
use super::connection::Conn;
use super::grpc;
use super::incoming::{ClientUpgrade, IncomingBody};
use super::reply::{error_page, plain_error, reply};
use super::retry::{Failure, Retries};
use super::{forwarded, redirect, websocket};
use crate::balance::{ActiveRequest, Cluster};
use crate::edge::{self, Refusal};
use crate::error::ProxyError;
use crate::plugin::{Chain, Instance, RequestChainOutcome};
use crate::plugin_body::{frame_by_length, PluginBody};
use crate::request::{PluginRequest, RequestState};
use crate::response::{ResponseState, SentResponse};
use crate::route::RouteFacts;
use crate::snapshot::Snapshot;
use crate::upstream::{TlsFailure, UpstreamBody, UpstreamError};
use hookgate_plugin_api::body::TooLarge;

/// Why the codec gets no response for a request.
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

/// Serves one request; `Err` makes the codec drop the connection (`Closed`) or reset
/// the stream (`Malformed`, HTTP/2).
///
/// Internal: the head is checked and the request's [`Life`] begun at once, when the
/// codec hands the request over, not when it first polls the future: a client that
/// closes right after sending its request makes the codec drop the future unpolled,
/// and the request must still end in RequestFinish (`client_closed`).
///
/// The future is boxed: the connection keeps it (hyper's HTTP/2 streams, our HTTP/1.1
/// loop) for as long as the request lives, and the unboxed future (the whole life of
/// a request) is several KiB; boxed, it is a pointer and moves as one.
pub(crate) fn handle(
    request: http::Request<IncomingBody>,
    conn: Arc<Conn>,
) -> impl Future<Output = Result<Response<ProxyBody>, Refused>> + Send {
    let begun = begin(request, conn);
    Box::pin(async move {
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
        // Internal: ReadResponse and the send are plain calls, and only the body read
        // for ResponseBody awaits: the life is not moved into another future.
        let mut out = life.read_response(end)?;
        if out.body_wanted {
            life.response_body(&mut out).await;
        }
        Ok(life.send(out))
    })
}

/// A request handed over by the codec, checked at the front door.
struct Begun {
    /// Boxed: the request's state is moved into the request's future and that into
    /// its box; a pointer moves in a few instructions, the state in hundreds.
    life: Box<Life>,
    admitted: Result<(), Refusal>,
    body: IncomingBody,
    on_upgrade: Option<ClientUpgrade>,
}

fn begin(mut request: http::Request<IncomingBody>, conn: Arc<Conn>) -> Result<Begun, Refused> {
    if conn.control.is_closing() {
        // Keep-alive already ended (RequestFinish returned Finish): this request,
        // pipelined behind that one, never reaches BeforeLocation.
        return Err(Refused::Closed);
    }
    // The configuration current now: a request that starts after a reload runs on
    // the new one, whichever connection it comes on.
    let snapshot = conn.current.load_full();
    // Put there by the codec for a request `websocket::is_upgrade` says upgrades.
    let on_upgrade = ClientUpgrade::take(&mut request);
    let (mut head, body) = request.into_parts();
    let admitted = edge::admit(&mut head, &snapshot.edge);
    if admitted == Err(Refusal::Malformed) {
        // A stream error: no request to run the points for (RFC 9113 §8.1.1).
        snapshot.metrics.error(ProxyError::BadRequest);
        tracing::debug!(peer = %conn.peer, "malformed HTTP/2 request refused");
        return Err(Refused::Malformed(h2::Error::from(
            h2::Reason::PROTOCOL_ERROR,
        )));
    }
    let client_ip = forwarded::client_ip(&head.headers, conn.peer.ip(), &snapshot.trusted_proxies);
    let last = {
        let mut session = conn.lock_session();
        session.request_count += 1;
        if head.version == Version::HTTP_2 {
            session.protocol = "h2";
        }
        // `server.keepalive_requests`: this one is the connection's last.
        session.request_count >= snapshot.edge.keepalive_requests
    };
    let trace = (snapshot.tracing.as_ref()).map(|tracer| {
        let trace = tracer.begin(&mut head.headers, conn.peer.ip(), &snapshot.trusted_proxies);
        Box::new(trace)
    });
    let mut request = RequestState::new(head, client_ip);
    request.trace = trace;
    request.client_ip_is_peer = client_ip == conn.peer.ip();
    // Bodies are offered to plugins, but never an upgrade's (nor a gRPC stream's: the
    // view checks that when a plugin asks).
    request.body = PluginBody::new(on_upgrade.is_none());
    let life = Box::new(Life {
        in_flight: Some(conn.activity.begin()),
        conn,
        snapshot,
        request,
        body_limit: u64::MAX,
        compress: None,
        fault: ClientFault::of(&body),
        last,
        settled: false,
    });
    Ok(Begun {
        life,
        admitted,
        body,
        on_upgrade,
    })
}

/// A request on its way through the points.
struct Life {
    conn: Arc<Conn>,
    /// The configuration the request runs on (current when it started).
    snapshot: Arc<Snapshot>,
    request: RequestState,
    /// The most body bytes the request may send (its product's `max_body_bytes`, or
    /// the server's; `u64::MAX` for no limit).
    body_limit: u64,
    /// The product's response compression, once the product is known.
    compress: Option<Arc<Compress>>,
    /// The client-side failure of the request body, if one happened.
    fault: ClientFault,
    /// The request counted in flight on its connection (for the connection's idle
    /// timeout) until its response is sent.
    in_flight: Option<InFlight>,
    /// The connection's last request (`server.keepalive_requests`): it closes after.
    last: bool,
    /// Whether the request has been handed on (to the codec as a response, or to
    /// RequestFinish); if not when the life is dropped, the codec dropped it because the
    /// client went away.
    settled: bool,
}

/// How a request ends.
// Internal: made and moved once per request; `Close` is the rare case, so boxing the
// response to shrink it would only add an allocation to every request.
#[allow(clippy::large_enum_variant)]
enum End {
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
    /// Send nothing: the client went away (HTTP/1: its connection is gone; HTTP/2:
    /// it reset the stream, and only that stream ends).
    Gone,
}

impl End {
    fn respond(response: Response<BodyKind>, read_response: bool, close: bool) -> End {
        End::Respond {
            response,
            read_response,
            close,
            active: None,
            redirect: false,
        }
    }
}

impl Life {
    /// From BeforeLocation to the backend's response (or an early end).
    async fn route_and_forward(
        &mut self,
        body: IncomingBody,
        on_upgrade: Option<ClientUpgrade>,
    ) -> End {
        let snapshot = Arc::clone(&self.snapshot);
        if let Some(end) = self.request_point(RequestPoint::BeforeLocation).await {
            return end;
        }
        let Some(product) = snapshot.routes.product(self.request.host()) else {
            return self.proxy_error(ProxyError::NoProduct);
        };
        self.request.route.product = Some(Arc::clone(&product.name));
        self.compress.clone_from(&product.compress);
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
        if let Some(end) = self.request_point(RequestPoint::FoundProduct).await {
            return end;
        }
        let cluster = {
            let facts = RouteFacts {
                head: &self.request.head,
                client_ip: self.request.client_ip,
                client_ip_trusted: !self.request.client_ip_is_peer,
                peer_ip: self.conn.peer.ip(),
                is_secure: self.conn.is_tls,
                sni: self.conn.sni.get().map(|sni| &**sni),
            };
            product
                .cluster(&facts)
                .and_then(|name| snapshot.clusters.get(name))
        };
        let Some(cluster) = cluster else {
            return self.proxy_error(ProxyError::NoRoute);
        };
        self.request.route.cluster = Some(Arc::clone(&cluster.name));
        if let Some(end) = self.request_point(RequestPoint::AfterLocation).await {
            return end;
        }
        let mut body = ClientBody::new(
            body,
            self.body_limit,
            self.snapshot.edge.timeouts.body,
            self.fault.clone(),
        );
        // Internal: a plain check first, so that a request no plugin asked the body of
        // (most of them) does not make and poll the reading future.
        self.request.body.close_offer();
        if self.request.body.is_wanted() {
            if let Some(end) = self.request_body(&mut body).await {
                return end;
            }
        }
        self.forward(cluster, body, on_upgrade).await
    }

    /// RequestBody, if plugins asked for the body: reads it (up to the largest limit
    /// of those that asked), refuses it (413) if one that asked refuses a body over
    /// its limit, and runs the handlers of those it fits. `body` becomes what the
    /// backend receives. `Some` ends the request.
    async fn request_body(&mut self, body: &mut ClientBody) -> Option<End> {
        let chain = Arc::clone(&self.snapshot);
        let chain = chain.plugins.chains.request(RequestPoint::RequestBody);
        if !self.request.body.is_wanted() || chain.is_empty() {
            return None;
        }
        let product = self.request.route.product.clone().unwrap_or_default();
        let serving = || chain.instances().filter(|i| i.serves(&product));
        let limit = self.request.body.read_limit(serving(), self.body_limit)?;
        if body.size_hint().lower() > limit {
            // Declared longer than every limit: refused before anything reads it (so
            // `Expect: 100-continue` gets the 413 instead of a 100), or, if all of
            // them skip it, streamed as it comes, nothing read.
            return match self.request.body.chosen(serving(), None) {
                Ok(_) => None,
                Err(TooLarge) => Some(self.client_error(ProxyError::BodyTooLarge)),
            };
        }
        let read = match body_read::read(body, limit).await {
            Ok(read) => read,
            Err(_) => {
                let error = self.fault.get().unwrap_or(ProxyError::BadBody);
                return Some(self.client_error(error));
            }
        };
        let complete = read.complete;
        self.request.body.set_read(read.bytes, complete);
        let len = self.request.body.read_len();
        let chosen = match self.request.body.chosen(serving(), len) {
            Ok(chosen) if complete => chosen,
            Ok(_) => {
                // Longer than every limit, and all of them skip it: the backend gets
                // what was read, then the rest of the stream.
                let rest = std::mem::replace(body, ClientBody::Empty);
                let prefix = self.request.body.take_read().unwrap_or_default();
                *body = ClientBody::Prefixed(Box::new(Prefixed::new(prefix, rest)));
                return None;
            }
            Err(TooLarge) if complete => return Some(self.proxy_error(ProxyError::BodyTooLarge)),
            // The rest of the body is unread: the connection closes after the 413.
            Err(TooLarge) => return Some(self.client_error(ProxyError::BodyTooLarge)),
        };
        let headers = &mut self.request.head.headers;
        let len = len.unwrap_or(0);
        if len > 0
            || headers.contains_key(CONTENT_LENGTH)
            || headers.contains_key(TRANSFER_ENCODING)
        {
            frame_by_length(headers, len as usize);
        }
        self.request.body.writable = true;
        let end = self.request_point_for(RequestPoint::RequestBody, &chosen);
        self.request.body.writable = false;
        // What the handlers left (a replacement, if one set it); an empty body is
        // none, so that the client adds no `Content-Length: 0` of its own.
        let read = self.request.body.whole().filter(|b| !b.is_empty()).cloned();
        *body = ClientBody::Read(read.map(Box::new));
        end
    }

    /// The attempts: each asks [`Retries`] for a subcluster and backend, runs Forward,
    /// and sends; a failure goes on while the retry rules allow it.
    async fn forward(
        &mut self,
        cluster: &Cluster,
        body: ClientBody,
        on_upgrade: Option<ClientUpgrade>,
    ) -> End {
        // Asked once (an HTTP/1 request: one comparison of the version).
        let is_grpc = grpc::is_grpc(self.request.head.version, &self.request.head.headers);
        // gRPC needs HTTP/2 end to end: over HTTP/1.1 its trailers would be lost.
        if is_grpc && !cluster.protocol.is_h2() {
            tracing::warn!(cluster = %cluster.name, "gRPC request routed to an HTTP/1.1 cluster; set its protocol to h2c or h2");
            return self.proxy_error(ProxyError::GrpcOverHttp1);
        }
        let client_ip = self.request.client_ip;
        // A body read whole for RequestBody can be sent again, like no body.
        let replay = body.replay();
        let mut retries = Retries::new(cluster, &self.request.head.method, replay.is_none());
        let cluster_timeouts = cluster.timeouts();
        // A gRPC client's own deadline (`grpc-timeout`), where shorter than the
        // cluster's limits; other requests do not look the header up.
        let deadline = is_grpc
            .then(|| grpc::timeout(&self.request.head.headers))
            .flatten()
            .map(|timeout| tokio::time::Instant::now() + timeout);
        let fault = self.fault.clone();
        let mut body = Some(body);
        let mut last_error = ProxyError::NoBackend;
        while let Some((index, backend)) = retries.next(cluster, client_ip) {
            self.request.route.subcluster = Some(Arc::clone(&cluster.subclusters[index].name));
            self.request.route.backend = Some(Arc::clone(&backend.name));
            if let Some(end) = self.forward_point() {
                return end;
            }
            let resend = retries
                .resendable()
                .then(|| replay.as_ref()?.replay())
                .flatten();
            let Some(attempt_body) = body.take().or(resend) else {
                break;
            };
            let mut timeouts = cluster_timeouts;
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    last_error = ProxyError::DeadlineExceeded;
                    break;
                }
                timeouts.connect = timeouts.connect.min(left);
                timeouts.response = timeouts.response.min(left);
            }
            let request = forwarded::upstream_request(
                &self.request,
                &self.conn.peer_header,
                self.conn.is_tls,
                on_upgrade.is_some(),
                backend.addr,
                attempt_body,
            );
            let active = backend.start_request();
            let failure = match backend.connections().send(request, timeouts).await {
                Ok(response) => {
                    // Sent: a body read for RequestBody is not kept while the response
                    // streams.
                    self.request.body.take_read();
                    if cluster.fail_on_5xx && response.status().is_server_error() {
                        backend.upstream_failed();
                    } else {
                        backend.upstream_succeeded();
                    }
                    let response = client_response(response, on_upgrade, &self.conn);
                    return End::Respond {
                        response,
                        read_response: true,
                        close: false,
                        active: Some(active),
                        redirect: false,
                    };
                }
                // The attempt failed because the client's body did (too large,
                // broken, cut): the client's error, not the backend's, and no retry.
                Err(_) if fault.get().is_some() => break,
                Err(UpstreamError::Connect { request, source }) => {
                    backend.upstream_failed();
                    tracing::warn!(cluster = %cluster.name, backend = %backend, error = %source, "connect failed");
                    body = Some(request.into_body());
                    last_error = ProxyError::of_connect(&source);
                    Failure::Connect
                }
                Err(UpstreamError::Stale { source }) => {
                    tracing::debug!(cluster = %cluster.name, backend = %backend, error = %source, "reused connection closed under the request");
                    last_error = ProxyError::UpstreamFailed;
                    Failure::Stale
                }
                Err(UpstreamError::Timeout)
                    if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) =>
                {
                    // The client's deadline, not the backend's fault: not counted
                    // against it, no retry.
                    last_error = ProxyError::DeadlineExceeded;
                    break;
                }
                Err(UpstreamError::Timeout) => {
                    backend.upstream_failed();
                    tracing::warn!(cluster = %cluster.name, backend = %backend, "response timeout");
                    last_error = ProxyError::Timeout;
                    Failure::AfterSending
                }
                Err(UpstreamError::Failed {
                    source,
                    invalid_response,
                }) => {
                    backend.upstream_failed();
                    // A backend that refuses our client certificate says so once the
                    // handshake is over on our side (TLS 1.3): on the first read.
                    let tls = crate::upstream::tls_cause(&source);
                    match tls {
                        Some(cause) => {
                            tracing::warn!(cluster = %cluster.name, backend = %backend, error = %cause, "upstream failed: TLS")
                        }
                        None => {
                            tracing::warn!(cluster = %cluster.name, backend = %backend, error = %source, "upstream failed")
                        }
                    }
                    last_error = match tls {
                        Some(cause) => ProxyError::of_tls(TlsFailure::of_rustls(cause)),
                        None if invalid_response => ProxyError::BadResponse,
                        None => ProxyError::UpstreamFailed,
                    };
                    Failure::AfterSending
                }
            };
            if !retries.failed(failure) {
                break;
            }
        }
        match fault.get() {
            Some(error) => self.client_error(error),
            None => self.proxy_error(last_error),
        }
    }

    /// BeforeLocation, FoundProduct or AfterLocation; `Some` ends the request.
    async fn request_point(&mut self, point: RequestPoint) -> Option<End> {
        if self.snapshot.plugins.chains.request(point).is_empty() {
            return None;
        }
        let snapshot = Arc::clone(&self.snapshot);
        let chain = snapshot.plugins.chains.request(point);
        let mut first = 0;
        loop {
            let mut waiting = None;
            let outcome = call(&self.conn, &mut self.request, chain, |chain, view| {
                (chain.run_from(point.into(), view, |_| true, first, &mut waiting)).map_err(|_| ())
            })?;
            let (Ok(RequestChainOutcome::Wait), Some(waiting)) = (&outcome, waiting) else {
                return self.request_outcome(point, outcome);
            };
            // The request waits here, holding no worker: a client that goes away drops
            // this future, and with it the callouts; RequestFinish still runs.
            let started = std::time::Instant::now();
            let traced = self.request.recording().then(std::time::SystemTime::now);
            let results =
                crate::callout::run_all(&snapshot, self.request.client_ip, &waiting.callouts).await;
            waiting.counts.record(&results, started.elapsed());
            crate::trace::callouts_done(
                self.request.trace.as_deref_mut(),
                traced,
                crate::callout::described(&waiting.callouts, &results),
            );
            first = waiting.link + 1;
            let resumed = call(&self.conn, &mut self.request, chain, |chain, view| {
                chain
                    .resume(point.into(), view, waiting, results)
                    .map_err(|_| ())
            })?;
            if !matches!(resumed, Ok(RequestChainOutcome::GoOn)) {
                return self.request_outcome(point, resumed);
            }
        }
    }

    /// RequestBody, with the handlers of the `chosen` instances only.
    fn request_point_for(&mut self, point: RequestPoint, chosen: &[u32]) -> Option<End> {
        let chain = self.snapshot.plugins.chains.request(point);
        let outcome = call(&self.conn, &mut self.request, chain, |chain, view| {
            let chosen = |i: &Instance| chosen.contains(&i.id);
            chain.run_for(point.into(), view, chosen).map_err(|_| ())
        })?;
        self.request_outcome(point, outcome)
    }

    /// What a request point's chain decided, as the contract says.
    fn request_outcome(
        &mut self,
        point: RequestPoint,
        outcome: Result<RequestChainOutcome, ()>,
    ) -> Option<End> {
        match outcome {
            Ok(RequestChainOutcome::GoOn) => None,
            Ok(RequestChainOutcome::Respond(data)) => {
                Some(match reply(data, &self.request.head.method) {
                    Some(response) => End::respond(response, true, false),
                    None => {
                        self.plugin_failed(point.into(), "a reply with an invalid status or header")
                    }
                })
            }
            Ok(RequestChainOutcome::Redirect) => Some(self.redirect(false)),
            Ok(RequestChainOutcome::Finish(data)) => {
                let method = &self.request.head.method;
                let response = match data.map(|d| reply(d, method)) {
                    Some(Some(response)) => response,
                    Some(None) => {
                        return Some(self.plugin_failed(
                            point.into(),
                            "a reply with an invalid status or header",
                        ))
                    }
                    None => error_page(StatusCode::INTERNAL_SERVER_ERROR),
                };
                Some(End::respond(response, false, true))
            }
            Ok(RequestChainOutcome::Close) => Some(End::Close),
            // Only where handlers may wait, and then `request_point` runs the wait.
            Ok(RequestChainOutcome::Wait) => {
                Some(self.plugin_failed(point.into(), "returned Wait where it cannot wait"))
            }
            // Already logged and counted by the chain; fail-closed means 500.
            Err(()) => Some(self.proxy_error(ProxyError::PluginError)),
        }
    }

    /// Forward, once per attempt; `Some` ends the request.
    fn forward_point(&mut self) -> Option<End> {
        let chain = self.snapshot.plugins.chains.forward();
        let verdict = call(&self.conn, &mut self.request, chain, |chain, view| {
            chain.run(view).map_err(|_| ())
        })?;
        match verdict {
            Ok(Action::Finish) => {
                self.request.error = Some(ProxyError::ForwardFinished);
                Some(End::respond(
                    error_page(StatusCode::INTERNAL_SERVER_ERROR),
                    true,
                    true,
                ))
            }
            // GoOn sends; Response, Redirect and Close are ignored at Forward.
            Ok(_) => None,
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
    fn proxy_error(&mut self, error: ProxyError) -> End {
        self.request.error = Some(error);
        End::respond(error_page(error.status()), true, false)
    }

    /// A client's error found while the request was served (body too large or
    /// broken): like a proxy error, but an HTTP/1 connection closes after it, since
    /// the rest of the body is unread or unreadable. A client that went away gets
    /// nothing.
    fn client_error(&mut self, error: ProxyError) -> End {
        tracing::info!(peer = %self.conn.peer, code = error.code(), "client error");
        if error == ProxyError::ClientClosed {
            self.request.error = Some(error);
            return End::Gone;
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

    /// ReadResponse on the end's response (for those that pass through it); `Err` for
    /// an end without one (RequestFinish has run then).
    fn read_response(&mut self, end: End) -> Result<Outgoing, Refused> {
        // Whatever ended the request, its body is no longer offered.
        self.request.body.close_offer();
        let (response, read_response, close, active, redirected) = match end {
            End::Close | End::Gone => {
                self.settled = true;
                match self.request.error {
                    Some(error) => self.snapshot.metrics.error(error),
                    None => self.snapshot.metrics.closed(),
                }
                if matches!(end, End::Close) || self.request.head.version != Version::HTTP_2 {
                    self.conn.control.abort();
                }
                request_finish(&self.conn, &self.snapshot, &mut self.request, None, None);
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
        let (head, body) = response.into_parts();
        let mut out = Outgoing {
            state: ResponseState::new(head),
            body,
            close: close || self.last,
            from_backend: active.is_some(),
            active,
            redirected,
            body_wanted: false,
        };
        if read_response {
            // Not for a HEAD request (the view checks the rest when a plugin asks).
            let offered = self.request.head.method != http::Method::HEAD;
            out.state.asked = PluginBody::new(offered);
            let chain = self
                .snapshot
                .plugins
                .chains
                .response(ResponsePoint::ReadResponse);
            let verdict = call(&self.conn, &mut self.request, chain, |chain, view| {
                chain
                    .run(Point::ReadResponse, view, Some(&mut out.state))
                    .map_err(|_| ())
            });
            let kept = self.response_verdict(verdict, &mut out);
            out.state.asked.close_offer();
            out.body_wanted = kept && out.state.asked.is_wanted();
        }
        Ok(out)
    }

    /// The response handed to the codec, with RequestFinish to run once it is sent.
    fn send(mut self, out: Outgoing) -> Response<ProxyBody> {
        let Outgoing {
            mut state,
            mut body,
            mut close,
            active,
            redirected,
            from_backend,
            ..
        } = out;
        if let Some(replaced) = state.body.take() {
            body = BodyKind::full(replaced);
        }
        // What the proxy decided, as counted; a gRPC client gets it as a gRPC error.
        let decided = state.head.status;
        let is_grpc = grpc::is_grpc(self.request.head.version, &self.request.head.headers);
        if !from_backend && is_grpc && grpc::converts(decided, &state.head.headers) {
            grpc::trailers_only(&mut state.head, self.request.error);
            body = BodyKind::Empty;
        }
        // After ReadResponse and ResponseBody, before the first byte goes out.
        if let Some(compress) = &self.compress {
            let plan = compress.plan(
                &self.request.head.method,
                &self.request.head.headers,
                state.head.status,
                &state.head.headers,
                body.size_hint().exact(),
                is_grpc,
            );
            plan.apply(&mut state.head.headers);
            if let Plan::Encode(algorithm) = plan {
                body = BodyKind::Compressed(Box::new(Compressed::new(body, algorithm)));
            }
        }
        if self.request.head.version == Version::HTTP_10
            && !state.head.headers.contains_key(CONTENT_LENGTH)
            && body.size_hint().exact().is_none()
        {
            // An HTTP/1.0 client cannot read chunked framing: a body of unknown length
            // is delimited by closing the connection (RFC 9112 §6.3 (8)), so it must
            // not be told keep-alive.
            close = true;
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
        self.snapshot
            .metrics
            .response(decided.as_u16(), self.request.error);
        self.settled = true;
        let chains = &self.snapshot.plugins.chains;
        // RequestFinish runs, and a sampled request's span ends, once the body is sent.
        let recording = self.request.recording();
        let when_sent: Option<Box<dyn WhenSent>> =
            if chains.response(ResponsePoint::RequestFinish).is_empty() && !recording {
                None
            } else {
                let request = std::mem::replace(&mut self.request, RequestState::settled());
                // The head is copied for RequestFinish handlers only.
                let handlers = !chains.response(ResponsePoint::RequestFinish).is_empty();
                Some(Box::new(Sent {
                    conn: Arc::clone(&self.conn),
                    snapshot: Arc::clone(&self.snapshot),
                    request,
                    response: (!redirected && handlers).then(|| state.sent()),
                    status: state.head.status.as_u16(),
                }))
            };
        Response::from_parts(
            state.head,
            ProxyBody::new(body, when_sent, active, self.in_flight.take()),
        )
    }

    /// What ReadResponse (or ResponseBody) decided, applied to the response: `true` if
    /// the response is still the one the chain saw (not a redirect, not a 500).
    fn response_verdict(
        &mut self,
        verdict: Option<Result<Action, ()>>,
        out: &mut Outgoing,
    ) -> bool {
        match verdict {
            None | Some(Ok(Action::GoOn | Action::Response | Action::Close)) => true,
            Some(Ok(Action::Redirect)) => {
                match redirect::response(&self.request) {
                    Some(redirect) => {
                        let (head, bytes) = redirect.into_parts();
                        out.replace((ResponseState::new(head), BodyKind::full(bytes)));
                        out.redirected = true;
                    }
                    None => {
                        self.request.error = Some(ProxyError::PluginError);
                        out.replace(plain_error(ProxyError::PluginError));
                    }
                }
                false
            }
            Some(Ok(Action::Finish)) => {
                out.close = true;
                true
            }
            Some(Err(())) => {
                self.request.error = Some(ProxyError::PluginError);
                out.replace(plain_error(ProxyError::PluginError));
                false
            }
        }
    }

    /// ResponseBody: reads the response body (up to the largest limit of the plugins
    /// that asked), refuses it (502) if one that asked refuses a body over its limit,
    /// and runs the handlers of those it fits; their verdict as at ReadResponse.
    async fn response_body(&mut self, out: &mut Outgoing) {
        let snapshot = Arc::clone(&self.snapshot);
        let chain = snapshot
            .plugins
            .chains
            .response(ResponsePoint::ResponseBody);
        let product = self.request.route.product.clone().unwrap_or_default();
        let serving = || chain.instances().filter(|i| i.serves(&product));
        let Some(limit) = out.state.asked.read_limit(serving(), u64::MAX) else {
            return;
        };
        if let Some(replaced) = out.state.body.take() {
            // Replaced at ReadResponse: that is the body handlers see.
            out.body = BodyKind::full(replaced);
        }
        let read = match body_read::read(&mut out.body, limit).await {
            Ok(read) => read,
            Err(error) => {
                tracing::warn!(backend = ?self.request.route.backend, %error, "response body failed while read for plugins");
                self.request.error = Some(ProxyError::UpstreamFailed);
                out.replace(plain_error(ProxyError::UpstreamFailed));
                return;
            }
        };
        let complete = read.complete;
        out.state.asked.set_read(read.bytes.clone(), complete);
        let len = out.state.asked.read_len();
        let Ok(chosen) = out.state.asked.chosen(serving(), len) else {
            self.request.error = Some(ProxyError::ResponseTooLarge);
            out.replace(plain_error(ProxyError::ResponseTooLarge));
            return;
        };
        if !complete {
            let rest = std::mem::replace(&mut out.body, BodyKind::Empty);
            let BodyKind::Upstream(rest) = rest else {
                // Only a backend's body can be longer than what was read.
                out.body = rest;
                return;
            };
            out.body = BodyKind::Prefixed(Box::new(Prefixed::new(read.bytes, rest)));
            return;
        }
        frame_by_length(&mut out.state.head.headers, read.bytes.len());
        out.body = BodyKind::full(read.bytes);
        if chosen.is_empty() {
            return;
        }
        let state = &mut out.state;
        let verdict = call(&self.conn, &mut self.request, chain, |chain, view| {
            let chosen = |i: &Instance| chosen.contains(&i.id);
            (chain.run_for(Point::ResponseBody, view, Some(state), chosen)).map_err(|_| ())
        });
        self.response_verdict(verdict, out);
    }
}

/// A response on its way out, as ReadResponse and ResponseBody leave it.
struct Outgoing {
    /// Its head (and a body a handler put in place of the original).
    state: ResponseState,
    /// Its body.
    body: BodyKind,
    /// Whether the connection closes after it.
    close: bool,
    /// The backend's busy mark (least_conn), kept until the body is done.
    active: Option<ActiveRequest>,
    /// A redirect: RequestFinish then sees no response (DESIGN §2.3 coverage).
    redirected: bool,
    /// Whether a ReadResponse handler asked for the body (ResponseBody is due).
    body_wanted: bool,
    /// Whether it is a backend's response (not the proxy's or a plugin's answer).
    from_backend: bool,
}

impl Outgoing {
    /// Puts the proxy's answer in place of the response.
    fn replace(&mut self, (state, body): (ResponseState, BodyKind)) {
        self.state = state;
        self.body = body;
        self.from_backend = false;
    }
}

impl Drop for Life {
    /// The codec dropped the request before it was settled: the client went away
    /// (closed its connection or reset its stream) while the request was being served.
    /// If its body had failed first (cut before its length), that is the error: the
    /// end of the stream is the client leaving, as nginx takes it, so no 400 can be
    /// sent, but the log says what the client did.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let error = self.fault.get().unwrap_or(ProxyError::ClientClosed);
        self.request.error = Some(error);
        self.snapshot.metrics.error(error);
        tracing::debug!(peer = %self.conn.peer, "client went away before its response");
        request_finish(&self.conn, &self.snapshot, &mut self.request, None, None);
    }
}

/// What RequestFinish needs once the response body is done.
struct Sent {
    conn: Arc<Conn>,
    snapshot: Arc<Snapshot>,
    request: RequestState,
    /// For RequestFinish handlers (none without them, or after a redirect).
    response: Option<SentResponse>,
    /// The status sent (for the request's span).
    status: u16,
}

impl WhenSent for Sent {
    fn sent(mut self: Box<Self>) {
        let Sent {
            conn,
            snapshot,
            request,
            response,
            status,
        } = &mut *self;
        request_finish(conn, snapshot, request, response.as_mut(), Some(*status));
    }
}

/// RequestFinish; Finish there means no keep-alive after this request.
fn request_finish(
    conn: &Conn,
    snapshot: &Snapshot,
    request: &mut RequestState,
    response: Option<&mut SentResponse>,
    status: Option<u16>,
) {
    let chain = snapshot
        .plugins
        .chains
        .response(ResponsePoint::RequestFinish);
    let verdict = call(conn, request, chain, |chain, view| {
        chain.run(Point::RequestFinish, view, response)
    });
    if matches!(verdict, Some(Ok(Action::Finish))) {
        conn.control.close_after_response();
    }
    if let (Some(tracer), Some(mut trace)) = (&snapshot.tracing, request.trace.take()) {
        tracer.end(&mut trace, request, status);
    }
}

/// The backend's response made ready for the client: hop-by-hop headers removed; a
/// 101 to an upgrade starts the tunnel (and the client gets the 101 with no body).
pub(crate) fn client_response(
    mut response: Response<UpstreamBody>,
    on_upgrade: Option<ClientUpgrade>,
    conn: &Arc<Conn>,
) -> Response<BodyKind> {
    let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    if let (true, Some(client)) = (upgraded, on_upgrade) {
        websocket::tunnel(client, hyper::upgrade::on(&mut response), Arc::clone(conn));
    }
    let (mut head, body) = response.into_parts();
    if head.headers.contains_key(TRANSFER_ENCODING) {
        // RFC 9112 §6.3 (3): Transfer-Encoding overrides Content-Length, and an
        // intermediary removes the Content-Length: the body is de-chunked here and
        // framed anew for the client.
        head.headers.remove(CONTENT_LENGTH);
    }
    forwarded::remove_hop_by_hop(&mut head.headers, upgraded);
    let body = if upgraded {
        BodyKind::Empty
    } else {
        BodyKind::Upstream(body)
    };
    Response::from_parts(head, body)
}

/// Runs `run` on `chain` with the plugin view of `request` (its session locked for the
/// call), unless the chain is empty: the one way every request-level chain is called.
fn call<'c, H, T>(
    conn: &Conn,
    request: &mut RequestState,
    chain: &'c Chain<H>,
    run: impl FnOnce(&'c Chain<H>, &mut PluginRequest<'_>) -> T,
) -> Option<T> {
    if chain.is_empty() {
        return None;
    }
    // A sampled request's span notes each handler call (plugin/call.rs).
    let traced = request.recording();
    if traced {
        crate::plugin::trace_calls(true);
    }
    let mut session = conn.lock_session();
    let mut view = PluginRequest {
        request,
        session: &mut session,
    };
    let result = run(chain, &mut view);
    if traced {
        let events = crate::plugin::trace_calls(false);
        if let Some(recording) = view
            .request
            .trace
            .as_mut()
            .and_then(|t| t.recording.as_mut())
        {
            recording.events.extend(events);
        }
    }
    Some(result)
}
