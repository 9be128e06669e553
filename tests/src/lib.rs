//! Shared helpers for the end-to-end tests: the real `hookgate` binary with real
//! plugin libraries, real backends and real clients.
//!
//! The tests build the workspace themselves (`cargo build --workspace`, once per test
//! binary), so `cargo test --workspace` works on a fresh clone. Everything here is
//! synchronous and bounded in time; backends and clients run their own tokio runtimes.
//!
//! ## Layout
//!
//! - [`build`]: building the workspace; the `hookgate` binary and plugin libraries.
//! - [`process`]: running a command to its end (`check`, `inspect`, failed start-ups).
//! - [`proxy`]: [`Proxy`], the binary running as a server for one test.
//! - [`backend`]: [`Backend`], an echoing HTTP/1.1 + h2c server with knobs.
//! - [`client`]: HTTP/1.1, h2c and TLS clients, and raw TCP helpers.
//! - [`certs`]: [`TestCa`], certificates for TLS listeners.
//! - [`grpc`]: [`GrpcBackend`] and [`GrpcClient`], tonic on both sides of a gRPC call.
//! - [`probe`]: [`Probe`], the test plugin that records callbacks and returns chosen
//!   values.
//! - [`net`]: free ports, waiting for listeners.
//! - [`contract`]: probe-rule builder and exact-bytes connections for the callback
//!   contract tests.
//! - [`scripted`]: backends with scripted health and raw (invalid) answers.
//! - [`streams`]: gigabyte uploads/downloads, many HTTP/2 streams, WebSocket, RSS.
//! - [`tls_version`]: a TLS client forced to one protocol version.

pub mod backend;
pub mod build;
pub mod certs;
pub mod client;
pub mod contract;
pub mod grpc;
pub mod net;
pub mod otlp;
pub mod probe;
pub mod process;
pub mod proxy;
pub mod redis;
pub mod scripted;
pub mod streams;
pub mod tls_version;
pub mod wait;

pub use backend::{pattern, Backend, Behaviour, BodyCell, Echo, Seen};
pub use build::{
    build_workspace, cargo, cargo_command, hookgate_bin, library, profile_dir, system_library,
    workspace_root,
};
pub use certs::{CertFiles, TestCa};
pub use client::{
    h2c_get, h2c_send, http1_get, http1_send, https_get, keep_alive_gets, raw_exchange,
    try_https_get, websocket_roundtrip, Conn, KeepAlive, RawReply, Req, Response, TlsResponse,
    Upgraded, CLIENT_TIMEOUT,
};
pub use grpc::{GrpcBackend, GrpcClient};
pub use net::{free_addr, free_port, wait_until_accepting};
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use probe::{events_log, read_events, wait_for_events, Event, Probe};
pub use process::{arg, hookgate, run, sha256_of, Output, COMMAND_TIMEOUT};
pub use proxy::Proxy;
pub use redis::{RedisCluster, RedisServer};
pub use wait::wait_until;

#[cfg(test)]
mod tests;
