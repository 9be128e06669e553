//! Balancing (DESIGN §3): a subcluster by weight keyed on the client IP, then a backend
//! inside it by smooth weighted round-robin, least connections or a consistent hash of
//! the client IP, skipping backends that passive or active health checks marked down.
//!
//! - [`cluster`]: [`Cluster`] and the weighted, sticky subcluster choice.
//! - [`subcluster`]: [`Subcluster`] and the backend choice in each mode.
//! - [`backend`]: [`Backend`], its health state and its count of active requests.
//! - `wrr`, `ring`, `key`: the smooth round-robin sequence, the hash ring, and the
//!   hash of the client IP they key on.
//!
//! Everything is built once per config and is read-only afterwards except for
//! atomics: a choice takes no lock and allocates nothing. A weight of 0 (subcluster or
//! backend) means "takes no traffic".
//!
//! Active health checks (the tasks that call [`Backend::check_result`]) live in
//! [`crate::health`].

pub mod backend;
pub mod cluster;
pub mod health_state;
mod key;
mod ring;
pub mod subcluster;
mod wrr;

pub use backend::{ActiveRequest, Backend};
pub use cluster::{clusters, Cluster};
pub use health_state::{HealthKey, HealthState, HealthStates};
pub use subcluster::Subcluster;

#[cfg(test)]
mod tests;
