//! Handlers that wait (plugin API 0.2.2): while a handler at BeforeLocation,
//! FoundProduct or AfterLocation runs, the callouts it starts and the continuation it
//! leaves through the host module are collected on its thread ([`collect`]); a chain
//! whose handler returned Wait hands them over as a [`Waiting`], which the request's
//! life runs (`crate::callout`) and resumes.

use std::cell::RefCell;

use hookgate_plugin_api::abi::{CalloutSpecAbi, ContinuationBox, HostServices, RResult, RString};
use hookgate_plugin_api::Point;

/// What the proxy lends plugins through its host module.
pub const SERVICES: HostServices = HostServices {
    peer_certificate: crate::tls::peer::lookup,
    callout,
    wait,
};

/// The most callouts one handler may start.
const MAX_CALLOUTS: usize = 16;

/// What the handler running on this thread started.
#[derive(Default)]
struct Pending {
    callouts: Vec<CalloutSpecAbi>,
    continuation: Option<ContinuationBox>,
}

thread_local! {
    /// `Some` while a handler that may wait runs.
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// A handler that waits: its callouts, its continuation, and where its chain goes on.
pub struct Waiting {
    /// The callouts, in the order started.
    pub callouts: Vec<CalloutSpecAbi>,
    /// Called once with their results.
    pub continuation: ContinuationBox,
    /// The index of the waiting handler in its chain (the chain goes on after it).
    pub link: usize,
}

/// Whether handlers at `point` may wait.
pub fn may_wait(point: Point) -> bool {
    matches!(
        point,
        Point::BeforeLocation | Point::FoundProduct | Point::AfterLocation
    )
}

/// Runs `handler` (at a point where handlers may wait) collecting what it starts; the
/// callouts and continuation, if it left a continuation.
pub fn collect<T>(
    handler: impl FnOnce() -> T,
) -> (T, Option<(Vec<CalloutSpecAbi>, ContinuationBox)>) {
    PENDING.with(|p| *p.borrow_mut() = Some(Pending::default()));
    let result = handler();
    let pending = PENDING.with(|p| p.borrow_mut().take()).unwrap_or_default();
    let left = pending
        .continuation
        .map(|continuation| (pending.callouts, continuation));
    (result, left)
}

extern "C" fn callout(spec: CalloutSpecAbi) -> RResult<u32, RString> {
    PENDING.with(|p| match p.borrow_mut().as_mut() {
        Some(pending) if pending.callouts.len() >= MAX_CALLOUTS => {
            RResult::RErr(format!("more than {MAX_CALLOUTS} callouts in one handler").into())
        }
        Some(pending) => {
            pending.callouts.push(spec);
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
