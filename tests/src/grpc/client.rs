//! [`GrpcClient`]: tonic's generic client (`tonic::client::Grpc`) on one hyper HTTP/2
//! connection, h2c or TLS, on its own tokio runtime; every call bounded in time.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{codec, Note, CHAT, COUNT, COUNTDOWN, UNARY};
use crate::TestCa;

/// The longest a whole call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// In [`GrpcClient::ping_pong`], the longest the reply to one note may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a server-streaming call received.
#[derive(Debug)]
pub struct Streamed {
    /// Each note, with when it arrived.
    pub notes: Vec<(Note, Instant)>,
    /// How the stream ended: `Ok` for `grpc-status: 0`, else the status.
    pub end: Result<(), Status>,
}

/// A gRPC client on one HTTP/2 connection; closed on drop.
pub struct GrpcClient {
    grpc: tonic::client::Grpc<Connection>,
    runtime: Option<Runtime>,
}

impl GrpcClient {
    /// Connects over h2c (prior knowledge); calls carry `authority`.
    pub fn h2c(addr: SocketAddr, authority: &str) -> Result<GrpcClient, String> {
        GrpcClient::connect(addr, authority, None)
    }

    /// Connects over TLS with SNI `authority`, offering only `h2`, trusting only `ca`
    /// (the certificate must cover `authority`); fails unless `h2` is agreed.
    pub fn tls(addr: SocketAddr, authority: &str, ca: &TestCa) -> Result<GrpcClient, String> {
        GrpcClient::connect(addr, authority, Some(ca))
    }

    fn connect(
        addr: SocketAddr,
        authority: &str,
        ca: Option<&TestCa>,
    ) -> Result<GrpcClient, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("grpc-client")
            .enable_all()
            .build()
            .map_err(|e| format!("gRPC client runtime: {e}"))?;
        let scheme = if ca.is_some() { "https" } else { "http" };
        let origin: http::Uri = format!("{scheme}://{authority}")
            .parse()
            .map_err(|e| format!("origin for {authority}: {e}"))?;
        let tls = ca.map(|ca| (tls_config(ca), authority.to_owned()));
        let connecting = async move {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect to {addr}: {e}"))?;
            match tls {
                None => handshake(tcp).await,
                Some((config, name)) => {
                    let name = ServerName::try_from(name).map_err(|e| format!("SNI: {e}"))?;
                    let stream = tokio_rustls::TlsConnector::from(config)
                        .connect(name, tcp)
                        .await
                        .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
                    let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                    if alpn.as_deref() != Some(b"h2") {
                        return Err(format!("{addr} agreed on ALPN {alpn:?}, not h2"));
                    }
                    handshake(stream).await
                }
            }
        };
        let sender = runtime.block_on(async {
            tokio::time::timeout(CALL_TIMEOUT, connecting)
                .await
                .map_err(|_| format!("connecting to {addr}: timed out after {CALL_TIMEOUT:?}"))?
        })?;
        Ok(GrpcClient {
            grpc: tonic::client::Grpc::with_origin(Connection(sender), origin),
            runtime: Some(runtime),
        })
    }

    /// A unary call to [`UNARY`].
    pub fn unary(&mut self, request: Request<Note>) -> Result<Response<Note>, Status> {
        let grpc = &mut self.grpc;
        block_on(self.runtime.as_ref(), async move {
            ready(grpc).await?;
            grpc.unary(request, path(UNARY), codec()).await
        })
    }

    /// A server-streaming call to [`COUNTDOWN`], read to its end.
    pub fn countdown(&mut self, request: Note) -> Result<Streamed, Status> {
        let grpc = &mut self.grpc;
        block_on(self.runtime.as_ref(), async move {
            ready(grpc).await?;
            let mut stream = grpc
                .server_streaming(Request::new(request), path(COUNTDOWN), codec())
                .await?
                .into_inner();
            let mut notes = Vec::new();
            let end = loop {
                match stream.message().await {
                    Ok(Some(note)) => notes.push((note, Instant::now())),
                    Ok(None) => break Ok(()),
                    Err(status) => break Err(status),
                }
            };
            Ok(Streamed { notes, end })
        })
    }

    /// A client-streaming call to [`COUNT`] sending `notes`.
    pub fn count(&mut self, notes: Vec<Note>) -> Result<Note, Status> {
        let grpc = &mut self.grpc;
        block_on(self.runtime.as_ref(), async move {
            ready(grpc).await?;
            let notes = tokio_stream::iter(notes);
            let reply = grpc
                .client_streaming(Request::new(notes), path(COUNT), codec())
                .await?;
            Ok(reply.into_inner())
        })
    }

    /// A bidirectional call to [`CHAT`]: sends each text, and the next only once the
    /// reply to it came (the response head and each reply within [`REPLY_TIMEOUT`],
    /// else `DEADLINE_EXCEEDED` naming the note); then ends its side and reads the
    /// server's end. The replies, in order.
    pub fn ping_pong(&mut self, texts: &[&str]) -> Result<Vec<Note>, Status> {
        let grpc = &mut self.grpc;
        let texts: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
        block_on(self.runtime.as_ref(), async move {
            ready(grpc).await?;
            let (tx, rx) = mpsc::channel(1);
            let mut texts = texts.into_iter().zip(0u32..);
            // The first note goes before the response head is awaited: a proxy may
            // wait for the request body before it forwards the head.
            if let Some((text, seq)) = texts.next() {
                send(&tx, Note::new(&text, seq)).await?;
            }
            let call = grpc.streaming(Request::new(ReceiverStream::new(rx)), path(CHAT), codec());
            let mut replies_stream = tokio::time::timeout(REPLY_TIMEOUT, call)
                .await
                .map_err(|_| {
                    Status::deadline_exceeded(format!(
                        "no response head after note 0 within {REPLY_TIMEOUT:?}"
                    ))
                })??
                .into_inner();
            let mut replies = Vec::new();
            let mut seq = 0u32;
            loop {
                let reply = tokio::time::timeout(REPLY_TIMEOUT, replies_stream.message())
                    .await
                    .map_err(|_| {
                        Status::deadline_exceeded(format!(
                            "no reply to note {seq} within {REPLY_TIMEOUT:?}"
                        ))
                    })??
                    .ok_or_else(|| Status::internal(format!("stream ended before reply {seq}")))?;
                replies.push(reply);
                match texts.next() {
                    Some((text, next)) => {
                        send(&tx, Note::new(&text, next)).await?;
                        seq = next;
                    }
                    None => break,
                }
            }
            drop(tx);
            match replies_stream.message().await? {
                None => Ok(replies),
                Some(extra) => Err(Status::internal(format!("an extra reply: {extra:?}"))),
            }
        })
    }
}

impl Drop for GrpcClient {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

async fn send(tx: &mpsc::Sender<Note>, note: Note) -> Result<(), Status> {
    tx.send(note)
        .await
        .map_err(|_| Status::internal("the request stream was dropped"))
}

/// Runs a call on the client's runtime, failing with `DEADLINE_EXCEEDED` after
/// [`CALL_TIMEOUT`].
fn block_on<T>(
    runtime: Option<&Runtime>,
    call: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let Some(runtime) = runtime else {
        return Err(Status::internal("the client was stopped"));
    };
    runtime.block_on(async {
        tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| Status::deadline_exceeded(format!("client: {CALL_TIMEOUT:?} passed")))?
    })
}

fn path(method: &'static str) -> PathAndQuery {
    PathAndQuery::from_static(method)
}

/// The HTTP/2 handshake on `io`; the connection driven by a task of the current
/// runtime.
async fn handshake<T>(io: T) -> Result<SendRequest<tonic::body::Body>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Trusts only `ca`, checks the name, offers only `h2`.
fn tls_config(ca: &TestCa) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .with_root_certificates(ca.roots())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// One HTTP/2 connection as the service tonic's client calls.
#[derive(Clone)]
struct Connection(SendRequest<tonic::body::Body>);

impl tower_service::Service<http::Request<tonic::body::Body>> for Connection {
    type Response = http::Response<Incoming>;
    type Error = hyper::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        Box::pin(self.0.send_request(request))
    }
}

/// Waits until the connection can take a call; a closed one is `UNAVAILABLE`.
async fn ready(grpc: &mut tonic::client::Grpc<Connection>) -> Result<(), Status> {
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("the connection: {e}")))
}
