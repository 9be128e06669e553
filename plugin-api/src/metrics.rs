//! Metrics through the host: [`Counter`], [`Gauge`] and [`Histogram`], defined at init
//! with [`Registry::counter`](crate::Registry::counter) and its siblings, updated by
//! handlers with label values per call, exported by the proxy on the admin listener's
//! `/metrics` as `hookgate_plugin_<name>` with a `plugin` label (the instance's name).
//!
//! A metric keeps at most 100 series: label values may come from clients, so past
//! that the values fold into one series whose labels read `_other`. A reload that
//! initialises an instance of the same name with the same definition keeps the
//! values; a metric the reloaded plugins no longer define leaves `/metrics`, and a
//! reload may change a metric's labels (only instances loaded together must agree on
//! a name's kind and labels).
//!
//! ```
//! use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
//! use hookgate_plugin_api::{Outcome, Registry, Reply};
//!
//! fn init(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
//!     let refused = reg.counter("api_key_refused", "Requests refused, by reason", &["reason"])?;
//!     reg.on_found_product(move |req| match req.header("x-api-key") {
//!         Some("good") => Outcome::GoOn,
//!         Some(_) => {
//!             refused.inc(&["wrong"]);
//!             Outcome::Respond(Reply::new(403))
//!         }
//!         None => {
//!             refused.inc(&["missing"]);
//!             Outcome::Respond(Reply::new(401))
//!         }
//!     });
//!     Ok(())
//! }
//!
//! let plugin = TestPlugin::init(init, "").unwrap();
//! plugin.found_product(&mut FakeRequest::get("/")).unwrap();
//! assert_eq!(plugin.metric_value("api_key_refused", &["missing"]), Some(1.0));
//! ```

use std::sync::Arc;

use crate::abi::{HostMetricBox, RSlice, RStr, MAX_LABELS};

/// A handle on one metric; cheap to clone, usable from any thread.
#[derive(Clone)]
struct Handle {
    host: Arc<HostMetricBox>,
    labels: usize,
}

impl Handle {
    pub(crate) fn new(host: HostMetricBox, labels: usize) -> Handle {
        Handle {
            host: Arc::new(host),
            labels,
        }
    }

    /// Calls `update` with `values` as the host takes them.
    ///
    /// # Panics
    ///
    /// When there are not as many values as the metric has labels (a plugin error).
    fn with(&self, values: &[&str], update: impl FnOnce(&HostMetricBox, RSlice<'_, RStr<'_>>)) {
        assert_eq!(
            values.len(),
            self.labels,
            "a metric with {} labels updated with {} values",
            self.labels,
            values.len()
        );
        let mut labels = [RStr::from_str(""); MAX_LABELS];
        for (slot, value) in labels.iter_mut().zip(values) {
            *slot = RStr::from_str(value);
        }
        update(&self.host, RSlice::from_slice(&labels[..values.len()]));
    }
}

/// A counter: a value that only goes up.
#[derive(Clone)]
pub struct Counter(Handle);

/// A gauge: a value that is set, or moved up and down.
#[derive(Clone)]
pub struct Gauge(Handle);

/// A histogram: observations counted into the buckets given at definition.
#[derive(Clone)]
pub struct Histogram(Handle);

impl Counter {
    pub(crate) fn new(host: HostMetricBox, labels: usize) -> Counter {
        Counter(Handle::new(host, labels))
    }

    /// Adds one to the series of these label values (as many as the metric has
    /// labels; a different number is a plugin error).
    pub fn inc(&self, labels: &[&str]) {
        self.add(labels, 1.0);
    }

    /// Adds `n` (≥ 0; anything else is ignored).
    pub fn add(&self, labels: &[&str], n: f64) {
        self.0.with(labels, |host, labels| host.add(labels, n));
    }
}

impl Gauge {
    pub(crate) fn new(host: HostMetricBox, labels: usize) -> Gauge {
        Gauge(Handle::new(host, labels))
    }

    /// Sets the series of these label values to `value`.
    pub fn set(&self, labels: &[&str], value: f64) {
        self.0.with(labels, |host, labels| host.set(labels, value));
    }

    /// Adds `delta` (may be negative).
    pub fn add(&self, labels: &[&str], delta: f64) {
        self.0.with(labels, |host, labels| host.add(labels, delta));
    }
}

impl Histogram {
    pub(crate) fn new(host: HostMetricBox, labels: usize) -> Histogram {
        Histogram(Handle::new(host, labels))
    }

    /// Counts `value` into its bucket in the series of these label values.
    pub fn observe(&self, labels: &[&str], value: f64) {
        self.0
            .with(labels, |host, labels| host.observe(labels, value));
    }
}
