//! [`Activity`]: what a client connection is doing, so that every wait on the client
//! is bounded (DESIGN §6), with nginx's names:
//!
//! - **header** (`server.header_timeout_ms`): from accept to the first complete
//!   request head, TLS handshake and protocol detection included; on keep-alive, from
//!   the first byte of the next request to its complete head;
//! - **idle** (`server.idle_timeout_ms`): from the end of the last response (no
//!   request in flight) to the first byte of the next request; HTTP/2 has no such
//!   first byte (pings and settings flow anyway), so there it is the time without an
//!   open stream, and ends with a GOAWAY.
//!
//! The send timeout is the stream's own ([`WriteTimeout`](crate::write_timeout)), and
//! the body timeout the request body's.
//!
//! Internal: the request path marks begins and ends (two atomic operations and a
//! clock read at the end); [`Watched`], the stream wrapper (an [`Observed`] stream),
//! marks the first byte read after the connection went idle (one atomic load per read
//! otherwise). Nothing wakes the connection's driving loop: it asks
//! [`Activity::deadline`] and sleeps until it, but never longer than
//! [`ClientTimeouts::shortest`] from now, then asks again. A deadline that a later
//! event starts (a request ends, a byte arrives) is that event plus one of the
//! timeouts, so it is never earlier than the loop's next wake: each wait still ends on
//! time, and requests cost the loop nothing (a connection's timer fires about once
//! per shortest timeout, not once per request).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::observed::{Observed, Observer};
use crate::edge::ClientTimeouts;

/// "Not set", for the millisecond marks.
const NONE: u64 = u64::MAX;

/// A connection's activity, shared by its requests, its stream and its driving loop.
#[derive(Debug)]
pub(crate) struct Activity {
    /// When the connection was accepted; the marks below are milliseconds since.
    start: Instant,
    in_flight: AtomicUsize,
    /// Whether a request head has ever been completed on this connection.
    served: AtomicBool,
    /// When the connection last became idle (no request in flight), or `NONE`.
    idle_since: AtomicU64,
    /// When the first byte after `idle_since` was read, or `NONE`.
    first_byte: AtomicU64,
    /// Set while idle and no byte has been read yet: the stream marks the first one.
    waiting_for_byte: AtomicBool,
}

/// Which wait ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No complete request head in time.
    Header,
    /// Idle too long.
    Idle,
}

impl Activity {
    /// A connection accepted now.
    pub(crate) fn new() -> Activity {
        Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(NONE),
            first_byte: AtomicU64::new(NONE),
            waiting_for_byte: AtomicBool::new(false),
        }
    }

    /// When the connection was accepted.
    pub(crate) fn accepted_at(&self) -> Instant {
        self.start
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    /// A request head is complete and its request begins; the returned guard ends it
    /// when dropped (once its response is sent, or it ended without one).
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.served.store(true, Ordering::Relaxed);
        self.waiting_for_byte.store(false, Ordering::Relaxed);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            self.idle_since.store(NONE, Ordering::Relaxed);
            self.first_byte.store(NONE, Ordering::Relaxed);
        }
        InFlight(Arc::clone(self))
    }

    fn end(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.first_byte.store(NONE, Ordering::Relaxed);
            self.idle_since.store(self.now_ms(), Ordering::Relaxed);
            self.waiting_for_byte.store(true, Ordering::Release);
        }
    }

    /// The first byte of a request arrived on an idle connection.
    fn byte_arrived(&self) {
        if self.waiting_for_byte.swap(false, Ordering::AcqRel) {
            self.first_byte.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// When the connection's current wait runs out, and which wait it is; `None`
    /// while a request is in flight (its own timeouts bound it). `streams`: HTTP/2.
    pub(crate) fn deadline(
        &self,
        timeouts: &ClientTimeouts,
        streams: bool,
    ) -> Option<(Instant, Expired)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if !self.served.load(Ordering::Relaxed) {
            return Some((self.start + timeouts.header, Expired::Header));
        }
        let idle_since = self.idle_since.load(Ordering::Relaxed);
        if idle_since == NONE {
            return None;
        }
        let first_byte = self.first_byte.load(Ordering::Relaxed);
        if !streams && first_byte != NONE {
            return Some((self.at(first_byte) + timeouts.header, Expired::Header));
        }
        Some((self.at(idle_since) + timeouts.idle, Expired::Idle))
    }
}

/// A request in flight on its connection; dropping it ends the request.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end()
    }
}

impl Observer for Activity {
    /// A read with bytes: the first one after the connection went idle starts the
    /// header timeout. Otherwise one atomic load.
    fn read(&self) {
        if self.waiting_for_byte.load(Ordering::Relaxed) {
            self.byte_arrived();
        }
    }
}

/// A client stream that marks, on its [`Activity`], the first byte read after the
/// connection went idle.
pub(crate) type Watched<I> = Observed<I, Activity>;

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts() -> ClientTimeouts {
        ClientTimeouts {
            header: Duration::from_secs(60),
            idle: Duration::from_secs(75),
            body: Duration::from_secs(60),
            send: Duration::from_secs(60),
            tunnel_idle: Duration::from_secs(3600),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn header_then_none_then_idle_then_header_again() {
        let activity = Arc::new(Activity::new());
        let t = timeouts();
        let start = activity.accepted_at();
        assert_eq!(
            activity.deadline(&t, false),
            Some((start + t.header, Expired::Header)),
            "a new connection has the header timeout, from accept"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        let request = activity.begin();
        assert_eq!(activity.deadline(&t, false), None, "a request in flight");
        tokio::time::advance(Duration::from_secs(2)).await;
        drop(request);
        let idle_since = Instant::now();
        assert_eq!(
            activity.deadline(&t, false),
            Some((idle_since + t.idle, Expired::Idle))
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        activity.byte_arrived();
        let first_byte = Instant::now();
        assert_eq!(
            activity.deadline(&t, false),
            Some((first_byte + t.header, Expired::Header)),
            "HTTP/1.1: from the first byte of the next request"
        );
        assert_eq!(
            activity.deadline(&t, true),
            Some((idle_since + t.idle, Expired::Idle)),
            "HTTP/2: idle without a stream, whatever bytes come"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn overlapping_requests_leave_no_deadline_until_the_last_ends() {
        let activity = Arc::new(Activity::new());
        let t = timeouts();
        let a = activity.begin();
        let b = activity.begin();
        drop(a);
        assert_eq!(activity.deadline(&t, true), None);
        drop(b);
        assert!(matches!(
            activity.deadline(&t, true),
            Some((_, Expired::Idle))
        ));
    }
}
