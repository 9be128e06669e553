//! Balancing (DESIGN §3): a subcluster by weight keyed on the client IP, then a backend
//! inside it by smooth weighted round-robin, least connections or a consistent hash of
//! the client IP, skipping backends that passive or active health checks marked down.
//!
//! - [`cluster`]: [`Cluster`] and the weighted, sticky subcluster choice.
//! - [`subcluster`]: [`Subcluster`] and the backend choice in each mode.
//! - [`members`]: [`Members`], the backends of a subcluster at one moment (swapped
//!   whole when a backend name resolves to other addresses).
//! - [`backend`]: [`Backend`], its connections, health state and count of active
//!   requests.
//! - `wrr`, `ring`, `key`: the smooth round-robin sequence, the hash ring, and the
//!   hash of the client IP they key on.
//!
//! Everything is built once per config and is read-only afterwards except for
//! atomics and the members of subclusters with backends by name: a choice takes no
//! lock and allocates nothing. A weight of 0 (subcluster or
//! backend) means "takes no traffic".
//!
//! Active health checks (the tasks that call [`Backend::check_result`]) live in
//! [`crate::health`].

pub mod backend;
pub mod cluster;
pub mod health_state;
mod key;
pub mod members;
mod ring;
pub mod subcluster;
mod wrr;

pub use backend::{ActiveRequest, Backend};
pub use cluster::{clusters, Cluster};
pub use health_state::{HealthKey, HealthState, HealthStates};
pub use members::Members;
pub use subcluster::Subcluster;

#[cfg(test)]
mod tests;
