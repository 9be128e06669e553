//! Timers (plugin API 0.2.2): the periodic work instances registered at init, one
//! task per timer on the proxy's runtime from the time their plugin set serves
//! ([`Timers::start`]) until the set is dropped (the tasks are aborted with it).
//!
//! A tick is short synchronous plugin code, called on a worker like a handler. The
//! callouts it starts (within its instance's `callouts` limits) are sent by the task,
//! which waits for them without holding a worker, then hands their results to the
//! tick's continuation; the next period starts after that (a late period is delayed,
//! never doubled). A failing tick is logged and counted; the timer goes on.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use hookgate_plugin_api::abi::{RegisteredTimer, TimerHandlerBox};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::instance::Instance;
use crate::snapshot::Snapshot;

/// The address a timer's callouts balance on (they have no client).
const NO_CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// What an instance's timers did.
#[derive(Debug, Default)]
pub struct TickCounts {
    /// Ticks that went well (their continuation included).
    pub ok: AtomicU64,
    /// Ticks that failed: an error, a panic, a refused callout.
    pub failed: AtomicU64,
}

/// The timers of a plugin set: registered at init, running once the set serves.
#[derive(Default)]
pub struct Timers {
    /// Each timer's instance id and period, for `check` and `/status`.
    periods: Vec<(u32, Duration)>,
    registered: Mutex<Vec<Timer>>,
    running: Mutex<Vec<JoinHandle<()>>>,
}

/// One timer and its instance.
struct Timer {
    instance: Arc<Instance>,
    period: Duration,
    handler: TimerHandlerBox,
}

impl Timers {
    /// Keeps the timers `instance`'s init registered.
    pub fn add(&mut self, instance: &Arc<Instance>, timers: Vec<RegisteredTimer>) {
        let periods = timers.iter().map(|(period, _)| (instance.id, *period));
        self.periods.extend(periods);
        let registered = self.registered.get_mut();
        let registered = registered.unwrap_or_else(PoisonError::into_inner);
        registered.extend(timers.into_iter().map(|(period, handler)| Timer {
            instance: Arc::clone(instance),
            period,
            handler,
        }));
    }

    /// The periods of the timers `instance` registered, in order.
    pub fn periods(&self, instance: u32) -> Vec<Duration> {
        let periods = self.periods.iter().filter(|(id, _)| *id == instance);
        periods.map(|(_, period)| *period).collect()
    }

    /// Starts every registered timer (once; later calls find none), each ticking at
    /// once and then every period. `snapshot` is the set's own snapshot (its clusters
    /// serve the callouts); weak, since the snapshot owns the tasks.
    pub fn start(&self, snapshot: Weak<Snapshot>) {
        let registered = std::mem::take(
            &mut *self
                .registered
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for timer in registered {
            tracing::debug!(
                plugin = %timer.instance.name,
                period_ms = timer.period.as_millis() as u64,
                "plugin timer started"
            );
            running.push(tokio::spawn(run(timer, snapshot.clone())));
        }
    }
}

impl Drop for Timers {
    fn drop(&mut self) {
        let running = self.running.get_mut();
        for task in running.unwrap_or_else(PoisonError::into_inner).drain(..) {
            task.abort();
        }
    }
}

/// A timer's task: a tick per period, and the callouts a tick waits on.
async fn run(timer: Timer, snapshot: Weak<Snapshot>) {
    let mut periods = tokio::time::interval(timer.period);
    periods.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        periods.tick().await;
        let instance = &timer.instance;
        let outcome = match tick(&timer) {
            Err(error) => Err(error),
            Ok(None) => Ok(()),
            Ok(Some((callouts, permits, mut done))) => {
                let Some(snapshot) = snapshot.upgrade() else {
                    return;
                };
                let started = Instant::now();
                let results = crate::callout::run_all(&snapshot, NO_CLIENT, &callouts).await;
                drop(snapshot);
                drop(permits);
                instance.callouts.counts.record(&results, started.elapsed());
                done.done(results)
                    .into_result()
                    .map_err(|e| e.into_string())
            }
        };
        let counter = match outcome {
            Ok(()) => &instance.ticks.ok,
            Err(error) => {
                tracing::error!(plugin = %instance.name, error, "plugin timer failed");
                &instance.ticks.failed
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a tick that waits left: its callouts, their places, its continuation.
type Left = (
    Vec<hookgate_plugin_api::abi::Ask>,
    Vec<tokio::sync::OwnedSemaphorePermit>,
    hookgate_plugin_api::abi::TimerDoneBox,
);

/// Runs one tick, with callouts allowed within its instance's limits.
fn tick(timer: &Timer) -> Result<Option<Left>, String> {
    let entered = super::wait::enter(&timer.instance.callouts);
    let ticked = timer.handler.tick().into_result();
    let (callouts, permits) = entered.take_callouts();
    match ticked {
        Ok(done) => Ok(done.into_option().map(|done| (callouts, permits, done))),
        Err(e) => Err(e.into_string()),
    }
}
