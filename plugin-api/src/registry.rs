//! [`Registry`]: where a plugin's init registers its handlers, one method per point.
//!
//! Internal: each closure is wrapped in an adapter struct that implements the ABI
//! handler trait; the adapter wraps the host's view in the SDK type and runs the
//! closure under [`guard`](crate::panic), so panics never cross the boundary. Each
//! closure type gets its own vtable, so a call is one indirect jump into the closure.

use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString};

use crate::abi::{
    check_host, ActionCode, ForwardHandler, ForwardHandler_TO, HandlerResult, HostMetricBox,
    HostModRef, MetricDef, RegistryMut, RequestHandler, RequestHandler_TO, RequestVerdict,
    RequestViewMut, ResponseHandler, ResponseHandler_TO, ResponseViewMut, SessionHandler,
    SessionHandler_TO, SessionViewMut, TD_Opaque, COUNTER, GAUGE, HISTOGRAM,
};
use crate::action::{Action, Outcome, ResponseOutcome};
use crate::log::Scope;
use crate::metrics::{Counter, Gauge, Histogram};
use crate::panic::guard;
use crate::point::{AcceptPoint, Point, RequestPoint, ResponsePoint};
use crate::{Request, Response, Session};

/// Handed to a plugin's init to register handlers. Handlers run in registration order
/// within the plugin, and plugins run in the order they are listed; each must be
/// `Send + Sync` (they are called from many worker threads at once) and must not block.
/// See [the callback contract](crate#the-callback-contract).
///
/// Registering a handler at a point of the wrong type does not compile:
///
/// ```compile_fail
/// use hookgate_plugin_api::{Outcome, Registry};
/// fn init(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
///     reg.on_forward(|_req| Outcome::GoOn); // Forward takes `-> Action`
///     Ok(())
/// }
/// ```
///
/// ```
/// use hookgate_plugin_api::{Action, Outcome, Registry, ResponseOutcome};
/// fn init(_config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
///     reg.on_accept(|_session| Action::GoOn);
///     reg.on_before_location(|req| {
///         req.set_header("x-seen", "1");
///         Outcome::GoOn
///     });
///     reg.on_read_response(|_req, resp| {
///         resp.set_header("x-proxy", "hookgate");
///         ResponseOutcome::GoOn
///     });
///     Ok(())
/// }
/// ```
pub struct Registry<'a> {
    raw: RegistryMut<'a>,
    /// The instance being initialised: its handlers' typed state is keyed by it.
    instance: u32,
    /// The host's module, checked by this side: `Err` if it does not fit.
    host: Result<HostModRef, String>,
}

impl<'a> Registry<'a> {
    /// Internal: wraps the host's registry.
    #[doc(hidden)]
    pub fn from_raw(raw: RegistryMut<'a>) -> Self {
        let instance = raw.instance();
        crate::log::register(instance, raw.logger());
        let host = check_host(raw.host());
        Registry {
            raw,
            instance,
            host,
        }
    }

    /// `Err` when the host's module does not fit this plugin (init then fails).
    fn host_check(&self) -> Result<(), String> {
        self.host.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// Runs an instance's init on the host's registry `raw`, as every host does: the
    /// host module checked first, and the instance noted for the log while it runs.
    pub(crate) fn run_init(
        raw: RegistryMut<'a>,
        init: impl FnOnce(&mut Registry<'a>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut registry = Registry::from_raw(raw);
        registry.host_check()?;
        let _scope = Scope::enter(registry.instance, crate::abi::NO_POINT);
        init(&mut registry)
    }

    /// Defines a counter, exported as `hookgate_plugin_<name>_total` with labels
    /// `plugin` (the instance) and `labels`; see [`metrics`](crate::metrics). The
    /// error says what is wrong with the definition (name `[a-z_][a-z0-9_]*`, not
    /// ending in `_total`; at most 8 labels; `plugin` and `le` reserved), or that
    /// another plugin defines the same name otherwise.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[&str]) -> Result<Counter, String> {
        let host = self.metric(COUNTER, name, help, labels, &[])?;
        Ok(Counter::new(host, labels.len()))
    }

    /// Defines a gauge, exported as `hookgate_plugin_<name>`; as
    /// [`counter`](Self::counter).
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[&str]) -> Result<Gauge, String> {
        let host = self.metric(GAUGE, name, help, labels, &[])?;
        Ok(Gauge::new(host, labels.len()))
    }

    /// Defines a histogram with these bucket upper bounds (increasing), exported as
    /// `hookgate_plugin_<name>_bucket`, `_sum` and `_count`; as
    /// [`counter`](Self::counter).
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<Histogram, String> {
        let host = self.metric(HISTOGRAM, name, help, labels, buckets)?;
        Ok(Histogram::new(host, labels.len()))
    }

    fn metric(
        &mut self,
        kind: u8,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<HostMetricBox, String> {
        let labels: Vec<RStr<'_>> = labels.iter().map(|l| RStr::from_str(l)).collect();
        let def = MetricDef {
            kind,
            name: name.into(),
            help: help.into(),
            labels: RSlice::from_slice(&labels),
            buckets: RSlice::from_slice(buckets),
        };
        self.raw
            .metric(def)
            .into_result()
            .map_err(RString::into_string)
    }

    /// Runs `tick` every `period` (at least [`MIN_TIMER_PERIOD`](crate::MIN_TIMER_PERIOD))
    /// on the host's runtime, from the time the instance starts serving until the
    /// instance is dropped; never two ticks of one timer at once. A tick must not
    /// block; it may ask the network through [`Timer::wait`](crate::Timer::wait), and
    /// the next period starts once the answers are in. A failing or panicking tick is
    /// logged and counted, and the next one runs as planned. Since 0.2.2; the error
    /// says why the host refuses (a host older than 0.2.2, a period too short, outside
    /// init).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use hookgate_plugin_api::testing::TestPlugin;
    /// use hookgate_plugin_api::Registry;
    ///
    /// let ticks = Arc::new(AtomicU64::new(0));
    /// let counted = Arc::clone(&ticks);
    /// let init = move |_: &str, reg: &mut Registry<'_>| {
    ///     let ticks = Arc::clone(&counted);
    ///     reg.every(Duration::from_secs(60), move |_timer| {
    ///         ticks.fetch_add(1, Ordering::Relaxed);
    ///     })
    /// };
    /// let plugin = TestPlugin::init(init, "").unwrap();
    /// plugin.fire_timers().unwrap();
    /// assert_eq!(ticks.load(Ordering::Relaxed), 1);
    /// ```
    pub fn every<F>(&mut self, period: std::time::Duration, tick: F) -> Result<(), String>
    where
        F: Fn(&mut crate::Timer) + Send + Sync + 'static,
    {
        crate::timer::register(self.instance, period, tick)
    }

    /// Where a handler registered now runs.
    fn at(&self, point: Point) -> At {
        At {
            instance: self.instance,
            point: point as u8,
        }
    }

    /// At Accept: after the TCP connection is accepted, before any TLS handshake.
    pub fn on_accept<F>(&mut self, handler: F)
    where
        F: Fn(&mut Session<'_>) -> Action + Send + Sync + 'static,
    {
        let handler =
            SessionHandler_TO::from_value(SessionFn(handler, self.at(Point::Accept)), TD_Opaque);
        self.raw.accept(AcceptPoint::Accept.into(), handler)
    }

    /// At Handshake: after a successful TLS handshake.
    pub fn on_handshake<F>(&mut self, handler: F)
    where
        F: Fn(&mut Session<'_>) -> Action + Send + Sync + 'static,
    {
        let handler =
            SessionHandler_TO::from_value(SessionFn(handler, self.at(Point::Handshake)), TD_Opaque);
        self.raw.accept(AcceptPoint::Handshake.into(), handler)
    }

    /// At BeforeLocation: before the product is identified.
    pub fn on_before_location<F>(&mut self, handler: F)
    where
        F: Fn(&mut Request<'_>) -> Outcome + Send + Sync + 'static,
    {
        self.request(RequestPoint::BeforeLocation, handler)
    }

    /// At FoundProduct: after the product is identified.
    pub fn on_found_product<F>(&mut self, handler: F)
    where
        F: Fn(&mut Request<'_>) -> Outcome + Send + Sync + 'static,
    {
        self.request(RequestPoint::FoundProduct, handler)
    }

    /// At AfterLocation: after the cluster is identified.
    pub fn on_after_location<F>(&mut self, handler: F)
    where
        F: Fn(&mut Request<'_>) -> Outcome + Send + Sync + 'static,
    {
        self.request(RequestPoint::AfterLocation, handler)
    }

    /// At RequestBody: after AfterLocation, once the request body is read, if this
    /// instance asked for it ([`Request::want_body`]); [`Request::body`] holds it.
    /// The return values mean what they mean at the request points. See
    /// [`body`](crate::body).
    pub fn on_request_body<F>(&mut self, handler: F)
    where
        F: Fn(&mut Request<'_>) -> Outcome + Send + Sync + 'static,
    {
        self.request(RequestPoint::RequestBody, handler)
    }

    /// At Forward: after subcluster and backend are chosen, before each attempt.
    pub fn on_forward<F>(&mut self, handler: F)
    where
        F: Fn(&mut Request<'_>) -> Action + Send + Sync + 'static,
    {
        let handler =
            ForwardHandler_TO::from_value(ForwardFn(handler, self.at(Point::Forward)), TD_Opaque);
        self.raw.forward(handler)
    }

    /// At ReadResponse: after a response is obtained, before it is sent.
    pub fn on_read_response<F>(&mut self, handler: F)
    where
        F: Fn(&mut Request<'_>, &mut Response<'_>) -> ResponseOutcome + Send + Sync + 'static,
    {
        let handler = ResponseHandler_TO::from_value(
            ReadResponseFn(handler, self.at(Point::ReadResponse)),
            TD_Opaque,
        );
        self.raw
            .response(ResponsePoint::ReadResponse.into(), handler)
    }

    /// At ResponseBody: after ReadResponse, once the response body is read, if this
    /// instance asked for it ([`Response::want_body`]); [`Response::body`] holds it.
    /// The return values mean what they mean at ReadResponse. See
    /// [`body`](crate::body).
    pub fn on_response_body<F>(&mut self, handler: F)
    where
        F: Fn(&mut Request<'_>, &mut Response<'_>) -> ResponseOutcome + Send + Sync + 'static,
    {
        let handler = ResponseHandler_TO::from_value(
            ReadResponseFn(handler, self.at(Point::ResponseBody)),
            TD_Opaque,
        );
        self.raw
            .response(ResponsePoint::ResponseBody.into(), handler)
    }

    /// At RequestFinish: after the response was sent (or sending failed); `None` when
    /// the request ended without a response (Close, a failed redirect…).
    pub fn on_request_finish<F>(&mut self, handler: F)
    where
        F: Fn(&mut Request<'_>, Option<&Response<'_>>) -> Action + Send + Sync + 'static,
    {
        let handler = ResponseHandler_TO::from_value(
            RequestFinishFn(handler, self.at(Point::RequestFinish)),
            TD_Opaque,
        );
        self.raw
            .response(ResponsePoint::RequestFinish.into(), handler)
    }

    /// At Finish: after the client connection is closed; once per connection.
    pub fn on_finish<F>(&mut self, handler: F)
    where
        F: Fn(&mut Session<'_>) -> Action + Send + Sync + 'static,
    {
        let handler =
            SessionHandler_TO::from_value(SessionFn(handler, self.at(Point::Finish)), TD_Opaque);
        self.raw.finish(handler)
    }

    fn request<F>(&mut self, point: RequestPoint, handler: F)
    where
        F: Fn(&mut Request<'_>) -> Outcome + Send + Sync + 'static,
    {
        let handler =
            RequestHandler_TO::from_value(RequestFn(handler, self.at(point.into())), TD_Opaque);
        self.raw.request(point.into(), handler)
    }
}

/// The instance that registered a handler (whose typed state it reads and whose log
/// it writes to) and the point it runs at.
#[derive(Clone, Copy)]
struct At {
    instance: u32,
    point: u8,
}

impl At {
    /// Notes, for the log, that this handler runs on this thread now.
    #[inline]
    fn enter(self) -> Scope {
        Scope::enter(self.instance, self.point)
    }
}

/// A closure and where it runs.
struct SessionFn<F>(F, At);
struct RequestFn<F>(F, At);
struct ForwardFn<F>(F, At);
struct ReadResponseFn<F>(F, At);
struct RequestFinishFn<F>(F, At);

impl<F> SessionHandler for SessionFn<F>
where
    F: Fn(&mut Session<'_>) -> Action + Send + Sync,
{
    fn call(&self, session: SessionViewMut<'_>) -> HandlerResult<ActionCode> {
        guard(|| {
            let _scope = self.1.enter();
            (self.0)(&mut Session::from_raw(session, self.1.instance)).into()
        })
    }
}

impl<F> RequestHandler for RequestFn<F>
where
    F: Fn(&mut Request<'_>) -> Outcome + Send + Sync,
{
    fn call(&self, request: RequestViewMut<'_>) -> HandlerResult<RequestVerdict> {
        guard(|| {
            let _scope = self.1.enter();
            let mut request = Request::from_raw(request, self.1.instance);
            let outcome = (self.0)(&mut request);
            finish_outcome(&mut request, outcome)
        })
    }
}

impl<F> ForwardHandler for ForwardFn<F>
where
    F: Fn(&mut Request<'_>) -> Action + Send + Sync,
{
    fn call(&self, request: RequestViewMut<'_>) -> HandlerResult<ActionCode> {
        guard(|| {
            let _scope = self.1.enter();
            (self.0)(&mut Request::from_raw(request, self.1.instance)).into()
        })
    }
}

impl<F> ResponseHandler for ReadResponseFn<F>
where
    F: Fn(&mut Request<'_>, &mut Response<'_>) -> ResponseOutcome + Send + Sync,
{
    fn call(
        &self,
        request: RequestViewMut<'_>,
        response: ROption<ResponseViewMut<'_>>,
    ) -> HandlerResult<ActionCode> {
        let ROption::RSome(response) = response else {
            // The host always has a response at ReadResponse and ResponseBody; if it
            // ever did not, the handler must not run on nothing.
            return RResult::RErr("no response at read_response or response_body".into());
        };
        guard(|| {
            let _scope = self.1.enter();
            let mut request = Request::from_raw(request, self.1.instance);
            let outcome = (self.0)(
                &mut request,
                &mut Response::from_raw(response, self.1.instance),
            );
            if let ResponseOutcome::Redirect(redirect) = &outcome {
                hand_over(&mut request, redirect);
            }
            outcome.action().into()
        })
    }
}

impl<F> ResponseHandler for RequestFinishFn<F>
where
    F: Fn(&mut Request<'_>, Option<&Response<'_>>) -> Action + Send + Sync,
{
    fn call(
        &self,
        request: RequestViewMut<'_>,
        response: ROption<ResponseViewMut<'_>>,
    ) -> HandlerResult<ActionCode> {
        guard(|| {
            let _scope = self.1.enter();
            let instance = self.1.instance;
            let response = response
                .into_option()
                .map(|r| Response::from_raw(r, instance));
            (self.0)(
                &mut Request::from_raw(request, self.1.instance),
                response.as_ref(),
            )
            .into()
        })
    }
}

/// Hands a redirect outcome's target to the host as the request's redirect info
/// (DESIGN §2.3); an empty URL sets none, which the host reports as a plugin error.
fn hand_over(request: &mut Request<'_>, redirect: &crate::Redirect) {
    if !redirect.url().is_empty() {
        request.set_redirect(redirect.url(), redirect.code());
        for (name, value) in redirect.headers() {
            request.add_redirect_header(name, value);
        }
    }
}

/// Internal: a request handler's (or continuation's) outcome handed to the host: a
/// redirect's target set on the request, then the ABI form.
pub(crate) fn finish_outcome(request: &mut Request<'_>, outcome: Outcome) -> RequestVerdict {
    if let Outcome::Redirect(redirect) = &outcome {
        hand_over(request, redirect);
    }
    verdict(outcome)
}

/// Internal: an [`Outcome`] in its ABI form.
pub(crate) fn verdict(outcome: Outcome) -> RequestVerdict {
    let action = match outcome {
        Outcome::Wait => ActionCode::WAIT,
        _ => outcome.action().into(),
    };
    let response = match outcome {
        Outcome::Respond(reply) | Outcome::Finish(Some(reply)) => ROption::RSome(reply.into_data()),
        _ => ROption::RNone,
    };
    RequestVerdict { action, response }
}
