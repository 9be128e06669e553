//! Handlers that wait (plugin API 0.2.2): while a handler at BeforeLocation,
//! FoundProduct or AfterLocation runs, the callouts it starts and the continuation it
//! leaves through the host module are collected on its thread ([`enter`]), within its
//! instance's [`CalloutLimits`]; a chain whose handler returned Wait hands them over as
//! a [`Waiting`], which the request's life runs (`crate::callout`) and resumes.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hookgate_plugin_api::abi::{
    Ask, CalloutResultAbi, CalloutSpecAbi, ContinuationBox, HostServices, RResult, RString,
    RedisSpecAbi,
};
use hookgate_plugin_api::Point;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::CalloutLimitsConfig;

/// What the proxy lends plugins through its host module.
pub const SERVICES: HostServices = HostServices {
    peer_certificate: crate::tls::peer::lookup,
    callout,
    wait,
    timer: hookgate_plugin_api::abi::register_timer,
    redis,
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

/// What the handler running on this thread started.
#[derive(Default)]
struct Pending {
    callouts: Vec<Ask>,
    continuation: Option<ContinuationBox>,
    /// One per callout, held until it is done.
    permits: Vec<OwnedSemaphorePermit>,
}

thread_local! {
    /// The limits of the instance whose handler runs on this thread, while a handler
    /// that may wait runs (null otherwise). A pointer rather than a clone: setting it
    /// is all a handler that does not wait pays (it is read only by `callout`).
    static LIMITS: Cell<*const CalloutLimits> = const { Cell::new(std::ptr::null()) };
    /// What the running handler started, made at its first callout.
    static PENDING: Cell<Option<Box<Pending>>> = const { Cell::new(None) };
}

/// A handler that waits: its callouts, its continuation, and where its chain goes on.
pub struct Waiting {
    /// The callouts, in the order started (each capped by its instance's limits).
    pub callouts: Vec<Ask>,
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
pub type Left = (Vec<Ask>, ContinuationBox, Vec<OwnedSemaphorePermit>);

/// Whether handlers at `point` may wait.
pub fn may_wait(point: Point) -> bool {
    matches!(
        point,
        Point::BeforeLocation | Point::FoundProduct | Point::AfterLocation
    )
}

/// A handler of an instance with these limits runs on this thread, at a point where
/// handlers may wait: the callouts it starts and the continuation it leaves are
/// collected until this drops (then discarded, unless [`take`](Entered::take)n).
/// Setting it up is all a handler that does not wait pays: two thread-local writes.
#[must_use]
pub struct Entered(());

/// Marks the handler about to run as one with `limits` that may wait.
pub fn enter(limits: &CalloutLimits) -> Entered {
    LIMITS.set(limits);
    Entered(())
}

impl Entered {
    /// What the handler left, if it left a continuation.
    pub fn take(self) -> Option<Left> {
        let pending = PENDING.take()?;
        let Pending {
            callouts,
            continuation,
            permits,
        } = *pending;
        continuation.map(|c| (callouts, c, permits))
    }
}

impl Entered {
    /// The callouts a timer's tick started, with their places.
    pub fn take_callouts(self) -> (Vec<Ask>, Vec<OwnedSemaphorePermit>) {
        match PENDING.take() {
            Some(pending) => (pending.callouts, pending.permits),
            None => (Vec::new(), Vec::new()),
        }
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        LIMITS.set(std::ptr::null());
        // Callouts started without a wait (or not taken) are dropped, their places
        // freed.
        drop(PENDING.take());
    }
}

/// Runs `f` on the limits of the handler running on this thread and what it started
/// so far; `None` outside a handler that may wait.
fn with_pending<T>(f: impl FnOnce(&CalloutLimits, &mut Pending) -> T) -> Option<T> {
    let limits = LIMITS.get();
    // SAFETY: `enter` sets the pointer from a reference to the instance's limits,
    // which the chain holds (through the instance's `Arc`) for the whole handler call,
    // and the `Entered` it returns, dropped right after that call on this thread
    // (even on unwinding), clears it. The host module's functions that call this run
    // synchronously inside the handler call. So a non-null pointer is valid here.
    let limits = unsafe { limits.as_ref() }?;
    let mut pending = PENDING.take().unwrap_or_default();
    let result = f(limits, &mut pending);
    PENDING.set(Some(pending));
    Some(result)
}

extern "C" fn callout(spec: CalloutSpecAbi) -> RResult<u32, RString> {
    ask(Ask::Http(spec))
}

extern "C" fn redis(spec: RedisSpecAbi) -> RResult<u32, RString> {
    ask(Ask::Redis(spec))
}

/// Records what the running handler or tick asks for, within its instance's limits.
fn ask(mut ask: Ask) -> RResult<u32, RString> {
    let outcome = with_pending(|limits, pending| {
        if pending.callouts.len() >= MAX_CALLOUTS {
            return Err(format!("more than {MAX_CALLOUTS} callouts in one handler"));
        }
        let Ok(permit) = Arc::clone(&limits.in_flight).try_acquire_owned() else {
            limits.counts.refused.fetch_add(1, Ordering::Relaxed);
            return Err(format!(
                "the instance has {} callouts in flight already (`callouts.concurrent`)",
                limits.concurrent
            ));
        };
        // The instance's limits cap what the callout asks for (a Redis command's
        // time is its store's, capped by the store).
        if let Ask::Http(spec) = &mut ask {
            spec.timeout_ms = match spec.timeout_ms {
                0 => limits.timeout_ms,
                asked => asked.min(limits.timeout_ms),
            };
            spec.body_limit = match spec.body_limit {
                0 => limits.body_limit,
                asked => asked.min(limits.body_limit),
            };
        }
        pending.callouts.push(ask);
        pending.permits.push(permit);
        Ok(u32::try_from(pending.callouts.len() - 1).unwrap_or(u32::MAX))
    });
    match outcome {
        Some(Ok(index)) => RResult::ROk(index),
        Some(Err(why)) => RResult::RErr(why.into()),
        None => RResult::RErr(
            "callouts are only started by handlers at BeforeLocation, FoundProduct or \
             AfterLocation"
                .into(),
        ),
    }
}

extern "C" fn wait(continuation: ContinuationBox) -> RResult<(), RString> {
    let outcome = with_pending(|_, pending| {
        if pending.continuation.is_some() {
            return Err("the handler already waits");
        }
        pending.continuation = Some(continuation);
        Ok(())
    });
    match outcome {
        Some(Ok(())) => RResult::ROk(()),
        Some(Err(why)) => RResult::RErr(why.into()),
        None => RResult::RErr(
            "only handlers at BeforeLocation, FoundProduct or AfterLocation wait".into(),
        ),
    }
}
