//! Callouts (since 0.2.2): HTTP requests a handler asks the host to send while the
//! request waits ([`Request::wait`](crate::Request::wait)), and what comes back.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::abi::{
    Ask, CalloutResultAbi, CalloutSpecAbi, ContinuationHandler, ContinuationHandler_TO,
    HandlerResult, RResult, RString, RVec, RedisSpecAbi, RequestVerdict, RequestViewMut, TD_Opaque,
    Tuple2,
};
use crate::{Outcome, RedisCommand, RedisValue, Request};

/// One HTTP request sent by the host for a handler: to a cluster of the proxy's
/// config (its balancing, pools, TLS and health, like any request routed there) or
/// to a URL. Built here, started by [`Request::wait`](crate::Request::wait).
///
/// ```
/// use std::time::Duration;
/// use hookgate_plugin_api::Callout;
///
/// let check = Callout::to_cluster("auth", "/check")
///     .header("authorization", "Bearer abc")
///     .timeout(Duration::from_millis(300));
/// let keys = Callout::get("https://login.example.com/.well-known/jwks.json");
/// # let _ = (check, keys);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callout {
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Http(CalloutSpecAbi),
    /// The command, and its target (`redis:NAME`) for scripts and logs.
    Redis(RedisSpecAbi, String),
}

impl Callout {
    /// `GET url` (an absolute `http://` or `https://` URL).
    pub fn get(url: &str) -> Callout {
        Callout::new(url.to_owned(), "")
    }

    /// `GET path` (path and query) on a backend of the cluster `name`.
    pub fn to_cluster(name: &str, path: &str) -> Callout {
        Callout::new(format!("cluster:{name}"), path)
    }

    /// A Redis command or script on the store `name` (a `[redis.NAME]` of the proxy's
    /// config), since 0.2.3; its reply is the result's
    /// [`reply`](CalloutResult::reply). Its target is `redis:NAME`; the HTTP
    /// builder methods do not apply (but [`timeout`](Self::timeout)).
    ///
    /// ```
    /// use hookgate_plugin_api::{Callout, RedisCommand};
    /// let hits = Callout::redis("main", RedisCommand::new("INCR").arg("hits"));
    /// assert_eq!(hits.target(), "redis:main");
    /// ```
    pub fn redis(name: &str, command: RedisCommand) -> Callout {
        let mut spec = command.spec;
        spec.store = name.into();
        Callout {
            kind: Kind::Redis(spec, format!("redis:{name}")),
        }
    }

    fn new(target: String, path: &str) -> Callout {
        Callout {
            kind: Kind::Http(CalloutSpecAbi {
                target: target.into(),
                method: "GET".into(),
                path: path.into(),
                ..CalloutSpecAbi::default()
            }),
        }
    }

    /// The HTTP callout's spec to change (none for a Redis command).
    fn http(&mut self) -> Option<&mut CalloutSpecAbi> {
        match &mut self.kind {
            Kind::Http(spec) => Some(spec),
            Kind::Redis(..) => None,
        }
    }

    /// Sets the method.
    pub fn method(mut self, method: &str) -> Callout {
        if let Some(spec) = self.http() {
            spec.method = method.into();
        }
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Callout {
        if let Some(spec) = self.http() {
            spec.headers.push(Tuple2(name.into(), value.into()));
        }
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Callout {
        if let Some(spec) = self.http() {
            spec.body = body.into().into();
        }
        self
    }

    /// Bounds the whole exchange (at most the instance's own limit).
    pub fn timeout(mut self, timeout: Duration) -> Callout {
        let ms = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        match &mut self.kind {
            Kind::Http(spec) => spec.timeout_ms = ms,
            Kind::Redis(spec, _) => spec.timeout_ms = ms,
        }
        self
    }

    /// Keeps at most this many bytes of the response body (at most the instance's own
    /// limit); a longer body makes the result an error.
    pub fn body_limit(mut self, bytes: u64) -> Callout {
        if let Some(spec) = self.http() {
            spec.body_limit = bytes.max(1);
        }
        self
    }

    /// Where it goes: `cluster:NAME`, the URL, or `redis:NAME`.
    pub fn target(&self) -> &str {
        match &self.kind {
            Kind::Http(spec) => spec.target.as_str(),
            Kind::Redis(_, target) => target,
        }
    }

    /// Internal: what the host is asked for.
    pub(crate) fn into_ask(self) -> Ask {
        match self.kind {
            Kind::Http(spec) => Ask::Http(spec),
            Kind::Redis(spec, _) => Ask::Redis(spec),
        }
    }

    /// Internal: from what a host collected (the fake host shows tests what was
    /// started).
    #[doc(hidden)]
    pub fn from_ask(ask: Ask) -> Callout {
        match ask {
            Ask::Http(spec) => Callout {
                kind: Kind::Http(spec),
            },
            Ask::Redis(spec) => {
                let target = format!("redis:{}", spec.store);
                Callout {
                    kind: Kind::Redis(spec, target),
                }
            }
        }
    }

    /// The method (empty for a Redis command).
    pub fn method_name(&self) -> &str {
        match &self.kind {
            Kind::Http(spec) => spec.method.as_str(),
            Kind::Redis(..) => "",
        }
    }

    /// The path (for a cluster; empty for a Redis command).
    pub fn path(&self) -> &str {
        match &self.kind {
            Kind::Http(spec) => spec.path.as_str(),
            Kind::Redis(..) => "",
        }
    }

    /// The first value of a header, if set.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        let Kind::Http(spec) = &self.kind else {
            return None;
        };
        let found = (spec.headers.iter()).find(|h| h.0.as_str().eq_ignore_ascii_case(name));
        found.map(|h| h.1.as_str())
    }

    /// The Redis command, if it is one.
    pub fn redis_command(&self) -> Option<RedisCommand> {
        match &self.kind {
            Kind::Redis(spec, _) => Some(RedisCommand { spec: spec.clone() }),
            Kind::Http(_) => None,
        }
    }
}

/// What one callout gave: a response (`status` non-zero), or why there was none.
///
/// ```
/// use hookgate_plugin_api::CalloutResult;
/// let ok = CalloutResult::response(200).header("x-user", "ada");
/// assert!(ok.is_success());
/// assert_eq!(ok.header_value("X-User"), Some("ada"));
/// assert!(!CalloutResult::failed("timeout").is_success());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CalloutResult {
    /// The status; 0 when there was no response.
    pub status: u16,
    /// The headers, in order, lowercase names.
    pub headers: Vec<(String, String)>,
    /// The body, up to the limit.
    pub body: Vec<u8>,
    /// Why there was no (complete) response: `timeout`, `connect: …`, `body over limit`.
    pub error: Option<String>,
}

impl CalloutResult {
    /// A response with this status (for tests' scripts).
    pub fn response(status: u16) -> CalloutResult {
        CalloutResult {
            status,
            ..CalloutResult::default()
        }
    }

    /// No response, for this reason (for tests' scripts).
    pub fn failed(error: &str) -> CalloutResult {
        CalloutResult {
            error: Some(error.to_owned()),
            ..CalloutResult::default()
        }
    }

    /// Adds a header (for tests' scripts).
    pub fn header(mut self, name: &str, value: &str) -> CalloutResult {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Sets the body (for tests' scripts).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> CalloutResult {
        self.body = body.into();
        self
    }

    /// A Redis reply (for tests' scripts).
    pub fn redis(reply: &RedisValue) -> CalloutResult {
        CalloutResult::response(200).with_body(reply.to_resp())
    }

    /// The reply of a Redis command ([`Callout::redis`]), or why there is none
    /// (the command failed: the store down, a timeout, an error reply).
    ///
    /// ```
    /// use hookgate_plugin_api::{CalloutResult, RedisValue};
    /// let answered = CalloutResult::redis(&RedisValue::Int(3));
    /// assert_eq!(answered.reply(), Ok(RedisValue::Int(3)));
    /// let failed = CalloutResult::failed("connect: refused");
    /// assert_eq!(failed.reply(), Err("connect: refused".to_owned()));
    /// ```
    pub fn reply(&self) -> Result<RedisValue, String> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        RedisValue::from_resp(&self.body).map_err(|e| format!("not a Redis reply: {e}"))
    }

    /// Whether a 2xx response came.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of a header (any case).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl From<CalloutResultAbi> for CalloutResult {
    fn from(abi: CalloutResultAbi) -> CalloutResult {
        CalloutResult {
            status: abi.status,
            headers: abi
                .headers
                .into_iter()
                .map(|h| (h.0.into_string(), h.1.into_string()))
                .collect(),
            body: abi.body.into_vec(),
            error: abi.error.into_option().map(RString::into_string),
        }
    }
}

impl From<&CalloutResult> for CalloutResultAbi {
    fn from(result: &CalloutResult) -> CalloutResultAbi {
        CalloutResultAbi {
            status: result.status,
            headers: (result.headers.iter())
                .map(|(n, v)| Tuple2(n.as_str().into(), v.as_str().into()))
                .collect(),
            body: result.body.clone().into(),
            error: result.error.as_deref().map(RString::from).into(),
        }
    }
}

thread_local! {
    /// Why the handler running on this thread fails (the host refused its wait, or it
    /// called [`Request::fail`](crate::Request::fail)): it then fails (its instance's
    /// error policy) whatever it returned.
    static FAILED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Failures noted in [`FAILED`] and not yet taken, on any thread: while there is none
/// (always, but for handlers that fail on purpose), a handler's wrapper reads this
/// one word instead of the thread-local (which, in a library loaded at run time,
/// costs a call into the dynamic linker's TLS lookup).
static NOTED: AtomicUsize = AtomicUsize::new(0);

/// Why the handler that just ran fails, if it does.
#[inline]
pub(crate) fn take_refusal() -> Option<String> {
    if NOTED.load(Ordering::Acquire) == 0 {
        return None;
    }
    let taken = FAILED.with(|r| r.borrow_mut().take());
    if taken.is_some() {
        NOTED.fetch_sub(1, Ordering::AcqRel);
    }
    taken
}

/// Makes the handler running on this thread fail with `why`.
pub(crate) fn fail(why: String) {
    let replaced = FAILED.with(|r| r.borrow_mut().replace(why));
    if replaced.is_none() {
        NOTED.fetch_add(1, Ordering::AcqRel);
    }
}

/// Starts `callouts` through the host and leaves `continuation` with it; the
/// [`Outcome::Wait`] to return. A refusal (no host that serves callouts, a handler at
/// another point, a limit) is noted for the handler's wrapper.
pub(crate) fn wait<F>(instance: u32, callouts: Vec<Callout>, continuation: F) -> Outcome
where
    F: FnOnce(&mut Request<'_>, Vec<CalloutResult>) -> Outcome + Send + 'static,
{
    let started = (|| {
        let services = host_services()?;
        start(&services, callouts)?;
        let continuation = Continue(Some(continuation), instance);
        let boxed = ContinuationHandler_TO::from_value(continuation, TD_Opaque);
        (services.wait)(boxed)
            .into_result()
            .map_err(RString::into_string)
    })();
    if let Err(why) = started {
        fail(format!("cannot wait: {why}"));
    }
    Outcome::Wait
}

/// Records `callouts` with the host for the handler (or tick) running on this
/// thread; the first refusal.
pub(crate) fn start(services: &Services, callouts: Vec<Callout>) -> Result<(), String> {
    for callout in callouts {
        let started = match callout.into_ask() {
            Ask::Http(spec) => (services.callout)(spec),
            Ask::Redis(spec) => {
                let redis = (services.redis)
                    .ok_or("this hookgate is older than plugin API 0.2.3: no Redis")?;
                redis(spec)
            }
        };
        started.into_result().map_err(RString::into_string)?;
    }
    Ok(())
}

/// The host's callout, wait and timer services.
pub(crate) struct Services {
    pub(crate) callout: extern "C" fn(CalloutSpecAbi) -> RResult<u32, RString>,
    pub(crate) wait: extern "C" fn(crate::abi::ContinuationBox) -> RResult<(), RString>,
    pub(crate) timer: crate::abi::TimerFn,
    /// `None` from a 0.2.2 host.
    pub(crate) redis: Option<crate::abi::RedisFn>,
}

// 0.2.2 begin
/// The host module's callout, wait and timer, or why there are none.
pub(crate) fn host_services() -> Result<Services, String> {
    let host = crate::abi::host().ok_or("no host module")?;
    match (host.callout(), host.wait(), host.timer()) {
        (Some(callout), Some(wait), Some(timer)) => Ok(Services {
            callout,
            wait,
            timer,
            redis: host_redis(),
        }),
        _ => Err("this hookgate is older than plugin API 0.2.2: no callouts or timers".to_owned()),
    }
}
// 0.2.2 end
// 0.2.0: pub(crate) fn host_services() -> Result<Services, String> { Err("0.2.0".to_owned()) }

// 0.2.3 begin
/// The host module's Redis, if it is 0.2.3 or later.
fn host_redis() -> Option<crate::abi::RedisFn> {
    crate::abi::host()?.redis()
}
// 0.2.3 end
// 0.2.0: fn host_redis() -> Option<crate::abi::RedisFn> { None }

/// A continuation closure, called once, and its instance.
struct Continue<F>(Option<F>, u32);

impl<F> ContinuationHandler for Continue<F>
where
    F: FnOnce(&mut Request<'_>, Vec<CalloutResult>) -> Outcome + Send,
{
    fn resume(
        &mut self,
        request: RequestViewMut<'_>,
        results: RVec<CalloutResultAbi>,
    ) -> HandlerResult<RequestVerdict> {
        let Some(continuation) = self.0.take() else {
            return RResult::RErr("continuation called twice".into());
        };
        let instance = self.1;
        crate::panic::guard(move || {
            let _scope = crate::log::Scope::enter(instance, crate::abi::NO_POINT);
            let mut request = Request::from_raw(request, instance);
            let results = results.into_iter().map(CalloutResult::from).collect();
            let outcome = continuation(&mut request, results);
            crate::registry::finish_outcome(&mut request, outcome)
        })
    }
}
