//! [`Backend`]: one upstream address, its health and its active requests.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::config::ClusterConfig;

/// One upstream address of a subcluster.
///
/// Health has two inputs. **Passive**: `max_fails` consecutive connect failures (as
/// reported by the upstream client) mark the backend down; without an active health
/// check it is tried again after `fail_timeout` (and one more failure then marks it
/// down again), with one only the checker brings it back. **Active**: the checker's
/// `unhealthy_after` consecutive failures mark it down, `healthy_after` consecutive
/// successes mark it up. `max_fails = 0` turns passive marking off.
pub struct Backend {
    /// Unique across all clusters of one config: the index of this backend's
    /// connection pool in the upstream module.
    pub id: usize,
    /// Where to connect.
    pub addr: SocketAddr,
    /// `addr` as text, for logs, route info and the `Host` of health checks.
    pub name: Arc<str>,
    /// Weight inside the subcluster; 0 takes no traffic.
    pub weight: u32,
    /// Cluster and subcluster names, for logs.
    cluster: Arc<str>,
    subcluster: Arc<str>,
    /// Passive check thresholds.
    max_fails: u32,
    fail_timeout: Duration,
    /// `(unhealthy_after, healthy_after)` when the cluster has an active check.
    active_check: Option<(u32, u32)>,
    /// Marked up (by default, by a success after a passive timeout, or by the
    /// checker). When false and there is no active check, `down_until` says when a
    /// new attempt is allowed.
    up: AtomicBool,
    /// Milliseconds since `epoch` until which a passively marked-down backend is not
    /// tried; meaningful only while `up` is false and there is no active check.
    down_until: AtomicU64,
    /// The clock of `down_until`; `Instant` itself cannot live in an atomic.
    epoch: Instant,
    /// Where `epoch` and the time since it are read.
    clock: Clock,
    /// Consecutive connect failures.
    fails: AtomicU32,
    /// Consecutive active-check failures and successes. Only the checker task writes
    /// them (and a passive marking-down resets `check_oks`).
    check_fails: AtomicU32,
    check_oks: AtomicU32,
    /// Requests in flight, for least connections. Padded to its own cache line: it is
    /// written by every request, while the fields above are read by every choice.
    active: CachePadded<AtomicUsize>,
}

/// Keeps a value on its own cache line(s) so that writes to it do not invalidate
/// neighbours that other cores only read. 128 bytes: adjacent-line prefetching on
/// x86_64 pairs 64-byte lines.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(super) struct CachePadded<T>(pub(super) T);

impl Backend {
    /// A backend of `cluster`/`subcluster`, with the cluster's health thresholds,
    /// reading the time from `clock`.
    pub(super) fn new(
        id: usize,
        addr: SocketAddr,
        weight: u32,
        cluster: Arc<str>,
        subcluster: Arc<str>,
        config: &ClusterConfig,
        clock: &Clock,
    ) -> Backend {
        Backend {
            id,
            addr,
            name: Arc::from(addr.to_string()),
            weight,
            cluster,
            subcluster,
            max_fails: config.max_fails,
            fail_timeout: Duration::from_millis(config.fail_timeout_ms),
            active_check: config
                .health_check
                .as_ref()
                .map(|c| (c.unhealthy_after.max(1), c.healthy_after.max(1))),
            up: AtomicBool::new(true),
            down_until: AtomicU64::new(0),
            epoch: clock.now(),
            clock: clock.clone(),
            fails: AtomicU32::new(0),
            check_fails: AtomicU32::new(0),
            check_oks: AtomicU32::new(0),
            active: CachePadded(AtomicUsize::new(0)),
        }
    }

    /// Whether the backend may take requests: marked up, or marked down by passive
    /// checks alone and past its `fail_timeout`. Atomics only; the clock is read only
    /// for a backend that is down.
    pub fn is_healthy(&self) -> bool {
        if self.up.load(Ordering::Acquire) {
            return true;
        }
        self.active_check.is_none() && self.now_ms() >= self.down_until.load(Ordering::Acquire)
    }

    /// A connect to this backend failed (passive check): `max_fails` consecutive
    /// failures mark it down. After a `fail_timeout` without an active check, one
    /// failure is enough, since the count is only reset by a success.
    pub fn connect_failed(&self) {
        // Saturating: a backend that stays down must not wrap back to "no failures".
        let fails = self
            .fails
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| {
                Some(f.saturating_add(1))
            })
            .unwrap_or_else(|f| f)
            .saturating_add(1);
        if self.max_fails == 0 || fails < self.max_fails {
            return;
        }
        if self.active_check.is_some() {
            if self.up.swap(false, Ordering::AcqRel) {
                // The checker must see `healthy_after` fresh successes to undo this.
                self.check_oks.store(0, Ordering::Relaxed);
                tracing::warn!(
                    cluster = %self.cluster,
                    subcluster = %self.subcluster,
                    backend = %self.name,
                    fails,
                    "backend marked down after consecutive connect failures; \
                     the active health check will bring it back"
                );
            }
            return;
        }
        let now = self.now_ms();
        let until = now.saturating_add(duration_ms(self.fail_timeout));
        if self.up.load(Ordering::Acquire) {
            // The deadline first: a reader that sees `up == false` must not find an
            // expired deadline from an earlier marking and take the backend as healthy.
            self.down_until.store(until, Ordering::Release);
            if self.up.swap(false, Ordering::AcqRel) {
                tracing::warn!(
                    cluster = %self.cluster,
                    subcluster = %self.subcluster,
                    backend = %self.name,
                    fails,
                    fail_timeout_ms = duration_ms(self.fail_timeout),
                    "backend marked down after consecutive connect failures"
                );
                return;
            }
        }
        // Down already. Within its timeout this is a request chosen before the marking:
        // nothing new. Past it, this was a failed trial: down again, logged once.
        let previous = self.down_until.load(Ordering::Acquire);
        if previous <= now
            && self
                .down_until
                .compare_exchange(previous, until, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            tracing::warn!(
                cluster = %self.cluster,
                subcluster = %self.subcluster,
                backend = %self.name,
                fail_timeout_ms = duration_ms(self.fail_timeout),
                "backend still failing after its fail_timeout; marked down again"
            );
        }
    }

    /// A connect to this backend succeeded: resets the count of consecutive failures
    /// and, without an active check, marks a backend that was down up again.
    pub fn connect_succeeded(&self) {
        // A load first: the common case (no failures) then writes nothing shared.
        if self.fails.load(Ordering::Relaxed) != 0 {
            self.fails.store(0, Ordering::Release);
        }
        if self.active_check.is_none()
            && !self.up.load(Ordering::Acquire)
            && !self.up.swap(true, Ordering::AcqRel)
        {
            tracing::info!(
                cluster = %self.cluster,
                subcluster = %self.subcluster,
                backend = %self.name,
                "backend back up: a connect succeeded after its fail_timeout"
            );
        }
    }

    /// The result of one active health check: `unhealthy_after` consecutive failures
    /// mark the backend down, `healthy_after` consecutive successes mark it up. Without
    /// an active check configured for the cluster, thresholds of 1 apply.
    pub fn check_result(&self, ok: bool) {
        let (unhealthy_after, healthy_after) = self.active_check.unwrap_or((1, 1));
        if ok {
            self.check_fails.store(0, Ordering::Relaxed);
            let oks = self
                .check_oks
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            if oks >= healthy_after && !self.up.load(Ordering::Acquire) {
                self.fails.store(0, Ordering::Release);
                if !self.up.swap(true, Ordering::AcqRel) {
                    tracing::info!(
                        cluster = %self.cluster,
                        subcluster = %self.subcluster,
                        backend = %self.name,
                        successes = oks,
                        "backend back up after consecutive health check successes"
                    );
                }
            }
        } else {
            self.check_oks.store(0, Ordering::Relaxed);
            let fails = self
                .check_fails
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            if fails >= unhealthy_after && self.up.swap(false, Ordering::AcqRel) {
                tracing::warn!(
                    cluster = %self.cluster,
                    subcluster = %self.subcluster,
                    backend = %self.name,
                    failures = fails,
                    "backend marked down after consecutive health check failures"
                );
            }
        }
    }

    /// Counts a request as active (for least connections) until the guard drops.
    pub fn start_request(self: &Arc<Self>) -> ActiveRequest {
        self.active.0.fetch_add(1, Ordering::Relaxed);
        ActiveRequest {
            backend: Arc::clone(self),
        }
    }

    /// Requests in flight.
    pub fn active(&self) -> usize {
        self.active.0.load(Ordering::Relaxed)
    }

    /// The cluster's name.
    pub fn cluster(&self) -> &Arc<str> {
        &self.cluster
    }

    /// The subcluster's name.
    pub fn subcluster(&self) -> &Arc<str> {
        &self.subcluster
    }

    fn now_ms(&self) -> u64 {
        duration_ms(self.clock.now().saturating_duration_since(self.epoch))
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("id", &self.id)
            .field("addr", &self.addr)
            .field("weight", &self.weight)
            .field("cluster", &self.cluster)
            .field("subcluster", &self.subcluster)
            .field("healthy", &self.is_healthy())
            .field("fails", &self.fails.load(Ordering::Relaxed))
            .field("active", &self.active())
            .finish()
    }
}

/// A request in flight on a backend; [`Backend::active`] counts it until this drops.
#[derive(Debug)]
pub struct ActiveRequest {
    backend: Arc<Backend>,
}

impl ActiveRequest {
    /// The backend the request runs on.
    pub fn backend(&self) -> &Arc<Backend> {
        &self.backend
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.backend.active.0.fetch_sub(1, Ordering::Relaxed);
    }
}
