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
use crate::plugin::accounting::{outcome_name, FailureKind, InstanceTotals};
use crate::plugin::breaker::State;
use crate::plugin::{Instance, Plugins};
use hookgate_plugin_api::{Action, Point};

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
    counts: BTreeMap<String, InstanceTotals>,
    instances: Vec<Arc<Instance>>,
}

impl Retired {
    fn fold(&mut self) {
        let counts = &mut self.counts;
        self.instances.retain(|instance| {
            if Arc::strong_count(instance) > 1 {
                return true;
            }
            *counts.entry(instance.name.clone()).or_default() += instance.totals();
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

    /// The figures of every instance by name: the current instances' and every
    /// replaced one's, added up.
    pub fn plugin_totals(&self, plugins: &Plugins) -> BTreeMap<String, InstanceTotals> {
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.fold();
        let mut totals = retired.counts.clone();
        for instance in retired.instances.iter().chain(&plugins.instances) {
            *totals.entry(instance.name.clone()).or_default() += instance.totals();
        }
        totals
    }

    /// The instance with this id: one of `plugins`, or one a reload replaced that
    /// requests in flight still hold.
    pub fn instance(&self, id: u32, plugins: &Plugins) -> Option<Arc<Instance>> {
        if let Some(found) = plugins.instances.iter().find(|i| i.id == id) {
            return Some(Arc::clone(found));
        }
        let retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.instances.iter().find(|i| i.id == id).cloned()
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
        services: Services<'_>,
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

        let totals = self.plugin_totals(plugins);
        let plugin_errors = Family::<Plugin, Counter>::default();
        for (plugin, figures) in &totals {
            plugin_errors
                .get_or_create(&Plugin {
                    plugin: plugin.clone(),
                })
                .inc_by(figures.errors());
        }
        registry.register(
            "plugin_errors",
            "Handler failures (panics, broken verdicts), by plugin instance",
            plugin_errors,
        );
        plugin_accounting(&mut registry, plugins, &totals);
        generations(&mut registry, plugins);

        let up = Family::<BackendLabels, Gauge>::default();
        for cluster in clusters {
            for subcluster in &cluster.subclusters {
                for backend in &subcluster.members().backends {
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

        redis_stores(&mut registry, services.redis);
        if let Some(counts) = services.tracing.and_then(crate::trace::Tracer::counts) {
            spans(&mut registry, counts);
        }

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

/// The accounting of every instance at each point where it has a handler (current
/// instances: zeros included, so that dashboards see every series from the start;
/// instances only a reload replaced: where they counted anything), and the state of
/// each current instance's circuit breaker.
fn plugin_accounting(
    registry: &mut Registry,
    plugins: &Plugins,
    totals: &BTreeMap<String, InstanceTotals>,
) {
    #[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
    struct At {
        plugin: String,
        point: &'static str,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
    struct Outcome {
        plugin: String,
        point: &'static str,
        outcome: &'static str,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
    struct Failure {
        plugin: String,
        point: &'static str,
        kind: &'static str,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
    struct BreakerState {
        plugin: String,
        state: &'static str,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
    struct Plugin {
        plugin: String,
    }

    let calls = Family::<At, Counter>::default();
    let outcomes = Family::<Outcome, Counter>::default();
    let failures = Family::<Failure, Counter>::default();
    let bypassed = Family::<At, Counter>::default();
    let timed = Family::<At, Counter>::default();
    let timed_seconds = Family::<At, Counter<f64, AtomicU64>>::default();
    let slow = Family::<At, Counter>::default();
    for point in Point::ALL {
        let current = plugins.chains.names(point);
        for (plugin, figures) in totals {
            let at = figures.handlers.at(point);
            if !current.contains(&plugin.as_str()) && at.calls() + at.bypassed == 0 {
                continue;
            }
            let labels = At {
                plugin: plugin.clone(),
                point: point.name(),
            };
            calls.get_or_create(&labels).inc_by(at.calls());
            for action in Action::ALL {
                outcomes
                    .get_or_create(&Outcome {
                        plugin: plugin.clone(),
                        point: point.name(),
                        outcome: outcome_name(action),
                    })
                    .inc_by(at.outcome(action));
            }
            for kind in FailureKind::ALL {
                failures
                    .get_or_create(&Failure {
                        plugin: plugin.clone(),
                        point: point.name(),
                        kind: kind.name(),
                    })
                    .inc_by(at.failure(kind));
            }
            bypassed.get_or_create(&labels).inc_by(at.bypassed);
            timed.get_or_create(&labels).inc_by(at.timed);
            timed_seconds
                .get_or_create(&labels)
                .inc_by(at.timed_nanos as f64 / 1e9);
            slow.get_or_create(&labels).inc_by(at.slow);
        }
    }
    registry.register(
        "plugin_handler_calls",
        "Handler calls made, by plugin instance and callback point",
        calls,
    );
    registry.register(
        "plugin_handler_outcomes",
        "Handler calls that returned, by what they returned",
        outcomes,
    );
    registry.register(
        "plugin_handler_failures",
        "Handler calls that failed, by kind: panic, verdict (a value the contract does not allow)",
        failures,
    );
    registry.register(
        "plugin_handler_bypassed",
        "Handler calls not made because the instance's circuit breaker was open",
        bypassed,
    );
    registry.register(
        "plugin_handler_timed",
        "Handler calls whose time was taken (one in 64, chosen at random)",
        timed,
    );
    registry.register(
        "plugin_handler_timed_seconds",
        "Time of the handler calls counted in hookgate_plugin_handler_timed_total",
        timed_seconds,
    );
    registry.register(
        "plugin_handler_slow",
        "Handler calls that ran longer than server.slow_handler_ms",
        slow,
    );

    let state = Family::<BreakerState, Gauge>::default();
    let opened = Family::<Plugin, Counter>::default();
    // During a canary both generations have a breaker: the entry's figures are shown
    // once, with the old generation's state.
    for instance in plugins.instances.iter().filter(|i| !i.is_on_trial()) {
        let Some(breaker) = &instance.breaker else {
            continue;
        };
        let now = breaker.state();
        for s in State::ALL {
            state
                .get_or_create(&BreakerState {
                    plugin: instance.name.clone(),
                    state: s.name(),
                })
                .set(i64::from(s == now));
        }
        let figures = totals.get(&instance.name).copied().unwrap_or_default();
        opened
            .get_or_create(&Plugin {
                plugin: instance.name.clone(),
            })
            .inc_by(figures.breaker_opened);
    }
    registry.register(
        "plugin_breaker_state",
        "Each plugin instance's circuit breaker: 1 for its state now",
        state,
    );
    registry.register(
        "plugin_breaker_opened",
        "Times a plugin instance's circuit breaker opened",
        opened,
    );

    #[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
    struct PluginOutcome {
        plugin: String,
        outcome: &'static str,
    }
    let callouts = Family::<PluginOutcome, Counter>::default();
    let seconds = Family::<Plugin, Counter<f64, AtomicU64>>::default();
    let ticks = Family::<PluginOutcome, Counter>::default();
    for instance in &plugins.instances {
        let counts = &instance.callouts.counts;
        let by_outcome = |family: &Family<PluginOutcome, Counter>, counters: &[(_, &AtomicU64)]| {
            for &(outcome, counter) in counters {
                let labels = PluginOutcome {
                    plugin: instance.name.clone(),
                    outcome,
                };
                (family.get_or_create(&labels))
                    .inc_by(counter.load(std::sync::atomic::Ordering::Relaxed));
            }
        };
        by_outcome(
            &callouts,
            &[
                ("answered", &counts.answered),
                ("timeout", &counts.timed_out),
                ("failed", &counts.failed),
                ("refused", &counts.refused),
            ],
        );
        let ticks_by = [
            ("ok", &instance.ticks.ok),
            ("failed", &instance.ticks.failed),
        ];
        by_outcome(&ticks, &ticks_by);
        let micros = counts.micros.load(std::sync::atomic::Ordering::Relaxed);
        let plugin = Plugin {
            plugin: instance.name.clone(),
        };
        seconds.get_or_create(&plugin).inc_by(micros as f64 / 1e6);
    }
    registry.register(
        "plugin_callouts",
        "Callouts of each plugin instance's handlers, by outcome (answered, timeout, failed, refused)",
        callouts,
    );
    registry.register(
        "plugin_callout_seconds",
        "Time the callouts of each plugin instance took, summed",
        seconds,
    );
    registry.register(
        "plugin_timer_ticks",
        "Ticks of each plugin instance's timers, by outcome (ok, failed)",
        ticks,
    );
}

/// The host services whose figures `/metrics` shows beside the counters.
#[derive(Clone, Copy)]
pub struct Services<'s> {
    /// The Redis stores.
    pub redis: &'s crate::redis_store::RedisStores,
    /// The tracer, if tracing is on.
    pub tracing: Option<&'s crate::trace::Tracer>,
}

/// What became of the spans.
fn spans(registry: &mut Registry, counts: &crate::trace::ExportCounts) {
    #[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
    struct Outcome {
        outcome: &'static str,
    }
    let spans = Family::<Outcome, Counter>::default();
    for (outcome, counter) in [
        ("exported", &counts.exported),
        ("dropped", &counts.dropped),
        ("failed", &counts.failed),
    ] {
        (spans.get_or_create(&Outcome { outcome })).inc_by(counter.load(Ordering::Relaxed));
    }
    registry.register(
        "trace_spans",
        "Spans by what became of them: exported, dropped (queue full), failed (not delivered)",
        spans,
    );
}

/// What each Redis store's commands did (counts reset when a reload builds the
/// stores anew).
fn redis_stores(registry: &mut Registry, redis: &crate::redis_store::RedisStores) {
    #[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
    struct StoreOutcome {
        store: String,
        outcome: &'static str,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
    struct Store {
        store: String,
    }
    let commands = Family::<StoreOutcome, Counter>::default();
    let seconds = Family::<Store, Counter<f64, AtomicU64>>::default();
    for (name, store) in redis.iter() {
        let counts = &store.counts;
        for (outcome, counter) in [
            ("answered", &counts.answered),
            ("timeout", &counts.timed_out),
            ("failed", &counts.failed),
        ] {
            let labels = StoreOutcome {
                store: name.to_owned(),
                outcome,
            };
            (commands.get_or_create(&labels)).inc_by(counter.load(Ordering::Relaxed));
        }
        let micros = counts.micros.load(Ordering::Relaxed);
        let labels = Store {
            store: name.to_owned(),
        };
        seconds.get_or_create(&labels).inc_by(micros as f64 / 1e6);
    }
    registry.register(
        "redis_commands",
        "Commands plugins sent to each Redis store, by outcome (answered: an error reply included)",
        commands,
    );
    registry.register(
        "redis_command_seconds",
        "Time the commands to each Redis store took, summed",
        seconds,
    );
}

/// Each entry's generation serving, its canary's share, and its canaries' promotions
/// and rollbacks.
fn generations(registry: &mut Registry, plugins: &Plugins) {
    #[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
    struct Entry {
        plugin: String,
    }
    let serving = Family::<Entry, Gauge>::default();
    let share = Family::<Entry, Gauge<f64, AtomicU64>>::default();
    let promoted = Family::<Entry, Counter>::default();
    let rolled_back = Family::<Entry, Counter>::default();
    for (name, history) in plugins.generations.histories() {
        let entry = Entry { plugin: name };
        serving
            .get_or_create(&entry)
            .set(i64::from(history.serving_now()));
        if let Some(canary) = &history.canary {
            share.get_or_create(&entry).set(canary.share());
        }
        let counts = &history.counts;
        promoted
            .get_or_create(&entry)
            .inc_by(counts.promoted.load(Ordering::Relaxed));
        rolled_back
            .get_or_create(&entry)
            .inc_by(counts.rolled_back.load(Ordering::Relaxed));
    }
    registry.register(
        "plugin_generation",
        "The generation of each plugin entry's code that serves (all traffic, or the rest of a canary's)",
        serving,
    );
    registry.register(
        "plugin_canary_share_percent",
        "The share of new requests and connections on a canary's new generation",
        share,
    );
    registry.register(
        "plugin_canary_promotions",
        "Canaries promoted (by the admin call or after their period)",
        promoted,
    );
    registry.register(
        "plugin_canary_rollbacks",
        "Canaries rolled back (by the admin call or on their error ratio)",
        rolled_back,
    );
}
