//! Serving: one client connection, and the life of each of its requests.
//!
//! - [`connection`]: a session from accept to close: Accept, the TLS handshake and
//!   Handshake, and Finish exactly once.
//! - `protocol`: HTTP/1.1 or HTTP/2 via hyper (ALPN alone decides on TLS).
//! - `request`: the life of one request, the one place the request-level callback
//!   points run, in order (the contract is in `hookgate_plugin_api`'s crate docs).
//! - `forward`: choosing subcluster and backend, Forward once per attempt, retries.
//! - `forwarded`: rewriting heads both ways (hop-by-hop, `X-Forwarded-*`, client IP).
//! - `body`: the response body, which runs RequestFinish when it is done.
//! - `redirect`, `websocket`: redirect responses; Upgrade tunnels.

mod body;
pub mod connection;
mod forward;
mod forwarded;
mod protocol;
mod redirect;
mod request;
mod websocket;

pub use connection::{serve_connection, Conn, ConnControl};
