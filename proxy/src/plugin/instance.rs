//! Plugin instances: one library, one config, one init, one set of handlers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use hookgate_plugin_api::Point;

use super::accounting::{Accounts, InstanceTotals};
use super::breaker::Breaker;
use super::manifest::Manifest;
use crate::config::ErrorPolicy;

/// One initialised plugin instance.
#[derive(Debug)]
pub struct Instance {
    /// Unique in the process and never reused, not even after a reload: the key of
    /// the instance's typed state in requests and connections.
    pub id: u32,
    /// Name in logs, metrics and chains: the config's `name`, else the plugin's name
    /// (with `#2`, `#3`… when a plugin is listed more than once).
    pub name: String,
    /// The library file.
    pub path: PathBuf,
    /// The SHA-256 of the library's content as loaded.
    pub sha256: Arc<str>,
    /// Whether its entry pins that content (`sha256`).
    pub pinned: bool,
    /// The library's manifest.
    pub manifest: Manifest,
    /// What a handler failure does.
    pub policy: ErrorPolicy,
    /// The most body bytes read for its body handlers (`body_limit`).
    pub body_limit: u64,
    /// Products the request-level handlers are limited to (`None`: all).
    pub products: Option<Box<[String]>>,
    /// What its handlers did, per point (failures included).
    pub accounts: Accounts,
    /// Its circuit breaker, if the config sets one.
    pub breaker: Option<Breaker>,
    /// What its handlers may ask of the network (`callouts`).
    pub callouts: super::wait::CalloutLimits,
    /// What its timers did.
    pub ticks: super::timer::TickCounts,
}

/// The next instance id.
static NEXT_ID: AtomicU32 = AtomicU32::new(1);

impl hookgate_plugin_api::settle::FailurePolicy for Instance {
    fn fail_open(&self) -> bool {
        self.policy == ErrorPolicy::FailOpen
    }

    fn failed(&self, point: Point, message: &str) {
        Instance::failed(self, point, message);
    }
}

impl Instance {
    /// A fresh instance id.
    pub fn next_id() -> u32 {
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether this instance's request-level handlers run for `product`.
    #[inline]
    pub fn serves(&self, product: &str) -> bool {
        match &self.products {
            None => true,
            Some(products) => products.iter().any(|p| p == product),
        }
    }

    /// Logs a handler failure with the plugin and the point (the chain counted it in
    /// [`Instance::accounts`], by kind).
    pub fn failed(&self, point: Point, message: &str) {
        tracing::error!(
            plugin = %self.name,
            point = point.name(),
            policy = self.policy.name(),
            error = message,
            "plugin handler failed"
        );
    }

    /// Its figures so far.
    pub fn totals(&self) -> InstanceTotals {
        InstanceTotals {
            handlers: self.accounts.totals(),
            breaker_opened: self.breaker.as_ref().map_or(0, Breaker::opened_count),
        }
    }
}
