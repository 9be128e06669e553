//! Backends given by name (`addr = "name:port"`): resolved at start, before the proxy
//! serves, and again every `resolve_interval_ms` of the clusters that use the name.
//!
//! - [`names`]: [`Names`], the addresses of every name, kept outside the snapshots
//!   (like backend health) so that a reload reuses them.
//! - [`task`]: the lookups: [`resolve_new`] for the names of a config not resolved yet
//!   (at start and on reload), and one periodic task per name ([`Resolvers`]).
//!
//! Every address a name resolves to is a backend of its subcluster, with the entry's
//! weight (as nginx's `server name` does). Lookups run `getaddrinfo` on tokio's
//! blocking pool, so a slow resolver never holds a worker; a lookup that fails or
//! finds nothing keeps the addresses the name had (logged once per change, naming the
//! backend). A name that never resolved has no backend: its subcluster is skipped, or
//! the request gets 503 `no_backend`. When a name's addresses change, the current
//! snapshot's subclusters that use it swap their members
//! ([`Subcluster::refresh`](crate::balance::Subcluster::refresh)): a backend whose
//! address stays keeps its connections, health and counts.

pub mod names;
pub mod task;

pub use names::Names;
pub use task::{lookup, resolve_new, Resolvers};
