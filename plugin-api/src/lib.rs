//! # hookgate-plugin-api
//!
//! The stable ABI and the SDK for **hookgate** plugins: Rust `cdylib` libraries, built
//! separately from the proxy, loaded at start-up and chained at the nine callback points
//! of BFE. A plugin registers handlers from its init function; the proxy calls them,
//! from many worker threads at once, for every connection and request.
//!
//! ## A complete plugin
//!
//! `Cargo.toml`: `crate-type = ["cdylib", "rlib"]` and a dependency on this crate;
//! `src/lib.rs`:
//!
//! ```
//! use hookgate_plugin_api::{export_plugin, Action, Outcome, Registry, Reply};
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
//!         Action::GoOn
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
//!      ┌──────────────── for each request ─────────────────────────────┐
//!      │ BeforeLocation ─► (product) ─► FoundProduct ─► (cluster) ─►    │
//!      │ AfterLocation ─► (subcluster, backend) ─► Forward ─► backend ─► │
//!      │ ReadResponse ─► (send) ─► RequestFinish                        │
//!      └───────────────────────────────────────────────────────────────┘
//!  connection closed ──► Finish   (exactly once per accepted connection)
//! ```
//!
//! | # | point | handler | runs |
//! |---|---|---|---|
//! | 0 | Accept | [`on_accept`](Registry::on_accept) | after the TCP connection is accepted, **before** any TLS handshake |
//! | 1 | Handshake | [`on_handshake`](Registry::on_handshake) | after a successful TLS handshake (TLS listeners only) |
//! | 2 | BeforeLocation | [`on_before_location`](Registry::on_before_location) | before the product is identified |
//! | 3 | FoundProduct | [`on_found_product`](Registry::on_found_product) | after the product is identified |
//! | 4 | AfterLocation | [`on_after_location`](Registry::on_after_location) | after the cluster is identified |
//! | 5 | Forward | [`on_forward`](Registry::on_forward) | after subcluster and backend are chosen, before the request is sent; **once per attempt** |
//! | 6 | ReadResponse | [`on_read_response`](Registry::on_read_response) | after a response is obtained, before it is sent |
//! | 7 | RequestFinish | [`on_request_finish`](Registry::on_request_finish) | after the response was sent (or sending failed) |
//! | 8 | Finish | [`on_finish`](Registry::on_finish) | after the client connection is closed |
//!
//! A chain runs its handlers in order (plugins in the order they are listed, each
//! plugin's handlers in registration order) and **stops at the first value other than
//! GoOn**, even at points where the server then ignores that value. Return values are
//! [`Action`]s (BFE's numbering: Finish 0, GoOn 1, Redirect 2, Response 3, Close 4);
//! request-point handlers return an [`Outcome`], whose `Respond` and `Finish` variants
//! carry the [`Reply`] to send.
//!
//! | point | GoOn | Response | Redirect | Finish | Close |
//! |---|---|---|---|---|---|
//! | Accept, Handshake | continue | ignored | ignored | ignored | close socket, send nothing |
//! | BeforeLocation, FoundProduct, AfterLocation | next handler, then routing | send the handler's response; **ReadResponse runs on it**; keep-alive | send redirect; ReadResponse skipped; keep-alive | send the handler's response (500 if none); ReadResponse skipped; then close | send nothing, close (HTTP/2: the whole connection) |
//! | Forward | send to backend | ignored | ignored | no backend call: 500 (through ReadResponse), then close | ignored |
//! | ReadResponse | send | ignored | send redirect instead of the response | send the current response, then close | ignored |
//! | RequestFinish | keep-alive as usual | ignored | ignored | no keep-alive after this request | ignored |
//! | Finish | return value ignored | | | | |
//!
//! **Redirect**: the URL and code come from [`Request::set_redirect`] (code 302 by
//! default), plus any [`Request::add_redirect_header`]; a relative URL is resolved
//! against the request path; `Location` is set; GET gets a short HTML body. Returning
//! Redirect without a URL is a plugin error.
//!
//! **Coverage**: Finish runs for every accepted connection, including those closed at
//! Accept and failed TLS handshakes. RequestFinish runs for every request that reached
//! BeforeLocation, including those ended by Close or Redirect (then with no response).
//! Responses the proxy generates for its own errors (no product, no route, backend
//! down, a body too large or broken) pass through ReadResponse and RequestFinish too,
//! with [`Request::error_code`] set. A request head the front door refuses (bad Host
//! or path: 400; `CONNECT`: 405) runs no point but RequestFinish, with its error code,
//! so that access logs see it. A request whose client went away before its response
//! reaches RequestFinish with no response and the code `client_closed`.
//!
//! **Product scoping**: an instance configured with `products = [...]` has its
//! FoundProduct, AfterLocation, Forward, ReadResponse and RequestFinish handlers skipped
//! for other products (the product is not known yet at the other points).
//!
//! **Errors and panics**: a panic in init or in a handler never crosses the boundary;
//! the SDK catches it and the host logs it with the plugin's name and point, counts it,
//! and applies the instance's policy: `fail-closed` (default: 500 at request points,
//! close at Accept and Handshake) or `fail-open` (treated as GoOn). This needs the
//! plugin built with `panic = "unwind"` (Cargo's default); [`export_plugin!`] refuses
//! to compile under `panic = "abort"`, with which a panic would abort the whole proxy.
//!
//! **Rules for handlers**: they are synchronous, run concurrently on many threads, and
//! must not block; a plugin must not start a tokio runtime or call `tokio::spawn` (each
//! library has its own copy of tokio's thread-locals). Init may run more than once per
//! library: several instances with different configs, and again on reload. Keep state
//! in the closures init registers, not in statics.
//!
//! **End of life**: the host drops an instance's handlers when the proxy shuts down
//! (after in-flight requests have drained) and when a reload replaces them, so state
//! captured by the handlers is dropped then: flush buffers and stop helper threads in
//! `Drop` (a plugin may run its own `std::thread`s; it must not start an async runtime).
//!
//! ## Layout
//!
//! - [`Registry`]: one method per point; the handler's type is fixed by the method.
//! - [`Session`], [`Request`], [`Response`]: the views handlers receive.
//! - [`Action`], [`Outcome`], [`Reply`]: what handlers return.
//! - [`Point`], [`PointSet`]: the callback points.
//! - [`export_plugin!`]: the root module and manifest.
//! - [`testing`] (feature `testing`): a fake host to unit-test handlers.
//! - [`abi`]: the raw ABI, for the host; plugin authors never need it.

#![deny(missing_docs)]

pub mod abi;
mod action;
mod export;
mod headers;
mod panic;
mod point;
mod registry;
mod reply;
mod request;
mod response;
mod session;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use action::{Action, Outcome};
pub use headers::{HeaderValues, Headers};
pub use point::{
    AcceptPoint, HandlerKind, Point, PointSet, RequestPoint, ResponsePoint, UnknownPoint,
};
pub use registry::Registry;
pub use reply::Reply;
pub use request::Request;
pub use response::Response;
pub use session::Session;

/// Internal: what `export_plugin!` expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{init_error, lib_header, PluginExport};
    pub use abi_stable::library::LibHeader;
}
