//! [`Pool`]: one backend's idle keep-alive connections.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use hyper::client::conn::http1::SendRequest;

use super::request_body::RequestBody;

/// The handle to one pooled HTTP/1.1 connection; its connection task runs on its own.
pub(crate) type Sender = SendRequest<RequestBody>;

/// Idle connections kept per backend; more are closed, oldest first.
pub(crate) const MAX_IDLE: usize = 64;

/// One backend's idle connections, most recently used last.
///
/// The mutex is per backend and is held only to push or pop a sender, never across
/// I/O, so requests to different backends never contend and requests to one backend
/// contend only for a few instructions.
pub(crate) struct Pool {
    idle: Mutex<VecDeque<Sender>>,
}

impl Pool {
    /// An empty pool.
    pub(crate) fn new() -> Pool {
        Pool {
            idle: Mutex::new(VecDeque::new()),
        }
    }

    /// The most recently used connection that is ready for a request, else the most
    /// recently used one still open (the caller may wait a little for it to become
    /// ready); closed ones are dropped.
    pub(crate) fn checkout(&self) -> Option<Sender> {
        let mut idle = self.lock();
        idle.retain(|sender| !sender.is_closed());
        match idle.iter().rposition(Sender::is_ready) {
            Some(ready) => idle.remove(ready),
            None => idle.pop_back(),
        }
    }

    /// Puts back a connection whose last response has ended cleanly.
    pub(crate) fn checkin(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        // Dropped after the lock is released: dropping a sender wakes its connection.
        let _evicted = {
            let mut idle = self.lock();
            let evicted = if idle.len() >= MAX_IDLE {
                idle.retain(|sender| !sender.is_closed());
                if idle.len() >= MAX_IDLE {
                    idle.pop_front()
                } else {
                    None
                }
            } else {
                None
            };
            idle.push_back(sender);
            evicted
        };
    }

    /// Idle connections held, ready or not.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    // Internal: a panic while the lock was held cannot leave the deque half-updated
    // (its operations do not unwind midway), so a poisoned lock is still usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Sender>> {
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
