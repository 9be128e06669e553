//! The fake host's callouts: while a handler at BeforeLocation, FoundProduct or
//! AfterLocation runs, the callouts it starts and the continuation it leaves are
//! collected here (a thread-local, as the proxy's host does); [`Waiting`] keeps them
//! until a test calls [`TestPlugin::resume`](super::TestPlugin::resume), which answers
//! them from the test's scripts. A timer's tick collects its callouts the same way
//! ([`TestPlugin::fire_timers`](super::TestPlugin::fire_timers)).

use std::cell::RefCell;

use crate::abi::{
    Ask, CalloutSpecAbi, ContinuationBox, HostServices, RResult, RString, RedisSpecAbi,
};
use crate::point::Point;
use crate::{Callout, CalloutResult};

/// What the fake host lends through its host module.
pub(crate) const SERVICES: HostServices = HostServices {
    peer_certificate: super::peer::lookup,
    callout,
    wait,
    timer: crate::abi::register_timer,
    redis,
};

/// What the handler running on this thread started.
#[derive(Default)]
struct Pending {
    callouts: Vec<Ask>,
    continuation: Option<ContinuationBox>,
}

thread_local! {
    /// `Some` while a handler that may wait runs.
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// A request left waiting: its callouts, its continuation, and where its chain goes
/// on.
pub(crate) struct Waiting {
    pub(crate) callouts: Vec<Callout>,
    pub(crate) continuation: ContinuationBox,
    pub(crate) point: Point,
    /// The next handler of the point's chain.
    pub(crate) next: usize,
}

/// Runs `handler` at `point`, letting it start callouts and wait if the point allows
/// it; what it left, if it waits.
pub(crate) fn collect<T>(
    point: Point,
    handler: impl FnOnce() -> T,
) -> (T, Option<(Vec<Callout>, ContinuationBox)>) {
    let may_wait = matches!(
        point,
        Point::BeforeLocation | Point::FoundProduct | Point::AfterLocation
    );
    if !may_wait {
        return (handler(), None);
    }
    let (result, pending) = gather(handler);
    let left = pending.continuation.map(|continuation| {
        let callouts = pending
            .callouts
            .into_iter()
            .map(Callout::from_ask)
            .collect();
        (callouts, continuation)
    });
    (result, left)
}

/// Runs a timer's tick, letting it start callouts; the callouts it started.
pub(crate) fn collect_tick<T>(tick: impl FnOnce() -> T) -> (T, Vec<Callout>) {
    let (result, pending) = gather(tick);
    let callouts = pending.callouts.into_iter().map(Callout::from_ask);
    (result, callouts.collect())
}

/// Runs `handler` with callouts allowed; what it started.
fn gather<T>(handler: impl FnOnce() -> T) -> (T, Pending) {
    PENDING.with(|p| *p.borrow_mut() = Some(Pending::default()));
    let result = handler();
    let pending = PENDING.with(|p| p.borrow_mut().take()).unwrap_or_default();
    (result, pending)
}

/// The result a script gives `callout`: the first script whose target prefix matches;
/// a failure naming the target if none does.
pub(crate) fn answer(scripts: &[(String, CalloutResult)], callout: &Callout) -> CalloutResult {
    scripts
        .iter()
        .find(|(prefix, _)| callout.target().starts_with(prefix.as_str()))
        .map(|(_, result)| result.clone())
        .unwrap_or_else(|| CalloutResult::failed(&format!("no script for {}", callout.target())))
}

extern "C" fn callout(spec: CalloutSpecAbi) -> RResult<u32, RString> {
    ask(Ask::Http(spec))
}

extern "C" fn redis(spec: RedisSpecAbi) -> RResult<u32, RString> {
    ask(Ask::Redis(spec))
}

fn ask(ask: Ask) -> RResult<u32, RString> {
    PENDING.with(|p| match p.borrow_mut().as_mut() {
        Some(pending) => {
            pending.callouts.push(ask);
            RResult::ROk(u32::try_from(pending.callouts.len() - 1).unwrap_or(u32::MAX))
        }
        None => RResult::RErr(
            "callouts are only started by handlers at BeforeLocation, FoundProduct or \
             AfterLocation"
                .into(),
        ),
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
