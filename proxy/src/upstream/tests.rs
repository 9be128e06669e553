//! Upstream against real backends on 127.0.0.1: hyper servers that count the TCP
//! connections they accept, and raw sockets that misbehave.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, HOST, UPGRADE};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};

use super::{Connections, Timeouts, UpstreamBody, UpstreamError};

/// Every test ends within this, pass or fail.
const LIMIT: Duration = Duration::from_secs(10);

const TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    response: Duration::from_secs(5),
    read: Duration::from_secs(5),
    send: Duration::from_secs(5),
};

/// A body fed chunk by chunk through a channel, ending when the sender is dropped.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|chunk| Ok(Frame::data(chunk))))
    }
}

fn channel_body() -> (mpsc::Sender<Bytes>, ChannelBody) {
    let (tx, rx) = mpsc::channel(16);
    (tx, ChannelBody(rx))
}

type TestBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn full(text: impl Into<Bytes>) -> TestBody {
    Full::new(text.into()).boxed()
}

/// A hyper HTTP/1.1 backend (upgrades enabled) counting the connections it accepts.
struct Backend {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Backend {
    async fn start<F, Fut>(handler: F) -> Backend
    where
        F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<TestBody>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let handler = handler.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let response = handler(request);
                        async move { Ok::<_, Infallible>(response.await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Backend { addr, accepted }
    }

    /// Answers every request with `hello`.
    async fn hello() -> Backend {
        Backend::start(|_| async { Response::new(full("hello")) }).await
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A raw TCP backend: `on_connection` gets each accepted socket.
async fn raw_backend<F, Fut>(on_connection: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(on_connection(stream));
        }
    });
    addr
}

/// An address nothing listens on.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

fn get(addr: SocketAddr, path: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .uri(path)
        .header(HOST, addr.to_string())
        .body(Empty::new())
        .unwrap()
}

async fn text(response: Response<UpstreamBody>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("test timed out")
}

#[test]
fn upstream_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send_unpin<T: Send + Unpin>() {}
    assert_send_sync::<Connections>();
    assert_send_unpin::<UpstreamBody>();
}

#[test]
fn send_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let upstream = Connections::plain(addr);
    let future = upstream.send(get(addr, "/"), TIMEOUTS);
    assert_send(&future);
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    bounded(async {
        let backend = Backend::hello().await;
        let upstream = Connections::plain(backend.addr);
        for _ in 0..20 {
            let request = get(backend.addr, "/");
            let response = upstream.send(request, TIMEOUTS).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(text(response).await, "hello");
        }
        assert_eq!(backend.accepted(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sequential_requests_reuse_connections_on_many_threads() {
    bounded(async {
        let backend = Backend::hello().await;
        let upstream = Connections::plain(backend.addr);
        for _ in 0..200 {
            let request = get(backend.addr, "/");
            let response = upstream.send(request, TIMEOUTS).await.unwrap();
            assert_eq!(text(response).await, "hello");
        }
        // A response's end and hyper marking its connection ready race across
        // threads; `checkout` waits a moment for the connection to settle, and a
        // race lost even so opens a second connection, after which the older one
        // is always ready.
        assert!(backend.accepted() <= 2, "accepted {}", backend.accepted());
    })
    .await;
}

#[tokio::test]
async fn chunked_and_empty_responses_also_reuse() {
    bounded(async {
        let backend = Backend::start(|request: Request<Incoming>| async move {
            match request.uri().path() {
                "/empty" => Response::builder()
                    .status(StatusCode::NO_CONTENT)
                    .body(full(""))
                    .unwrap(),
                _ => {
                    // No length known up front: sent chunked.
                    let (tx, body) = channel_body();
                    tokio::spawn(async move {
                        for chunk in ["a", "b", "c"] {
                            let _ = tx.send(Bytes::from_static(chunk.as_bytes())).await;
                        }
                    });
                    Response::new(body.boxed())
                }
            }
        })
        .await;
        let upstream = Connections::plain(backend.addr);
        for _ in 0..5 {
            let response = upstream
                .send(get(backend.addr, "/chunked"), TIMEOUTS)
                .await
                .unwrap();
            assert_eq!(text(response).await, "abc");
            // Never polled: a body-less response frees its connection on its own.
            let response = upstream
                .send(get(backend.addr, "/empty"), TIMEOUTS)
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
            drop(response);
        }
        assert_eq!(backend.accepted(), 1);
    })
    .await;
}

#[tokio::test]
async fn concurrent_requests_open_several_connections_then_reuse_them() {
    bounded(async {
        let backend = Backend::start(|_| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Response::new(full("slow"))
        })
        .await;
        let upstream = Arc::new(Connections::plain(backend.addr));
        for _ in 0..2 {
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let upstream = Arc::clone(&upstream);
                let addr = backend.addr;
                tasks.push(tokio::spawn(async move {
                    let response = upstream.send(get(addr, "/"), TIMEOUTS).await.unwrap();
                    text(response).await
                }));
            }
            for task in tasks {
                assert_eq!(task.await.unwrap(), "slow");
            }
            assert_eq!(backend.accepted(), 8);
        }
    })
    .await;
}

#[tokio::test]
async fn connection_still_uploading_is_not_waited_for() {
    bounded(async {
        // Answers at once, without reading the request body.
        let backend = Backend::hello().await;
        let upstream = Connections::plain(backend.addr);
        let (tx, body) = channel_body();
        tx.send(Bytes::from_static(b"part")).await.unwrap();
        let request = Request::builder()
            .method(Method::POST)
            .uri("/upload")
            .header(HOST, "backend")
            .body(body)
            .unwrap();
        let response = upstream.send(request, TIMEOUTS).await.unwrap();
        assert_eq!(text(response).await, "hello");

        // The upload is still open: the next request takes a new connection.
        let response = upstream.send(get(backend.addr, "/"), TIMEOUTS);
        assert_eq!(text(response.await.unwrap()).await, "hello");
        assert_eq!(backend.accepted(), 2);

        drop(tx);
        for _ in 0..3 {
            let response = upstream.send(get(backend.addr, "/"), TIMEOUTS);
            assert_eq!(text(response.await.unwrap()).await, "hello");
        }
        assert_eq!(backend.accepted(), 2);
    })
    .await;
}

#[tokio::test]
async fn pools_are_per_backend() {
    bounded(async {
        let one = Backend::hello().await;
        let two = Backend::hello().await;
        let upstreams = [Connections::plain(one.addr), Connections::plain(two.addr)];
        for _ in 0..3 {
            for (upstream, backend) in upstreams.iter().zip([&one, &two]) {
                let response = upstream.send(get(backend.addr, "/"), TIMEOUTS);
                assert_eq!(text(response.await.unwrap()).await, "hello");
            }
        }
        assert_eq!((one.accepted(), two.accepted()), (1, 1));
    })
    .await;
}

#[tokio::test]
async fn connect_failure_gives_the_streamed_request_back() {
    bounded(async {
        let backend = Backend::start(|request: Request<Incoming>| async move {
            let method = request.method().clone();
            let body = request.into_body().collect().await.unwrap().to_bytes();
            Response::new(full(format!("{method} {}", String::from_utf8_lossy(&body))))
        })
        .await;
        let closed = closed_port().await;

        let (tx, body) = channel_body();
        tx.send(Bytes::from_static(b"hello ")).await.unwrap();
        let request = Request::builder()
            .method(Method::POST)
            .uri("/upload")
            .header(HOST, "backend")
            .body(body)
            .unwrap();
        let Err(UpstreamError::Connect { request, source }) =
            Connections::plain(closed).send(request, TIMEOUTS).await
        else {
            panic!("expected a connect error");
        };
        assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(
            source
                .to_string()
                .starts_with(&format!("connect to {closed}: ")),
            "{source}"
        );
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), "/upload");

        // The rest of the body is still to come while the retry is under way.
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(Bytes::from_static(b"world")).await.unwrap();
        });
        let response = Connections::plain(backend.addr)
            .send(request, TIMEOUTS)
            .await
            .unwrap();
        assert_eq!(text(response).await, "POST hello world");
    })
    .await;
}

#[tokio::test]
async fn connect_timeout_is_a_connect_error() {
    bounded(async {
        // A listener that never accepts, its queue filled: further SYNs are dropped,
        // so connecting hangs until the connect timeout.
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        let mut fillers = Vec::new();
        loop {
            let attempt = tokio::net::TcpStream::connect(addr);
            match tokio::time::timeout(Duration::from_millis(200), attempt).await {
                Ok(stream) => fillers.push(stream.unwrap()),
                Err(_) => break,
            }
            assert!(fillers.len() < 64, "the accept queue never filled");
        }

        let timeouts = Timeouts {
            connect: Duration::from_millis(200),
            response: Duration::from_secs(5),
            read: Duration::from_secs(5),
            send: Duration::from_secs(5),
        };
        let started = Instant::now();
        let result = Connections::plain(addr)
            .send(get(addr, "/"), timeouts)
            .await;
        let elapsed = started.elapsed();
        let Err(UpstreamError::Connect { source, .. }) = result else {
            panic!("expected a connect error, got {result:?}");
        };
        assert_eq!(source.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(
            source.to_string(),
            format!("connect to {addr}: timed out after 200 ms")
        );
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    })
    .await;
}

#[tokio::test]
async fn silent_backend_times_out() {
    bounded(async {
        let addr = raw_backend(|mut stream| async move {
            // Reads the request, never answers, keeps the socket open.
            let mut buf = [0u8; 1024];
            while stream.read(&mut buf).await.unwrap_or(0) > 0 {}
        })
        .await;
        let timeouts = Timeouts {
            connect: Duration::from_secs(2),
            response: Duration::from_millis(200),
            read: Duration::from_secs(5),
            send: Duration::from_secs(5),
        };
        let started = Instant::now();
        let result = Connections::plain(addr)
            .send(get(addr, "/"), timeouts)
            .await;
        let elapsed = started.elapsed();
        assert!(matches!(result, Err(UpstreamError::Timeout)), "{result:?}");
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    })
    .await;
}

#[tokio::test]
async fn garbage_is_an_invalid_response() {
    bounded(async {
        let addr = raw_backend(|mut stream| async move {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            let _ = stream.write_all(b"this is not http\r\n\r\n").await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        })
        .await;
        let result = Connections::plain(addr)
            .send(get(addr, "/"), TIMEOUTS)
            .await;
        match result {
            Err(
                error @ UpstreamError::Failed {
                    invalid_response: true,
                    ..
                },
            ) => {
                assert!(error
                    .to_string()
                    .starts_with("invalid response from backend: "));
            }
            other => panic!("expected an invalid response, got {other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn reset_after_request_is_a_failure_not_invalid() {
    bounded(async {
        let addr = raw_backend(|mut stream| async move {
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf).await;
            // Closes without answering.
        })
        .await;
        let result = Connections::plain(addr)
            .send(get(addr, "/"), TIMEOUTS)
            .await;
        assert!(
            matches!(
                result,
                Err(UpstreamError::Failed {
                    invalid_response: false,
                    ..
                })
            ),
            "{result:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn large_response_streams_through() {
    bounded(async {
        const CHUNK: usize = 64 * 1024;
        const TOTAL: usize = 1024 * 1024;
        let first_frame_seen = Arc::new(Notify::new());
        let seen = Arc::clone(&first_frame_seen);
        let backend = Backend::start(move |_| {
            let seen = Arc::clone(&seen);
            async move {
                let (tx, body) = channel_body();
                tokio::spawn(async move {
                    for i in 0..TOTAL / CHUNK {
                        // The second half waits until the client has read from the
                        // first: a body buffered whole would never get here.
                        if i == TOTAL / CHUNK / 2 {
                            seen.notified().await;
                        }
                        if tx.send(Bytes::from(vec![b'x'; CHUNK])).await.is_err() {
                            return;
                        }
                    }
                });
                Response::new(body.boxed())
            }
        })
        .await;
        let upstream = Connections::plain(backend.addr);
        let response = upstream.send(get(backend.addr, "/big"), TIMEOUTS);
        let mut body = response.await.unwrap().into_body();
        let mut received = 0;
        while let Some(frame) = body.frame().await {
            if received == 0 {
                first_frame_seen.notify_one();
            }
            received += frame.unwrap().into_data().map_or(0, |data| data.len());
        }
        assert_eq!(received, TOTAL);
    })
    .await;
}

#[tokio::test]
async fn connection_close_is_not_reused() {
    bounded(async {
        let backend = Backend::start(|_| async {
            Response::builder()
                .header(CONNECTION, "close")
                .body(full("bye"))
                .unwrap()
        })
        .await;
        let upstream = Connections::plain(backend.addr);
        for _ in 0..3 {
            let response = upstream.send(get(backend.addr, "/"), TIMEOUTS);
            assert_eq!(text(response.await.unwrap()).await, "bye");
        }
        assert_eq!(backend.accepted(), 3);
        assert_eq!(upstream.pool.len(), 0);
    })
    .await;
}

#[tokio::test]
async fn idle_connection_closed_by_the_backend_is_skipped() {
    bounded(async {
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        // Answers one request with keep-alive, then closes: what a backend does when
        // its idle timeout expires.
        let addr = raw_backend(move |mut stream| {
            count.fetch_add(1, Ordering::SeqCst);
            async move {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            }
        })
        .await;
        let upstream = Connections::plain(addr);
        for _ in 0..3 {
            let response = upstream.send(get(addr, "/"), TIMEOUTS).await.unwrap();
            assert_eq!(text(response).await, "ok");
            // Lets hyper see the close before the next request.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    })
    .await;
}

#[tokio::test]
async fn unread_body_is_not_reused() {
    bounded(async {
        let backend = Backend::start(|_| async {
            Response::builder()
                .header(CONTENT_LENGTH, "5")
                .body(full("hello"))
                .unwrap()
        })
        .await;
        let upstream = Connections::plain(backend.addr);
        let response = upstream.send(get(backend.addr, "/"), TIMEOUTS);
        drop(response.await.unwrap());
        let response = upstream.send(get(backend.addr, "/"), TIMEOUTS);
        assert_eq!(text(response.await.unwrap()).await, "hello");
        // The first body may or may not have been read whole by hyper before the drop;
        // either way the second request succeeded. A dropped unfinished body never
        // leaves a busy connection in the pool.
        assert!(backend.accepted() <= 2);
    })
    .await;
}

#[tokio::test]
async fn upgrade_gets_its_own_connection() {
    bounded(async {
        let backend = Backend::start(|mut request: Request<Incoming>| async move {
            if !request.headers().contains_key(UPGRADE) {
                return Response::new(full("plain"));
            }
            let on_upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                let mut io = TokioIo::new(on_upgrade.await.unwrap());
                let mut buf = [0u8; 4];
                io.read_exact(&mut buf).await.unwrap();
                io.write_all(&buf).await.unwrap();
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(CONNECTION, "upgrade")
                .header(UPGRADE, "echo")
                .body(full(""))
                .unwrap()
        })
        .await;
        let upstream = Connections::plain(backend.addr);
        let response = upstream.send(get(backend.addr, "/"), TIMEOUTS);
        assert_eq!(text(response.await.unwrap()).await, "plain");

        let request = Request::builder()
            .uri("/ws")
            .header(HOST, "backend")
            .header(CONNECTION, "upgrade")
            .header(UPGRADE, "echo")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let mut response = upstream.send(request, TIMEOUTS).await.unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        let upgraded = hyper::upgrade::on(&mut response);
        drop(response);
        let mut io = TokioIo::new(upgraded.await.unwrap());
        io.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        io.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");

        // The plain connection was reused; the upgraded one never enters the pool.
        let response = upstream.send(get(backend.addr, "/"), TIMEOUTS);
        assert_eq!(text(response.await.unwrap()).await, "plain");
        assert_eq!(backend.accepted(), 2);
    })
    .await;
}

#[test]
fn errors_display_the_failing_side_without_debug_bodies() {
    struct NotDebug;
    let error: UpstreamError<NotDebug> = UpstreamError::Timeout;
    assert_eq!(
        error.to_string(),
        "backend sent no response head within the response timeout"
    );
    assert_eq!(format!("{error:?}"), "Timeout");
    let addr: SocketAddr = "10.0.0.1:80".parse().unwrap();
    let source = super::error::ConnectFailed::io(
        addr,
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
    );
    let error = UpstreamError::Connect {
        request: Request::new(NotDebug),
        source,
    };
    assert_eq!(
        error.to_string(),
        "connect to 10.0.0.1:80: connection refused"
    );
    assert!(format!("{error:?}").starts_with("Connect {"));
}
