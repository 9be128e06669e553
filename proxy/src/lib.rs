//! # hookgate
//!
//! A reverse proxy whose behaviour is extended by native plugins chained at BFE's nine
//! callback points. The plugin contract (what runs when, what each return value does)
//! is stated once, in [`hookgate_plugin_api`]'s crate docs.
//!
//! ## Layout
//!
//! - [`cli`]: the command line: run, `check`, `inspect`.
//! - [`config`]: the TOML config (DESIGN §4) and the CLI defaults; errors name the key.
//! - [`plugin`]: loading libraries ([`plugin::loader`], the only place that touches
//!   raw loading), initialising instances, and the chains per callback point.
//! - [`session`], [`request`], [`response`]: per-connection, per-request and
//!   per-response state, and the views plugins receive of them.
//! - [`context`]: the key/value context plugins share.
//! - [`logging`]: tracing set-up.

pub mod cli;
pub mod config;
pub mod context;
mod header_view;
pub mod logging;
mod message;
pub mod plugin;
pub mod request;
pub mod response;
pub mod session;
