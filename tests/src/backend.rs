//! [`Backend`]: a real HTTP server (HTTP/1.1 and h2c) on 127.0.0.1 that the proxy
//! forwards to, running on its own tokio runtime so that sync tests can use it.
//!
//! By default it echoes: status 200, header `x-backend: <name>`, and a text body
//! listing its name, the method, the URI and every request header it received (parse
//! it with [`Echo`]). A request with `Upgrade: websocket` gets `101 Switching
//! Protocols` with the right `Sec-WebSocket-Accept`, then every byte is echoed back.
//!
//! Per request, the headers `x-backend-status: <code>` and `x-backend-delay-ms: <ms>`
//! override the status and add a delay.

mod echo;
mod pattern;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

pub use echo::{checksum, websocket_accept, Echo};
pub use pattern::pattern;

/// How a [`Backend`] answers. Built from [`Behaviour::echo`].
#[derive(Clone, Debug)]
pub struct Behaviour {
    name: String,
    status: u16,
    delay: Duration,
    mode: Mode,
    headers: Vec<(String, String)>,
}

#[derive(Clone, Debug)]
enum Mode {
    Echo,
    /// Read the request head, then close the connection without a byte.
    Close,
    /// A body of this many bytes of [`pattern`], in chunks, each after a delay.
    Stream {
        len: usize,
        chunk: usize,
        chunk_delay: Duration,
    },
    /// This body, as is (a test may change it while the backend runs).
    Body(BodyCell),
}

impl Behaviour {
    /// Echo the request, with status 200.
    pub fn echo(name: &str) -> Behaviour {
        Behaviour {
            name: name.to_owned(),
            status: 200,
            delay: Duration::ZERO,
            mode: Mode::Echo,
            headers: Vec::new(),
        }
    }

    /// Answer with this status.
    pub fn status(mut self, status: u16) -> Behaviour {
        self.status = status;
        self
    }

    /// Wait this long before answering.
    pub fn delay(mut self, delay: Duration) -> Behaviour {
        self.delay = delay;
        self
    }

    /// Add this header to every response.
    pub fn header(mut self, name: &str, value: &str) -> Behaviour {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Read the request head, then close the connection without answering.
    pub fn close_without_answer(mut self) -> Behaviour {
        self.mode = Mode::Close;
        self
    }

    /// Answer with a body of `len` bytes of [`pattern`], streamed in 64 KiB chunks.
    pub fn stream(mut self, len: usize) -> Behaviour {
        self.mode = Mode::Stream {
            len,
            chunk: 64 * 1024,
            chunk_delay: Duration::ZERO,
        };
        self
    }

    /// Answer with a body of `len` bytes of [`pattern`] in `chunk`-byte chunks, waiting
    /// `chunk_delay` before each.
    pub fn stream_slowly(mut self, len: usize, chunk: usize, chunk_delay: Duration) -> Behaviour {
        self.mode = Mode::Stream {
            len,
            chunk: chunk.max(1),
            chunk_delay,
        };
        self
    }

    /// Answer with this fixed body instead of the echo.
    pub fn body(mut self, body: impl Into<Bytes>) -> Behaviour {
        self.mode = Mode::Body(BodyCell::new(body));
        self
    }

    /// Answer with the body `cell` holds when each request comes (a document that a
    /// test changes: a JWKS whose keys rotate).
    pub fn body_cell(mut self, cell: &BodyCell) -> Behaviour {
        self.mode = Mode::Body(cell.clone());
        self
    }
}

/// A response body that a test can replace while its [`Backend`] runs.
#[derive(Clone, Debug, Default)]
pub struct BodyCell(Arc<Mutex<Bytes>>);

impl BodyCell {
    /// A cell holding `body`.
    pub fn new(body: impl Into<Bytes>) -> BodyCell {
        BodyCell(Arc::new(Mutex::new(body.into())))
    }

    /// Replaces the body of the responses from now on.
    pub fn set(&self, body: impl Into<Bytes>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = body.into();
    }

    fn get(&self) -> Bytes {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What a backend received: one request's head.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Headers, lowercase names, in order.
    pub headers: Vec<(String, String)>,
    /// HTTP/2: the request's `:authority` (HTTP/1.1 has `Host` among the headers).
    pub authority: Option<String>,
}

impl Seen {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Stats {
    requests: AtomicUsize,
    connections: AtomicUsize,
    /// TLS handshakes completed, those that resumed a session, and those in which the
    /// client presented a certificate.
    handshakes: AtomicUsize,
    resumed: AtomicUsize,
    client_certs: AtomicUsize,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    /// The length of each request body received whole (echo mode), in order.
    bodies: Mutex<Vec<usize>>,
}

/// A running backend; stopped by [`stop`](Backend::stop) or on drop.
#[derive(Debug)]
pub struct Backend {
    name: String,
    addr: SocketAddr,
    stats: Arc<Stats>,
    runtime: Option<Runtime>,
}

impl Backend {
    /// Starts a backend on `127.0.0.1:<free port>`, answering as `behaviour` says.
    pub fn start(behaviour: Behaviour) -> Backend {
        Backend::start_with(behaviour, None)
    }

    /// Starts an echoing backend that speaks TLS (HTTP/1.1) with `cert`; with
    /// `client_ca`, it asks for a client certificate from that CA and refuses a
    /// handshake without one.
    pub fn echo_tls(
        name: &str,
        cert: &crate::CertFiles,
        client_ca: Option<&std::path::Path>,
    ) -> Backend {
        Backend::echo_tls_alpn(name, cert, client_ca, &[b"http/1.1"])
    }

    /// Like [`echo_tls`](Backend::echo_tls), agreeing by ALPN on the first of `alpn`
    /// the client offers (`h2` serves HTTP/2).
    pub fn echo_tls_alpn(
        name: &str,
        cert: &crate::CertFiles,
        client_ca: Option<&std::path::Path>,
        alpn: &[&[u8]],
    ) -> Backend {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(&cert.cert)
            .expect("read backend certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("backend certificate PEM");
        let key = PrivateKeyDer::from_pem_file(&cert.key).expect("backend key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(ca).expect("read client CA") {
                    roots.add(cert.expect("client CA PEM")).expect("client CA");
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .expect("backend TLS config");
        config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        Backend::start_with(
            Behaviour::echo(name),
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
    }

    fn start_with(behaviour: Behaviour, tls: Option<tokio_rustls::TlsAcceptor>) -> Backend {
        let (runtime, listener, addr) =
            crate::net::server_runtime(&format!("backend-{}", behaviour.name));
        let stats = Arc::new(Stats::default());
        let name = behaviour.name.clone();
        runtime.spawn(accept_loop(
            listener,
            Arc::new(behaviour),
            stats.clone(),
            tls,
        ));
        Backend {
            name,
            addr,
            stats,
            runtime: Some(runtime),
        }
    }

    /// Starts an echoing backend.
    pub fn echo(name: &str) -> Backend {
        Backend::start(Behaviour::echo(name))
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its address as a string, for `--backend`.
    pub fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Requests received so far (including ones closed without an answer).
    pub fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    /// TLS handshakes completed so far (TLS backends).
    pub fn handshakes(&self) -> usize {
        self.stats.handshakes.load(Ordering::SeqCst)
    }

    /// Of those, the ones that resumed an earlier session.
    pub fn resumed(&self) -> usize {
        self.stats.resumed.load(Ordering::SeqCst)
    }

    /// Of those, the ones in which the client presented a certificate.
    pub fn client_certs(&self) -> usize {
        self.stats.client_certs.load(Ordering::SeqCst)
    }

    /// The most requests this backend was answering at one time (from the head's
    /// arrival to the response head being built, delays included).
    pub fn max_in_flight(&self) -> usize {
        self.stats.max_in_flight.load(Ordering::SeqCst)
    }

    /// The length of every request body received whole so far (echoing backends
    /// only): a body cut short is not in it.
    pub fn bodies(&self) -> Vec<usize> {
        self.stats
            .bodies
            .lock()
            .map(|b| b.clone())
            .unwrap_or_default()
    }

    /// Every request head received so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.stats
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Stops it: the port refuses connections afterwards, open connections are cut.
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(
    listener: TcpListener,
    behaviour: Arc<Behaviour>,
    stats: Arc<Stats>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        stats.connections.fetch_add(1, Ordering::SeqCst);
        let behaviour = behaviour.clone();
        let stats = stats.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            if let Some(tls) = tls {
                let Ok(stream) = tls.accept(stream).await else {
                    return;
                };
                let (_, connection) = stream.get_ref();
                stats.handshakes.fetch_add(1, Ordering::SeqCst);
                if connection.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    stats.resumed.fetch_add(1, Ordering::SeqCst);
                }
                if connection
                    .peer_certificates()
                    .is_some_and(|c| !c.is_empty())
                {
                    stats.client_certs.fetch_add(1, Ordering::SeqCst);
                }
                serve(stream, behaviour, stats).await;
            } else if let Mode::Close = behaviour.mode {
                close_after_head(stream, &stats).await;
            } else {
                serve(stream, behaviour, stats).await;
            }
        });
    }
}

/// Reads until the end of a request head (or EOF), then drops the connection.
async fn close_after_head(mut stream: TcpStream, stats: &Stats) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    stats.requests.fetch_add(1, Ordering::SeqCst);
}

async fn serve<S>(stream: S, behaviour: Arc<Behaviour>, stats: Arc<Stats>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let behaviour = behaviour.clone();
        let stats = stats.clone();
        async move { Ok::<_, Infallible>(answer(req, &behaviour, &stats).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let _ = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .await;
}

type Body = BoxBody<Bytes, Infallible>;

async fn answer(
    mut req: hyper::Request<Incoming>,
    behaviour: &Behaviour,
    stats: &Stats,
) -> hyper::Response<Body> {
    stats.requests.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight::enter(stats);
    let seen = Seen {
        method: req.method().to_string(),
        uri: req
            .uri()
            .path_and_query()
            .map_or("/".to_owned(), |p| p.to_string()),
        version: format!("{:?}", req.version()),
        authority: req.uri().authority().map(|a| a.to_string()),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_owned(), value)
            })
            .collect(),
    };
    if let Ok(mut all) = stats.seen.lock() {
        all.push(seen.clone());
    }

    let delay = seen
        .header("x-backend-delay-ms")
        .and_then(|ms| ms.parse().ok())
        .map_or(behaviour.delay, Duration::from_millis);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(key) = websocket_key(&seen) {
        return websocket(&mut req, &key, behaviour);
    }
    let status = seen
        .header("x-backend-status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(behaviour.status);

    let body: Body = match &behaviour.mode {
        Mode::Stream {
            len,
            chunk,
            chunk_delay,
        } => pattern::Pattern::new(*len, *chunk, *chunk_delay).boxed(),
        Mode::Body(cell) => Full::new(cell.get()).boxed(),
        Mode::Echo | Mode::Close => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            if let (Ok(body), Ok(mut bodies)) = (&body, stats.bodies.lock()) {
                bodies.push(body.len());
            }
            let text = echo::render(&behaviour.name, &seen, body.as_deref().unwrap_or(b""));
            Full::new(Bytes::from(text)).boxed()
        }
    };
    let mut response = hyper::Response::builder()
        .status(status)
        .header("x-backend", behaviour.name.as_str());
    if matches!(behaviour.mode, Mode::Echo) {
        response = response.header("content-type", "text/plain; charset=utf-8");
    }
    for (name, value) in &behaviour.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    response.body(body).unwrap_or_else(|e| {
        let text = format!(
            "backend {}: cannot build the response: {e}\n",
            behaviour.name
        );
        let mut fallback = hyper::Response::new(Full::new(Bytes::from(text)).boxed());
        *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}

/// One request counted in [`Stats::in_flight`] until dropped.
struct InFlight<'a>(&'a Stats);

impl<'a> InFlight<'a> {
    fn enter(stats: &'a Stats) -> InFlight<'a> {
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(stats)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The `Sec-WebSocket-Key` of a WebSocket upgrade request.
fn websocket_key(seen: &Seen) -> Option<String> {
    let upgrade = seen.header("upgrade")?;
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return None;
    }
    seen.header("sec-websocket-key").map(str::to_owned)
}

/// Answers 101 and, once the connection is handed over, echoes every byte.
fn websocket(
    req: &mut hyper::Request<Incoming>,
    key: &str,
    behaviour: &Behaviour,
) -> hyper::Response<Body> {
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
            let _ = tokio::io::copy(&mut reader, &mut writer).await;
        }
    });
    let mut response = hyper::Response::new(Full::new(Bytes::new()).boxed());
    *response.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    let pairs = [
        ("upgrade", "websocket".to_owned()),
        ("connection", "Upgrade".to_owned()),
        ("sec-websocket-accept", echo::websocket_accept(key)),
        ("x-backend", behaviour.name.clone()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}
