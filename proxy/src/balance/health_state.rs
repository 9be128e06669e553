//! [`HealthState`]: what is known of one backend's health, shared by every
//! configuration that has the same backend (same cluster, address and health
//! settings), so that a reload neither forgets it nor leaves a configuration in use
//! without checks; and [`HealthStates`], where configurations find it.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use crate::config::{ClusterConfig, HealthCheckConfig};
use crate::error_rate::{Threshold, Window};
use hookgate_plugin_kit::Clock;

/// Which backends share a [`HealthState`]: the same address in the same cluster,
/// checked the same way.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HealthKey {
    cluster: Arc<str>,
    addr: SocketAddr,
    max_fails: u32,
    fail_timeout_ms: u64,
    connect_timeout_ms: u64,
    response_timeout_ms: u64,
    health_check: Option<HealthCheckConfig>,
}

impl HealthKey {
    /// The key of `addr` in cluster `cluster` configured by `config`.
    pub fn new(cluster: &Arc<str>, addr: SocketAddr, config: &ClusterConfig) -> HealthKey {
        HealthKey {
            cluster: Arc::clone(cluster),
            addr,
            max_fails: config.max_fails,
            fail_timeout_ms: config.fail_timeout_ms,
            connect_timeout_ms: config.connect_timeout_ms,
            response_timeout_ms: config.response_timeout_ms,
            health_check: config.health_check.clone(),
        }
    }
}

/// The health states of the backends of every configuration alive, by key: the
/// running proxy keeps one for its whole life (outside the snapshots that reloads
/// swap).
#[derive(Debug, Default)]
pub struct HealthStates {
    states: Mutex<HashMap<HealthKey, Weak<HealthState>>>,
    clock: Clock,
}

impl HealthStates {
    /// States reading the time from `clock`.
    pub fn with_clock(clock: Clock) -> HealthStates {
        HealthStates {
            states: Mutex::default(),
            clock,
        }
    }

    /// The state of `key`: the one a live configuration already has, or a new one
    /// (up) made with `config`'s thresholds.
    pub(super) fn get(
        &self,
        key: HealthKey,
        subcluster: &Arc<str>,
        name: &Arc<str>,
        config: &ClusterConfig,
    ) -> Arc<HealthState> {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(state) = states.get(&key).and_then(Weak::upgrade) {
            return state;
        }
        states.retain(|_, state| state.strong_count() > 0);
        let state = Arc::new(HealthState::new(
            key.clone(),
            Arc::clone(subcluster),
            Arc::clone(name),
            config,
            &self.clock,
        ));
        states.insert(key, Arc::downgrade(&state));
        state
    }
}

/// One backend's health.
///
/// Health has two inputs. **Passive** (nginx's model): `max_fails` failures within
/// `fail_timeout` eject the backend for `fail_timeout`. Every failure that is the
/// backend's counts: a connect failure, a connection reset or closed after the
/// request was sent, an invalid response, a response timeout, and a 5xx when the
/// cluster sets `fail_on_5xx`; a client's failure (a broken or cut upload, a client
/// gone) and a stale pooled connection never do. A success resets the count. An
/// ejected backend without an active health check is tried again after
/// `fail_timeout` (one more failure then ejects it again); with one, only the
/// checker brings it back. **Active**: the checker's
/// `unhealthy_after` consecutive failures mark it down, `healthy_after` consecutive
/// successes mark it up. `max_fails = 0` turns passive marking off.
pub struct HealthState {
    key: HealthKey,
    /// Names for logs.
    cluster: Arc<str>,
    subcluster: Arc<str>,
    name: Arc<str>,
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
    /// Failures within `fail_timeout`: one bucket, so a window that starts at the
    /// first failure after the previous one expired.
    failures: Window,
    /// `max_fails` of them.
    threshold: Threshold,
    /// Consecutive active-check failures and successes. Only the checker task writes
    /// them (and a passive marking-down resets `check_oks`).
    check_fails: AtomicU32,
    check_oks: AtomicU32,
}

impl HealthState {
    fn new(
        key: HealthKey,
        subcluster: Arc<str>,
        name: Arc<str>,
        config: &ClusterConfig,
        clock: &Clock,
    ) -> HealthState {
        HealthState {
            cluster: Arc::clone(&key.cluster),
            key,
            subcluster,
            name,
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
            failures: Window::new(Duration::from_millis(config.fail_timeout_ms), 1),
            threshold: Threshold::errors(config.max_fails),
            check_fails: AtomicU32::new(0),
            check_oks: AtomicU32::new(0),
        }
    }

    /// Its key.
    pub fn key(&self) -> &HealthKey {
        &self.key
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

    /// An exchange with the backend failed by its fault (passive check):
    /// `max_fails` failures within `fail_timeout` mark it down. Once down and past its
    /// `fail_timeout` without an active check, one failure is enough (a failed trial).
    pub fn upstream_failed(&self) {
        if self.max_fails == 0 {
            return;
        }
        // Counted while up only: a backend that is down is judged by its deadline (a
        // failure past it is a failed trial, whatever the count).
        let mut fails = 0;
        if self.up.load(Ordering::Acquire) {
            let counts = self.failures.record(self.now_ms(), true);
            if !self.threshold.crossed(counts) {
                return;
            }
            fails = counts.errors;
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
                    "backend marked down after failures within fail_timeout; \
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
                    "backend marked down after failures within fail_timeout"
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

    /// An exchange with the backend succeeded: resets the count of failures and,
    /// without an active check, marks a backend that was down up again.
    pub fn upstream_succeeded(&self) {
        // A load first: the common case (no failures) then writes nothing shared.
        if self.failures.has_errors() {
            self.failures.clear();
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
                self.failures.clear();
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

    fn now_ms(&self) -> u64 {
        duration_ms(self.clock.now().saturating_duration_since(self.epoch))
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl fmt::Debug for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthState")
            .field("backend", &self.name)
            .field("healthy", &self.is_healthy())
            .field("failures", &self.failures.counts(self.now_ms()))
            .finish_non_exhaustive()
    }
}
