//! Serving: one client connection, and the life of each of its requests.
//!
//! - [`accepted`]: an accepted TCP connection to its end: Accept, the TLS handshake
//!   and Handshake, then the protocol; Finish when its [`Conn`] goes.
//! - [`connection`]: [`Conn`], a connection's state shared with its requests, and the
//!   session-level points (Accept, Handshake, Finish).
//! - `protocol`: HTTP/1.1 (our codec, `h1`) or HTTP/2 (hyper): ALPN alone decides on
//!   TLS, the first bytes on plain listeners; each connection served to its end within
//!   its header and idle timeouts (`activity`).
//! - `h1`: the HTTP/1.1 codec and connection loop; `incoming`: what a request brings
//!   from its client (body, upgrade) whichever codec read it; `rewind`: a stream with
//!   bytes put back in front.
//! - `life`: **the life of one request**, the one place the request-level callback
//!   points run, in order (the contract is in `hookgate_plugin_api`'s crate docs).
//! - `retry`: the retry rules, as a value the attempts loop asks.
//! - `forwarded`: rewriting heads both ways (hop-by-hop, `X-Forwarded-*`, client IP).
//! - `body`: the response body (which runs RequestFinish when it is done) and the
//!   client's body on its way to a backend (limit, client-side failures).
//! - `reply`, `redirect`, `websocket`: the proxy's own responses; redirects; Upgrade
//!   tunnels.
//! - `grpc`: the proxy's and plugins' answers to gRPC requests, as gRPC errors.
//! - `observed`: streams that report their traffic (for the waits it measures).

pub mod accepted;
mod activity;
mod body;
mod body_read;
pub mod compress;
pub mod connection;
mod forwarded;
mod grpc;
mod h1;
mod incoming;
mod life;
mod observed;
mod protocol;
mod redirect;
mod reply;
mod retry;
mod rewind;
mod websocket;

pub use accepted::serve_connection;
pub use connection::{Conn, ConnControl};
