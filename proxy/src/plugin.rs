//! Plugins: loading libraries, initialising instances, and the chains they form.
//!
//! - [`cache`]: the private copies libraries are loaded from, named by content.
//! - [`loader`]: opens a library and checks it is a compatible hookgate plugin; the one
//!   place that touches raw loading.
//! - [`instance`]: runs each instance's init and collects its handlers.
//! - [`chain`]: one immutable chain per callback point, and running it.

pub mod cache;
pub mod chain;
pub mod instance;
pub mod loader;
mod manifest;
mod registry;

pub use cache::{CacheError, PluginCache};
pub use chain::{Chain, ChainError, Chains, RequestChainOutcome};
pub use instance::{Instance, Plugins};
pub use loader::{Library, LoadError};
pub use manifest::Manifest;
