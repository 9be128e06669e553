//! Which HTTP a client connection speaks, and serving it until it ends: HTTP/1.x with
//! our codec ([`h1`]), HTTP/2 with hyper.
//!
//! On TLS listeners ALPN alone decides (DESIGN §6): `h2` → HTTP/2 only, so HTTP/1.1
//! bytes get a GOAWAY `PROTOCOL_ERROR`; `http/1.1` or no ALPN → HTTP/1.1 only, so an
//! HTTP/2 preface is a bad request. Plain listeners serve HTTP/1.1 and HTTP/2 with
//! prior knowledge on one port, told apart by the first bytes (`Upgrade: h2c` is
//! never honoured, nor forwarded).

use std::sync::Arc;

use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::activity::Expired;
use super::connection::{Conn, ABORT};
use super::h1;
use super::incoming::IncomingBody;
use super::rewind::Rewound;

/// How long an HTTP/2 connection closed for idleness has to send its GOAWAY.
const GOAWAY_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// The HTTP a connection is served with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Plain listeners: HTTP/1.1, or HTTP/2 if the client starts with its preface.
    Sniff,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only.
    Http2,
}

impl Protocol {
    /// The protocol of a TLS connection that negotiated `alpn`.
    pub(crate) fn of_alpn(alpn: Option<&str>) -> Protocol {
        match alpn {
            Some("h2") => Protocol::Http2,
            _ => Protocol::Http1,
        }
    }
}

/// Polls a hyper HTTP/2 connection to its end, starting a graceful shutdown when the
/// connection is asked to close after its response (a plugin's Finish) or the server
/// drains, and dropping it at once when a plugin's Close aborts it or a header or idle
/// timeout runs out (HTTP/2 idle: GOAWAY first).
// Internal: a macro because hyper's connection types share `graceful_shutdown` by
// name only, behind bounds that would have to be restated for a trait.
macro_rules! drive {
    ($connection:expr, $conn:expr, $shutdown:expr, $streams:expr) => {{
        let connection = $connection;
        tokio::pin!(connection);
        let (mut closing, mut draining) = (false, *$shutdown.borrow());
        if draining {
            connection.as_mut().graceful_shutdown();
        }
        let timeouts = $conn.snapshot.edge.timeouts;
        // The longest the loop sleeps without asking again (see `activity`).
        let horizon = timeouts.shortest();
        let timer = tokio::time::sleep(horizon);
        tokio::pin!(timer);
        // After an HTTP/2 idle GOAWAY: the moment to stop waiting for hyper to send it
        // and finish.
        let mut goaway_sent: Option<tokio::time::Instant> = None;
        // What the connection's requests asked of it so far (`ConnControl`).
        let mut seen = 0;
        loop {
            // Evaluated once per turn, into a plain bool: it may lock the session.
            let streams: bool = $streams;
            let deadline = match goaway_sent {
                Some(at) => Some((at + GOAWAY_GRACE, Expired::Idle)),
                None => $conn.activity.deadline(&timeouts, streams),
            };
            let next = tokio::time::Instant::now() + horizon;
            timer
                .as_mut()
                .reset(deadline.map_or(next, |(at, _)| at.min(next)));
            tokio::select! {
                () = timer.as_mut() => {
                    // The deadline may have moved since it was read: re-check.
                    let now = tokio::time::Instant::now();
                    if goaway_sent.is_some() {
                        break;
                    }
                    match $conn.activity.deadline(&timeouts, streams) {
                        Some((at, Expired::Idle)) if at <= now && streams => {
                            tracing::debug!(peer = %$conn.peer, "idle timeout: GOAWAY");
                            goaway_sent = Some(now);
                            closing = true;
                            connection.as_mut().graceful_shutdown();
                        }
                        Some((at, expired)) if at <= now => {
                            tracing::debug!(peer = %$conn.peer, ?expired, "client timeout: closing");
                            break;
                        }
                        _ => {}
                    }
                }
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(peer = %$conn.peer, %error, "connection ended with an error");
                    }
                    break;
                }
                asked = $conn.control.asked(seen) => {
                    seen = asked;
                    if asked & ABORT != 0 {
                        break;
                    }
                    if !closing {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
                changed = $shutdown.changed(), if !draining => {
                    draining = true;
                    if changed.is_ok() {
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }};
}

/// Serves the connection's requests with `protocol` until it ends.
///
/// Internal: HTTP/2 is served boxed, so that an HTTP/1.1 connection's task has no
/// room for hyper's HTTP/2 connection state (kilobytes per idle connection).
pub(crate) async fn serve<I>(
    io: I,
    protocol: Protocol,
    conn: Arc<Conn>,
    shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    match protocol {
        Protocol::Sniff | Protocol::Http1 => {
            let sniff = protocol == Protocol::Sniff;
            let served = h1::serve(io, Arc::clone(&conn), shutdown.clone(), sniff).await;
            if let h1::Served::Http2(io, read) = served {
                conn.lock_session().protocol = "h2";
                Box::pin(http2(Rewound::new(io, read), conn, shutdown)).await;
            }
        }
        Protocol::Http2 => Box::pin(http2(io, conn, shutdown)).await,
    }
}

/// Serves HTTP/2 with hyper until the connection ends.
async fn http2<I>(io: I, conn: Arc<Conn>, mut shutdown: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let service = {
        let conn = Arc::clone(&conn);
        service_fn(move |request: http::Request<hyper::body::Incoming>| {
            super::life::handle(request.map(IncomingBody::Hyper), Arc::clone(&conn))
        })
    };
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(conn.snapshot.edge.h2_max_concurrent_streams);
    drive!(
        builder.serve_connection(TokioIo::new(io), service),
        conn,
        shutdown,
        true
    );
}
