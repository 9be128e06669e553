//! Plugin instances: one library, one config, one init, one set of handlers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use hookgate_plugin_api::Point;

use super::accounting::{Accounts, InstanceTotals};
use super::breaker::Breaker;
use super::manifest::Manifest;
use hookgate_plugin_kit::Clock;

use super::canary::CanarySide;
use super::generation::Generation;
use super::timer::TickCounts;
use crate::config::{ErrorPolicy, PluginConfig};

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
    /// The generation of its entry's code it runs ([`super::generation`]).
    pub generation: u32,
    /// Its side of its entry's canary, while one runs.
    pub canary: Option<super::canary::CanarySide>,
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
    /// A new instance of the `[[plugins]]` entry `config`, named `name`, running
    /// `generation` of its code (on `canary`'s side, if one runs).
    pub fn of_entry(
        config: &PluginConfig,
        name: &str,
        generation: &Generation,
        canary: Option<CanarySide>,
    ) -> Instance {
        let breaker = config.breaker.map(|breaker| {
            let fail_open = config.on_error == ErrorPolicy::FailOpen;
            Breaker::new(breaker, name, fail_open, &Clock::Real)
        });
        Instance {
            id: Instance::next_id(),
            name: name.to_owned(),
            path: config.path.clone(),
            sha256: Arc::clone(&generation.library.sha256),
            pinned: config.sha256.is_some(),
            manifest: generation.library.manifest(),
            policy: config.on_error,
            body_limit: config
                .body_limit
                .unwrap_or(hookgate_plugin_api::DEFAULT_BODY_LIMIT),
            products: config.products.clone().map(Vec::into_boxed_slice),
            accounts: Accounts::default(),
            breaker,
            callouts: super::wait::CalloutLimits::new(&config.callouts),
            ticks: TickCounts::default(),
            generation: generation.number,
            canary,
        }
    }

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

    /// Whether it is the new generation of a canary (the old one stands for the entry
    /// in chain listings).
    pub fn is_on_trial(&self) -> bool {
        self.trial().is_some()
    }

    /// Its canary, if it is the new generation on trial there (whose calls the canary
    /// judges).
    #[inline]
    pub fn trial(&self) -> Option<&super::canary::Canary> {
        self.canary
            .as_ref()
            .filter(|side| side.new)
            .map(|side| &*side.canary)
    }

    /// Its figures so far.
    pub fn totals(&self) -> InstanceTotals {
        InstanceTotals {
            handlers: self.accounts.totals(),
            breaker_opened: self.breaker.as_ref().map_or(0, Breaker::opened_count),
        }
    }
}
