//! Timers as they cross the boundary (appended in 0.2.2, through
//! [`HostMod::timer`](super::HostMod::timer)): the periodic work an instance registers
//! at init ([`TimerHandler`]) and what a tick that started callouts leaves for their
//! results ([`TimerDone`]).

use std::cell::RefCell;
use std::time::Duration;

use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, ROption, RResult, RString, RVec};

use super::callout::CalloutResultAbi;
use super::handler::HandlerResult;

/// An instance's periodic work: the host calls `tick` on its runtime, once per period,
/// never two ticks of one timer at once. Callouts started during a tick (through
/// [`HostMod::callout`](crate::abi::HostMod::callout)) are sent when it returns a
/// [`TimerDone`], which gets their results; the next period starts after that.
#[sabi_trait]
pub trait TimerHandler: Send + Sync {
    /// One period's work; `Some` when it waits for the callouts it started.
    #[sabi(last_prefix_field)]
    fn tick(&self) -> HandlerResult<ROption<TimerDoneBox>>;
}

/// What a tick that waits leaves with the host: called once, with the results in the
/// order the callouts were started.
#[sabi_trait]
pub trait TimerDone: Send {
    /// Takes the results.
    #[sabi(last_prefix_field)]
    fn done(&mut self, results: RVec<CalloutResultAbi>) -> HandlerResult<()>;
}

/// A timer as the host keeps it.
pub type TimerHandlerBox = TimerHandler_TO<'static, RBox<()>>;

/// A tick's continuation as the host keeps it.
pub type TimerDoneBox = TimerDone_TO<'static, RBox<()>>;

/// A timer an init registered: its period and handler.
pub type RegisteredTimer = (Duration, TimerHandlerBox);

thread_local! {
    /// `Some` while an instance's init runs on this thread: the timers it registers.
    static REGISTERING: RefCell<Option<Vec<RegisteredTimer>>> = const { RefCell::new(None) };
}

/// For hosts: runs an instance's `init`, collecting the timers it registers through
/// [`register_timer`] (the host module's `timer`).
pub fn collect_timers<T>(init: impl FnOnce() -> T) -> (T, Vec<RegisteredTimer>) {
    let outer = REGISTERING.with(|r| r.borrow_mut().replace(Vec::new()));
    let result = init();
    let timers = REGISTERING.with(|r| std::mem::replace(&mut *r.borrow_mut(), outer));
    (result, timers.unwrap_or_default())
}

/// For hosts: the host module's `timer`, registering with the init that
/// [`collect_timers`] runs on this thread (refused outside one).
pub extern "C" fn register_timer(every_ms: u64, handler: TimerHandlerBox) -> RResult<(), RString> {
    REGISTERING.with(|r| match r.borrow_mut().as_mut() {
        Some(timers) => {
            timers.push((Duration::from_millis(every_ms), handler));
            RResult::ROk(())
        }
        None => RResult::RErr("timers are registered by an instance's init".into()),
    })
}
