//! Forwarding: subcluster and backend choice, Forward once per attempt, and retries
//! (DESIGN §3): a connect failure retries on another backend, up to the cluster's
//! `retries`, then in another subcluster, up to `cross_retry` times; a failure after
//! the request was sent retries only for an idempotent request without a body.

use std::sync::Arc;

use hookgate_plugin_api::Action;
use http::{Method, Response, StatusCode};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use super::body::{BodyKind, ClientBody};
use super::connection::Conn;
use super::forwarded;
use super::request::{error_page, End, Life};
use super::websocket;
use crate::balance::{ActiveRequest, Cluster};
use crate::error::ProxyError;
use crate::request::PluginRequest;
use crate::upstream::{Timeouts, UpstreamBody, UpstreamError};

/// Attempts at most, whatever the config says: bounds the work one request can cause.
const MAX_ATTEMPTS: usize = 16;

/// Backend ids (or subcluster indexes) already tried, without allocating.
struct Tried {
    ids: [usize; MAX_ATTEMPTS],
    len: usize,
}

impl Tried {
    fn new() -> Tried {
        Tried {
            ids: [0; MAX_ATTEMPTS],
            len: 0,
        }
    }
    fn push(&mut self, id: usize) {
        if self.len < MAX_ATTEMPTS {
            self.ids[self.len] = id;
            self.len += 1;
        }
    }
    fn as_slice(&self) -> &[usize] {
        &self.ids[..self.len]
    }
    fn is_full(&self) -> bool {
        self.len == MAX_ATTEMPTS
    }
}

/// Whether a request may be sent again after a failure once it was sent.
fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Sends the request to a backend of `cluster`, retrying as the cluster allows.
pub(crate) async fn forward(
    life: &mut Life,
    cluster: &Cluster,
    body: Incoming,
    on_upgrade: Option<OnUpgrade>,
) -> End {
    let snapshot = Arc::clone(&life.conn.snapshot);
    let client_ip = life.request.client_ip;
    let resendable = idempotent(&life.request.head.method) && body.is_end_stream();
    let timeouts = Timeouts {
        connect: cluster.connect_timeout,
        response: cluster.response_timeout,
    };
    let fault = life.fault.clone();
    let mut body = Some(ClientBody::new(body, life.body_limit, fault.clone()));
    let mut tried_subclusters = Tried::new();
    let mut tried_backends = Tried::new();
    let mut current: Option<usize> = None;
    let mut attempts_here = 0u32;
    let mut crosses_left = cluster.cross_retry;
    let mut last_error = ProxyError::NoBackend;
    while !tried_backends.is_full() {
        let index = match current {
            Some(index) => index,
            None => match cluster.subcluster(client_ip, tried_subclusters.as_slice()) {
                Some(index) => {
                    current = Some(index);
                    attempts_here = 0;
                    index
                }
                None => break,
            },
        };
        let subcluster = &cluster.subclusters[index];
        let backend = if attempts_here <= cluster.retries {
            subcluster.backend(cluster.balance, client_ip, tried_backends.as_slice())
        } else {
            None
        };
        let Some(backend) = backend.map(Arc::clone) else {
            tried_subclusters.push(index);
            current = None;
            if crosses_left == 0 {
                break;
            }
            crosses_left -= 1;
            continue;
        };
        attempts_here += 1;
        tried_backends.push(backend.id);
        life.request.route.subcluster = Some(Arc::clone(&subcluster.name));
        life.request.route.backend = Some(Arc::clone(&backend.name));
        if let Some(end) = life.forward_point() {
            return end;
        }
        let Some(attempt_body) = body.take().or(resendable.then_some(ClientBody::Empty)) else {
            break;
        };
        let request = forwarded::upstream_request(
            &life.request,
            &life.conn.peer_header,
            life.conn.is_tls,
            on_upgrade.is_some(),
            backend.addr,
            attempt_body,
        );
        let active = backend.start_request();
        match snapshot
            .upstream
            .send(backend.id, backend.addr, request, timeouts)
            .await
        {
            Ok(response) => {
                backend.connect_succeeded();
                return upstream_response(response, on_upgrade, active, &life.conn);
            }
            Err(UpstreamError::Connect { request, source }) => {
                backend.connect_failed();
                tracing::warn!(cluster = %cluster.name, backend = %backend.name, error = %source, "connect failed");
                body = Some(request.into_body());
                last_error = ProxyError::ConnectFailed;
            }
            // The attempt failed because the client's body did (too large, broken,
            // cut): the client's error, not the backend's, and no retry.
            Err(_) if fault.get().is_some() => break,
            Err(UpstreamError::Timeout) => {
                tracing::warn!(cluster = %cluster.name, backend = %backend.name, "response timeout");
                last_error = ProxyError::Timeout;
                if !resendable {
                    break;
                }
            }
            Err(UpstreamError::Failed {
                source,
                invalid_response,
            }) => {
                tracing::warn!(cluster = %cluster.name, backend = %backend.name, error = %source, "upstream failed");
                last_error = if invalid_response {
                    ProxyError::BadResponse
                } else {
                    ProxyError::UpstreamFailed
                };
                if !resendable {
                    break;
                }
            }
        }
    }
    match fault.get() {
        Some(error) => life.client_error(error),
        None => life.proxy_error(last_error),
    }
}

impl Life {
    /// Runs Forward for this attempt; `Some` ends the request.
    fn forward_point(&mut self) -> Option<End> {
        let chain = &self.conn.snapshot.plugins.chains.forward;
        if chain.is_empty() {
            return None;
        }
        let action = {
            let mut session = self.conn.lock_session();
            let mut view = PluginRequest {
                request: &mut self.request,
                session: &mut session,
            };
            chain.run(&mut view)
        };
        match action {
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
            Err(_) => Some(self.proxy_error(ProxyError::PluginError)),
        }
    }
}

/// The backend's response, ready for ReadResponse; a 101 to an Upgrade starts the
/// tunnel.
fn upstream_response(
    mut response: Response<UpstreamBody>,
    on_upgrade: Option<OnUpgrade>,
    active: ActiveRequest,
    conn: &Arc<Conn>,
) -> End {
    let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    if let (true, Some(client)) = (upgraded, on_upgrade) {
        websocket::tunnel(client, hyper::upgrade::on(&mut response), Arc::clone(conn));
    }
    let (mut head, body) = response.into_parts();
    forwarded::remove_hop_by_hop(&mut head.headers, upgraded);
    let body = if upgraded {
        BodyKind::Empty
    } else {
        BodyKind::Upstream(body)
    };
    End::Respond {
        response: Response::from_parts(head, body),
        read_response: true,
        close: false,
        active: Some(active),
        redirect: false,
    }
}
