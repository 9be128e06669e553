//! Routing (DESIGN §3): the host table picks a product, the product's ordered rules
//! pick a cluster.
//!
//! - `table`: [`RouteTable`], host → product (exact hosts, `*.suffix` wildcards, the
//!   default).
//! - `rules`: [`ProductRoutes`], a product's route rules → cluster (first match wins),
//!   each rule's condition compiled by the plugin kit (BFE's condition language).
//! - `facts`: [`RouteFacts`], the request facts those conditions read.
//!
//! Both are built once from a validated [`Config`](crate::config::Config) and are
//! read-only afterwards: a lookup takes no lock and allocates nothing.

mod facts;
mod rules;
mod table;

pub use facts::RouteFacts;
pub use rules::ProductRoutes;
pub use table::RouteTable;

#[cfg(test)]
mod tests;
