//! [`Metrics`]: counters the request path bumps (one relaxed atomic add each), and
//! their Prometheus text rendering for the admin listener's `/metrics`.
//!
//! Internal: the hot path touches plain atomics only; the Prometheus registry (from
//! the `prometheus-client` crate) is built at scrape time from those counters and from
//! state the configuration's parts already hold (plugin error counts, backend health).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::balance::Cluster;
use crate::error::ProxyError;
use crate::plugin::{Instance, Plugins};

const ERRORS: [ProxyError; ProxyError::ALL.len()] = ProxyError::ALL;

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    /// Responses by status class: index 0 = 1xx … 4 = 5xx.
    responses: [AtomicU64; 5],
    /// Requests closed without a response by a plugin.
    closed: AtomicU64,
    /// Proxy errors by [`ERRORS`] index.
    errors: [AtomicU64; ERRORS.len()],
    /// Plugin instances a reload replaced, so that their error counts stay in the
    /// totals (a counter never goes back).
    retired: Mutex<Retired>,
}

/// Instances replaced by reloads: those still held elsewhere (by requests in flight
/// on the old configuration) are kept and may still count; the others are folded
/// into `counts` and let go.
#[derive(Default)]
struct Retired {
    counts: BTreeMap<String, u64>,
    instances: Vec<Arc<Instance>>,
}

impl Retired {
    fn fold(&mut self) {
        let counts = &mut self.counts;
        self.instances.retain(|instance| {
            if Arc::strong_count(instance) > 1 {
                return true;
            }
            *counts.entry(instance.name.clone()).or_default() += instance.error_count();
            false
        });
    }
}

impl Metrics {
    /// Counts a response sent with `status`, and the proxy error behind it if any.
    #[inline]
    pub fn response(&self, status: u16, error: Option<ProxyError>) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        if let Some(error) = error {
            self.error(error);
        }
    }

    /// Counts a proxy error (alone: for a request that got no response).
    #[inline]
    pub fn error(&self, error: ProxyError) {
        self.errors[error.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps the error counts of `instances`, which a reload replaced, in the totals.
    pub fn retire(&self, instances: &[Arc<Instance>]) {
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.instances.extend(instances.iter().cloned());
        retired.fold();
    }

    /// Handler failures by instance name: the current instances' and every replaced
    /// one's.
    fn plugin_errors(&self, plugins: &Plugins) -> BTreeMap<String, u64> {
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.fold();
        let mut totals = retired.counts.clone();
        for instance in retired.instances.iter().chain(&plugins.instances) {
            *totals.entry(instance.name.clone()).or_default() += instance.error_count();
        }
        totals
    }

    /// Counts a request a plugin closed without a response.
    #[inline]
    pub fn closed(&self) {
        self.closed.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of these counters and of the state of `plugins`
    /// (failures per instance) and `clusters` (backend health).
    pub fn render<'c>(
        &self,
        plugins: &Plugins,
        clusters: impl Iterator<Item = &'c Arc<Cluster>>,
        connections_total: u64,
        connections_open: u64,
    ) -> String {
        #[derive(
            Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
        )]
        struct Class {
            class: String,
        }
        #[derive(
            Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
        )]
        struct Code {
            code: String,
        }
        #[derive(
            Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
        )]
        struct Plugin {
            plugin: String,
        }
        #[derive(
            Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
        )]
        struct BackendLabels {
            cluster: String,
            subcluster: String,
            backend: String,
        }

        let mut registry = Registry::with_prefix("hookgate");
        let responses = Family::<Class, Counter>::default();
        for (i, count) in self.responses.iter().enumerate() {
            let class = format!("{}xx", i + 1);
            responses
                .get_or_create(&Class { class })
                .inc_by(count.load(Ordering::Relaxed));
        }
        registry.register("responses", "Responses sent, by status class", responses);

        let closed = Counter::<u64>::default();
        closed.inc_by(self.closed.load(Ordering::Relaxed));
        registry.register(
            "closed_requests",
            "Requests closed by a plugin without a response",
            closed,
        );

        let errors = Family::<Code, Counter>::default();
        for (error, count) in ERRORS.iter().zip(&self.errors) {
            let code = error.code().to_owned();
            errors
                .get_or_create(&Code { code })
                .inc_by(count.load(Ordering::Relaxed));
        }
        registry.register(
            "proxy_errors",
            "Requests the proxy answered itself, by error code",
            errors,
        );

        let total = Counter::<u64>::default();
        total.inc_by(connections_total);
        registry.register("connections", "Client connections accepted", total);
        let open = Gauge::<i64>::default();
        open.set(i64::try_from(connections_open).unwrap_or(i64::MAX));
        registry.register("open_connections", "Client connections open now", open);

        let plugin_errors = Family::<Plugin, Counter>::default();
        for (plugin, count) in self.plugin_errors(plugins) {
            plugin_errors
                .get_or_create(&Plugin { plugin })
                .inc_by(count);
        }
        registry.register(
            "plugin_errors",
            "Handler failures (panics, broken verdicts), by plugin instance",
            plugin_errors,
        );

        let up = Family::<BackendLabels, Gauge>::default();
        for cluster in clusters {
            for subcluster in &cluster.subclusters {
                for backend in &subcluster.backends {
                    let labels = BackendLabels {
                        cluster: cluster.name.to_string(),
                        subcluster: subcluster.name.to_string(),
                        backend: backend.name.to_string(),
                    };
                    up.get_or_create(&labels)
                        .set(i64::from(backend.is_healthy()));
                }
            }
        }
        registry.register(
            "backend_up",
            "Whether a backend is considered healthy (1) or down (0)",
            up,
        );

        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        // The plugins' own metrics go before the end marker.
        let end = text.strip_suffix("# EOF\n").map(str::len);
        if let Some(end) = end {
            text.truncate(end);
        }
        crate::plugin::metric_store::store().render(&mut text);
        if end.is_some() {
            text.push_str("# EOF\n");
        }
        text
    }
}
