//! [`TestPlugin`]: a plugin's handlers, collected by a fake registry and run as chains.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use abi_stable::library::LibHeader;
use abi_stable::sabi_types::RRef;

use crate::abi::{
    check_def, host_header, ActionCode, HostLog, HostLogBox, HostLog_TO, HostMetricBox,
    HostMetric_TO, MetricDef, MetricFamily, PointCode, ROption, RResult, RStr, RString,
};
use crate::abi::{
    ForwardHandlerBox, RegistryAbi, RegistryAbi_TO, RequestHandlerBox, RequestViewMut,
    RequestView_TO, ResponseHandlerBox, ResponseView_TO, SessionHandlerBox, SessionView_TO,
    TD_Opaque,
};
use crate::action::{Action, Outcome, ResponseOutcome};
use crate::body::{chosen, Asks, TooLarge, REQUEST_TOO_LARGE, RESPONSE_TOO_LARGE};
use crate::log::Level;
use crate::panic::guard;
use crate::point::{AcceptPoint, Point, PointSet, RequestPoint, ResponsePoint};
use crate::registry::Registry;
use crate::reply::Reply;
use crate::settle::{self, settle, FailurePolicy, RequestOutcome};
use crate::OverLimit;

use super::peer::lend;
use super::{FakeRequest, FakeResponse, FakeSession};

/// One initialised instance of a plugin, with its handlers grouped per point. Each
/// method runs the point's chain the way the proxy does: in registration order,
/// stopping at the first value other than GoOn. `Err` carries a handler's panic
/// message (or a broken verdict), as the proxy would log it.
#[derive(Default)]
pub struct TestPlugin {
    accept: Vec<SessionHandlerBox>,
    handshake: Vec<SessionHandlerBox>,
    before_location: Vec<RequestHandlerBox>,
    found_product: Vec<RequestHandlerBox>,
    after_location: Vec<RequestHandlerBox>,
    request_body: Vec<RequestHandlerBox>,
    forward: Vec<ForwardHandlerBox>,
    read_response: Vec<ResponseHandlerBox>,
    response_body: Vec<ResponseHandlerBox>,
    request_finish: Vec<ResponseHandlerBox>,
    finish: Vec<SessionHandlerBox>,
    /// This instance's id, unique in the process like the proxy's.
    instance: u32,
    /// What it logged through the host, in order.
    logs: Arc<Mutex<Vec<LogRecord>>>,
    /// Its metrics, by name, kept as the proxy keeps them.
    metrics: BTreeMap<String, Arc<MetricFamily>>,
    /// `on_error = "fail-open"`: a failing handler counts as GoOn.
    fail_open: bool,
    /// Handler failures so far, as the proxy counts them.
    failures: Mutex<Vec<(Point, String)>>,
    /// The manifest's points, when the plugin was initialised through its export
    /// ([`TestPlugin::exported`]): registrations elsewhere are refused, as the proxy
    /// refuses them.
    declared: Option<PointSet>,
    /// The first refusal.
    undeclared: Option<String>,
    /// The instance's `body_limit` (the proxy's default unless set).
    body_limit: Option<u64>,
    /// Callout results by target prefix, in the order scripted
    /// ([`script_callout`](Self::script_callout)).
    scripts: Mutex<Vec<(String, crate::CalloutResult)>>,
    /// Every callout started so far ([`callouts`](Self::callouts)).
    started: Mutex<Vec<crate::Callout>>,
    /// The request left waiting, until [`resume`](Self::resume).
    waiting: Mutex<Option<super::callouts::Waiting>>,
    /// The timers its init registered, with their periods.
    timers: Vec<(std::time::Duration, crate::abi::TimerHandlerBox)>,
}

impl FailurePolicy for TestPlugin {
    fn fail_open(&self) -> bool {
        self.fail_open
    }
    fn failed(&self, point: Point, message: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.push((point, message.to_owned()));
    }
}

/// A message a plugin logged through the host ([`TestPlugin::logs`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Its level.
    pub level: Level,
    /// The point whose handler logged it; `None` at init or outside handlers.
    pub point: Option<Point>,
    /// The message.
    pub message: String,
    /// Messages of the same call site dropped by the rate limit before this one.
    pub suppressed: u32,
}

/// The fake host's log: keeps every message, at every level.
struct CapturedLog(Arc<Mutex<Vec<LogRecord>>>);

impl HostLog for CapturedLog {
    fn enabled(&self, _level: u8) -> bool {
        true
    }
    fn log(&self, level: u8, point: u8, _site: RStr<'_>, message: RStr<'_>, suppressed: u32) {
        let record = LogRecord {
            level: Level::from_code(level),
            point: Point::ALL.into_iter().find(|p| *p as u8 == point),
            message: message.as_str().to_owned(),
            suppressed,
        };
        let mut logs = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        logs.push(record);
    }
}

impl RegistryAbi for TestPlugin {
    fn accept(&mut self, point: PointCode, handler: SessionHandlerBox) {
        let Some(point) = self.registered::<AcceptPoint>(point) else {
            return;
        };
        match point {
            AcceptPoint::Accept => self.accept.push(handler),
            AcceptPoint::Handshake => self.handshake.push(handler),
        }
    }
    fn request(&mut self, point: PointCode, handler: RequestHandlerBox) {
        let Some(point) = self.registered::<RequestPoint>(point) else {
            return;
        };
        match point {
            RequestPoint::BeforeLocation => self.before_location.push(handler),
            RequestPoint::FoundProduct => self.found_product.push(handler),
            RequestPoint::AfterLocation => self.after_location.push(handler),
            RequestPoint::RequestBody => self.request_body.push(handler),
        }
    }
    fn forward(&mut self, handler: ForwardHandlerBox) {
        if self.may_register(Point::Forward) {
            self.forward.push(handler)
        }
    }
    fn response(&mut self, point: PointCode, handler: ResponseHandlerBox) {
        let Some(point) = self.registered::<ResponsePoint>(point) else {
            return;
        };
        match point {
            ResponsePoint::ReadResponse => self.read_response.push(handler),
            ResponsePoint::RequestFinish => self.request_finish.push(handler),
            ResponsePoint::ResponseBody => self.response_body.push(handler),
        }
    }
    fn finish(&mut self, handler: SessionHandlerBox) {
        if self.may_register(Point::Finish) {
            self.finish.push(handler)
        }
    }
    fn instance(&self) -> u32 {
        self.instance
    }
    fn host(&self) -> RRef<'static, LibHeader> {
        host_header(super::callouts::SERVICES)
    }
    fn logger(&self) -> HostLogBox {
        HostLog_TO::from_value(CapturedLog(Arc::clone(&self.logs)), TD_Opaque)
    }
    fn metric(&mut self, def: MetricDef<'_>) -> RResult<HostMetricBox, RString> {
        if let Err(e) = check_def(&def) {
            return RResult::RErr(e.into());
        }
        let family = Arc::new(MetricFamily::new(&def));
        self.metrics
            .insert(def.name.as_str().to_owned(), Arc::clone(&family));
        RResult::ROk(HostMetric_TO::from_value(family, TD_Opaque))
    }
}

impl TestPlugin {
    /// Runs `init` with this config, as the proxy would (a panic becomes `Err`).
    pub fn init<F, E>(init: F, config: &str) -> Result<TestPlugin, String>
    where
        F: FnOnce(&str, &mut Registry<'_>) -> Result<(), E>,
        E: Display,
    {
        TestPlugin::run_init(None, |reg| init(config, reg).map_err(|e| e.to_string()))
    }

    /// Runs the init of the plugin `export_plugin!` exported in this crate
    /// (`crate::HookgatePlugin`), with the points its manifest declares: a handler
    /// registered at another point fails init, as in the proxy. The points are listed
    /// once, in `export_plugin!`, and unit tests check them too.
    ///
    /// ```
    /// use hookgate_plugin_api::testing::TestPlugin;
    /// use hookgate_plugin_api::{export_plugin, Action, Outcome, Registry};
    ///
    /// fn init(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    ///     reg.on_before_location(|_req| Outcome::GoOn);
    ///     reg.on_finish(|_session| Action::GoOn); // not declared below
    ///     Ok(())
    /// }
    /// export_plugin!(init, points = [BeforeLocation]);
    ///
    /// let err = TestPlugin::exported::<HookgatePlugin>("").err().unwrap();
    /// assert!(err.contains("registered a handler at finish"), "{err}");
    /// ```
    pub fn exported<P: crate::__private::PluginExport>(config: &str) -> Result<TestPlugin, String> {
        TestPlugin::run_init(Some(P::MANIFEST.points), |reg| P::init(config, reg))
    }

    /// A fresh instance (refusing registrations outside `declared`, if given) whose
    /// init runs as the proxy runs it: a panic becomes `Err`.
    fn run_init(
        declared: Option<PointSet>,
        init: impl FnOnce(&mut Registry<'_>) -> Result<(), String>,
    ) -> Result<TestPlugin, String> {
        let mut plugin = TestPlugin {
            instance: next_instance(),
            declared,
            ..TestPlugin::default()
        };
        let registry = RegistryAbi_TO::from_ptr(&mut plugin, TD_Opaque);
        let (result, timers) =
            crate::abi::collect_timers(|| guard(|| Registry::run_init(registry, init)));
        plugin.timers = timers;
        if let Some(message) = plugin.undeclared.take() {
            return Err(message);
        }
        match result {
            RResult::ROk(Ok(())) => Ok(plugin),
            RResult::ROk(Err(e)) => Err(e),
            RResult::RErr(panic) => Err(panic.into_string()),
        }
    }

    /// The typed point a registration names, if it may be registered there (the
    /// proxy's checks); notes the first refusal.
    fn registered<P: TryFrom<Point> + Into<Point> + Copy>(&mut self, code: PointCode) -> Option<P> {
        match settle::point_of::<P>(code) {
            Ok(point) => self.may_register(point.into()).then_some(point),
            Err(message) => {
                self.undeclared.get_or_insert(message);
                None
            }
        }
    }

    /// Whether a handler may be registered at `point`; notes the first refusal.
    fn may_register(&mut self, point: Point) -> bool {
        let Some(declared) = self.declared else {
            return true;
        };
        match settle::undeclared(point, declared) {
            None => true,
            Some(message) => {
                self.undeclared.get_or_insert(message);
                false
            }
        }
    }

    /// Runs a loaded library's init (`PluginModRef::init`), as the proxy does, with
    /// this fake registry: for hosts of their own (the ABI growth test).
    pub fn init_extern(
        init: extern "C" fn(RStr<'_>, crate::abi::RegistryMut<'_>) -> RResult<(), RString>,
        config: &str,
    ) -> Result<TestPlugin, String> {
        let mut plugin = TestPlugin {
            instance: next_instance(),
            ..TestPlugin::default()
        };
        let registry = RegistryAbi_TO::from_ptr(&mut plugin, TD_Opaque);
        let (result, timers) = crate::abi::collect_timers(|| init(config.into(), registry));
        plugin.timers = timers;
        match result {
            RResult::ROk(()) => Ok(plugin),
            RResult::RErr(e) => Err(e.into_string()),
        }
    }

    /// The value of metric `name`'s series with these label values: a counter's or a
    /// gauge's value, a histogram's number of observations; `None` if it has none.
    pub fn metric_value(&self, name: &str, labels: &[&str]) -> Option<f64> {
        self.metrics.get(name)?.value(labels)
    }

    /// The messages the plugin logged through the host so far, in order.
    pub fn logs(&self) -> Vec<LogRecord> {
        let logs = self.logs.lock().unwrap_or_else(PoisonError::into_inner);
        logs.clone()
    }

    /// Runs the chains as an instance with `on_error = "fail-open"` runs in the proxy:
    /// a failing handler (a panic, a broken verdict) counts as GoOn, and is only
    /// recorded ([`failures`](Self::failures)).
    pub fn fail_open(mut self) -> Self {
        self.fail_open = true;
        self
    }

    /// Gives the instance this `body_limit` (as `[[plugins]]` does in the proxy;
    /// [`DEFAULT_BODY_LIMIT`](crate::DEFAULT_BODY_LIMIT) otherwise).
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    /// The handler failures so far, with their point, as the proxy logs them.
    pub fn failures(&self) -> Vec<(Point, String)> {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.clone()
    }

    /// How many handlers the plugin registered at `point`.
    pub fn handler_count(&self, point: Point) -> usize {
        match point {
            Point::Accept => self.accept.len(),
            Point::Handshake => self.handshake.len(),
            Point::BeforeLocation => self.before_location.len(),
            Point::FoundProduct => self.found_product.len(),
            Point::AfterLocation => self.after_location.len(),
            Point::RequestBody => self.request_body.len(),
            Point::Forward => self.forward.len(),
            Point::ReadResponse => self.read_response.len(),
            Point::ResponseBody => self.response_body.len(),
            Point::RequestFinish => self.request_finish.len(),
            Point::Finish => self.finish.len(),
        }
    }

    /// Runs the Accept chain.
    pub fn accept(&self, session: &mut FakeSession) -> Result<Action, String> {
        self.run_session(&self.accept, Point::Accept, session)
    }

    /// Runs the Handshake chain.
    pub fn handshake(&self, session: &mut FakeSession) -> Result<Action, String> {
        self.run_session(&self.handshake, Point::Handshake, session)
    }

    /// Runs the BeforeLocation chain.
    pub fn before_location(&self, request: &mut FakeRequest) -> Result<Outcome, String> {
        self.run_request(&self.before_location, Point::BeforeLocation, request)
    }

    /// Scripts the result of the callouts whose target starts with `target_prefix`
    /// (`"cluster:auth"`, `"https://login.example.com/"`); the first matching script
    /// answers. A callout no script matches fails with `no script for …`.
    pub fn script_callout(&self, target_prefix: &str, result: crate::CalloutResult) {
        let mut scripts = self.scripts.lock().unwrap_or_else(PoisonError::into_inner);
        scripts.push((target_prefix.to_owned(), result));
    }

    /// Forgets every script, so that the next ones answer (a JWKS that rotates, a
    /// service that goes down).
    pub fn clear_callout_scripts(&self) {
        self.scripts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Every callout the plugin's handlers started so far, in order.
    pub fn callouts(&self) -> Vec<crate::Callout> {
        self.started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Answers the callouts of the request left waiting (a handler returned
    /// [`Outcome::Wait`]) from the scripts, runs its continuation, and, if that goes
    /// on, the rest of the point's chain, as the proxy does. `Err` if nothing waits,
    /// or as a point's runner.
    pub fn resume(&self, request: &mut FakeRequest) -> Result<Outcome, String> {
        let waiting = self
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut waiting) = waiting else {
            return Err("no request waits".to_owned());
        };
        let results = self.scripted(&waiting.callouts);
        let (id, certificate) = request.fake_session().lent();
        let point = waiting.point;
        let result = lend(id, certificate.as_ref(), || {
            waiting
                .continuation
                .resume(view(request), results)
                .into_result()
        });
        if let Some(done) = self.settled(result, point, request) {
            return done;
        }
        let chain = match point {
            Point::BeforeLocation => &self.before_location,
            Point::FoundProduct => &self.found_product,
            _ => &self.after_location,
        };
        self.run_request_from(chain, point, request, waiting.next)
    }

    /// The periods of the timers the plugin's init registered, in order.
    pub fn timer_periods(&self) -> Vec<std::time::Duration> {
        self.timers.iter().map(|(period, _)| *period).collect()
    }

    /// Runs one tick of every timer the plugin's init registered, in order, as the
    /// proxy runs a period of each: a tick that waits has its callouts answered from
    /// the scripts ([`script_callout`](Self::script_callout); they show in
    /// [`callouts`](Self::callouts)) and its continuation run. The first failure (a
    /// panic, a refused callout) is the `Err`; the other timers still tick.
    pub fn fire_timers(&self) -> Result<(), String> {
        let mut first_failure = None;
        for (_, timer) in &self.timers {
            let (ticked, callouts) = super::callouts::collect_tick(|| timer.tick());
            let ran = ticked.into_result().and_then(|done| {
                let Some(mut done) = done.into_option() else {
                    return Ok(());
                };
                let results = self.scripted(&callouts);
                let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
                started.extend(callouts);
                drop(started);
                done.done(results).into_result()
            });
            if let Err(e) = ran {
                first_failure.get_or_insert(e.into_string());
            }
        }
        first_failure.map_or(Ok(()), Err)
    }

    /// The scripted results of `callouts`.
    fn scripted(
        &self,
        callouts: &[crate::Callout],
    ) -> crate::abi::RVec<crate::abi::CalloutResultAbi> {
        let scripts = self.scripts.lock().unwrap_or_else(PoisonError::into_inner);
        (callouts.iter())
            .map(|c| (&super::callouts::answer(&scripts, c)).into())
            .collect()
    }

    /// Runs the FoundProduct chain.
    pub fn found_product(&self, request: &mut FakeRequest) -> Result<Outcome, String> {
        self.run_request(&self.found_product, Point::FoundProduct, request)
    }

    /// Runs the AfterLocation chain.
    pub fn after_location(&self, request: &mut FakeRequest) -> Result<Outcome, String> {
        self.run_request(&self.after_location, Point::AfterLocation, request)
    }

    /// Reads the request body and runs the RequestBody chain, as the proxy does after
    /// AfterLocation: only if this instance asked for the body
    /// ([`Request::want_body`](crate::Request::want_body)); over the instance's
    /// `body_limit` ([`body_limit`](Self::body_limit)), `OverLimit::Skip` runs nothing
    /// and `OverLimit::Reject` gives the 413 the proxy sends.
    ///
    /// The refusal is rendered as a 413 reply, with the request's error code set to
    /// `body_too_large` as the proxy sets it.
    pub fn request_body(&self, request: &mut FakeRequest) -> Result<Outcome, String> {
        request.offer_closed = true;
        let asked = request.body_asks.get(self.instance);
        match self.body_due(asked, || request.read_body()) {
            Ok(false) => Ok(Outcome::GoOn),
            Ok(true) => {
                request.body_writable = true;
                let outcome = self.run_request(&self.request_body, Point::RequestBody, request);
                request.body_writable = false;
                outcome
            }
            Err(TooLarge) => {
                request.refused(REQUEST_TOO_LARGE);
                Ok(Outcome::Respond(Reply::new(413)))
            }
        }
    }

    /// Reads the response body and runs the ResponseBody chain, as the proxy does
    /// after ReadResponse: only if this instance asked for the body
    /// ([`Response::want_body`](crate::Response::want_body)); over the instance's
    /// `body_limit`, `OverLimit::Skip` runs nothing and `OverLimit::Reject` makes the
    /// response the 502 the proxy sends.
    pub fn response_body(
        &self,
        request: &mut FakeRequest,
        response: &mut FakeResponse,
    ) -> Result<ResponseOutcome, String> {
        let asked = response.body_asks.get(self.instance);
        match self.body_due(asked, || response.read_body()) {
            Ok(false) => Ok(ResponseOutcome::GoOn),
            Ok(true) => {
                let action = self.run_response(
                    &self.response_body,
                    Point::ResponseBody,
                    request,
                    Some(response),
                )?;
                Ok(response_outcome(action, request))
            }
            Err(TooLarge) => {
                response.refuse();
                request.refused(RESPONSE_TOO_LARGE);
                Ok(ResponseOutcome::GoOn)
            }
        }
    }

    /// Whether this instance's body handlers run, by the proxy's rule ([`chosen`]):
    /// `Ok(false)` if it did not ask (`asked` is `None`: nothing is read) or skips the
    /// body; `Err` if it refuses it. `read` reads the body and gives its length.
    fn body_due(
        &self,
        asked: Option<OverLimit>,
        read: impl FnOnce() -> u64,
    ) -> Result<bool, TooLarge> {
        let Some(over_limit) = asked else {
            return Ok(false);
        };
        let mut asks = Asks::new();
        asks.add(self.instance, over_limit);
        let limit = self.body_limit.unwrap_or(crate::DEFAULT_BODY_LIMIT);
        let run = chosen(&asks, [(self.instance, limit)], Some(read()))?;
        Ok(!run.is_empty())
    }

    /// Runs the Forward chain.
    pub fn forward(&self, request: &mut FakeRequest) -> Result<Action, String> {
        request.offer_closed = true;
        for handler in &self.forward {
            let result = plain(handler.call(view(request)));
            if let Some(done) = settle(result, |a| *a == Action::GoOn, self, Point::Forward) {
                return done;
            }
        }
        Ok(Action::GoOn)
    }

    /// Runs the ReadResponse chain.
    pub fn read_response(
        &self,
        request: &mut FakeRequest,
        response: &mut FakeResponse,
    ) -> Result<ResponseOutcome, String> {
        request.offer_closed = true;
        let action = self.run_response(
            &self.read_response,
            Point::ReadResponse,
            request,
            Some(response),
        )?;
        Ok(response_outcome(action, request))
    }

    /// Runs the RequestFinish chain (`None`: the request ended without a response).
    pub fn request_finish(
        &self,
        request: &mut FakeRequest,
        response: Option<&mut FakeResponse>,
    ) -> Result<Action, String> {
        self.run_response(
            &self.request_finish,
            Point::RequestFinish,
            request,
            response,
        )
    }

    /// Runs the Finish chain.
    pub fn finish(&self, session: &mut FakeSession) -> Result<Action, String> {
        self.run_session(&self.finish, Point::Finish, session)
    }

    fn run_response(
        &self,
        chain: &[ResponseHandlerBox],
        point: Point,
        request: &mut FakeRequest,
        mut response: Option<&mut FakeResponse>,
    ) -> Result<Action, String> {
        for handler in chain {
            let resp = match response.as_deref_mut() {
                Some(r) => ROption::RSome(ResponseView_TO::from_ptr(r, TD_Opaque)),
                None => ROption::RNone,
            };
            let (id, certificate) = request.fake_session().lent();
            let result = lend(id, certificate.as_ref(), || {
                plain(handler.call(view(request), resp))
            });
            let redirect_set = || request.redirect_url().is_some();
            let result = result.and_then(|a| settle::action(point, a, redirect_set));
            if let Some(done) = settle(result, |a| *a == Action::GoOn, self, point) {
                return done;
            }
        }
        Ok(Action::GoOn)
    }

    fn run_session(
        &self,
        chain: &[SessionHandlerBox],
        point: Point,
        session: &mut FakeSession,
    ) -> Result<Action, String> {
        let (id, certificate) = session.lent();
        for handler in chain {
            let result = lend(id, certificate.as_ref(), || {
                plain(handler.call(SessionView_TO::from_ptr(&mut *session, TD_Opaque)))
            });
            if let Some(done) = settle(result, |a| *a == Action::GoOn, self, point) {
                return done;
            }
        }
        Ok(Action::GoOn)
    }

    fn run_request(
        &self,
        chain: &[RequestHandlerBox],
        point: Point,
        request: &mut FakeRequest,
    ) -> Result<Outcome, String> {
        self.run_request_from(chain, point, request, 0)
    }

    /// The chain from its `first` handler on; a handler that waits leaves the rest
    /// for [`resume`](Self::resume).
    fn run_request_from(
        &self,
        chain: &[RequestHandlerBox],
        point: Point,
        request: &mut FakeRequest,
        first: usize,
    ) -> Result<Outcome, String> {
        let (id, certificate) = request.fake_session().lent();
        for (index, handler) in chain.iter().enumerate().skip(first) {
            let (result, left) = super::callouts::collect(point, || {
                lend(id, certificate.as_ref(), || {
                    handler.call(view(request)).into_result()
                })
            });
            if let (Ok(verdict), Some((callouts, continuation))) = (&result, left) {
                if verdict.action == ActionCode::WAIT {
                    let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
                    started.extend(callouts.iter().cloned());
                    let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
                    *waiting = Some(super::callouts::Waiting {
                        callouts,
                        continuation,
                        point,
                        next: index + 1,
                    });
                    return Ok(Outcome::Wait);
                }
            }
            if let Some(done) = self.settled(result, point, request) {
                return done;
            }
        }
        Ok(Outcome::GoOn)
    }
}

impl TestPlugin {
    /// A request handler's (or continuation's) verdict at `point`, settled as the
    /// proxy settles it: `None` to go on with the chain.
    fn settled(
        &self,
        result: Result<crate::abi::RequestVerdict, RString>,
        point: Point,
        request: &FakeRequest,
    ) -> Option<Result<Outcome, String>> {
        let redirect_set = request.redirect_url().is_some();
        let result = (result.map_err(RString::into_string))
            .and_then(|v| settle::request_verdict(v, redirect_set));
        let go_on = |o: &RequestOutcome| *o == RequestOutcome::GoOn;
        let done = settle(result, go_on, self, point)?;
        Some(done.map(|outcome| self.outcome(outcome, request)))
    }

    /// A settled request outcome as the SDK's.
    fn outcome(&self, outcome: RequestOutcome, request: &FakeRequest) -> Outcome {
        match outcome {
            RequestOutcome::GoOn => Outcome::GoOn,
            RequestOutcome::Respond(data) => Outcome::Respond(Reply::from_data(data)),
            RequestOutcome::Redirect => Outcome::Redirect(request.redirect_sent()),
            RequestOutcome::Finish(data) => Outcome::Finish(data.map(Reply::from_data)),
            RequestOutcome::Close => Outcome::Close,
            RequestOutcome::Wait => Outcome::Wait,
        }
    }
}

/// What a ReadResponse or ResponseBody chain decided, with the redirect it handed over.
fn response_outcome(action: Action, request: &FakeRequest) -> ResponseOutcome {
    match action {
        Action::GoOn => ResponseOutcome::GoOn,
        Action::Redirect => ResponseOutcome::Redirect(request.redirect_sent()),
        Action::Finish => ResponseOutcome::Finish,
        Action::Response => ResponseOutcome::Response,
        Action::Close => ResponseOutcome::Close,
    }
}

/// A fresh instance id, unique in the process like the proxy's.
fn next_instance() -> u32 {
    static NEXT_INSTANCE: AtomicU32 = AtomicU32::new(1);
    NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed)
}

fn plain(result: crate::abi::HandlerResult<ActionCode>) -> Result<Action, String> {
    let code = result.into_result().map_err(RString::into_string)?;
    settle::action_of(code)
}

fn view(request: &mut FakeRequest) -> RequestViewMut<'_> {
    RequestView_TO::from_ptr(request, TD_Opaque)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{SessionHandler, SessionViewMut};

    /// A handler as a newer plugin might build it: returning an action this version
    /// does not know.
    struct Newer;

    impl SessionHandler for Newer {
        fn call(&self, _: SessionViewMut<'_>) -> crate::abi::HandlerResult<ActionCode> {
            RResult::ROk(ActionCode(9))
        }
    }

    fn newer() -> SessionHandlerBox {
        crate::abi::SessionHandler_TO::from_value(Newer, TD_Opaque)
    }

    #[test]
    fn an_unknown_action_is_a_plugin_error_under_the_policy() {
        let mut plugin = TestPlugin::default();
        RegistryAbi::accept(&mut plugin, PointCode(Point::Accept as u8), newer());
        let err = plugin.accept(&mut FakeSession::new()).unwrap_err();
        assert_eq!(err, "returned action 9, which this hookgate does not know");
        let open = plugin.fail_open();
        assert_eq!(open.accept(&mut FakeSession::new()), Ok(Action::GoOn));
        assert_eq!(open.failures().len(), 2);
    }

    #[test]
    fn a_point_unknown_or_of_another_type_is_refused_at_registration() {
        let mut plugin = TestPlugin::default();
        RegistryAbi::accept(&mut plugin, PointCode(40), newer());
        RegistryAbi::accept(&mut plugin, PointCode(Point::Forward as u8), newer());
        assert_eq!(plugin.handler_count(Point::Accept), 0);
        assert_eq!(plugin.handler_count(Point::Forward), 0);
        let refused = plugin.undeclared.as_deref().unwrap_or_default();
        assert_eq!(
            refused,
            "registered a handler at point 40, which this hookgate does not know"
        );
        assert_eq!(
            settle::point_of::<AcceptPoint>(PointCode(Point::Forward as u8)),
            Err(
                "registered a handler of another type at forward (its handler type is Forward)"
                    .into()
            )
        );
    }
}
