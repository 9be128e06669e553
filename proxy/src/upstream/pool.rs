//! [`Pool`]: one backend's idle keep-alive connections.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;

use super::multiplex::H2Conns;
use super::request_body::RequestBody;
use super::transport::Transport;

/// The handle to one pooled HTTP/1.1 connection; its connection task runs on its own.
pub(crate) type Sender = SendRequest<RequestBody>;

/// How a backend's pool keeps idle connections (per cluster: `pool_idle_timeout_ms`,
/// `pool_max_idle_per_backend`).
#[derive(Clone, Copy, Debug)]
pub struct PoolSettings {
    /// A connection idle longer is closed: shorter than backends' own keep-alive
    /// timeouts, so that the proxy closes first and rarely reuses a connection the
    /// backend is closing.
    pub idle_timeout: Duration,
    /// Idle connections kept per backend; more are closed, oldest first.
    pub max_idle: usize,
}

impl Default for PoolSettings {
    fn default() -> PoolSettings {
        PoolSettings {
            idle_timeout: Duration::from_secs(4),
            max_idle: 64,
        }
    }
}

/// One backend's idle connections, most recently used last, each with the moment it
/// went idle.
///
/// The mutex is per backend and is held only to push or pop a sender, never across
/// I/O, so requests to different backends never contend and requests to one backend
/// contend only for a few instructions.
pub(crate) struct Pool {
    idle: Mutex<VecDeque<(Sender, Instant)>>,
    settings: PoolSettings,
    /// How its connections are made.
    pub(crate) transport: Transport,
    /// HTTP/2 clusters: the shared connections (the idle list above stays empty but
    /// for upgrades, which are never pooled anyway).
    pub(crate) h2: Option<H2Conns<RequestBody>>,
}

impl Pool {
    /// An empty pool of connections made over `transport`.
    pub(crate) fn new(settings: PoolSettings, transport: Transport, h2: Option<u32>) -> Pool {
        Pool {
            idle: Mutex::new(VecDeque::new()),
            settings,
            transport,
            h2: h2.map(H2Conns::new),
        }
    }

    /// Drops the connections that are closed or idle for longer than the idle
    /// timeout (oldest first: they are at the front).
    fn expire(&self, idle: &mut VecDeque<(Sender, Instant)>, now: Instant) -> Vec<Sender> {
        let mut expired = Vec::new();
        while let Some((_, since)) = idle.front() {
            if now.saturating_duration_since(*since) < self.settings.idle_timeout {
                break;
            }
            if let Some((sender, _)) = idle.pop_front() {
                expired.push(sender);
            }
        }
        idle.retain(|(sender, _)| !sender.is_closed());
        expired
    }

    /// Closes the connections idle for longer than the idle timeout.
    pub(crate) fn sweep(&self) {
        if let Some(h2) = &self.h2 {
            h2.sweep(self.settings.idle_timeout);
        }
        let now = Instant::now();
        // Dropped after the lock is released: dropping a sender wakes its connection.
        let _expired = {
            let mut idle = self.lock();
            self.expire(&mut idle, now)
        };
    }

    /// The most recently used connection that is ready for a request, else the most
    /// recently used one still open (the caller may wait a little for it to become
    /// ready); closed ones are dropped.
    pub(crate) fn checkout(&self) -> Option<Sender> {
        let now = Instant::now();
        let (sender, _expired) = {
            let mut idle = self.lock();
            let expired = self.expire(&mut idle, now);
            let sender = match idle.iter().rposition(|(sender, _)| sender.is_ready()) {
                Some(ready) => idle.remove(ready),
                None => idle.pop_back(),
            };
            (sender.map(|(sender, _)| sender), expired)
        };
        sender
    }

    /// Puts back a connection whose last response has ended cleanly.
    pub(crate) fn checkin(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        // Dropped after the lock is released: dropping a sender wakes its connection.
        let max_idle = self.settings.max_idle;
        let _evicted = {
            let mut idle = self.lock();
            let evicted = if idle.len() >= max_idle {
                idle.retain(|(sender, _)| !sender.is_closed());
                if idle.len() >= max_idle {
                    idle.pop_front().map(|(sender, _)| sender)
                } else {
                    None
                }
            } else {
                None
            };
            if max_idle > 0 {
                idle.push_back((sender, Instant::now()));
                evicted
            } else {
                Some(sender)
            }
        };
    }

    /// Idle connections held, ready or not.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    // Internal: a panic while the lock was held cannot leave the deque half-updated
    // (its operations do not unwind midway), so a poisoned lock is still usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Sender, Instant)>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("idle", &self.lock().len())
            .finish()
    }
}
