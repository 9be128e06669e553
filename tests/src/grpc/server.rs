//! [`GrpcBackend`]: tonic's generic server (`tonic::server::Grpc`) dispatched by path
//! inside a hyper service, on h2c, on its own tokio runtime.

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::server::{
    ClientStreamingService, ServerStreamingService, StreamingService, UnaryService,
};
use tonic::{Code, Request, Response, Status, Streaming};

use super::{codec, Note, CHAT, COUNT, COUNTDOWN, MISSING, UNARY};
use crate::Seen;

/// The pause before each note of a countdown but the first.
pub const STREAM_PAUSE: Duration = Duration::from_millis(200);

/// What the backend saw and did, shared with its handlers.
#[derive(Debug, Default)]
struct State {
    seen: Mutex<Vec<Seen>>,
    /// When each countdown note was handed to tonic, in order.
    sent_at: Mutex<Vec<Instant>>,
}

/// A running gRPC backend on `127.0.0.1:<free port>`; stopped on drop.
#[derive(Debug)]
pub struct GrpcBackend {
    addr: SocketAddr,
    state: Arc<State>,
    runtime: Option<Runtime>,
}

impl GrpcBackend {
    /// Starts it: h2c (HTTP/2 with prior knowledge), the methods of [`super`].
    pub fn start() -> GrpcBackend {
        let (runtime, listener, addr) = crate::net::server_runtime("grpc-backend");
        let state = Arc::new(State::default());
        runtime.spawn(accept_loop(listener, state.clone()));
        GrpcBackend {
            addr,
            state,
            runtime: Some(runtime),
        }
    }

    /// Its address as a string, for a cluster's `backends`.
    pub fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    /// Every request head received so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// When each countdown note was handed to tonic to send, in order.
    pub fn sent_at(&self) -> Vec<Instant> {
        self.state
            .sent_at
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

impl Drop for GrpcBackend {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(req, state).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Records the request head, then hands the request to tonic for its method.
async fn route(
    req: http::Request<Incoming>,
    state: Arc<State>,
) -> http::Response<tonic::body::Body> {
    if let Ok(mut seen) = state.seen.lock() {
        seen.push(Seen {
            method: req.method().to_string(),
            uri: req.uri().path().to_owned(),
            version: format!("{:?}", req.version()),
            headers: req
                .headers()
                .iter()
                .map(|(n, v)| {
                    let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (n.as_str().to_owned(), value)
                })
                .collect(),
            authority: req.uri().authority().map(|a| a.to_string()),
        });
    }
    let mut grpc = tonic::server::Grpc::new(codec());
    match req.uri().path() {
        UNARY => grpc.unary(Hello, req).await,
        COUNTDOWN => grpc.server_streaming(Countdown(state), req).await,
        COUNT => grpc.client_streaming(Count, req).await,
        CHAT => grpc.streaming(Chat, req).await,
        other => Status::unimplemented(format!("no method {other}")).into_http(),
    }
}

/// `NOT_FOUND` "missing", with metadata that must reach the client.
fn missing() -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert("x-reason", MetadataValue::from_static("no-such-note"));
    Status::with_metadata(Code::NotFound, MISSING, metadata)
}

type Answer<T> = Pin<Box<dyn Future<Output = Result<Response<T>, Status>> + Send>>;
type Notes = ReceiverStream<Result<Note, Status>>;

struct Hello;

impl UnaryService<Note> for Hello {
    type Response = Note;
    type Future = Ready<Result<Response<Note>, Status>>;

    fn call(&mut self, request: Request<Note>) -> Self::Future {
        let note = request.into_inner();
        ready(if note.text == MISSING {
            Err(missing())
        } else {
            Ok(Response::new(Note::new(
                &format!("hello {}", note.text),
                note.seq + 1,
            )))
        })
    }
}

struct Countdown(Arc<State>);

impl ServerStreamingService<Note> for Countdown {
    type Response = Note;
    type ResponseStream = Notes;
    type Future = Ready<Result<Response<Notes>, Status>>;

    fn call(&mut self, request: Request<Note>) -> Self::Future {
        let note = request.into_inner();
        let state = self.0.clone();
        // Capacity 1: a note is handed over only once tonic took the one before.
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            let fail = note.text == MISSING;
            let count = if fail { 1 } else { note.seq };
            for seq in 0..count {
                if seq > 0 {
                    tokio::time::sleep(STREAM_PAUSE).await;
                }
                if let Ok(mut sent_at) = state.sent_at.lock() {
                    sent_at.push(Instant::now());
                }
                let next = Note::new(&format!("{} {seq}", note.text), seq);
                if tx.send(Ok(next)).await.is_err() {
                    return;
                }
            }
            if fail {
                let _ = tx.send(Err(missing())).await;
            }
        });
        ready(Ok(Response::new(ReceiverStream::new(rx))))
    }
}

struct Count;

impl ClientStreamingService<Note> for Count {
    type Response = Note;
    type Future = Answer<Note>;

    fn call(&mut self, request: Request<Streaming<Note>>) -> Self::Future {
        let mut notes = request.into_inner();
        Box::pin(async move {
            let mut texts = Vec::new();
            while let Some(note) = notes.message().await? {
                texts.push(note.text);
            }
            let count = u32::try_from(texts.len()).unwrap_or(u32::MAX);
            Ok(Response::new(Note::new(&texts.join(","), count)))
        })
    }
}

struct Chat;

impl StreamingService<Note> for Chat {
    type Response = Note;
    type ResponseStream = Notes;
    type Future = Ready<Result<Response<Notes>, Status>>;

    fn call(&mut self, request: Request<Streaming<Note>>) -> Self::Future {
        let mut notes = request.into_inner();
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                let reply = match notes.message().await {
                    Ok(Some(note)) => Ok(Note::new(&format!("re: {}", note.text), note.seq)),
                    Ok(None) => return,
                    Err(status) => Err(status),
                };
                let failed = reply.is_err();
                if tx.send(reply).await.is_err() || failed {
                    return;
                }
            }
        });
        ready(Ok(Response::new(ReceiverStream::new(rx))))
    }
}
