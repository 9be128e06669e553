//! HTTP/1.1 (and 1.0) client connections, served by our own codec: each request head
//! parsed in the connection's buffer ([`head`]), its body decoded from the same buffer
//! and handed to the request's life as it is wanted ([`decode`], [`body`]), the
//! response head written straight into the connection's output with the body's first
//! bytes, and the body framed as it streams ([`encode`], [`out`]).
//!
//! One task per connection, no other: the loop polls the request's life itself, so a
//! request costs no spawn and no channel, and the connection has one timer, which
//! only runs while the connection waits for a head (header and idle timeouts, from
//! [`Activity`](super::activity)); a request's own waits are bounded by the body,
//! send and backend timeouts. Requests are served one at a time in order (pipelined
//! heads wait in the buffer). An idle connection keeps no buffer: the next head is
//! read on the worker's stack first, and only what it needs is allocated.
//!
//! What the codec answers itself, before a request exists (no point runs): a head it
//! cannot parse (400), one over [`head::MAX_HEAD_BYTES`] or [`head::MAX_FIELDS`]
//! (431). On a plain listener, a client that starts with the HTTP/2 preface is handed
//! to hyper's HTTP/2 server with the bytes read so far ([`Served::Http2`]).

mod body;
mod decode;
mod encode;
mod head;
mod out;

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode, Version};
use http_body::Body as _;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

pub use body::RequestBody;

use self::body::{Feed, Wants};
use self::decode::{Decoded, Decoder};
use self::encode::{Asked, BodyWriter, Length};
use self::head::{Framing, Parsed};
use self::out::Out;
use super::body::ProxyBody;
use super::connection::{Conn, ABORT};
use super::incoming::{ClientUpgrade, Handover, IncomingBody};
use super::life::Refused;

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The most bytes read at once into the stack while no buffer is held.
const FIRST_READ: usize = 8 * 1024;
/// The most bytes read into the buffer at once.
const READ_CHUNK: usize = 16 * 1024;
/// The most response bytes queued before they are written.
const WRITE_BATCH: usize = 64 * 1024;

/// How a connection's service ended.
pub(crate) enum Served<I> {
    /// The connection is done (closed, timed out, upgraded and handed to its tunnel).
    Done,
    /// The client speaks HTTP/2: serve it with these bytes put back in front.
    Http2(I, Bytes),
}

/// The connection's stream and buffers.
struct Connection<I> {
    io: I,
    /// Bytes read and not yet taken (the next head, body bytes).
    read: BytesMut,
    /// The client closed its side (or the read failed).
    eof: bool,
    /// How the read failed, if it did.
    failed: Option<io::ErrorKind>,
    out: Out,
}

/// How a request's exchange ended.
enum Exchanged {
    /// The response is written; the connection closes after it if `close`.
    Sent { close: bool },
    /// A 101 to an upgrade is written: the connection goes to the tunnel.
    Upgraded(oneshot::Sender<Handover>),
    /// Drop the connection: a plugin closed it, the client went away, the response
    /// body failed or could not be written.
    Drop,
}

/// Serves HTTP/1.x on `io` until the connection ends. `sniff`: a plain listener,
/// where a client may start with the HTTP/2 preface instead.
pub(crate) async fn serve<I>(
    io: I,
    conn: Arc<Conn>,
    mut shutdown: watch::Receiver<bool>,
    sniff: bool,
) -> Served<I>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut c = Connection {
        io,
        read: BytesMut::new(),
        eof: false,
        failed: None,
        out: Out::default(),
    };
    let timeouts = conn.snapshot.edge.timeouts;
    // The connection's one timer: set at the wait's deadline, or left where it is if
    // that is earlier (a deadline only moves later; when the timer fires early, the
    // wait asks again).
    let timer = tokio::time::sleep(timeouts.shortest());
    tokio::pin!(timer);
    let mut draining = *shutdown.borrow();
    // The server draining: one future for the connection's life, registered once.
    let drain = async move {
        let _ = shutdown.changed().await;
    };
    tokio::pin!(drain);
    let mut first = sniff;
    loop {
        let parsed = loop {
            if first && is_preface_start(&c.read) {
                if c.read.len() >= PREFACE.len() {
                    return Served::Http2(c.io, c.read.freeze());
                }
            } else if !c.read.is_empty() {
                match head::parse(&mut c.read) {
                    Ok(Some(parsed)) => break parsed,
                    Ok(None) => {}
                    Err(status) => {
                        tracing::debug!(peer = %conn.peer, %status, "request head refused");
                        Box::pin(c.refuse(status)).await;
                        return Served::Done;
                    }
                }
            }
            if c.eof || (draining && c.read.is_empty()) {
                return Served::Done;
            }
            let deadline = conn.activity.deadline(&timeouts, false);
            if let Some((at, _)) = deadline {
                if timer.is_elapsed() || timer.deadline() > at {
                    timer.as_mut().reset(at);
                }
            }
            tokio::select! {
                read = std::future::poll_fn(|cx| c.poll_read(cx)) => {
                    if read.is_err() {
                        return Served::Done;
                    }
                }
                () = timer.as_mut(), if deadline.is_some() => {
                    // The deadline may have moved since it was read: ask again.
                    let now = Instant::now();
                    if let Some((at, expired)) = conn.activity.deadline(&timeouts, false) {
                        if at <= now {
                            tracing::debug!(peer = %conn.peer, ?expired, "client timeout: closing");
                            return Served::Done;
                        }
                    }
                }
                () = drain.as_mut(), if !draining => draining = true,
            }
        };
        first = false;
        let keep_alive = parsed.keep_alive;
        // Boxed: the exchange's state (the response on its way, the body's feed) is
        // there only while a request is, not in every idle connection's task.
        match Box::pin(c.exchange(parsed, &conn)).await {
            Exchanged::Upgraded(handover) => {
                let read = c.read.freeze();
                let _ = handover.send((Box::new(c.io), read));
                return Served::Done;
            }
            Exchanged::Sent { close } if close || !keep_alive => {
                c.close().await;
                return Served::Done;
            }
            Exchanged::Sent { .. } => {
                if !draining {
                    draining =
                        std::future::poll_fn(|cx| Poll::Ready(drain.as_mut().poll(cx).is_ready()))
                            .await;
                }
                if conn.control.is_closing() || draining {
                    c.close().await;
                    return Served::Done;
                }
                c.out.release();
                if c.read.is_empty() {
                    // Nothing pipelined: the idle connection holds no buffer.
                    c.read = BytesMut::new();
                }
            }
            Exchanged::Drop => return Served::Done,
        }
    }
}

/// Whether `read` could be the start of the HTTP/2 preface.
fn is_preface_start(read: &[u8]) -> bool {
    !read.is_empty() && PREFACE.starts_with(&read[..read.len().min(PREFACE.len())])
}

impl<I: AsyncRead + AsyncWrite + Send + Unpin + 'static> Connection<I> {
    /// Reads what the client sent next into the buffer: into the stack first while
    /// the buffer holds nothing, so that only what arrived is allocated.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.eof {
            return Poll::Ready(Ok(0));
        }
        let result = if self.read.is_empty() {
            let mut stack = [MaybeUninit::<u8>::uninit(); FIRST_READ];
            let mut buf = ReadBuf::uninit(&mut stack);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => {
                    self.read.extend_from_slice(buf.filled());
                    Ok(buf.filled().len())
                }
                Poll::Ready(Err(error)) => Err(error),
                Poll::Pending => return Poll::Pending,
            }
        } else {
            // Partial: the rest goes behind it, in the same buffer.
            self.read.reserve(READ_CHUNK.min(head::MAX_HEAD_BYTES));
            match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read) {
                Poll::Ready(result) => result,
                Poll::Pending => return Poll::Pending,
            }
        };
        match &result {
            Ok(0) => self.eof = true,
            Ok(_) => {}
            Err(error) => {
                self.eof = true;
                self.failed = Some(error.kind());
            }
        }
        Poll::Ready(result)
    }

    /// Answers a head the codec refused, and closes.
    async fn refuse(&mut self, status: StatusCode) {
        let mut response = Response::new(()).into_parts().0;
        response.status = status;
        let asked = Asked {
            method: http::Method::GET,
            version: Version::HTTP_11,
            trailers: false,
        };
        encode::head(&mut self.out, &response, &asked, Length::Empty, true);
        if std::future::poll_fn(|cx| self.out.poll_write(&mut self.io, cx))
            .await
            .is_ok()
        {
            self.close().await;
        }
    }

    /// Flushes and closes the connection's sending side.
    async fn close(&mut self) {
        let _ = self.io.shutdown().await;
    }

    /// Serves one request: its life runs (polled here), its body is fed as the life
    /// reads it, and its response written as it comes.
    async fn exchange(&mut self, parsed: Parsed, conn: &Arc<Conn>) -> Exchanged {
        let Parsed {
            head,
            framing,
            keep_alive,
            expect_continue,
            upgrade,
            trailers,
        } = parsed;
        let asked = Asked {
            method: head.method.clone(),
            version: head.version,
            trailers,
        };
        let (body, feed, decoder) = match framing {
            Framing::Length(0) => (RequestBody::empty(), None, None),
            Framing::Length(n) => {
                let (body, feed) = RequestBody::channel(Some(n));
                (body, Some(feed), Some(Decoder::Length(n)))
            }
            Framing::Chunked => {
                let (body, feed) = RequestBody::channel(None);
                (body, Some(feed), Some(Decoder::chunked()))
            }
        };
        let mut request = Request::from_parts(head, IncomingBody::H1(body));
        // The head's `Upgrade` field is only the cheap first check: the rule is
        // `websocket::is_upgrade`, the one the life goes by.
        let handover = (upgrade && super::websocket::is_upgrade(&request)).then(|| {
            let (sender, client) = ClientUpgrade::channel();
            request.extensions_mut().insert(client);
            sender
        });
        let life = super::life::handle(request, Arc::clone(conn));
        let mut exchange = Exchange {
            life: std::pin::pin!(life),
            conn,
            asked,
            keep_alive,
            feed,
            decoder,
            expect_continue: expect_continue && framing != Framing::Length(0),
            response: None,
            seen: 0,
        };
        let outcome = std::future::poll_fn(|cx| exchange.poll(self, cx)).await;
        let upgraded = exchange.response.as_ref().is_some_and(|r| r.upgraded);
        let Exchange {
            feed,
            mut decoder,
            response,
            ..
        } = exchange;
        // RequestFinish runs as the response body goes.
        drop(response);
        drop(feed);
        let Exchanged::Sent { close } = outcome else {
            return outcome;
        };
        if upgraded {
            // Only a 101 to an upgrade request leaves the connection to a tunnel.
            return match handover {
                Some(handover) => Exchanged::Upgraded(handover),
                None => Exchanged::Drop,
            };
        }
        // A body nobody read: the connection can go on only if its rest is already
        // here (drained from the buffer); otherwise its bytes would be read as the
        // next head.
        let drained = match decoder.as_mut() {
            None => true,
            Some(decoder) => loop {
                match decoder.decode(&mut self.read) {
                    Ok(Decoded::Data(_)) => {}
                    Ok(Decoded::End) => break true,
                    Ok(Decoded::More) | Err(_) => break false,
                }
            },
        };
        Exchanged::Sent {
            close: close || !drained,
        }
    }
}

/// A request's exchange in progress: its life, its body's feed, its response.
struct Exchange<'c, F> {
    life: Pin<&'c mut F>,
    conn: &'c Arc<Conn>,
    asked: Asked,
    keep_alive: bool,
    feed: Option<Feed>,
    /// The body's framing until it is all read.
    decoder: Option<Decoder>,
    /// A 100 Continue is owed when the body is first wanted.
    expect_continue: bool,
    /// The response being sent.
    response: Option<Sending>,
    /// What the connection's requests asked of it, as seen.
    seen: u8,
}

/// A response whose head is written and whose body is on its way.
struct Sending {
    /// Dropped as soon as its end is queued: RequestFinish runs then, before the last
    /// bytes are flushed (as with hyper).
    body: Option<ProxyBody>,
    writer: BodyWriter,
    close: bool,
    upgraded: bool,
}

impl<F> Exchange<'_, F>
where
    F: Future<Output = Result<Response<ProxyBody>, Refused>>,
{
    fn poll<I>(&mut self, c: &mut Connection<I>, cx: &mut Context<'_>) -> Poll<Exchanged>
    where
        I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        loop {
            let mut progress = false;
            if let Poll::Ready(asked) = self.conn.control.poll_asked(self.seen, cx) {
                self.seen = asked;
                if asked & ABORT != 0 {
                    return Poll::Ready(Exchanged::Drop);
                }
            }
            if self.response.is_none() {
                match self.life.as_mut().poll(cx) {
                    Poll::Ready(Ok(response)) => {
                        self.start_response(c, response);
                        progress = true;
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(Exchanged::Drop),
                    Poll::Pending => {}
                }
            }
            // The request body, as it is wanted.
            let mut read_wanted = false;
            if let (Some(feed), Some(decoder)) = (self.feed.as_mut(), self.decoder.as_mut()) {
                match feed.poll_wants(cx) {
                    Wants::Data => {
                        if std::mem::take(&mut self.expect_continue) && self.response.is_none() {
                            c.out
                                .staging()
                                .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        }
                        match decoder.decode(&mut c.read) {
                            Ok(Decoded::Data(data)) => {
                                feed.send(data);
                                progress = true;
                            }
                            Ok(Decoded::End) => {
                                feed.finish();
                                self.feed = None;
                                self.decoder = None;
                                progress = true;
                            }
                            Ok(Decoded::More) if c.eof => {
                                match c.failed {
                                    Some(kind) => feed.fail(kind, "request body not read"),
                                    None => feed.fail(
                                        io::ErrorKind::UnexpectedEof,
                                        "request body cut short",
                                    ),
                                }
                                self.feed = None;
                            }
                            Ok(Decoded::More) => read_wanted = true,
                            Err(error) => {
                                tracing::debug!(peer = %self.conn.peer, %error, "request body refused");
                                feed.fail(io::ErrorKind::InvalidData, "invalid chunked framing");
                                self.feed = None;
                            }
                        }
                    }
                    Wants::Gone => self.feed = None,
                    Wants::Nothing => {}
                }
            }
            // While the life waits and no body is being read: watch for the client
            // leaving (and keep what it pipelines, up to a head's worth).
            let watching = self.response.is_none()
                && self.feed.is_none()
                && !c.eof
                && c.read.len() < head::MAX_HEAD_BYTES;
            if read_wanted || watching {
                match c.poll_read(cx) {
                    Poll::Ready(Ok(n)) if n > 0 => progress = true,
                    Poll::Ready(result) => {
                        if self.feed.is_some() {
                            // The body's next turn reports it.
                            progress = true;
                        } else if self.response.is_none() && self.decoder.is_none() {
                            // The client went away before its response (a half-close
                            // included, as hyper and nginx take it).
                            let _ = result;
                            return Poll::Ready(Exchanged::Drop);
                        }
                    }
                    Poll::Pending => {}
                }
            }
            // The response: its body's frames framed and written.
            if let Some(sending) = self.response.as_mut() {
                while let Some(body) = sending.body.as_mut().filter(|_| c.out.len() < WRITE_BATCH) {
                    match Pin::new(body).poll_frame(cx) {
                        Poll::Ready(Some(Ok(frame))) => {
                            let result = match frame.into_data() {
                                Ok(data) => sending.writer.data(&mut c.out, data),
                                Err(frame) => {
                                    let trailers = frame.into_trailers().ok();
                                    sending.body = None;
                                    sending.writer.end(&mut c.out, trailers.as_ref())
                                }
                            };
                            if let Err(error) = result {
                                tracing::debug!(peer = %self.conn.peer, %error, "response body does not match its length");
                                return Poll::Ready(self.abandon(c, cx));
                            }
                        }
                        Poll::Ready(None) => {
                            sending.body = None;
                            if let Err(error) = sending.writer.end(&mut c.out, None) {
                                tracing::debug!(peer = %self.conn.peer, %error, "response body cut short");
                                return Poll::Ready(self.abandon(c, cx));
                            }
                        }
                        Poll::Ready(Some(Err(error))) => {
                            tracing::debug!(peer = %self.conn.peer, %error, "response body failed");
                            return Poll::Ready(self.abandon(c, cx));
                        }
                        Poll::Pending => break,
                    }
                }
            }
            if !c.out.is_empty() {
                match c.out.poll_write(&mut c.io, cx) {
                    Poll::Ready(Ok(())) => progress = true,
                    Poll::Ready(Err(error)) => {
                        tracing::debug!(peer = %self.conn.peer, %error, "response not written");
                        return Poll::Ready(Exchanged::Drop);
                    }
                    Poll::Pending => {}
                }
            }
            if let Some(sending) = &self.response {
                if sending.body.is_none() && c.out.is_empty() {
                    return Poll::Ready(Exchanged::Sent {
                        close: sending.close,
                    });
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// Writes the head of the life's response and makes its body ready to stream.
    fn start_response<I>(&mut self, c: &mut Connection<I>, response: Response<ProxyBody>) {
        let (head, body) = response.into_parts();
        let upgraded = head.status == StatusCode::SWITCHING_PROTOCOLS;
        let length = if body.is_end_stream() {
            Length::Empty
        } else {
            body.size_hint()
                .exact()
                .map_or(Length::Unknown, Length::Known)
        };
        let close = !self.keep_alive || self.conn.control.is_closing();
        let (writer, close) = encode::head(&mut c.out, &head, &self.asked, length, close);
        // A 100 Continue not sent yet is not owed any more.
        self.expect_continue = false;
        // Nothing may follow the head (HEAD, 204, 304, 101): the body is not read.
        let body = (!writer.is_full()).then_some(body);
        self.response = Some(Sending {
            body,
            writer,
            close,
            upgraded,
        });
    }

    /// The response cannot be completed: what is queued goes out (best effort, so the
    /// client sees where it was cut), then the connection is dropped.
    fn abandon<I>(&mut self, c: &mut Connection<I>, cx: &mut Context<'_>) -> Exchanged
    where
        I: AsyncWrite + Unpin,
    {
        let _ = c.out.poll_write(&mut c.io, cx);
        Exchanged::Drop
    }
}
