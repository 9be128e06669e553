//! Plugins: loading libraries, initialising instances, and the chains they form.
//!
//! - [`cache`]: the private copies libraries are loaded from, named by content.
//! - [`loader`]: opens a library and checks it is a compatible hookgate plugin; the one
//!   place that touches raw loading.
//! - [`generation`]: the builds of each entry's code loaded across reloads, and
//!   which runs.
//! - [`canary`]: a new generation on a share of the traffic, promoted or rolled back.
//! - [`instance`]: one initialised instance: its name, manifest, policy, scope, errors.
//! - [`chain`]: one immutable chain per callback point, and running it.
//! - `call`: what surrounds each handler call: the breaker, the slow-handler watch,
//!   the sampled timer, the count of its outcome.
//! - [`accounting`]: what each instance's handlers did, per point.
//! - [`breaker`]: an instance's circuit breaker.
//! - [`slow`]: the watch on handlers that hold a worker thread too long.
//! - `registry`: where an instance's init puts its handlers.
//! - [`metric_store`]: the metrics plugins define, kept across reloads.
//! - `log`: where a plugin's messages go (the proxy's log, with the instance and point).
//! - [`set`]: every instance of a configuration, loaded and initialised in order, and
//!   the chains they form.

pub mod accounting;
pub mod breaker;
pub mod cache;
mod call;
pub mod canary;
pub mod chain;
pub mod generation;
pub mod instance;
pub mod loader;
mod log;
mod manifest;
pub mod metric_store;
mod registry;
pub mod set;
pub mod slow;
pub mod timer;
pub mod wait;

pub use cache::{CacheError, PluginCache};
pub use call::trace_calls;
pub use chain::{Chain, ChainError, Chains, RequestChainOutcome};
pub use generation::Generations;
pub use instance::Instance;
pub use loader::{Library, LoadError};
pub use manifest::Manifest;
pub use set::Plugins;
