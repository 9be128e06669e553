//! Bodies of [`pattern`](crate::pattern) far larger than a test should hold in memory:
//! [`BulkBackend`] checks uploads as they arrive and serves downloads, [`upload`] and
//! [`download`] stream them from the client side.
//!
//! Internal: the test binaries are built without optimisation, so nothing here touches
//! a body byte by byte. Every chunk sent is a zero-copy slice of one buffer holding the
//! pattern from each of its 251 phases, and every chunk received is compared with such
//! a slice (a `memcmp`); only a chunk that differs is scanned, to find the first wrong
//! offset. That checks the content exactly, which a checksum only approximates.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

use super::{block_on, STALL_TIMEOUT};

/// Bytes per frame sent, and per comparison when checking.
pub const CHUNK: usize = 256 * 1024;
/// The pattern's period: byte `i` is `i % 251`.
const PERIOD: usize = 251;

/// `pattern(CHUNK + PERIOD)`: any `CHUNK` bytes of the pattern, from any offset, are a
/// slice of it.
fn source() -> &'static Bytes {
    static SOURCE: OnceLock<Bytes> = OnceLock::new();
    SOURCE.get_or_init(|| Bytes::from(crate::pattern(CHUNK + PERIOD)))
}

/// The pattern's bytes `at..at + len` (`len` at most [`CHUNK`]), without copying.
fn pattern_slice(at: u64, len: usize) -> Bytes {
    // The remainder is below 251, so it fits any integer type.
    let phase = (at % PERIOD as u64) as usize;
    source().slice(phase..phase + len)
}

/// A running count of bytes received, checked against the pattern.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Check {
    bytes: u64,
    first_mismatch: Option<u64>,
}

impl Check {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let len = data.len().min(CHUNK);
            let (piece, rest) = data.split_at(len);
            if self.first_mismatch.is_none() {
                let expected = pattern_slice(self.bytes, len);
                if piece != &expected[..] {
                    let at = piece.iter().zip(expected.iter()).position(|(a, b)| a != b);
                    self.first_mismatch = at.map(|i| self.bytes + i as u64);
                }
            }
            self.bytes += len as u64;
            data = rest;
        }
    }
}

/// `len` bytes of the pattern, in [`CHUNK`]-byte frames, with a known length;
/// counts what has been handed out in `sent`.
struct PatternBody {
    len: u64,
    sent: u64,
    counter: Option<Arc<AtomicU64>>,
}

impl PatternBody {
    fn new(len: u64) -> PatternBody {
        PatternBody {
            len,
            sent: 0,
            counter: None,
        }
    }
}

impl Body for PatternBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let left = self.len - self.sent;
        if left == 0 {
            return Poll::Ready(None);
        }
        let len = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
        let data = pattern_slice(self.sent, len);
        self.sent += len as u64;
        if let Some(counter) = &self.counter {
            counter.fetch_add(len as u64, Ordering::Relaxed);
        }
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.sent == self.len
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len - self.sent)
    }
}

/// One request body a [`BulkBackend`] received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upload {
    /// Bytes received.
    pub bytes: u64,
    /// The first offset where the body differs from the pattern; `None` if it matches.
    pub first_mismatch: Option<u64>,
    /// Whether the body ended cleanly (not cut by an error).
    pub complete: bool,
}

/// An HTTP/1.1 (and h2c) server on 127.0.0.1 for big bodies, on its own runtime.
///
/// - `GET /pattern/<len>`: 200 with `len` bytes of the pattern (`Content-Length`),
///   streamed in [`CHUNK`]-byte frames.
/// - Any other request: its body is read as it comes, counted and compared with the
///   pattern, recorded (see [`uploads`](BulkBackend::uploads)), and answered with 200
///   and a one-line summary, `bytes=<n> mismatch=<none|offset>`. With the query
///   `?pause-ms=<ms>`, reading stops for that long once half the body (by its
///   `Content-Length`) has come: a proxy that kept reading from the client meanwhile
///   would have to hold what it read.
#[derive(Debug)]
pub struct BulkBackend {
    addr: SocketAddr,
    uploads: Arc<Mutex<Vec<Upload>>>,
    runtime: Option<Runtime>,
}

impl BulkBackend {
    /// Starts one on `127.0.0.1:<free port>`.
    pub fn start() -> BulkBackend {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("backend-bulk")
            .enable_all()
            .build()
            .expect("bulk backend runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind bulk backend");
        let addr = listener.local_addr().expect("bulk backend addr");
        let uploads = Arc::new(Mutex::new(Vec::new()));
        runtime.spawn(accept_loop(listener, Arc::clone(&uploads)));
        BulkBackend {
            addr,
            uploads,
            runtime: Some(runtime),
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its address as a string, for `--backend`.
    pub fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    /// Every request body received so far, in the order they ended.
    pub fn uploads(&self) -> Vec<Upload> {
        self.uploads.lock().map(|u| u.clone()).unwrap_or_default()
    }
}

impl Drop for BulkBackend {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

async fn accept_loop(listener: TcpListener, uploads: Arc<Mutex<Vec<Upload>>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let uploads = Arc::clone(&uploads);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let uploads = Arc::clone(&uploads);
                async move { Ok::<_, Infallible>(answer(request, &uploads).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    request: hyper::Request<Incoming>,
    uploads: &Mutex<Vec<Upload>>,
) -> hyper::Response<BoxBody<Bytes, Infallible>> {
    let wanted = request
        .uri()
        .path()
        .strip_prefix("/pattern/")
        .and_then(|len| len.parse::<u64>().ok());
    if let (&hyper::Method::GET, Some(len)) = (request.method(), wanted) {
        return hyper::Response::new(PatternBody::new(len).boxed());
    }
    let pause = request
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("pause-ms="))
        .and_then(|ms| ms.parse().ok())
        .map(Duration::from_millis);
    let halfway = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .map_or(0, |len| len / 2);
    let mut pause = pause.map(|pause| (halfway, pause));
    let mut body = request.into_body();
    let mut check = Check::default();
    let complete = loop {
        if let Some((at, pause_for)) = pause {
            if check.bytes >= at {
                tokio::time::sleep(pause_for).await;
                pause = None;
            }
        }
        match body.frame().await {
            None => break true,
            Some(Err(_)) => break false,
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    check.feed(data);
                }
            }
        }
    };
    if let Ok(mut all) = uploads.lock() {
        all.push(Upload {
            bytes: check.bytes,
            first_mismatch: check.first_mismatch,
            complete,
        });
    }
    let mismatch = check
        .first_mismatch
        .map_or("none".to_owned(), |at| at.to_string());
    let summary = format!("bytes={} mismatch={mismatch}\n", check.bytes);
    hyper::Response::new(Full::new(Bytes::from(summary)).boxed())
}

/// What a streamed transfer through [`upload`] or [`download`] showed the client.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// Response status.
    pub status: u16,
    /// Body bytes moved: sent for an upload, received for a download.
    pub bytes: u64,
    /// Download: the first offset where the body differs from the pattern.
    pub first_mismatch: Option<u64>,
    /// Upload: the response body (a [`BulkBackend`]'s summary).
    pub reply: String,
    /// From sending the request head to the end of the response.
    pub elapsed: Duration,
}

/// POSTs `len` bytes of the pattern over HTTP/1.1 (`Content-Length`, [`CHUNK`]-byte
/// writes, never more than a few chunks in memory) and reads the response; the whole
/// exchange is bounded by `limit`.
pub fn upload(
    addr: SocketAddr,
    host: &str,
    path: &str,
    len: u64,
    limit: Duration,
) -> Result<Transfer, String> {
    let sent = Arc::new(AtomicU64::new(0));
    let body = PatternBody {
        counter: Some(Arc::clone(&sent)),
        ..PatternBody::new(len)
    };
    let request = hyper::Request::post(path)
        .header("host", host)
        .header("content-type", "application/octet-stream")
        .body(body)
        .map_err(|e| format!("bad request: {e}"))?;
    block_on("upload", limit, async move {
        let mut sender = connect_http1(addr).await?;
        let start = Instant::now();
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("upload: no response: {e}"))?;
        let status = response.status().as_u16();
        let reply = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("upload: response body: {e}"))?
            .to_bytes();
        Ok(Transfer {
            status,
            bytes: sent.load(Ordering::Relaxed),
            first_mismatch: None,
            reply: String::from_utf8_lossy(&reply).into_owned(),
            elapsed: start.elapsed(),
        })
    })
}

/// GETs `path` over HTTP/1.1 and reads the body as it comes, counting it and comparing
/// it with the pattern, never holding more than a frame; stops reading for
/// `pause_halfway` once half the body (by its `Content-Length`) has come, so that a
/// proxy that kept reading from the backend meanwhile would have to hold what it read.
/// Fails if no frame comes for [`STALL_TIMEOUT`], or if the whole exchange takes longer
/// than `limit`.
pub fn download(
    addr: SocketAddr,
    host: &str,
    path: &str,
    pause_halfway: Duration,
    limit: Duration,
) -> Result<Transfer, String> {
    let request = hyper::Request::get(path)
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("bad request: {e}"))?;
    block_on("download", limit, async move {
        let mut sender = connect_http1(addr).await?;
        let start = Instant::now();
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("download: no response: {e}"))?;
        let status = response.status().as_u16();
        let halfway = response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .map_or(0, |len| len / 2);
        let mut pause = (!pause_halfway.is_zero()).then_some((halfway, pause_halfway));
        let mut body = response.into_body();
        let mut check = Check::default();
        loop {
            if let Some((at, pause_for)) = pause {
                if check.bytes >= at {
                    tokio::time::sleep(pause_for).await;
                    pause = None;
                }
            }
            let frame = tokio::time::timeout(STALL_TIMEOUT, body.frame())
                .await
                .map_err(|_| {
                    format!(
                        "download: stalled after {} bytes for {STALL_TIMEOUT:?}",
                        check.bytes
                    )
                })?;
            match frame {
                None => break,
                Some(Err(e)) => {
                    return Err(format!(
                        "download: body cut after {} bytes: {e}",
                        check.bytes
                    ))
                }
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        check.feed(data);
                    }
                }
            }
        }
        Ok(Transfer {
            status,
            bytes: check.bytes,
            first_mismatch: check.first_mismatch,
            reply: String::new(),
            elapsed: start.elapsed(),
        })
    })
}

async fn connect_http1<B>(addr: SocketAddr) -> Result<http1::SendRequest<B>, String>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (sender, connection) = http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_the_pattern_from_any_offset() {
        let all = crate::pattern(3 * PERIOD + 10);
        for at in [0usize, 1, 250, 251, 252, 600] {
            assert_eq!(&pattern_slice(at as u64, 100)[..], &all[at..at + 100]);
        }
    }

    #[test]
    fn check_finds_the_first_wrong_byte_across_frames() {
        let mut data = crate::pattern(1000);
        let mut check = Check::default();
        check.feed(&data[..300]);
        check.feed(&data[300..]);
        assert_eq!(check.bytes, 1000);
        assert_eq!(check.first_mismatch, None);

        data[700] ^= 1;
        data[900] ^= 1;
        let mut check = Check::default();
        check.feed(&data[..500]);
        check.feed(&data[500..]);
        assert_eq!(check.first_mismatch, Some(700));
        assert_eq!(check.bytes, 1000);
    }

    #[test]
    fn backend_counts_uploads_and_serves_downloads() {
        let backend = BulkBackend::start();
        let limit = Duration::from_secs(10);
        let len = 3 * CHUNK as u64 + 17;
        let start = Instant::now();
        let up = upload(backend.addr(), "x", "/up?pause-ms=100", len, limit).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(up.status, 200);
        assert_eq!(up.bytes, len);
        assert_eq!(up.reply, format!("bytes={len} mismatch=none\n"));
        assert_eq!(
            backend.uploads(),
            [Upload {
                bytes: len,
                first_mismatch: None,
                complete: true
            }]
        );
        let start = Instant::now();
        let pause = Duration::from_millis(100);
        let down = download(
            backend.addr(),
            "x",
            &format!("/pattern/{len}"),
            pause,
            limit,
        )
        .unwrap();
        assert!(start.elapsed() >= pause);
        assert_eq!(down.status, 200);
        assert_eq!(down.bytes, len);
        assert_eq!(down.first_mismatch, None);
    }
}
