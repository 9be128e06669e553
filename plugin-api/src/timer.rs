//! Timers (since 0.2.2): periodic work an instance registers at init
//! ([`Registry::every`](crate::Registry::every)), run by the host on its runtime;
//! a tick may ask the network through callouts ([`Timer::wait`]).

use std::time::Duration;

use crate::abi::{
    CalloutResultAbi, HandlerResult, RResult, RString, RVec, TD_Opaque, TimerDone, TimerDoneBox,
    TimerDone_TO, TimerHandler, TimerHandler_TO, NO_POINT,
};
use crate::callout::{fail, host_services, start};
use crate::log::Scope;
use crate::panic::guard;
use crate::{Callout, CalloutResult};

/// The shortest period a timer may have.
pub const MIN_TIMER_PERIOD: Duration = Duration::from_millis(10);

/// One tick of a timer, as its closure sees it: what the tick may start.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use hookgate_plugin_api::testing::TestPlugin;
/// use hookgate_plugin_api::{Callout, CalloutResult, Registry};
///
/// let keys = Arc::new(Mutex::new(Vec::new()));
/// let kept = Arc::clone(&keys);
/// let init = move |_config: &str, reg: &mut Registry<'_>| {
///     let keys = Arc::clone(&kept);
///     reg.every(Duration::from_secs(300), move |timer| {
///         let keys = Arc::clone(&keys);
///         timer.wait(vec![Callout::get("https://login.example.com/jwks.json")], move |results| {
///             if let Some(answer) = results.into_iter().find(|r| r.is_success()) {
///                 *keys.lock().unwrap() = answer.body;
///             }
///         });
///     })
/// };
/// let plugin = TestPlugin::init(init, "").unwrap();
/// plugin.script_callout("https://login.example.com", CalloutResult::response(200).with_body("k1"));
/// plugin.fire_timers().unwrap();
/// assert_eq!(*keys.lock().unwrap(), b"k1");
/// ```
pub struct Timer {
    instance: u32,
    done: Option<Box<dyn FnOnce(Vec<CalloutResult>) + Send>>,
}

impl Timer {
    /// Starts `callouts` through the host; when all are done (answered, failed or
    /// timed out), `done` gets their results in the same order. The timer's next
    /// period starts after that. A refusal (a limit of the instance, a host without
    /// callouts) fails the tick: logged, counted, and the next period tries again.
    pub fn wait<F>(&mut self, callouts: Vec<Callout>, done: F)
    where
        F: FnOnce(Vec<CalloutResult>) + Send + 'static,
    {
        if self.done.is_some() {
            fail("the tick already waits".to_owned());
            return;
        }
        let started = host_services().and_then(|services| start(&services, callouts));
        match started {
            Ok(()) => self.done = Some(Box::new(done)),
            Err(why) => fail(format!("cannot wait: {why}")),
        }
    }

    /// The instance the timer belongs to (for the SDK's log).
    fn scope(&self) -> Scope {
        Scope::enter(self.instance, NO_POINT)
    }
}

/// Registers `tick` with the host to run every `period` (the first time right after
/// the instance starts serving).
pub(crate) fn register<F>(instance: u32, period: Duration, tick: F) -> Result<(), String>
where
    F: Fn(&mut Timer) + Send + Sync + 'static,
{
    if period < MIN_TIMER_PERIOD {
        return Err(format!(
            "a timer's period must be at least {} ms, not {} ms",
            MIN_TIMER_PERIOD.as_millis(),
            period.as_millis()
        ));
    }
    let services = host_services()?;
    let every_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
    let handler = TimerHandler_TO::from_value(TickFn(tick, instance), TD_Opaque);
    (services.timer)(every_ms, handler)
        .into_result()
        .map_err(RString::into_string)
}

/// A tick closure and its instance.
struct TickFn<F>(F, u32);

impl<F> TimerHandler for TickFn<F>
where
    F: Fn(&mut Timer) + Send + Sync,
{
    fn tick(&self) -> HandlerResult<crate::abi::ROption<TimerDoneBox>> {
        guard(|| {
            let mut timer = Timer {
                instance: self.1,
                done: None,
            };
            let _scope = timer.scope();
            (self.0)(&mut timer);
            let instance = self.1;
            let done = timer
                .done
                .take()
                .map(|done| TimerDone_TO::from_value(Done(Some(done), instance), TD_Opaque));
            done.into()
        })
    }
}

/// A tick's continuation, called once, and its instance.
struct Done(Option<Box<dyn FnOnce(Vec<CalloutResult>) + Send>>, u32);

impl TimerDone for Done {
    fn done(&mut self, results: RVec<CalloutResultAbi>) -> HandlerResult<()> {
        let Some(done) = self.0.take() else {
            return RResult::RErr("a tick's continuation called twice".into());
        };
        let instance = self.1;
        guard(move || {
            let _scope = Scope::enter(instance, NO_POINT);
            done(results.into_iter().map(CalloutResult::from).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::testing::TestPlugin;
    use crate::{Callout, CalloutResult, Registry};

    #[test]
    fn timers_are_registered_at_init_with_their_periods() {
        let plugin = TestPlugin::init(
            |_: &str, reg: &mut Registry<'_>| {
                reg.every(Duration::from_secs(300), |_| {})?;
                reg.every(Duration::from_millis(10), |_| {})
            },
            "",
        )
        .unwrap();
        let periods = plugin.timer_periods();
        assert_eq!(
            periods,
            [Duration::from_secs(300), Duration::from_millis(10)]
        );
    }

    #[test]
    fn a_period_under_the_minimum_fails_init() {
        let init = |_: &str, reg: &mut Registry<'_>| reg.every(Duration::from_millis(9), |_| {});
        let err = TestPlugin::init(init, "").err().unwrap();
        assert_eq!(err, "a timer's period must be at least 10 ms, not 9 ms");
    }

    #[test]
    fn a_tick_waits_on_callouts_and_gets_their_results_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&seen);
        let init = move |_: &str, reg: &mut Registry<'_>| {
            let seen = Arc::clone(&kept);
            reg.every(Duration::from_secs(1), move |timer| {
                let seen = Arc::clone(&seen);
                let callouts = vec![
                    Callout::get("http://keys.test/a"),
                    Callout::to_cluster("store", "/b").method("POST"),
                ];
                timer.wait(callouts, move |results| {
                    let statuses = results.iter().map(|r| r.status).collect::<Vec<_>>();
                    seen.lock().unwrap().push(statuses);
                });
            })
        };
        let plugin = TestPlugin::init(init, "").unwrap();
        plugin.script_callout("http://keys.test/", CalloutResult::response(200));
        plugin.script_callout("cluster:store", CalloutResult::response(503));
        plugin.fire_timers().unwrap();
        plugin.fire_timers().unwrap();
        assert_eq!(*seen.lock().unwrap(), [[200, 503], [200, 503]]);
        let started = plugin.callouts();
        assert_eq!(started.len(), 4);
        assert_eq!(started[1].method_name(), "POST");
        assert_eq!(started[1].path(), "/b");
    }

    #[test]
    fn a_panicking_tick_fails_that_tick_and_the_others_still_run() {
        let ticks = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&ticks);
        let init = move |_: &str, reg: &mut Registry<'_>| {
            reg.every(Duration::from_secs(1), |_| panic!("no keys"))?;
            let ticks = Arc::clone(&counted);
            reg.every(Duration::from_secs(1), move |_| {
                ticks.fetch_add(1, Ordering::Relaxed);
            })
        };
        let plugin = TestPlugin::init(init, "").unwrap();
        let err = plugin.fire_timers().unwrap_err();
        assert!(err.contains("no keys"), "{err}");
        assert_eq!(ticks.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn waiting_twice_in_one_tick_fails_it() {
        let init = |_: &str, reg: &mut Registry<'_>| {
            reg.every(Duration::from_secs(1), |timer| {
                timer.wait(vec![Callout::get("http://a.test/")], |_| {});
                timer.wait(vec![Callout::get("http://b.test/")], |_| {});
            })
        };
        let plugin = TestPlugin::init(init, "").unwrap();
        assert_eq!(
            plugin.fire_timers(),
            Err("the tick already waits".to_owned())
        );
    }
}
