//! Chains: the handlers registered at one callback point, in order, and running them
//! with the contract of DESIGN §2.3 (stop at the first value other than GoOn; a
//! failing handler is logged, counted and handled by its instance's policy).
//!
//! Internal: a chain is an immutable list once built; the proxy keeps the whole
//! [`Chains`] behind an `Arc` so that a reload swaps it in one step. Running a chain
//! allocates nothing unless a handler fails; the host view is wrapped once per handler
//! call as a (pointer, vtable) pair.

use std::sync::Arc;

use hookgate_plugin_api::abi::{
    ActionCode, CalloutResultAbi, ForwardHandlerBox, HandlerResult, ROption, RResult, RString,
    RVec, RequestHandlerBox, RequestView, RequestView_TO, ResponseHandlerBox, ResponseView,
    ResponseView_TO, SessionHandlerBox, SessionView, SessionView_TO, TD_Opaque,
};
use hookgate_plugin_api::{AcceptPoint, Action, Point, RequestPoint, ResponsePoint};

use super::accounting::FailureKind;
use super::call::Call;
use super::canary::CanarySide;
use super::instance::Instance;
use super::wait::{self, Waiting};
use crate::config::ErrorPolicy;

/// The action a request-point outcome stands for (what it is counted as).
fn outcome_action(outcome: &RequestChainOutcome) -> Action {
    match outcome {
        RequestChainOutcome::GoOn => Action::GoOn,
        RequestChainOutcome::Respond(_) => Action::Response,
        RequestChainOutcome::Redirect => Action::Redirect,
        RequestChainOutcome::Finish(_) => Action::Finish,
        RequestChainOutcome::Close => Action::Close,
        // Counted as the continuation's outcome when it resumes.
        RequestChainOutcome::Wait => Action::GoOn,
    }
}

/// A host view that knows which generation its request or connection runs on for
/// each canary entry ([`Picks`](super::canary::Picks)): a link of a canary entry runs
/// only on the side it picks.
pub trait Picking {
    /// Whether the instance on `side` runs for this request or connection.
    fn runs(&mut self, side: &CanarySide) -> bool;
}

impl<H> Chain<H> {
    /// Whether `link` runs for `view`: always, unless its instance is one side of a
    /// canary and the view picked the other.
    #[inline]
    fn on_side(&self, link: &Link<H>, view: &mut impl Picking) -> bool {
        if !self.canary {
            return true;
        }
        match &link.instance.canary {
            None => true,
            Some(side) => view.runs(side),
        }
    }
}

/// One handler and the instance it belongs to.
pub struct Link<H> {
    /// The plugin's handler object.
    pub handler: H,
    /// Its instance (name, policy, product scope).
    pub instance: Arc<Instance>,
}

/// The handlers at one point, in order.
pub struct Chain<H> {
    links: Vec<Link<H>>,
    /// Whether a link's instance is one side of a canary (else no link needs the
    /// choice of side: one test per link).
    canary: bool,
}

impl<H> Default for Chain<H> {
    fn default() -> Self {
        Chain {
            links: Vec::new(),
            canary: false,
        }
    }
}

impl<H> Chain<H> {
    pub(crate) fn push(&mut self, link: Link<H>) {
        self.canary |= link.instance.canary.is_some();
        self.links.push(link)
    }

    /// Whether no handler is registered (the caller can skip building views).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The number of handlers.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// The instances of the handlers, in order (one per handler).
    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.links.iter().map(|l| &*l.instance)
    }

    /// Instance names, in order (an entry's once, during a canary too).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        (self.links.iter())
            .filter(|l| !l.instance.is_on_trial())
            .map(|l| l.instance.name.as_str())
    }
}

/// One chain per callback point, each reached through its typed point, so that a
/// chain of the wrong handler type cannot be asked for.
#[derive(Default)]
pub struct Chains {
    /// At Accept and Handshake, by [`AcceptPoint`].
    accept: [Chain<SessionHandlerBox>; 2],
    /// At BeforeLocation, FoundProduct, AfterLocation and RequestBody, by
    /// [`RequestPoint`].
    request: [Chain<RequestHandlerBox>; 4],
    /// At Forward.
    forward: Chain<ForwardHandlerBox>,
    /// At ReadResponse, ResponseBody and RequestFinish, by [`ResponsePoint`].
    response: [Chain<ResponseHandlerBox>; 3],
    /// At Finish.
    finish: Chain<SessionHandlerBox>,
}

/// A point by the type of its handlers: the one mapping from [`Point`] to a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypedPoint {
    /// Accept or Handshake.
    Accept(AcceptPoint),
    /// BeforeLocation, FoundProduct, AfterLocation or RequestBody.
    Request(RequestPoint),
    /// Forward.
    Forward,
    /// ReadResponse, ResponseBody or RequestFinish.
    Response(ResponsePoint),
    /// Finish.
    Finish,
}

impl From<Point> for TypedPoint {
    fn from(point: Point) -> TypedPoint {
        match point {
            Point::Accept => TypedPoint::Accept(AcceptPoint::Accept),
            Point::Handshake => TypedPoint::Accept(AcceptPoint::Handshake),
            Point::BeforeLocation => TypedPoint::Request(RequestPoint::BeforeLocation),
            Point::FoundProduct => TypedPoint::Request(RequestPoint::FoundProduct),
            Point::AfterLocation => TypedPoint::Request(RequestPoint::AfterLocation),
            Point::RequestBody => TypedPoint::Request(RequestPoint::RequestBody),
            Point::Forward => TypedPoint::Forward,
            Point::ReadResponse => TypedPoint::Response(ResponsePoint::ReadResponse),
            Point::ResponseBody => TypedPoint::Response(ResponsePoint::ResponseBody),
            Point::RequestFinish => TypedPoint::Response(ResponsePoint::RequestFinish),
            Point::Finish => TypedPoint::Finish,
        }
    }
}

impl From<TypedPoint> for Point {
    fn from(point: TypedPoint) -> Point {
        match point {
            TypedPoint::Accept(p) => p.into(),
            TypedPoint::Request(p) => p.into(),
            TypedPoint::Forward => Point::Forward,
            TypedPoint::Response(p) => p.into(),
            TypedPoint::Finish => Point::Finish,
        }
    }
}

// Internal: indexes of the arrays above.
fn accept_index(point: AcceptPoint) -> usize {
    match point {
        AcceptPoint::Accept => 0,
        AcceptPoint::Handshake => 1,
    }
}
fn request_index(point: RequestPoint) -> usize {
    match point {
        RequestPoint::BeforeLocation => 0,
        RequestPoint::FoundProduct => 1,
        RequestPoint::AfterLocation => 2,
        RequestPoint::RequestBody => 3,
    }
}
fn response_index(point: ResponsePoint) -> usize {
    match point {
        ResponsePoint::ReadResponse => 0,
        ResponsePoint::ResponseBody => 1,
        ResponsePoint::RequestFinish => 2,
    }
}

impl Chains {
    /// The chain at Accept or Handshake.
    #[inline]
    pub fn accept(&self, point: AcceptPoint) -> &Chain<SessionHandlerBox> {
        &self.accept[accept_index(point)]
    }

    /// The chain at a request point.
    #[inline]
    pub fn request(&self, point: RequestPoint) -> &Chain<RequestHandlerBox> {
        &self.request[request_index(point)]
    }

    /// The chain at Forward.
    #[inline]
    pub fn forward(&self) -> &Chain<ForwardHandlerBox> {
        &self.forward
    }

    /// The chain at ReadResponse, ResponseBody or RequestFinish.
    #[inline]
    pub fn response(&self, point: ResponsePoint) -> &Chain<ResponseHandlerBox> {
        &self.response[response_index(point)]
    }

    /// The chain at Finish.
    #[inline]
    pub fn finish(&self) -> &Chain<SessionHandlerBox> {
        &self.finish
    }

    pub(super) fn accept_mut(&mut self, point: AcceptPoint) -> &mut Chain<SessionHandlerBox> {
        &mut self.accept[accept_index(point)]
    }

    pub(super) fn request_mut(&mut self, point: RequestPoint) -> &mut Chain<RequestHandlerBox> {
        &mut self.request[request_index(point)]
    }

    pub(super) fn forward_mut(&mut self) -> &mut Chain<ForwardHandlerBox> {
        &mut self.forward
    }

    pub(super) fn response_mut(&mut self, point: ResponsePoint) -> &mut Chain<ResponseHandlerBox> {
        &mut self.response[response_index(point)]
    }

    pub(super) fn finish_mut(&mut self) -> &mut Chain<SessionHandlerBox> {
        &mut self.finish
    }

    /// Instance names at `point`, in order.
    pub fn names(&self, point: Point) -> Vec<&str> {
        match TypedPoint::from(point) {
            TypedPoint::Accept(p) => self.accept(p).names().collect(),
            TypedPoint::Request(p) => self.request(p).names().collect(),
            TypedPoint::Forward => self.forward.names().collect(),
            TypedPoint::Response(p) => self.response(p).names().collect(),
            TypedPoint::Finish => self.finish.names().collect(),
        }
    }

    /// Appends every chain of `other` after this one's.
    pub(crate) fn append(&mut self, other: Chains) {
        fn extend<H>(to: &mut [Chain<H>], from: impl IntoIterator<Item = Chain<H>>) {
            for (to, from) in to.iter_mut().zip(from) {
                to.canary |= from.canary;
                to.links.extend(from.links);
            }
        }
        extend(&mut self.accept, other.accept);
        extend(&mut self.request, other.request);
        extend(std::slice::from_mut(&mut self.forward), [other.forward]);
        extend(&mut self.response, other.response);
        extend(std::slice::from_mut(&mut self.finish), [other.finish]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_has_its_own_chain() {
        let mut seen = std::collections::HashSet::new();
        for point in Point::ALL {
            let slot = match TypedPoint::from(point) {
                TypedPoint::Accept(p) => ("accept", accept_index(p)),
                TypedPoint::Request(p) => ("request", request_index(p)),
                TypedPoint::Forward => ("forward", 0),
                TypedPoint::Response(p) => ("response", response_index(p)),
                TypedPoint::Finish => ("finish", 0),
            };
            assert!(seen.insert(slot), "{point:?} shares {slot:?}");
            assert_eq!(Point::from(TypedPoint::from(point)), point);
        }
    }
}

/// A handler failed under `fail-closed`: the caller answers 500 (request points) or
/// closes (Accept, Handshake).
#[derive(Debug)]
pub struct ChainError<'c> {
    /// The failing instance.
    pub instance: &'c Instance,
    /// Where.
    pub point: Point,
    /// The panic message or the broken verdict.
    pub message: String,
}

/// What a request-point chain decided: the shared settlement's outcome (the fake host
/// uses the same).
pub use hookgate_plugin_api::settle::RequestOutcome as RequestChainOutcome;

/// Handles one handler's result with the shared settlement, after counting it on
/// `call`: `Some(value)` to return, `None` to go on.
#[inline]
fn settle<'c, T>(
    call: Call<'_>,
    result: Result<T, Failure>,
    action: impl FnOnce(&T) -> Action,
    link_instance: &'c Instance,
    point: Point,
) -> Option<Result<T, ChainError<'c>>> {
    let result = match result {
        Ok(value) => {
            let action = action(&value);
            call.returned(action);
            if action == Action::GoOn {
                return None;
            }
            Ok(value)
        }
        Err((kind, message)) => {
            call.failed(kind);
            Err(message)
        }
    };
    let settled = hookgate_plugin_api::settle::settle(result, |_| false, link_instance, point)?;
    Some(settled.map_err(|message| ChainError {
        instance: link_instance,
        point,
        message,
    }))
}

/// A handler call not made: its instance's breaker is open. Its policy applies as
/// after a failure (nothing logged or counted as one: the breaker logged its opening).
#[inline]
fn bypassed<'c, T>(instance: &'c Instance, point: Point) -> Option<Result<T, ChainError<'c>>> {
    if instance.policy == ErrorPolicy::FailOpen {
        return None;
    }
    Some(Err(ChainError {
        instance,
        point,
        message: "circuit breaker open".to_owned(),
    }))
}

/// Whether a request-point verdict answers the request with a status of 500 and
/// above (a canary may count those as its errors).
fn server_error(verdict: &Result<RequestChainOutcome, Failure>) -> bool {
    match verdict {
        Ok(RequestChainOutcome::Respond(data) | RequestChainOutcome::Finish(Some(data))) => {
            data.status >= 500
        }
        Ok(RequestChainOutcome::Finish(None)) => true,
        _ => false,
    }
}

/// Why a handler failed, and the message.
type Failure = (FailureKind, String);

/// A panic (the SDK's guard caught it) as a failure.
fn panicked(message: RString) -> Failure {
    (FailureKind::Panic, message.into_string())
}

/// A broken verdict as a failure.
fn broken(message: String) -> Failure {
    (FailureKind::Verdict, message)
}

#[inline]
fn plain(result: HandlerResult<ActionCode>) -> Result<Action, Failure> {
    let code = result.into_result().map_err(panicked)?;
    hookgate_plugin_api::settle::action_of(code).map_err(broken)
}

impl Chain<SessionHandlerBox> {
    /// Runs the chain at Accept, Handshake or Finish.
    pub fn run<S: SessionView + Picking>(
        &self,
        point: Point,
        session: &mut S,
    ) -> Result<Action, ChainError<'_>> {
        for link in &self.links {
            if !self.on_side(link, session) {
                continue;
            }
            let Some(call) = Call::begin(&link.instance, point) else {
                match bypassed(&link.instance, point) {
                    None => continue,
                    Some(done) => return done,
                }
            };
            let view = SessionView_TO::from_ptr(&mut *session, TD_Opaque);
            let result = plain(link.handler.call(view));
            if let Some(done) = settle(call, result, |a| *a, &link.instance, point) {
                return done;
            }
        }
        Ok(Action::GoOn)
    }
}

impl Chain<RequestHandlerBox> {
    /// Runs the chain at BeforeLocation, FoundProduct or AfterLocation.
    #[inline]
    pub fn run<R: RequestView + Picking>(
        &self,
        point: Point,
        request: &mut R,
    ) -> Result<RequestChainOutcome, ChainError<'_>> {
        self.run_for(point, request, |_| true)
    }

    /// Runs the chain with the handlers of the instances `chosen` picks only (at
    /// RequestBody: those that asked for the body and take it).
    pub fn run_for<R: RequestView + Picking>(
        &self,
        point: Point,
        request: &mut R,
        chosen: impl Fn(&Instance) -> bool,
    ) -> Result<RequestChainOutcome, ChainError<'_>> {
        self.run_from(point, request, chosen, 0, &mut None)
    }

    /// Runs the chain from its link `first` on. At BeforeLocation, FoundProduct and
    /// AfterLocation a handler may wait: the chain then stops with
    /// [`RequestChainOutcome::Wait`] and what it waits for in `waiting`; the caller
    /// runs the callouts, [`resume`](Self::resume)s, and runs the chain on from the
    /// link after it.
    pub fn run_from<R: RequestView + Picking>(
        &self,
        point: Point,
        request: &mut R,
        chosen: impl Fn(&Instance) -> bool,
        first: usize,
        waiting: &mut Option<Waiting>,
    ) -> Result<RequestChainOutcome, ChainError<'_>> {
        let may_wait = wait::may_wait(point);
        for (index, link) in self.links.iter().enumerate().skip(first) {
            if point.is_product_scoped() && !link.instance.serves(request.product().as_str()) {
                continue;
            }
            if !chosen(&link.instance) || !self.on_side(link, request) {
                continue;
            }
            let Some(call) = Call::begin(&link.instance, point) else {
                match bypassed(&link.instance, point) {
                    None => continue,
                    Some(done) => return done,
                }
            };
            let entered = may_wait.then(|| wait::enter(&link.instance.callouts));
            let result = link
                .handler
                .call(RequestView_TO::from_ptr(&mut *request, TD_Opaque));
            // GoOn is the common case: skip moving the whole verdict (it is ~100 bytes)
            // through the conversion below, which profiling showed to dominate.
            if matches!(&result, RResult::ROk(v) if v.action == ActionCode::GO_ON) {
                drop(entered);
                call.returned(Action::GoOn);
                continue;
            }
            let waits = matches!(&result, RResult::ROk(v) if v.action == ActionCode::WAIT);
            if let Some((callouts, continuation, permits)) =
                entered.filter(|_| waits).and_then(wait::Entered::take)
            {
                call.returned(Action::GoOn);
                *waiting = Some(Waiting {
                    callouts,
                    continuation,
                    link: index,
                    permits,
                    counts: Arc::clone(&link.instance.callouts.counts),
                });
                return Ok(RequestChainOutcome::Wait);
            }
            let redirect_set = request.redirect_url().is_some();
            let verdict = result.into_result().map_err(panicked).and_then(|v| {
                if v.action == ActionCode::WAIT {
                    let why = "returned Wait without waiting (at this point, or without a \
                               continuation)";
                    return Err(broken(why.to_owned()));
                }
                hookgate_plugin_api::settle::request_verdict(v, redirect_set).map_err(broken)
            });
            let call = call.answered(server_error(&verdict));
            if let Some(done) = settle(call, verdict, outcome_action, &link.instance, point) {
                return done;
            }
        }
        Ok(RequestChainOutcome::GoOn)
    }

    /// Calls the continuation of `waiting` with the callouts' `results`, settled as
    /// its handler's verdict at `point` (counted, its instance's policy on failure);
    /// GoOn means the chain goes on after the waiting handler.
    pub fn resume<R: RequestView + Picking>(
        &self,
        point: Point,
        request: &mut R,
        mut waiting: Waiting,
        results: RVec<CalloutResultAbi>,
    ) -> Result<RequestChainOutcome, ChainError<'_>> {
        let Some(link) = self.links.get(waiting.link) else {
            return Ok(RequestChainOutcome::GoOn);
        };
        let Some(call) = Call::begin(&link.instance, point) else {
            return match bypassed(&link.instance, point) {
                None => Ok(RequestChainOutcome::GoOn),
                Some(done) => done,
            };
        };
        let result = waiting
            .continuation
            .resume(RequestView_TO::from_ptr(&mut *request, TD_Opaque), results);
        let redirect_set = request.redirect_url().is_some();
        let verdict = result.into_result().map_err(panicked).and_then(|v| {
            if v.action == ActionCode::WAIT {
                return Err(broken("a continuation returned Wait".to_owned()));
            }
            hookgate_plugin_api::settle::request_verdict(v, redirect_set).map_err(broken)
        });
        let call = call.answered(server_error(&verdict));
        settle(call, verdict, outcome_action, &link.instance, point)
            .unwrap_or(Ok(RequestChainOutcome::GoOn))
    }
}

impl Chain<ForwardHandlerBox> {
    /// Runs the chain at Forward (once per attempt).
    pub fn run<R: RequestView + Picking>(&self, request: &mut R) -> Result<Action, ChainError<'_>> {
        for link in &self.links {
            if !link.instance.serves(request.product().as_str()) || !self.on_side(link, request) {
                continue;
            }
            let Some(call) = Call::begin(&link.instance, Point::Forward) else {
                match bypassed(&link.instance, Point::Forward) {
                    None => continue,
                    Some(done) => return done,
                }
            };
            let view = RequestView_TO::from_ptr(&mut *request, TD_Opaque);
            let result = plain(link.handler.call(view));
            if let Some(done) = settle(call, result, |a| *a, &link.instance, Point::Forward) {
                return done;
            }
        }
        Ok(Action::GoOn)
    }
}

impl Chain<ResponseHandlerBox> {
    /// Runs the chain at ReadResponse or RequestFinish.
    #[inline]
    pub fn run<R: RequestView + Picking, P: ResponseView>(
        &self,
        point: Point,
        request: &mut R,
        response: Option<&mut P>,
    ) -> Result<Action, ChainError<'_>> {
        self.run_for(point, request, response, |_| true)
    }

    /// Runs the chain with the handlers of the instances `chosen` picks only (at
    /// ResponseBody: those that asked for the body and take it).
    pub fn run_for<R: RequestView + Picking, P: ResponseView>(
        &self,
        point: Point,
        request: &mut R,
        mut response: Option<&mut P>,
        chosen: impl Fn(&Instance) -> bool,
    ) -> Result<Action, ChainError<'_>> {
        for link in &self.links {
            if !link.instance.serves(request.product().as_str())
                || !chosen(&link.instance)
                || !self.on_side(link, request)
            {
                continue;
            }
            let Some(call) = Call::begin(&link.instance, point) else {
                match bypassed(&link.instance, point) {
                    None => continue,
                    Some(done) => return done,
                }
            };
            let view = RequestView_TO::from_ptr(&mut *request, TD_Opaque);
            let response_view = match response.as_deref_mut() {
                Some(r) => ROption::RSome(ResponseView_TO::from_ptr(r, TD_Opaque)),
                None => ROption::RNone,
            };
            let result = plain(link.handler.call(view, response_view));
            let redirect_set = || request.redirect_url().is_some();
            let result = result.and_then(|a| {
                hookgate_plugin_api::settle::action(point, a, redirect_set).map_err(broken)
            });
            if let Some(done) = settle(call, result, |a| *a, &link.instance, point) {
                return done;
            }
        }
        Ok(Action::GoOn)
    }
}
