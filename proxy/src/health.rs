//! Active health checks: one task per backend health state (a backend of a cluster
//! with a `health_check`, shared by every configuration that has it), reporting each
//! probe through [`Backend::check_result`]; a reload keeps the tasks of the backends
//! it keeps ([`reconcile`]).
//!
//! A probe is `GET <path>` over a fresh HTTP/1.1 connection (so a check also proves
//! the backend still accepts connections, which a pooled connection would not), with
//! `Host` set to the backend's address (its `name:port` if it was given by name) and
//! `User-Agent: hookgate-health-check`;
//! connecting is bounded by the cluster's `connect_timeout`, the response headers by
//! its `response_timeout`. A 2xx or 3xx status is a success.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONNECTION, HOST, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{self, MissedTickBehavior};

use crate::balance::{Backend, Cluster, HealthKey};
use crate::upstream::Transport;

/// The `User-Agent` of every probe.
const AGENT: &str = "hookgate-health-check";

/// Starts a checker task for every backend of every cluster that has a
/// `health_check`; each probes every `interval_ms` (the first probe at once). The
/// tasks stop when `shutdown` changes or its sender is dropped (or if it is already
/// `true`). Must be called inside a tokio runtime.
pub fn spawn(clusters: &[Arc<Cluster>], shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let mut running = HashMap::new();
    reconcile(clusters, shutdown, &mut running);
    running.into_values().collect()
}

/// Makes `running` the checkers of exactly the backends of `clusters` that have a
/// `health_check`, one per [`HealthKey`]: a backend whose health state already has
/// a checker (the same backend in the configuration before a reload) keeps it, the
/// missing ones are started, and those no backend of `clusters` needs are stopped.
pub fn reconcile(
    clusters: &[Arc<Cluster>],
    shutdown: watch::Receiver<bool>,
    running: &mut HashMap<HealthKey, JoinHandle<()>>,
) {
    let mut wanted = HashSet::new();
    for cluster in clusters {
        let Some(check) = &cluster.health_check else {
            continue;
        };
        let path = match probe_path(&check.path) {
            Ok(path) => Some(path),
            Err(message) => {
                tracing::error!(
                    cluster = %cluster.name,
                    path = %check.path,
                    "health_check.path {message}; every check of this cluster fails"
                );
                None
            }
        };
        let interval = Duration::from_millis(check.interval_ms.max(1));
        for subcluster in &cluster.subclusters {
            for backend in &subcluster.members().backends {
                let key = backend.health().key().clone();
                wanted.insert(key.clone());
                if running.get(&key).is_some_and(|task| !task.is_finished()) {
                    continue;
                }
                let probe = Probe {
                    addr: backend.addr,
                    transport: backend.connections().transport().clone(),
                    h2: cluster.protocol.is_h2(),
                    path: path.clone(),
                    host: HeaderValue::from_str(backend.host.as_deref().unwrap_or(&backend.name))
                        .ok(),
                    connect_timeout: cluster.connect_timeout,
                    response_timeout: cluster.response_timeout,
                };
                let task =
                    tokio::spawn(run(Arc::clone(backend), probe, interval, shutdown.clone()));
                running.insert(key, task);
            }
        }
    }
    running.retain(|key, task| {
        let keep = wanted.contains(key);
        if !keep {
            task.abort();
        }
        keep
    });
}

/// A `path` usable as a request target: origin form, starting with `/`.
fn probe_path(path: &str) -> Result<Uri, &'static str> {
    if !path.starts_with('/') {
        return Err("must start with `/`");
    }
    path.parse::<Uri>()
        .map_err(|_| "is not a valid request path")
}

/// One backend's checker loop. It reads the time only through tokio's timers, so its
/// tests run on tokio's paused clock rather than waiting for real intervals.
async fn run(
    backend: Arc<Backend>,
    probe: Probe,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    if *shutdown.borrow_and_update() {
        return;
    }
    let mut ticks = time::interval(interval);
    // A slow backend delays the next probe rather than causing a burst of them.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        let outcome = tokio::select! {
            outcome = probe.run() => outcome,
            _ = shutdown.changed() => return,
        };
        if let Err(failure) = &outcome {
            // Failures that may mark the backend down are worth seeing at the default
            // level; repeated ones on a backend that is down already are not.
            if backend.is_healthy() {
                tracing::warn!(
                    cluster = %backend.cluster(),
                    subcluster = %backend.subcluster(),
                    backend = %backend,
                    "health check failed: {failure}"
                );
            } else {
                tracing::debug!(
                    cluster = %backend.cluster(),
                    subcluster = %backend.subcluster(),
                    backend = %backend,
                    "health check failed: {failure}"
                );
            }
        }
        backend.check_result(outcome.is_ok());
    }
}

/// What one backend's probe sends, prepared once.
struct Probe {
    addr: SocketAddr,
    /// TCP, or TLS as the cluster's requests use.
    transport: Transport,
    /// Whether the cluster speaks HTTP/2 to its backends (the probe does too).
    h2: bool,
    /// `None` if the configured path is unusable: every probe then fails.
    path: Option<Uri>,
    /// `None` if the address text is not a header value (it always is).
    host: Option<HeaderValue>,
    connect_timeout: Duration,
    response_timeout: Duration,
}

/// Why a probe failed.
#[derive(Debug)]
enum Failure {
    BadPath,
    ConnectTimeout(Duration),
    Connect(std::io::Error),
    ResponseTimeout(Duration),
    Http(hyper::Error),
    Request(http::Error),
    Status(StatusCode),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::BadPath => f.write_str("invalid health_check.path"),
            Failure::ConnectTimeout(t) => write!(f, "connect timed out after {t:?}"),
            Failure::Connect(e) => write!(f, "connect failed: {e}"),
            Failure::ResponseTimeout(t) => write!(f, "no response within {t:?}"),
            Failure::Http(e) => write!(f, "HTTP error: {e}"),
            Failure::Request(e) => write!(f, "cannot build the request: {e}"),
            Failure::Status(s) => write!(f, "status {s}"),
        }
    }
}

impl Probe {
    /// One probe: `Ok` on a 2xx or 3xx response.
    async fn run(&self) -> Result<(), Failure> {
        let path = self.path.clone().ok_or(Failure::BadPath)?;
        let opened = self.transport.connect(self.addr, !self.h2);
        let stream = time::timeout(self.connect_timeout, opened)
            .await
            .map_err(|_| Failure::ConnectTimeout(self.connect_timeout))?
            .map_err(Failure::Connect)?;
        let request = if self.h2 {
            // HTTP/2: the authority in the URI, no connection header.
            let host = self
                .host
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let scheme = if matches!(self.transport, Transport::Tcp) {
                "http"
            } else {
                "https"
            };
            Request::get(format!("{scheme}://{host}{path}"))
                .version(http::Version::HTTP_2)
                .header(USER_AGENT, AGENT)
        } else {
            let mut request = Request::get(path)
                .header(USER_AGENT, AGENT)
                .header(CONNECTION, "close");
            if let Some(host) = &self.host {
                request = request.header(HOST, host);
            }
            request
        };
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(Failure::Request)?;
        let exchange = async {
            if self.h2 {
                let (mut sender, connection) =
                    hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .handshake(TokioIo::new(stream))
                        .await
                        .map_err(Failure::Http)?;
                answer(sender.send_request(request), connection).await
            } else {
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .map_err(Failure::Http)?;
                answer(sender.send_request(request), connection).await
            }
        };
        let status = time::timeout(self.response_timeout, exchange)
            .await
            .map_err(|_| Failure::ResponseTimeout(self.response_timeout))??;
        if status.is_success() || status.is_redirection() {
            Ok(())
        } else {
            Err(Failure::Status(status))
        }
    }
}

/// The status of the answer to `response`, polling `connection` beside it.
///
/// Internal: the connection future does the I/O; it is polled here beside the request
/// rather than spawned, so nothing outlives the probe. It may finish (it was asked to
/// close) right after handing the response over; the request future then has it, or
/// reports that none came.
async fn answer<R, C>(response: R, connection: C) -> Result<StatusCode, Failure>
where
    R: Future<Output = hyper::Result<http::Response<hyper::body::Incoming>>>,
    C: Future<Output = hyper::Result<()>>,
{
    let mut connection = std::pin::pin!(connection);
    let mut response = std::pin::pin!(response);
    let response = tokio::select! {
        biased;
        response = &mut response => response,
        closed = &mut connection => {
            closed.map_err(Failure::Http)?;
            response.await
        }
    };
    response.map(|r| r.status()).map_err(Failure::Http)
}

#[cfg(test)]
mod tests;
