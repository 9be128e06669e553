//! # hookgate-plugin-api
//!
//! The stable ABI and the SDK for **hookgate** plugins: Rust `cdylib` libraries, built
//! separately from the proxy, loaded at start-up and chained at the nine callback points
//! of BFE, plus two body points for the plugins that ask for a body. A plugin registers handlers from its init function; the proxy calls them,
//! from many worker threads at once, for every connection and request.
//!
//! ## A complete plugin
//!
//! `Cargo.toml`: `crate-type = ["cdylib", "rlib"]` and a dependency on this crate;
//! `src/lib.rs`:
//!
//! ```
//! use hookgate_plugin_api::{export_plugin, Outcome, Registry, Reply, ResponseOutcome};
//!
//! /// Config: the text of the instance's config file (TOML), parsed once.
//! fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
//!     let denied = config.trim().to_owned(); // e.g. "/private"
//!     reg.on_found_product(move |req| {
//!         if !denied.is_empty() && req.path().starts_with(denied.as_str()) {
//!             return Outcome::Respond(Reply::new(403).body("forbidden\n"));
//!         }
//!         Outcome::GoOn
//!     });
//!     reg.on_read_response(|_req, resp| {
//!         resp.set_header("x-served-by", "hookgate");
//!         ResponseOutcome::GoOn
//!     });
//!     Ok(())
//! }
//!
//! export_plugin!(init, points = [FoundProduct, ReadResponse]);
//! ```
//!
//! Build it with `cargo build --release`, then run
//! `hookgate --plugin target/release/libmy_plugin.so --backend 127.0.0.1:9000`.
//!
//! ## The callback contract
//!
//! This section is the one statement of what runs when and what the server does with
//! each return value; every other doc links here.
//!
//! ```text
//!  connection ──► Accept ──► [TLS handshake] ──► Handshake ──┐
//!                                                            ▼
//!      ┌──────────────── for each request ─────────────────────────────────────┐
//!      │ (front door: Host, method, path, sizes)                                │
//!      │    └─ refused (400 405 414 417 431 501) ───────────────────────────┐   │
//!      │ BeforeLocation ─► (product) ─► FoundProduct ─► (cluster) ─►         │   │
//!      │ AfterLocation ─► [read body ─► RequestBody] ─►                       │   │
//!      │ (subcluster, backend) ─► Forward ─► backend ─►                       │   │
//!      │ ReadResponse ─► [read body ─► ResponseBody] ─►                       │   │
//!      │ (gRPC: the proxy's or a plugin's error answer → Trailers-Only) ─►     │   │
//!      │ (compression: the product's `compress`) ─►                            │   │
//!      │ (send) ─► RequestFinish ◄────────────────────────────────────────────┘   │
//!      └───────────────────────────────────────────────────────────────────────┘
//!  connection closed ──► Finish   (exactly once per accepted connection)
//! ```
//!
//! The bracketed steps happen only when a handler asked for the body (see **Bodies**
//! below); otherwise bodies stream through untouched.
//!
//! **Waiting** (since 0.2.2): a handler at BeforeLocation, FoundProduct or
//! AfterLocation may start callouts and return [`Outcome::Wait`] through
//! [`Request::wait`]. The request is then suspended at that handler, holding no worker
//! thread, until every callout has answered, failed or timed out; the host then calls
//! the handler's continuation with the results, and the continuation's outcome is the
//! handler's, with the meanings of the table below (GoOn: the next handler of the
//! chain). A continuation cannot wait again. The rest of the chain, and the other
//! points, run only after it. A client that goes away while the request waits cancels
//! the callouts; the continuation does not run; RequestFinish does. Returning Wait
//! anywhere else, or without a continuation, is a plugin error, as is a wait the host
//! refuses (over a limit); [`Request::fail`] makes a handler or continuation fail on
//! purpose. Callouts never run plugin chains. A Redis command ([`Callout::redis`],
//! since 0.2.3) is a callout like an HTTP request: started, waited on and answered the
//! same way, in the order given.
//!
//! **Timers** (since 0.2.2) are outside the request flow: an init registers periodic
//! work with [`Registry::every`]; the host calls each tick on its runtime, from the time
//! the instance's configuration serves until the instance is dropped, never two ticks of
//! one timer at once. A tick may start callouts with [`Timer::wait`] (within the
//! instance's limits); its continuation gets their results, and the next period starts
//! after that. A tick sees no request or connection; a failing or panicking tick is
//! logged and counted, and the timer goes on.
//!
//! **The response order** is always ReadResponse → ResponseBody → (send) →
//! RequestFinish: every change to a response (a ReadResponse handler's headers or
//! body, a ResponseBody handler's, and the proxy's compression after them) happens
//! before the first byte is sent; RequestFinish sees the response as it was sent
//! (compressed: `Content-Encoding` set, `Content-Length` gone, a strong `ETag` made
//! weak), while ReadResponse and ResponseBody see it as the backend sent it. For a gRPC request (HTTP/2, `content-type:
//! application/grpc…`), an error answer made by the proxy or a plugin (not a
//! backend's response) becomes a gRPC error in Trailers-Only form just before the
//! send: ReadResponse sees the HTTP status (403), the client and RequestFinish see
//! HTTP 200 with `grpc-status` (7) and `grpc-message`.
//!
//! **The proxy's own answers** all reach RequestFinish with their
//! [`Request::error_code`]; which also pass through ReadResponse:
//!
//! | answer | error code | ReadResponse | why |
//! |---|---|---|---|
//! | 400 (Host missing, repeated or invalid; bad path; `*` but for OPTIONS), 405 (`CONNECT`), 414 (target over 8 KiB), 417 (an `Expect` but `100-continue`), 431 (header field over 8 KiB, section over 32 KiB), 501 (a transfer coding but `chunked`) | `bad_request`, `method_not_allowed`, `uri_too_long`, `expectation_failed`, `headers_too_large`, `not_implemented` | no | refused at the front door: the request was never valid enough to route, and no other point ran on it |
//! | 413 (body over `max_body_bytes`, or over the `body_limit` of a plugin that asked for it and refuses larger ones), 400 (broken body), 408 (body timeout) | `body_too_large`, `bad_body`, `body_timeout` | yes | found once the request is routed, like the errors below |
//! | 404 (no product, no route), 503 (no healthy backend), 502, 504 | `no_product`, `no_route`, `no_backend`, `connect_failed`, `bad_response`, `upstream_failed`, `upstream_tls_unknown_ca`, `upstream_tls_name_mismatch`, `upstream_tls_expired`, `upstream_tls`, `upstream_alpn`, `grpc_over_http1`, `timeout`, `deadline_exceeded` (504: a gRPC client's own `grpc-timeout`) | yes | a response like a backend's: header policy applies to it |
//! | 502 (a response body over the `body_limit` of a plugin that asked for it and refuses larger ones) | `response_too_large` | no (it already ran: the 502 replaces the response after it) | |
//! | 500 (a plugin failed, Forward returned Finish) | `plugin_error`, `forward_finish` | yes, except a failure at ReadResponse itself (its 500 replaces the response) | |
//! | nothing sent (the client went away) | `client_closed` | no | RequestFinish runs with no response |
//!
//! A head that hyper's HTTP/1 parser itself refuses (a malformed request line or
//! header, more than 100 header fields, a `Transfer-Encoding` it cannot frame) gets
//! its 400 or 431 before a request exists: no point runs for it. An HTTP/2 request
//! whose `:authority` and `host` differ is reset (`PROTOCOL_ERROR`), also before any
//! point.
//!
//! | # | point | handler | runs |
//! |---|---|---|---|
//! | 0 | Accept | [`on_accept`](Registry::on_accept) | after the TCP connection is accepted, **before** any TLS handshake |
//! | 1 | Handshake | [`on_handshake`](Registry::on_handshake) | after a successful TLS handshake (TLS listeners only) |
//! | 2 | BeforeLocation | [`on_before_location`](Registry::on_before_location) | before the product is identified |
//! | 3 | FoundProduct | [`on_found_product`](Registry::on_found_product) | after the product is identified |
//! | 4 | AfterLocation | [`on_after_location`](Registry::on_after_location) | after the cluster is identified |
//! | 9 | RequestBody | [`on_request_body`](Registry::on_request_body) | after AfterLocation, once the request body is read; **only the handlers of instances that asked** ([`Request::want_body`]) |
//! | 5 | Forward | [`on_forward`](Registry::on_forward) | after subcluster and backend are chosen, before the request is sent; **once per attempt** |
//! | 6 | ReadResponse | [`on_read_response`](Registry::on_read_response) | after a response is obtained, before it is sent |
//! | 10 | ResponseBody | [`on_response_body`](Registry::on_response_body) | after ReadResponse, once the response body is read; **only the handlers of instances that asked** ([`Response::want_body`]) |
//! | 7 | RequestFinish | [`on_request_finish`](Registry::on_request_finish) | after the response was sent (or sending failed) |
//! | 8 | Finish | [`on_finish`](Registry::on_finish) | after the client connection is closed |
//!
//! BFE's nine points keep BFE's numbers (0 to 8); the body points, hookgate's own, are
//! 9 and 10, listed here where they run.
//!
//! A chain runs its handlers in order (plugins in the order they are listed, each
//! plugin's handlers in registration order) and **stops at the first value other than
//! GoOn**, even at points where the server then ignores that value. Return values are
//! [`Action`]s (BFE's numbering: Finish 0, GoOn 1, Redirect 2, Response 3, Close 4);
//! request-point handlers return an [`Outcome`], whose `Respond` and `Finish` variants
//! carry the [`Reply`] to send, and ReadResponse and ResponseBody handlers a
//! [`ResponseOutcome`], whose `Redirect` carries the target.
//!
//! | point | GoOn | Response | Redirect | Finish | Close |
//! |---|---|---|---|---|---|
//! | Accept, Handshake | continue | ignored | ignored | ignored | close socket, send nothing |
//! | BeforeLocation, FoundProduct, AfterLocation, RequestBody | next handler, then routing | send the handler's response; **ReadResponse runs on it**; keep-alive | send redirect; ReadResponse skipped; keep-alive | send the handler's response (500 if none); ReadResponse skipped; then close | send nothing, close (HTTP/2: the whole connection) |
//! | Forward | send to backend | ignored | ignored | no backend call: 500 (through ReadResponse), then close | ignored |
//! | ReadResponse, ResponseBody | send | ignored | send redirect instead of the response | send the current response, then close | ignored |
//! | RequestFinish | keep-alive as usual | ignored | ignored | no keep-alive after this request | ignored |
//! | Finish | return value ignored | | | | |
//!
//! **Redirect**: the outcome carries the URL, code (302 by default) and extra headers
//! ([`Outcome::Redirect`] at request points, [`ResponseOutcome::Redirect`] at
//! ReadResponse and ResponseBody, each with a [`Redirect`]), so a Redirect without a
//! target cannot be written (an empty target is a plugin error); a relative URL is
//! resolved against the request path; `Location` is set; GET gets a short HTML body.
//!
//! **Coverage**: Finish runs for every accepted connection, including those closed at
//! Accept and failed TLS handshakes. RequestFinish runs for every request that reached
//! BeforeLocation, including those ended by Close or Redirect (then with no response).
//! The proxy's own answers reach RequestFinish too (the table above says which pass
//! through ReadResponse), with [`Request::error_code`] set.
//!
//! **Reloads** (`POST /reload` on the admin listener, or SIGHUP): a request that
//! starts after a reload has completed runs on the new configuration (its routes and
//! its chains), on every connection, old ones included. A connection's Accept,
//! Handshake and Finish run with the chains of the configuration that accepted it:
//! Finish runs exactly once per connection, even for a plugin instance the reload
//! removed. The session context lives with the connection, whatever the reloads.
//!
//! **Product scoping**: an instance configured with `products = [...]` has its
//! FoundProduct, AfterLocation, RequestBody, Forward, ReadResponse, ResponseBody and
//! RequestFinish handlers skipped for other products (the product is not known yet at
//! the other points).
//!
//! **Bodies**: streaming is the default; nothing is buffered unless a handler asks.
//! - A handler at BeforeLocation, FoundProduct or AfterLocation asks with
//!   [`Request::want_body`], declaring what a body over its limit gets
//!   ([`OverLimit`]). After AfterLocation the proxy reads the body into memory, up to
//!   the largest `body_limit` of the instances that asked (`[[plugins]] body_limit`,
//!   [`DEFAULT_BODY_LIMIT`] unless set; never above the product's `max_body_bytes`).
//!   Then, for each instance that asked, in chain order: a body within its limit runs
//!   its RequestBody handlers ([`Request::body`], [`Request::set_body`]); over it,
//!   `OverLimit::Reject` answers 413 (`body_too_large`) before any RequestBody handler
//!   runs and `OverLimit::Skip` skips the instance. A body longer than every limit that
//!   all skip is sent on as it came (what was read, then the rest of the stream). A
//!   `Content-Length` already over every limit is decided before a byte is read: 413
//!   (so `Expect: 100-continue` gets no `100`), or, if all skip, streamed unread.
//! - Only RequestBody handlers may replace the request body ([`Request::set_body`]
//!   returns `false` elsewhere); handlers at Forward still read it. Once the backend
//!   has answered, the proxy drops it.
//! - A body read whole is sent from memory with a `Content-Length` (chunked framing
//!   and trailers are dropped), and makes the request **retryable** like one without
//!   a body: an idempotent request is sent again, whole, after a failure once it was
//!   sent (DESIGN §3's retry rules).
//! - A ReadResponse handler asks the same way with [`Response::want_body`]; after the
//!   ReadResponse chain, if the response is still the one it saw (not a redirect or a
//!   500 from it), the body is read and ResponseBody runs likewise
//!   ([`Response::body`], [`Response::set_body`]); over the limit, `OverLimit::Reject`
//!   replaces the response with a 502 (`response_too_large`).
//! - Not offered (`want_body` returns `false`): upgrades (WebSocket), gRPC
//!   (`application/grpc…`) in either direction, responses without a body (HEAD, 1xx,
//!   204, 304), and at points after the body point.
//! - A body's failures while it is read are what they are for a streamed body: the
//!   client's (`bad_body` 400 for broken framing or a body cut before its length,
//!   `body_timeout` 408, `client_closed` for a reset), RequestFinish still running; a
//!   backend's body failing while read is a 502 (`upstream_failed`).
//!
//! **Errors and panics**: a panic in init or in a handler never crosses the boundary;
//! the SDK catches it and the host logs it with the plugin's name and point, counts it,
//! and applies the instance's policy: `fail-closed` (default: 500 at request points,
//! close at Accept and Handshake) or `fail-open` (treated as GoOn). This needs the
//! plugin built with `panic = "unwind"` (Cargo's default); [`export_plugin!`] refuses
//! to compile under `panic = "abort"`, with which a panic would abort the whole proxy.
//! The host counts every call by outcome and failure, per instance and point; an
//! instance with a circuit breaker (`[[plugins]] breaker`) whose handlers fail too often
//! is not called for a while, and its policy applies to each call not made: under
//! `fail-closed` that rejects every request it would see.
//!
//! **Rules for handlers**: they are synchronous, run concurrently on many threads, and
//! must not block: they run on the proxy's worker threads, and a handler that blocks
//! stalls every connection on its thread until it returns (one handler sleeping 2 s
//! stalled a 2-worker proxy for 1.9 s); the proxy logs and counts a handler running
//! longer than `server.slow_handler_ms`. Do blocking work on a thread of the plugin's
//! own. A plugin must not start a tokio runtime or call `tokio::spawn` (each library
//! has its own copy of tokio's thread-locals). Init may run more than once per
//! library: several instances with different configs, and again on reload. Keep state
//! in the closures init registers, not in statics.
//!
//! **State**: per request and per connection, each instance has a typed slot of its
//! own ([`Request::local`], [`Session::local`]): created with `Default` on first use,
//! kept by the host between points, dropped with the request (after RequestFinish) or
//! the connection (after Finish). Other plugins cannot see it; the string context
//! ([`Request::set_context`]) is for what plugins share.
//!
//! **Logging**: [`warn!`] and its siblings write through the host, so messages land in
//! the proxy's log with the instance's name and the point; printing to stderr from a
//! plugin bypasses the proxy's log format and filters.
//!
//! **End of life**: the host drops an instance's handlers when the proxy shuts down
//! (after in-flight requests have drained) and when a reload replaces them, so state
//! captured by the handlers is dropped then: flush buffers and stop helper threads in
//! `Drop` (a plugin may run its own `std::thread`s; it must not start an async runtime).
//!
//! ## Versions
//!
//! The ABI's version is [`abi::API_VERSION`], and this crate's version is the same: for
//! 0.x the host loads a plugin built against the same minor version with a patch no
//! newer than its own. The views, handlers and registry are fixed at 0.2.0: abi_stable
//! checks them when the host loads a plugin and lets the host expect fewer trailing
//! entries than the plugin describes, never more, so a host that appended to them
//! would refuse older plugins. What later versions add goes to the host module
//! ([`abi::HostMod`]), which the host lends at init and the plugin's side checks (the
//! plugin expecting fewer fields there is what abi_stable allows): a 0.2.0 plugin loads
//! on a host whose host module grew, and refuses one whose 0.2.0 fields moved (both
//! pinned by an end-to-end test with a changed copy of this crate; another builds a
//! plugin against a copy without 0.2.1's additions and loads it in today's proxy).
//!
//! Enums cross the boundary as numbers ([`abi::ActionCode`], [`abi::PointCode`],
//! [`abi::OverLimitCode`]), never as Rust enums: abi_stable checks an exhaustive
//! enum's variants exactly, so a host that added an action (a "wait" outcome) or a
//! point (timers) would refuse every older plugin. With numbers, a later version adds
//! a value; a side that meets a number it does not know treats it as an error it can
//! report (an unknown action is a plugin error under the instance's policy; a handler
//! at an unknown point fails init).
//!
//! **What 0.2.3 adds** (0.2.0 to 0.2.2 plugins load unchanged): Redis through the
//! host: [`Callout::redis`] with a [`RedisCommand`] (a command, or a Lua script run by
//! `EVALSHA` and by `EVAL` when the server lost it) on a `[redis.NAME]` store of the
//! proxy's config, waited on like any callout (from a handler or a timer's tick); the
//! reply is [`CalloutResult::reply`], a [`RedisValue`]. On a 0.2.2 host, starting one
//! fails the handler with "this hookgate is older than plugin API 0.2.3".
//!
//! **What 0.2.2 adds** (0.2.0 and 0.2.1 plugins load unchanged): callouts and waiting
//! ([`Callout`], [`Request::wait`], [`Outcome::Wait`], see **Waiting** above), and
//! [`Request::fail`]; timers ([`Registry::every`], [`Timer`], see **Timers** above);
//! in the fake host, `TestPlugin::script_callout`, `callouts`, `resume`,
//! `clear_callout_scripts`, `fire_timers` and `timer_periods`. `Outcome` has a new
//! variant: a `match` on it needs an arm for `Wait`.
//!
//! **What 0.2.1 adds** (0.2.0 plugins load unchanged on a 0.2.1 host):
//! [`Session::peer_certificate`], the client certificate a TLS listener verified
//! (subject, subjectAltNames, serial, SHA-256), reached through the host module.
//!
//! **What changed in 0.2.0**, and how to port a 0.1 plugin:
//! - Typed state per instance: [`Request::local`], [`Session::local`] (and `take_local`).
//!   A plugin that kept per-request data in the string context under its own key can
//!   keep it typed instead; the shared context is unchanged.
//! - Logging through the host: [`error!`], [`warn!`], [`info!`], [`debug!`],
//!   [`trace!`] write to the proxy's log (target `hookgate::plugin`) with the instance
//!   and point as fields, rate-limited per call site (see [`log`]); the fake host
//!   records them (`testing::TestPlugin::logs`).
//! - Metrics through the host: [`Registry::counter`], [`Registry::gauge`],
//!   [`Registry::histogram`] at init; the proxy exports them on `/metrics` as
//!   `hookgate_plugin_<name>` labelled with the instance, caps their series, and keeps
//!   their values across reloads (see [`metrics`]); the fake host reads them back
//!   (`testing::TestPlugin::metric_value`).
//! - The fake host settles chains with the proxy's code: a Redirect without a URL, or a
//!   Response without a response, is a plugin error in unit tests as in the proxy, and
//!   `testing::TestPlugin::fail_open` runs chains under `fail-open`.
//!   `testing::TestPlugin::exported` initialises the plugin `export_plugin!` exported,
//!   refusing handlers at points its manifest does not declare, as the proxy does: the
//!   points are listed once, and unit tests check them.
//! - `Outcome::Redirect` carries its [`Redirect`] (target, status, headers): replace
//!   `req.set_redirect(url, 301); Outcome::Redirect` with
//!   `Outcome::Redirect(Redirect::to(url).status(301))`. ReadResponse handlers return a
//!   [`ResponseOutcome`]: `Action::GoOn` becomes `ResponseOutcome::GoOn`, and
//!   `req.set_redirect(url, code); Action::Redirect` becomes
//!   `ResponseOutcome::Redirect(Redirect::to(url).status(code))`. `set_redirect` and
//!   `add_redirect_header` are gone from [`Request`].
//! - Bodies: [`Request::want_body`] and [`Response::want_body`] at the points before,
//!   and the new points RequestBody ([`Registry::on_request_body`]) and ResponseBody
//!   ([`Registry::on_response_body`]), with `[[plugins]] body_limit` and
//!   [`OverLimit`]. [`Point::ALL`] has eleven points now: a test that loops over it
//!   sees two more.
//! - Room to grow: the host module ([`abi::HostMod`]), checked by the plugin at init.
//! - The ABI version and this crate's version were both 0.2.0 (0.2.3 now): rebuild
//!   the plugin; a 0.1 plugin is refused at load ("built against
//!   hookgate-plugin-api 0.1.0, but this hookgate provides 0.2.3"). No source change
//!   is needed otherwise.
//!
//! ## Layout
//!
//! - [`Registry`]: one method per point; the handler's type is fixed by the method.
//! - [`Session`], [`Request`], [`Response`]: the views handlers receive.
//! - [`Action`], [`Outcome`], [`ResponseOutcome`], [`Reply`]: what handlers return.
//! - [`Point`], [`PointSet`]: the callback points.
//! - [`body`]: [`OverLimit`] and the rule of which body handlers run.
//! - [`export_plugin!`]: the root module and manifest.
//! - [`log`]: [`error!`], [`warn!`], [`info!`], [`debug!`], [`trace!`]: logging through
//!   the host.
//! - [`metrics`]: [`Counter`](metrics::Counter), [`Gauge`](metrics::Gauge),
//!   [`Histogram`](metrics::Histogram), exported by the host on `/metrics`.
//! - [`testing`] (feature `testing`): a fake host to unit-test handlers.
//! - [`abi`]: the raw ABI, for the host; plugin authors never need it.

#![deny(missing_docs)]

pub mod abi;
mod action;
pub mod body;
mod callout;
mod export;
mod headers;
mod local;
pub mod log;
pub mod metrics;
mod panic;
mod peer;
mod point;
mod redirect;
mod redis;
mod registry;
mod reply;
mod request;
mod response;
mod session;
#[doc(hidden)]
pub mod settle;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod timer;

pub use action::{Action, Outcome, ResponseOutcome};
pub use body::{OverLimit, DEFAULT_BODY_LIMIT};
pub use callout::{Callout, CalloutResult};
pub use headers::{HeaderValues, Headers};
pub use peer::PeerCertificate;
pub use point::{
    AcceptPoint, HandlerKind, Point, PointSet, RequestPoint, ResponsePoint, UnknownPoint,
};
pub use redirect::Redirect;
pub use redis::{RedisArg, RedisCommand, RedisValue};
pub use registry::Registry;
pub use reply::Reply;
pub use request::Request;
pub use response::Response;
pub use session::Session;
pub use timer::{Timer, MIN_TIMER_PERIOD};

/// Internal: what `export_plugin!` expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{init_error, lib_header, PluginExport};
    pub use abi_stable::library::LibHeader;
}
