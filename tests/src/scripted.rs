//! Backends scripted beyond [`Backend`](crate::Backend)'s knobs, for the routing tests:
//!
//! - [`SwitchBackend`]: answers its health-check path with a status the test switches
//!   while it runs (healthy, failing for the next N checks, failing until told
//!   otherwise), and counts the checks it passed and failed; every other request gets
//!   a small echo naming the backend.
//! - [`RawBackend`]: a raw TCP server that reads each request head and answers with
//!   fixed bytes (say, something that is not HTTP), then closes; or, made with
//!   [`RawBackend::keep_alive`], answers every request head on a connection with the
//!   same bytes and leaves the connection open (so that leftover bytes of a malformed
//!   answer are there for the next request, as a smuggling backend would have it).
//!
//! Both stop on drop. Like the rest of the support module, they are synchronous to
//! use; the async work runs on each backend's own runtime (or thread).

use std::convert::Infallible;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::runtime::Runtime;

use crate::backend::checksum;

/// Health-check answers that fail "until told otherwise".
const FOREVER: usize = usize::MAX;

/// An HTTP/1.1 + h2c backend whose health-check answers the test switches at run time.
///
/// - `GET <health path>`: `200` while healthy, `503` while failing; each answer is
///   counted ([`checks_passed`](SwitchBackend::checks_passed),
///   [`checks_failed`](SwitchBackend::checks_failed)) before it is sent, so a count
///   read after the proxy reacted to a check includes that check.
/// - Anything else: `200`, header `x-backend: <name>`, and a body that
///   [`Echo::parse`](crate::Echo::parse) reads (name, method, URI, body length and
///   checksum; no headers); counted by [`requests`](SwitchBackend::requests).
#[derive(Debug)]
pub struct SwitchBackend {
    name: String,
    addr: SocketAddr,
    state: Arc<SwitchState>,
    runtime: Option<Runtime>,
}

#[derive(Debug)]
struct SwitchState {
    name: String,
    health_path: String,
    /// Health checks still to fail: 0 = healthy, [`FOREVER`] = until switched back.
    failing: AtomicUsize,
    passed: AtomicUsize,
    failed: AtomicUsize,
    requests: AtomicUsize,
}

impl SwitchBackend {
    /// Starts a healthy backend on `127.0.0.1:<free port>` whose health check is
    /// `health_path` (matched against the path, without the query).
    pub fn start(name: &str, health_path: &str) -> SwitchBackend {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("switch-{name}"))
            .enable_all()
            .build()
            .expect("switch backend runtime");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind switch backend");
        let addr = listener.local_addr().expect("switch backend addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).expect("tokio listener")
        };
        let state = Arc::new(SwitchState {
            name: name.to_owned(),
            health_path: health_path.to_owned(),
            failing: AtomicUsize::new(0),
            passed: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
        });
        runtime.spawn(switch_accept_loop(listener, Arc::clone(&state)));
        SwitchBackend {
            name: name.to_owned(),
            addr,
            state,
            runtime: Some(runtime),
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its name (the `x-backend` header of its answers).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Health checks pass from now on (`true`) or fail until switched back (`false`).
    pub fn set_healthy(&self, healthy: bool) {
        let failing = if healthy { 0 } else { FOREVER };
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    /// The next `count` health checks fail, the ones after pass.
    pub fn fail_next_checks(&self, count: usize) {
        self.state.failing.store(count, Ordering::SeqCst);
    }

    /// Health checks answered with `200` so far.
    pub fn checks_passed(&self) -> usize {
        self.state.passed.load(Ordering::SeqCst)
    }

    /// Health checks answered with `503` so far.
    pub fn checks_failed(&self) -> usize {
        self.state.failed.load(Ordering::SeqCst)
    }

    /// Requests other than health checks so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

impl Drop for SwitchBackend {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl SwitchState {
    /// Whether this health check passes, consuming one of a limited run of failures.
    fn check_passes(&self) -> bool {
        let fails = self
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| match left {
                0 => None,
                FOREVER => Some(FOREVER),
                n => Some(n - 1),
            })
            .is_ok();
        let counter = if fails { &self.failed } else { &self.passed };
        counter.fetch_add(1, Ordering::SeqCst);
        !fails
    }
}

async fn switch_accept_loop(listener: tokio::net::TcpListener, state: Arc<SwitchState>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(switch_answer(req, &state).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn switch_answer(
    req: hyper::Request<Incoming>,
    state: &SwitchState,
) -> hyper::Response<Full<Bytes>> {
    let response = hyper::Response::builder().header("x-backend", state.name.as_str());
    if req.uri().path() == state.health_path {
        let status = if state.check_passes() { 200 } else { 503 };
        return response
            .status(status)
            .body(Full::new(Bytes::new()))
            .unwrap_or_default();
    }
    state.requests.fetch_add(1, Ordering::SeqCst);
    let method = req.method().to_string();
    let uri = req
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), |p| p.to_string());
    let version = format!("{:?}", req.version());
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let text = format!(
        "backend: {}\nmethod: {method}\nuri: {uri}\nversion: {version}\n\
         body-length: {}\nbody-checksum: {}\n",
        state.name,
        body.len(),
        checksum(&body)
    );
    response
        .status(200)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(text)))
        .unwrap_or_default()
}

/// A raw TCP server on `127.0.0.1:<free port>`: on each connection it reads a request
/// head (up to the blank line), writes fixed bytes, and closes. It knows nothing of
/// HTTP beyond the blank line, which is the point: it can answer what no HTTP server
/// would.
#[derive(Debug)]
pub struct RawBackend {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

impl RawBackend {
    /// Starts one that answers every request head with `reply`, then closes.
    pub fn start(reply: &[u8]) -> RawBackend {
        RawBackend::spawn(reply, false)
    }

    /// Starts one that answers every request head on a connection with `reply` and
    /// keeps the connection open until the peer closes it (request bodies are not
    /// read: send it requests without one).
    pub fn keep_alive(reply: &[u8]) -> RawBackend {
        RawBackend::spawn(reply, true)
    }

    fn spawn(reply: &[u8], keep_alive: bool) -> RawBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind raw backend");
        let addr = listener.local_addr().expect("raw backend addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let requests = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let reply: Arc<[u8]> = Arc::from(reply);
        let accept = {
            let counts = Counts {
                requests: Arc::clone(&requests),
                connections: Arc::clone(&connections),
            };
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("raw-backend".to_owned())
                .spawn(move || raw_accept_loop(&listener, &reply, &counts, keep_alive, &stop))
                .expect("raw backend thread")
        };
        RawBackend {
            addr,
            requests,
            connections,
            stop,
            accept: Some(accept),
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Request heads read so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// What a [`RawBackend`] counts.
struct Counts {
    requests: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn raw_accept_loop(
    listener: &TcpListener,
    reply: &Arc<[u8]>,
    counts: &Counts,
    keep_alive: bool,
    stop: &AtomicBool,
) {
    // Internal: a non-blocking accept polled every few milliseconds is what lets Drop
    // stop the loop without a wake-up connection.
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                counts.connections.fetch_add(1, Ordering::SeqCst);
                let (reply, requests) = (Arc::clone(reply), Arc::clone(&counts.requests));
                if keep_alive {
                    thread::spawn(move || raw_answer_each(stream, &reply, &requests));
                } else {
                    thread::spawn(move || raw_answer(stream, &reply, &requests));
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(2));
            }
            Err(_) => thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn raw_answer(mut stream: TcpStream, reply: &[u8], requests: &AtomicUsize) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let _ = stream.write_all(reply);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Write);
    // Reads what the peer still sends until it closes, so that closing does not reset
    // the connection before the reply is read.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// Answers every request head on the connection with `reply`, until the peer closes
/// (or stays silent for 5 s).
fn raw_answer_each(mut stream: TcpStream, reply: &[u8], requests: &AtomicUsize) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            requests.fetch_add(1, Ordering::SeqCst);
            if stream
                .write_all(reply)
                .and_then(|()| stream.flush())
                .is_err()
            {
                return;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{http1_get, raw_exchange};

    #[test]
    fn switch_backend_fails_checks_as_told_and_echoes_the_rest() {
        let backend = SwitchBackend::start("s1", "/healthz");
        let status = || http1_get(backend.addr(), "x", "/healthz", &[]).status;
        assert_eq!(status(), 200);
        backend.fail_next_checks(2);
        assert_eq!([status(), status(), status()], [503, 503, 200]);
        backend.set_healthy(false);
        assert_eq!([status(), status()], [503, 503]);
        backend.set_healthy(true);
        assert_eq!(status(), 200);
        assert_eq!((backend.checks_passed(), backend.checks_failed()), (3, 4));

        // The health path is matched without the query.
        assert_eq!(
            http1_get(backend.addr(), "x", "/healthz?q=1", &[]).status,
            200
        );
        assert_eq!(backend.checks_passed(), 4);
        let response = http1_get(backend.addr(), "x", "/other?q=1", &[]);
        assert_eq!(response.header("x-backend"), Some("s1"));
        let echo = response.echo();
        assert_eq!(
            (echo.backend.as_str(), echo.uri.as_str()),
            ("s1", "/other?q=1")
        );
        assert_eq!(backend.requests(), 1);
    }

    #[test]
    fn raw_backend_answers_a_request_head_with_its_bytes() {
        let backend = RawBackend::start(b"not http\r\n\r\n");
        let reply = raw_exchange(
            backend.addr(),
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            Duration::from_secs(5),
        );
        assert_eq!(reply.text(), "not http\r\n\r\n");
        assert!(reply.closed);
        assert_eq!(backend.requests(), 1);
    }

    #[test]
    fn keep_alive_raw_backend_answers_every_head_on_one_connection() {
        let backend = RawBackend::keep_alive(b"x\r\n");
        let reply = raw_exchange(
            backend.addr(),
            b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
            Duration::from_millis(300),
        );
        assert_eq!(reply.text(), "x\r\nx\r\n");
        assert!(!reply.closed);
        assert_eq!((backend.requests(), backend.connections()), (2, 1));
    }
}
