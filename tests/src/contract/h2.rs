//! [`H2c`]: one HTTP/2 connection with prior knowledge on which several streams can be
//! in flight at once, to see what ending one request does to the others.
//!
//! Internal: the work runs on this module's own small runtime (the client module's is
//! private to it); like every client here, it must not be used from async code.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::{Req, Response, CLIENT_TIMEOUT};

/// One h2c connection.
pub struct H2c {
    sender: http2::SendRequest<Full<Bytes>>,
    /// Becomes true when the connection is gone.
    closed: watch::Receiver<bool>,
    addr: SocketAddr,
}

/// A request sent on an [`H2c`], its response not yet awaited.
pub struct InFlight(JoinHandle<Result<Response, String>>);

impl H2c {
    /// Connects with HTTP/2 prior knowledge; panics if that fails.
    pub fn connect(addr: SocketAddr) -> H2c {
        let connected = block_on(async move {
            let tcp = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect to {addr}: {e}"))?;
            let _ = tcp.set_nodelay(true);
            let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
            let (closed_tx, closed) = watch::channel(false);
            tokio::spawn(async move {
                let _ = connection.await;
                let _ = closed_tx.send(true);
            });
            Ok((sender, closed))
        });
        match connected {
            Ok((sender, closed)) => H2c {
                sender,
                closed,
                addr,
            },
            Err(e) => panic!("h2c connection to {addr}: {e}"),
        }
    }

    /// Starts a request on a new stream; its response is read in the background.
    pub fn start(&self, req: &Req) -> InFlight {
        let mut sender = self.sender.clone();
        let authority = req.host.clone().unwrap_or_else(|| self.addr.to_string());
        let mut builder = hyper::Request::builder()
            .method(req.method.as_str())
            .version(hyper::Version::HTTP_2)
            .uri(format!("http://{authority}{}", req.path));
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder.body(Full::new(Bytes::from(req.body.clone())));
        let task = async move {
            let request = request.map_err(|e| format!("bad request: {e}"))?;
            sender
                .ready()
                .await
                .map_err(|e| format!("connection: {e}"))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("no response: {e}"))?;
            let (head, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("response body: {e}"))?
                .to_bytes();
            Ok(Response::from_parts(&head, body.to_vec()))
        };
        InFlight(runtime().spawn(task))
    }

    /// Sends a request and waits for its whole response.
    pub fn send(&self, req: &Req) -> Result<Response, String> {
        self.start(req).wait()
    }

    /// Waits up to `wait` for the connection to be gone; true if it is.
    pub fn closed_within(&self, wait: Duration) -> bool {
        let mut closed = self.closed.clone();
        block_on(async move {
            let seen = tokio::time::timeout(wait, closed.wait_for(|c| *c)).await;
            Ok(seen.is_ok())
        })
        .unwrap_or(false)
    }
}

impl InFlight {
    /// The response, or why there is none (at most [`CLIENT_TIMEOUT`]).
    pub fn wait(self) -> Result<Response, String> {
        block_on(async move {
            self.0
                .await
                .map_err(|e| format!("request task: {e}"))
                .and_then(|r| r)
        })
    }
}

pub(super) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-h2c")
            .enable_all()
            .build()
            .expect("h2c client runtime")
    })
}

/// Runs `future` on this module's runtime, failing after [`CLIENT_TIMEOUT`].
pub(super) fn block_on<T>(future: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    runtime().block_on(async {
        match tokio::time::timeout(CLIENT_TIMEOUT, future).await {
            Ok(result) => result,
            Err(_) => Err(format!("timed out after {CLIENT_TIMEOUT:?}")),
        }
    })
}
