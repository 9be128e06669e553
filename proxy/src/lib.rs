//! # hookgate
//!
//! A reverse proxy whose behaviour is extended by native plugins chained at BFE's nine
//! callback points. The plugin contract (what runs when, what each return value does)
//! is stated once, in [`hookgate_plugin_api`]'s crate docs.
//!
//! ## Layout
//!
//! - [`cli`]: the command line: run, `check`, `inspect`.
//! - [`reload_plan`]: `check`'s dry run: what a reload would do with each plugin entry
//!   of the running proxy.
//! - [`config`]: the TOML config (DESIGN §4) and the CLI defaults; errors name the key.
//! - [`plugin`]: loading libraries ([`plugin::loader`], the only place that touches
//!   raw loading), initialising instances, and the chains per callback point.
//! - [`session`], [`request`], [`response`]: per-connection, per-request and
//!   per-response state, and the views plugins receive of them.
//! - [`run`]: running the proxy: listeners and admin bound, serving until a signal,
//!   the drain.
//! - [`server`]: the running proxy's shared state: the current snapshot, connection
//!   slots and counts, health-check and resolver tasks, reload.
//! - [`limits`]: the open-file limit raised at start.
//! - [`listener`]: binding (with the backlog) and accepting, under the connection
//!   limit.
//! - [`edge`]: the front door: what a request head must be (Host, method, path) before
//!   plugins and routing see it, and the normalised path.
//! - [`serve`]: one connection's life, and the life of each request: the one place the
//!   callback points run, in order.
//! - [`snapshot`]: routing tables, clusters (their backends with their connections)
//!   and chains of one configuration, swapped whole on reload.
//! - [`route`]: host → product, and a product's route rules → cluster.
//! - [`balance`]: clusters, subclusters and backends; the choice of each; passive health.
//! - [`callout`]: the HTTP requests waiting plugin handlers start.
//! - [`resolve`]: backends given by name, resolved at start and periodically.
//! - [`health`]: active HTTP health checks of backends.
//! - [`upstream`]: each backend's connections: pooled keep-alive HTTP/1.1 or shared
//!   HTTP/2, over TCP or TLS; timeouts.
//! - [`write_timeout`]: streams whose stalled writes time out (client and backend
//!   send timeouts).
//! - [`error`]: the proxy's own errors and their status codes.
//! - [`error_rate`]: how failures are counted over time: passive backend ejection,
//!   plugin circuit breakers and canary rollback.
//! - [`admin`], [`metrics`]: the admin listener (`/healthz`, `/status`, `/metrics`,
//!   `POST /reload`) and the counters behind `/metrics`.
//! - [`context`]: the key/value context plugins share.
//! - [`tls`]: TLS listeners' rustls config and the certificate choice by SNI.
//! - [`logging`]: tracing set-up.
//! - [`memory`]: freed memory given back to the system after connections close.

pub mod admin;
pub mod balance;
pub mod callout;
pub mod cli;
pub mod config;
pub mod context;
pub mod edge;
pub mod error;
pub mod error_rate;
mod header_list;
mod header_view;
pub mod health;
mod hex;
pub mod limits;
pub mod listener;
pub mod logging;
pub mod memory;
mod message;
pub mod metrics;
pub mod plugin;
pub mod plugin_body;
pub mod redis_store;
pub mod reload_plan;
pub mod request;
pub mod resolve;
pub mod response;
pub mod route;
pub mod run;
pub mod serve;
pub mod server;
pub mod session;
pub mod snapshot;
pub mod tls;
pub mod trace;
pub mod upstream;
pub mod write_timeout;
