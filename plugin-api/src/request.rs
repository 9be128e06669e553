//! [`Request`]: one request, as handlers see it.

use std::net::IpAddr;

use crate::abi::{ROption, RequestViewMut};
use crate::headers::{header_source, HeaderValues, Headers};
use crate::session::Session;

header_source!(RequestViewMut<'_>);

/// One request. Handlers at BeforeLocation, FoundProduct, AfterLocation, Forward,
/// ReadResponse and RequestFinish receive it; what runs when is
/// [the callback contract](crate#the-callback-contract).
///
/// Setters return `false` (and change nothing) when the value is not valid HTTP.
///
/// ```
/// use hookgate_plugin_api::{Outcome, Reply, Request};
/// fn admin_only_from_office(req: &mut Request<'_>) -> Outcome {
///     if req.path().starts_with("/admin") && req.header("x-office") != Some("1") {
///         return Outcome::Respond(Reply::new(403).body("forbidden\n"));
///     }
///     req.set_header("x-checked-by", "office-gate");
///     Outcome::GoOn
/// }
/// ```
pub struct Request<'a> {
    raw: RequestViewMut<'a>,
    /// The plugin instance whose handler runs: the key of its typed state.
    instance: u32,
}

impl<'a> Request<'a> {
    /// Internal: wraps the host's view.
    #[doc(hidden)]
    pub fn from_raw(raw: RequestViewMut<'a>, instance: u32) -> Self {
        Request { raw, instance }
    }

    /// Sends `callouts` through the host and waits for them without holding a worker
    /// (since 0.2.2; at BeforeLocation, FoundProduct and AfterLocation): return what
    /// this gives ([`Outcome::Wait`](crate::Outcome::Wait)). When every callout has answered, failed or
    /// timed out, the host calls `continuation` with their results, in the order
    /// given, and its outcome is this handler's. A host that cannot wait (older than
    /// 0.2.2, another point, the instance's limit on concurrent callouts) fails the
    /// handler: its instance's error policy applies.
    ///
    /// ```
    /// use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
    /// use hookgate_plugin_api::{Callout, CalloutResult, Outcome, Registry, Reply};
    ///
    /// fn init(_config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    ///     reg.on_before_location(|req| {
    ///         let check = Callout::to_cluster("auth", "/check")
    ///             .header("authorization", req.header("authorization").unwrap_or(""));
    ///         req.wait(vec![check], |_req, results| match results[0].status {
    ///             200..=299 => Outcome::GoOn,
    ///             _ => Outcome::Respond(Reply::new(401)),
    ///         })
    ///     });
    ///     Ok(())
    /// }
    ///
    /// let plugin = TestPlugin::init(init, "").unwrap();
    /// plugin.script_callout("cluster:auth", CalloutResult::response(403));
    /// let mut req = FakeRequest::get("/").header("authorization", "Bearer x");
    /// assert_eq!(plugin.before_location(&mut req), Ok(Outcome::Wait));
    /// assert_eq!(plugin.callouts()[0].header_value("authorization"), Some("Bearer x"));
    /// assert_eq!(plugin.resume(&mut req), Ok(Outcome::Respond(Reply::new(401))));
    /// ```
    pub fn wait<F>(&mut self, callouts: Vec<crate::Callout>, continuation: F) -> crate::Outcome
    where
        F: FnOnce(&mut Request<'_>, Vec<crate::CalloutResult>) -> crate::Outcome + Send + 'static,
    {
        crate::callout::wait(self.instance, callouts, continuation)
    }

    /// Fails the handler (or continuation) running now with `why`, whatever it
    /// returns: logged and counted as a plugin error, then its instance's error policy
    /// applies (`on_error`: fail-closed answers 500, fail-open goes on). For a
    /// dependency that is down, say. Since 0.2.2; returns [`Outcome::GoOn`](crate::Outcome::GoOn) to
    /// return.
    ///
    /// ```
    /// use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
    /// use hookgate_plugin_api::{Outcome, Registry};
    ///
    /// fn init(_config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    ///     reg.on_before_location(|req| req.fail("the key store is unreachable"));
    ///     Ok(())
    /// }
    /// let plugin = TestPlugin::init(init, "").unwrap();
    /// let failed = plugin.before_location(&mut FakeRequest::get("/"));
    /// assert_eq!(failed, Err("the key store is unreachable".to_owned()));
    /// ```
    pub fn fail(&mut self, why: &str) -> crate::Outcome {
        crate::callout::fail(why.to_owned());
        crate::Outcome::GoOn
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        self.raw.method().into()
    }

    /// The request target: path and query, e.g. `/a?b=1`.
    pub fn uri(&self) -> &str {
        self.raw.uri().into()
    }

    /// The path, e.g. `/a`.
    pub fn path(&self) -> &str {
        self.raw.path().into()
    }

    /// The query without `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.raw.query().into_option().map(Into::into)
    }

    /// The host, lowercase and without port.
    pub fn host(&self) -> &str {
        self.raw.host().into()
    }

    /// The first value of a header (names are case-insensitive); `None` if absent or not
    /// UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        let value = self.raw.header(name.into()).into_option()?;
        std::str::from_utf8(value.as_slice()).ok()
    }

    /// All values of a header, in order.
    pub fn header_all<'n>(&self, name: &'n str) -> HeaderValues<'_, 'n> {
        HeaderValues {
            source: &self.raw,
            name,
            index: 0,
        }
    }

    /// All headers, in order.
    pub fn headers(&self) -> Headers<'_> {
        Headers {
            source: &self.raw,
            index: 0,
        }
    }

    /// Replaces all values of a header.
    pub fn set_header(&mut self, name: &str, value: &str) -> bool {
        self.raw.set_header(name.into(), value.into())
    }

    /// Appends a header value.
    pub fn add_header(&mut self, name: &str, value: &str) -> bool {
        self.raw.add_header(name.into(), value.into())
    }

    /// Removes a header; `true` if it was present.
    pub fn remove_header(&mut self, name: &str) -> bool {
        self.raw.remove_header(name.into())
    }

    /// Replaces the path (must start with `/`).
    pub fn set_path(&mut self, path: &str) -> bool {
        self.raw.set_path(path.into())
    }

    /// Replaces the query (`None` removes it).
    pub fn set_query(&mut self, query: Option<&str>) -> bool {
        self.raw.set_query(ROption::from(query.map(Into::into)))
    }

    /// Replaces the host sent to the backend.
    pub fn set_host(&mut self, host: &str) -> bool {
        self.raw.set_host(host.into())
    }

    /// Replaces path and query at once, e.g. `/new?x=1`.
    pub fn set_uri(&mut self, uri: &str) -> bool {
        self.raw.set_uri(uri.into())
    }

    /// The client's IP: the socket's peer, or the address a trusted proxy put in
    /// `X-Forwarded-For`.
    pub fn client_ip(&self) -> IpAddr {
        self.raw.client_ip().into()
    }

    /// The product; empty before FoundProduct.
    pub fn product(&self) -> &str {
        self.raw.product().into()
    }

    /// The cluster; empty before AfterLocation.
    pub fn cluster(&self) -> &str {
        self.raw.cluster().into()
    }

    /// The subcluster; empty before Forward.
    pub fn subcluster(&self) -> &str {
        self.raw.subcluster().into()
    }

    /// The backend address; empty before Forward.
    pub fn backend(&self) -> &str {
        self.raw.backend().into()
    }

    /// The proxy's error code for this request, or empty. The client's:
    /// `bad_request` (400), `method_not_allowed` (405), `uri_too_long` (414),
    /// `expectation_failed` (417), `headers_too_large` (431), `not_implemented` (501),
    /// `body_too_large` (413),
    /// `bad_body` (400), `body_timeout` (408), `client_closed` (nothing sent); the
    /// proxy's: `no_product`, `no_route` (404), `no_backend` (503), `grpc_over_http1`
    /// (502); a backend's:
    /// `connect_failed`, `bad_response`, `upstream_failed`, `response_too_large`,
    /// `upstream_tls_unknown_ca`, `upstream_tls_name_mismatch`, `upstream_tls_expired`,
    /// `upstream_tls`, `upstream_alpn` (502), `timeout` (504); a gRPC client's own
    /// deadline: `deadline_exceeded` (504); a plugin's:
    /// `plugin_error`, `forward_finish` (500).
    pub fn error_code(&self) -> &str {
        self.raw.error_code().into()
    }

    /// Sets where a redirect sends the client (`code` 0 means 302): the SDK's half of
    /// [`Outcome::Redirect`](crate::Outcome::Redirect) and
    /// [`ResponseOutcome::Redirect`](crate::ResponseOutcome::Redirect), which carry the
    /// target; handlers return those.
    pub(crate) fn set_redirect(&mut self, url: &str, code: u16) {
        self.raw.set_redirect(url.into(), code)
    }

    /// Adds a header to the redirect response (as [`set_redirect`](Self::set_redirect)).
    pub(crate) fn add_redirect_header(&mut self, name: &str, value: &str) -> bool {
        self.raw.add_redirect_header(name.into(), value.into())
    }

    /// The redirect target, if set.
    pub fn redirect_url(&self) -> Option<&str> {
        self.raw.redirect_url().into_option().map(Into::into)
    }

    /// The redirect status code (302 unless set).
    pub fn redirect_code(&self) -> u16 {
        self.raw.redirect_code()
    }

    /// A value of the request's context, shared by all plugins for the request's life.
    pub fn context(&self, key: &str) -> Option<&str> {
        self.raw.context(key.into()).into_option().map(Into::into)
    }

    /// Sets a value of the request's context.
    pub fn set_context(&mut self, key: &str, value: &str) {
        self.raw.set_context(key.into(), value.into())
    }

    /// This plugin instance's typed state for the request: created with
    /// `T::default()` on first use, kept between points, dropped with the request
    /// (after RequestFinish). Each instance has its own, unseen by other plugins (the
    /// string [context](Self::context) is for data plugins share). One type per
    /// instance: keep a struct of what you need.
    ///
    /// # Panics
    ///
    /// When this instance's state for the request holds another type (a plugin
    /// error: it costs the request).
    ///
    /// ```
    /// use std::time::Instant;
    ///
    /// use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
    /// use hookgate_plugin_api::{Action, Outcome, Registry};
    ///
    /// #[derive(Default)]
    /// struct Timing {
    ///     start: Option<Instant>,
    /// }
    ///
    /// fn init(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    ///     reg.on_before_location(|req| {
    ///         req.local::<Timing>().start = Some(Instant::now());
    ///         Outcome::GoOn
    ///     });
    ///     reg.on_request_finish(|req, _resp| {
    ///         let took = req.local::<Timing>().start.map(|s| s.elapsed());
    ///         req.set_context("took", &format!("{took:?}"));
    ///         Action::GoOn
    ///     });
    ///     Ok(())
    /// }
    ///
    /// let plugin = TestPlugin::init(init, "").unwrap();
    /// let mut req = FakeRequest::get("/");
    /// plugin.before_location(&mut req).unwrap();
    /// plugin.request_finish(&mut req, None).unwrap();
    /// assert!(req.context("took").unwrap().starts_with("Some("));
    /// ```
    pub fn local<T: Default + Send + 'static>(&mut self) -> &mut T {
        crate::local::state(&mut self.raw, self.instance)
    }

    /// Takes this instance's typed state for the request out, if it holds a `T`.
    pub fn take_local<T: Send + 'static>(&mut self) -> Option<T> {
        crate::local::take(&mut self.raw, self.instance)
    }

    /// Asks for the request body: once the request is routed (after AfterLocation),
    /// the body is read into memory, up to the instance's `body_limit`, and this
    /// instance's [RequestBody](crate::Point::RequestBody) handlers run on it.
    /// `over_limit` says what happens to a larger body. Call it at BeforeLocation,
    /// FoundProduct or AfterLocation; `false` when no body is offered: an upgrade
    /// (WebSocket), a gRPC request, or a later point. A request without a body is
    /// offered an empty one. See [`body`](crate::body).
    ///
    /// ```
    /// use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
    /// use hookgate_plugin_api::{OverLimit, Outcome, Registry, Reply};
    ///
    /// fn init(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    ///     reg.on_found_product(|req| {
    ///         req.want_body(OverLimit::Reject);
    ///         Outcome::GoOn
    ///     });
    ///     reg.on_request_body(|req| match req.body() {
    ///         Some(body) if body.starts_with(b"{") => Outcome::GoOn,
    ///         _ => Outcome::Respond(Reply::new(400).body("JSON only\n")),
    ///     });
    ///     Ok(())
    /// }
    ///
    /// let plugin = TestPlugin::init(init, "").unwrap();
    /// let mut req = FakeRequest::new("POST", "/").body("not json");
    /// plugin.found_product(&mut req).unwrap();
    /// let outcome = plugin.request_body(&mut req).unwrap();
    /// assert!(matches!(outcome, Outcome::Respond(reply) if reply.status() == 400));
    /// ```
    pub fn want_body(&mut self, over_limit: crate::OverLimit) -> bool {
        self.raw.want_body(self.instance, over_limit.into())
    }

    /// The request body, at [RequestBody](crate::Point::RequestBody) (and later,
    /// until it is sent); `None` where it is streamed.
    pub fn body(&self) -> Option<&[u8]> {
        self.raw.body().into_option().map(|b| b.as_slice())
    }

    /// Replaces the request body at RequestBody (the host fixes `Content-Length`);
    /// `false` (nothing changed) at every other point, where the body is streamed or
    /// already on its way.
    pub fn set_body(&mut self, body: impl Into<Vec<u8>>) -> bool {
        self.raw.set_body(body.into().into())
    }

    /// The client's address as seen on the socket (the session's; a shared borrow,
    /// unlike [`session`](Self::session)).
    ///
    /// ```
    /// use hookgate_plugin_api::{Outcome, Reply, Request};
    /// fn local_only(req: &mut Request<'_>) -> Outcome {
    ///     match req.remote_addr().ip().is_loopback() {
    ///         true => Outcome::GoOn,
    ///         false => Outcome::Respond(Reply::new(403)),
    ///     }
    /// }
    /// ```
    pub fn remote_addr(&self) -> std::net::SocketAddr {
        self.raw.remote_addr().into()
    }

    /// Whether the connection is TLS (the session's).
    pub fn is_tls(&self) -> bool {
        self.raw.is_tls()
    }

    /// The SNI server name the client sent (the session's), if any.
    pub fn sni(&self) -> Option<&str> {
        self.raw.sni().into_option().map(Into::into)
    }

    /// The connection this request arrived on.
    pub fn session(&mut self) -> Session<'_> {
        Session::from_raw(self.raw.session(), self.instance)
    }
}
