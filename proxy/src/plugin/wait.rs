//! Handlers that wait (plugin API 0.2.2): while a handler at BeforeLocation,
//! FoundProduct or AfterLocation runs, the callouts it starts and the continuation it
//! leaves through the host module are collected on its thread ([`collect`]), within its
//! instance's [`CalloutLimits`]; a chain whose handler returned Wait hands them over as
//! a [`Waiting`], which the request's life runs (`crate::callout`) and resumes.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hookgate_plugin_api::abi::{
    CalloutResultAbi, CalloutSpecAbi, ContinuationBox, HostServices, RResult, RString,
};
use hookgate_plugin_api::Point;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::CalloutLimitsConfig;

/// What the proxy lends plugins through its host module.
pub const SERVICES: HostServices = HostServices {
    peer_certificate: crate::tls::peer::lookup,
    callout,
    wait,
};

/// The most callouts one handler may start.
const MAX_CALLOUTS: usize = 16;

/// An instance's callout limits (`[[plugins]] callouts`): its callouts in flight at
/// once, and the most time and body bytes each may take; and what its callouts did.
#[derive(Clone, Debug)]
pub struct CalloutLimits {
    in_flight: Arc<Semaphore>,
    concurrent: u32,
    timeout_ms: u64,
    body_limit: u64,
    /// Its callouts, counted (on `/metrics`).
    pub counts: Arc<CalloutCounts>,
}

/// What an instance's callouts did: by outcome, and their time.
#[derive(Debug, Default)]
pub struct CalloutCounts {
    /// Answered (any status).
    pub answered: AtomicU64,
    /// Timed out.
    pub timed_out: AtomicU64,
    /// Failed otherwise (connect, TLS, a bad spec, a body over its limit).
    pub failed: AtomicU64,
    /// Refused before being sent (over the instance's `concurrent` limit).
    pub refused: AtomicU64,
    /// Their time, in microseconds, summed.
    pub micros: AtomicU64,
}

impl CalloutCounts {
    /// Counts the results of callouts that took `elapsed` together.
    pub fn record(&self, results: &[CalloutResultAbi], elapsed: std::time::Duration) {
        for result in results {
            let counter = match result.error.as_ref().into_option() {
                None => &self.answered,
                Some(error) if error.as_str() == "timeout" => &self.timed_out,
                Some(_) => &self.failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let calls = results.len() as u64;
        self.micros
            .fetch_add(micros.saturating_mul(calls), Ordering::Relaxed);
    }
}

impl CalloutLimits {
    /// The limits `config` sets.
    pub fn new(config: &CalloutLimitsConfig) -> CalloutLimits {
        let concurrent = config.concurrent.max(1);
        CalloutLimits {
            in_flight: Arc::new(Semaphore::new(concurrent as usize)),
            concurrent,
            timeout_ms: config.timeout_ms.max(1),
            body_limit: config.body_limit.max(1),
            counts: Arc::default(),
        }
    }
}

/// What the handler running on this thread started, within its instance's limits.
struct Pending {
    limits: CalloutLimits,
    callouts: Vec<CalloutSpecAbi>,
    continuation: Option<ContinuationBox>,
    /// One per callout, held until it is done.
    permits: Vec<OwnedSemaphorePermit>,
}

thread_local! {
    /// `Some` while a handler that may wait runs.
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// A handler that waits: its callouts, its continuation, and where its chain goes on.
pub struct Waiting {
    /// The callouts, in the order started (each capped by its instance's limits).
    pub callouts: Vec<CalloutSpecAbi>,
    /// Called once with their results.
    pub continuation: ContinuationBox,
    /// The index of the waiting handler in its chain (the chain goes on after it).
    pub link: usize,
    /// The callouts' places under the instance's `concurrent` limit, freed with this.
    pub permits: Vec<OwnedSemaphorePermit>,
    /// Where its instance counts them.
    pub counts: Arc<CalloutCounts>,
}

/// What a handler left: its callouts, its continuation and their places.
pub type Left = (
    Vec<CalloutSpecAbi>,
    ContinuationBox,
    Vec<OwnedSemaphorePermit>,
);

/// Whether handlers at `point` may wait.
pub fn may_wait(point: Point) -> bool {
    matches!(
        point,
        Point::BeforeLocation | Point::FoundProduct | Point::AfterLocation
    )
}

/// Runs `handler` of an instance with `limits` (at a point where handlers may wait),
/// collecting what it starts: its callouts and continuation, if it left one.
pub fn collect<T>(limits: &CalloutLimits, handler: impl FnOnce() -> T) -> (T, Option<Left>) {
    let pending = Pending {
        limits: limits.clone(),
        callouts: Vec::new(),
        continuation: None,
        permits: Vec::new(),
    };
    PENDING.with(|p| *p.borrow_mut() = Some(pending));
    let result = handler();
    let left = PENDING
        .with(|p| p.borrow_mut().take())
        .and_then(|pending| (pending.continuation).map(|c| (pending.callouts, c, pending.permits)));
    (result, left)
}

extern "C" fn callout(mut spec: CalloutSpecAbi) -> RResult<u32, RString> {
    PENDING.with(|p| {
        let mut pending = p.borrow_mut();
        let Some(pending) = pending.as_mut() else {
            return RResult::RErr(
                "callouts are only started by handlers at BeforeLocation, FoundProduct or \
                 AfterLocation"
                    .into(),
            );
        };
        if pending.callouts.len() >= MAX_CALLOUTS {
            let why = format!("more than {MAX_CALLOUTS} callouts in one handler");
            return RResult::RErr(why.into());
        }
        let limits = &pending.limits;
        let Ok(permit) = Arc::clone(&limits.in_flight).try_acquire_owned() else {
            limits.counts.refused.fetch_add(1, Ordering::Relaxed);
            let why = format!(
                "the instance has {} callouts in flight already (`callouts.concurrent`)",
                limits.concurrent
            );
            return RResult::RErr(why.into());
        };
        // The instance's limits cap what the callout asks for.
        spec.timeout_ms = match spec.timeout_ms {
            0 => limits.timeout_ms,
            asked => asked.min(limits.timeout_ms),
        };
        spec.body_limit = match spec.body_limit {
            0 => limits.body_limit,
            asked => asked.min(limits.body_limit),
        };
        pending.callouts.push(spec);
        pending.permits.push(permit);
        RResult::ROk(u32::try_from(pending.callouts.len() - 1).unwrap_or(u32::MAX))
    })
}

extern "C" fn wait(continuation: ContinuationBox) -> RResult<(), RString> {
    PENDING.with(|p| match p.borrow_mut().as_mut() {
        Some(pending) if pending.continuation.is_none() => {
            pending.continuation = Some(continuation);
            RResult::ROk(())
        }
        Some(_) => RResult::RErr("the handler already waits".into()),
        None => RResult::RErr(
            "only handlers at BeforeLocation, FoundProduct or AfterLocation wait".into(),
        ),
    })
}
