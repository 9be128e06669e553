//! The end-to-end tests, in one binary so that the workspace is built (and this
//! binary linked) once per test run: each module starts the real `hookgate` binary
//! with real plugin libraries, real backends and real clients.
//!
//! - `abi_growth`: a 0.2.0 plugin on a host whose host module grew (and one reordered).
//! - `accounting`: per-instance figures, circuit breakers, slow handlers.
//! - `admin`: the admin listener, its guard (loopback, token, browser requests).
//! - `backend_h2`: HTTP/2 to backends: multiplexing, connections beyond the streams,
//!   ALPN, upgrades beside it, health checks.
//! - `backend_tls`: TLS to backends: verification, pooling and resumption, failures
//!   by cause, client certificates, health checks.
//! - `callbacks`: the callback contract of DESIGN §2.3, cell by cell.
//! - `check`: `hookgate check` refusing what cannot work, naming the key.
//! - `conformance`: HTTP/1.1 (RFC 9110, 9112) case by case, compared with nginx.
//! - `edge`: the front door: Host and authority, paths, ALPN, methods, client errors,
//!   limits, and the coverage of the proxy's own answers.
//! - `grpc`: gRPC through the proxy: its own and plugins' errors as gRPC errors.
//! - `grpc_calls`: a tonic client to a tonic server through the proxy (h2c and TLS):
//!   the four kinds of call, streamed both ways, statuses and trailers kept.
//! - `import_bfe`: a BFE configuration converted, checked and routing as BFE does.
//! - `plugin_loading`: `inspect`, `check`, start-up errors, the plugin cache.
//! - `plugins_access`, `plugins_request`, `plugins_serving`: the example plugins.
//! - `protocols`: TLS and SNI, HTTP/2, WebSocket, large streams, shutdown.
//! - `proxying`: forwarding basics.
//! - `reloads`: SIGHUP, a reload reaching every connection, health and counters kept.
//! - `resilience`: a request on a backend connection closed under it goes again.
//! - `routing`: products, routes, balancing, health, retries, proxy errors.
//! - `timeouts`: every wait bounded (header, idle, body, send, response, read).

mod abi_growth;
mod accounting;
mod admin;
mod backend_h2;
mod backend_names;
mod backend_tls;
mod bodies;
mod callbacks;
mod check;
mod client_certs;
mod compression;
mod conformance;
mod edge;
mod ext_auth;
mod fleet;
mod generations;
mod grpc;
mod grpc_calls;
mod import_bfe;
mod jwt;
mod plugin_loading;
mod plugins_access;
mod plugins_request;
mod plugins_serving;
mod protocols;
mod proxying;
mod reloads;
mod resilience;
mod routing;
mod timeouts;
mod tracing;
