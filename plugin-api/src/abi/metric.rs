//! Metrics through the host: a plugin defines counters, gauges and histograms at init
//! ([`MetricDef`]); the host hands back a [`HostMetric`] per metric, which handlers
//! update with label values per call; the host exports them on `/metrics`.
//!
//! [`MetricFamily`] is the host's side, shared by the proxy and the SDK's fake host:
//! the values by label values, capped at [`MAX_SERIES`] series (label values may come
//! from clients: past the cap they fold into one series labelled `_other`), and their
//! Prometheus text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, RSlice, RStr};
use abi_stable::StableAbi;

/// A counter: only goes up.
pub const COUNTER: u8 = 1;
/// A gauge: set, or moved up and down.
pub const GAUGE: u8 = 2;
/// A histogram: observations counted into buckets.
pub const HISTOGRAM: u8 = 3;

/// Series per metric at most; more label values fold into one `_other` series.
pub const MAX_SERIES: usize = 100;
/// Label names per metric at most.
pub const MAX_LABELS: usize = 8;

/// A metric as a plugin defines it at init.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct MetricDef<'a> {
    /// [`COUNTER`], [`GAUGE`] or [`HISTOGRAM`].
    pub kind: u8,
    /// `[a-z_][a-z0-9_]*`, exported as `hookgate_plugin_<name>` (a counter's samples
    /// get `_total`, so the name should not end with it).
    pub name: RStr<'a>,
    /// One line for `# HELP`.
    pub help: RStr<'a>,
    /// Label names (`plugin` is the host's), at most [`MAX_LABELS`].
    pub labels: RSlice<'a, RStr<'a>>,
    /// A histogram's bucket upper bounds, increasing.
    pub buckets: RSlice<'a, f64>,
}

/// One metric as the host keeps it; label values per call, in the order of the
/// definition's names (a call with another number of values is ignored).
#[sabi_trait]
pub trait HostMetric: Send + Sync {
    /// Counter: adds `value` (≥ 0); gauge: adds `value` (may be negative).
    fn add(&self, labels: RSlice<'_, RStr<'_>>, value: f64);
    /// Gauge: sets `value`.
    fn set(&self, labels: RSlice<'_, RStr<'_>>, value: f64);
    /// Histogram: counts `value` into its bucket.
    #[sabi(last_prefix_field)]
    fn observe(&self, labels: RSlice<'_, RStr<'_>>, value: f64);
}

/// An owned metric handle, as the registry hands it out.
pub type HostMetricBox = HostMetric_TO<'static, RBox<()>>;

/// Metric names a plugin may not take: `/metrics` already has
/// `hookgate_plugin_errors` and `hookgate_plugin_metric_overflow`.
const RESERVED: [&str; 2] = ["errors", "metric_overflow"];

/// Prefixes of names a plugin may not take: the proxy's accounting of every instance
/// (`hookgate_plugin_handler_calls_total`, `hookgate_plugin_breaker_state`…).
const RESERVED_PREFIXES: [&str; 2] = ["handler_", "breaker_"];

/// Checks a definition; the error names what is wrong.
pub fn check_def(def: &MetricDef<'_>) -> Result<(), String> {
    let name_ok = |name: &str| {
        name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    let name = def.name.as_str();
    if !name_ok(name) {
        return Err(format!("metric {name:?}: a name is [a-z_][a-z0-9_]*"));
    }
    if name.ends_with("_total") {
        return Err(format!(
            "metric {name:?}: leave `_total` out, counters get it"
        ));
    }
    // The proxy's own `hookgate_plugin_errors`, `hookgate_plugin_metric_overflow` and
    // accounting (`hookgate_plugin_handler_*`, `hookgate_plugin_breaker_*`).
    if RESERVED.contains(&name) || RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Err(format!("metric {name:?}: the name is the proxy's own"));
    }
    if !matches!(def.kind, COUNTER | GAUGE | HISTOGRAM) {
        return Err(format!("metric {name:?}: unknown kind {}", def.kind));
    }
    if def.labels.len() > MAX_LABELS {
        return Err(format!("metric {name:?}: more than {MAX_LABELS} labels"));
    }
    for label in def.labels.iter() {
        if !name_ok(label.as_str()) || label.as_str() == "plugin" || label.as_str() == "le" {
            return Err(format!(
                "metric {name:?}: label {label:?} is not [a-z_][a-z0-9_]* or is reserved (plugin, le)"
            ));
        }
    }
    let buckets = def.buckets.as_slice();
    if def.kind == HISTOGRAM
        && (buckets.is_empty()
            || buckets.windows(2).any(|w| w[0] >= w[1])
            || buckets.iter().any(|b| b.is_nan()))
    {
        return Err(format!(
            "metric {name:?}: a histogram needs increasing buckets"
        ));
    }
    Ok(())
}

/// One series' values.
#[derive(Clone, Debug, Default)]
struct Series {
    /// Counter or gauge value; a histogram's sum.
    value: f64,
    /// A histogram's counts per bucket (not cumulative), then above the last.
    buckets: Vec<u64>,
}

/// A metric's values, as a host keeps them: by label values, at most
/// [`MAX_SERIES`] series.
#[derive(Debug)]
pub struct MetricFamily {
    kind: u8,
    help: String,
    labels: Vec<String>,
    buckets: Vec<f64>,
    series: Mutex<BTreeMap<Vec<String>, Series>>,
    /// Calls folded into the `_other` series.
    overflowed: AtomicU64,
}

impl MetricFamily {
    /// An empty family for `def` (checked by [`check_def`]).
    pub fn new(def: &MetricDef<'_>) -> MetricFamily {
        MetricFamily {
            kind: def.kind,
            help: def.help.as_str().to_owned(),
            labels: def.labels.iter().map(|l| l.as_str().to_owned()).collect(),
            buckets: def.buckets.as_slice().to_vec(),
            series: Mutex::new(BTreeMap::new()),
            overflowed: AtomicU64::new(0),
        }
    }

    /// Whether `def` defines this same metric (kind, labels, buckets): a reload
    /// keeps its values then.
    pub fn same_as(&self, def: &MetricDef<'_>) -> bool {
        self.kind == def.kind
            && self
                .labels
                .iter()
                .map(String::as_str)
                .eq(def.labels.iter().map(|l| l.as_str()))
            && self.buckets == def.buckets.as_slice()
    }

    /// Calls folded into `_other` because of the series cap.
    pub fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    fn update(
        &self,
        labels: RSlice<'_, RStr<'_>>,
        kind: u8,
        apply: impl FnOnce(&mut Series, &[f64]),
    ) {
        if labels.len() != self.labels.len() || kind != self.kind {
            return;
        }
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        // An existing series (the common case) is found without building a key: no
        // allocation per update. A family holds at most `MAX_SERIES` + 1 series.
        let same = |key: &Vec<String>| {
            key.iter()
                .map(String::as_str)
                .eq(labels.iter().map(|l| l.as_str()))
        };
        if let Some((_, found)) = series.iter_mut().find(|(key, _)| same(key)) {
            apply(found, &self.buckets);
            return;
        }
        let key: Vec<String> = labels.iter().map(|l| l.as_str().to_owned()).collect();
        let key = if series.len() < MAX_SERIES {
            key
        } else {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            vec!["_other".to_owned(); self.labels.len()]
        };
        let entry = series.entry(key).or_insert_with(|| Series {
            value: 0.0,
            buckets: vec![0; self.buckets.len() + 1],
        });
        apply(entry, &self.buckets);
    }

    /// The value of a counter or gauge series (a histogram's observation count).
    pub fn value(&self, labels: &[&str]) -> Option<f64> {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let key: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
        let found = series.get(&key)?;
        Some(match self.kind {
            HISTOGRAM => found.buckets.iter().sum::<u64>() as f64,
            _ => found.value,
        })
    }

    /// Appends the family's `# HELP` and `# TYPE` lines (OpenMetrics text), for
    /// family `name` (a counter's samples get `_total`).
    pub fn header(&self, out: &mut String, name: &str) {
        let kind = match self.kind {
            COUNTER => "counter",
            GAUGE => "gauge",
            _ => "histogram",
        };
        let help = self.help.replace(['\n', '\\'], " ");
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    }

    /// Appends the family's samples, each labelled `plugin="<instance>"` too.
    pub fn samples(&self, out: &mut String, name: &str, instance: &str) {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        for (values, series) in series.iter() {
            let mut labels = format!("plugin=\"{}\"", escape(instance));
            for (label, value) in self.labels.iter().zip(values) {
                let _ = write!(labels, ",{label}=\"{}\"", escape(value));
            }
            match self.kind {
                COUNTER => {
                    let _ = writeln!(out, "{name}_total{{{labels}}} {}", series.value);
                }
                GAUGE => {
                    let _ = writeln!(out, "{name}{{{labels}}} {}", series.value);
                }
                _ => {
                    let mut cumulative = 0;
                    for (bound, count) in self.buckets.iter().zip(&series.buckets) {
                        cumulative += count;
                        let _ =
                            writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
                    }
                    cumulative += series.buckets.last().copied().unwrap_or(0);
                    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
                    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", series.value);
                    let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
                }
            }
        }
    }
}

/// A label value as the text format writes it.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl HostMetric for std::sync::Arc<MetricFamily> {
    fn add(&self, labels: RSlice<'_, RStr<'_>>, value: f64) {
        let counter_ok = self.kind != COUNTER || value >= 0.0;
        if counter_ok && value.is_finite() {
            let kind = if self.kind == GAUGE { GAUGE } else { COUNTER };
            self.update(labels, kind, |series, _| series.value += value);
        }
    }
    fn set(&self, labels: RSlice<'_, RStr<'_>>, value: f64) {
        if value.is_finite() {
            self.update(labels, GAUGE, |series, _| series.value = value);
        }
    }
    fn observe(&self, labels: RSlice<'_, RStr<'_>>, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.update(labels, HISTOGRAM, |series, bounds| {
            let bucket = bounds
                .iter()
                .position(|bound| value <= *bound)
                .unwrap_or(bounds.len());
            if let Some(count) = series.buckets.get_mut(bucket) {
                *count += 1;
            }
            series.value += value;
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use abi_stable::std_types::RStr;

    use super::*;

    fn def<'a>(kind: u8, labels: &'a [RStr<'a>], buckets: &'a [f64]) -> MetricDef<'a> {
        MetricDef {
            kind,
            name: "requests".into(),
            help: "Requests".into(),
            labels: labels.into(),
            buckets: buckets.into(),
        }
    }

    #[test]
    fn series_are_capped_and_the_rest_folds_into_other() {
        let labels = [RStr::from("client")];
        let family = Arc::new(MetricFamily::new(&def(COUNTER, &labels, &[])));
        for i in 0..MAX_SERIES + 5 {
            let value = format!("c{i}");
            family.add([RStr::from(value.as_str())][..].into(), 1.0);
        }
        assert_eq!(family.value(&["c0"]), Some(1.0));
        assert_eq!(family.value(&["_other"]), Some(5.0));
        assert_eq!(family.overflowed(), 5);
        // A counter never goes down; a call with the wrong number of labels is ignored.
        family.add([RStr::from("c0")][..].into(), -1.0);
        family.add([][..].into(), 1.0);
        assert_eq!(family.value(&["c0"]), Some(1.0));
        let mut text = String::new();
        family.header(&mut text, "hookgate_plugin_requests");
        family.samples(&mut text, "hookgate_plugin_requests", "x#2");
        assert!(
            text.contains("# TYPE hookgate_plugin_requests counter"),
            "{text}"
        );
        assert!(
            text.contains("hookgate_plugin_requests_total{plugin=\"x#2\",client=\"c0\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn histograms_count_into_buckets() {
        let family = Arc::new(MetricFamily::new(&def(HISTOGRAM, &[], &[0.1, 1.0])));
        for value in [0.05, 0.5, 0.7, 3.0] {
            family.observe([][..].into(), value);
        }
        let mut text = String::new();
        family.samples(&mut text, "h", "p");
        for line in [
            "h_bucket{plugin=\"p\",le=\"0.1\"} 1",
            "h_bucket{plugin=\"p\",le=\"1\"} 3",
            "h_bucket{plugin=\"p\",le=\"+Inf\"} 4",
            "h_count{plugin=\"p\"} 4",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }

    #[test]
    fn definitions_are_checked() {
        let bad_label = [RStr::from("plugin")];
        assert!(check_def(&def(COUNTER, &bad_label, &[])).is_err());
        assert!(check_def(&def(HISTOGRAM, &[], &[1.0, 0.5])).is_err());
        assert!(check_def(&def(9, &[], &[])).is_err());
        let mut reserved = def(COUNTER, &[], &[]);
        reserved.name = "errors".into();
        assert!(
            check_def(&reserved).is_err(),
            "the proxy's hookgate_plugin_errors"
        );
        for name in ["handler_calls", "breaker_state"] {
            reserved.name = name.into();
            let error = check_def(&reserved).unwrap_err();
            assert!(error.contains("the proxy's own"), "{error}");
        }
        reserved.name = "handlers".into();
        assert!(check_def(&reserved).is_ok());
        let mut bad_name = def(COUNTER, &[], &[]);
        bad_name.name = "Requests-Total".into();
        assert!(check_def(&bad_name).is_err());
        assert!(check_def(&def(GAUGE, &[], &[])).is_ok());
    }
}
