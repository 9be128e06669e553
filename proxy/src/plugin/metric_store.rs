//! [`MetricStore`]: the metrics plugins define, for the whole process, so that a
//! reload keeps their values: an instance of the same name defining the same metric
//! again gets the same [`MetricFamily`] back. Rendered on `/metrics` as
//! `hookgate_plugin_<name>` with a `plugin` label.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use hookgate_plugin_api::abi::{check_def, MetricDef, MetricFamily};

/// Every plugin metric, by (metric name, instance name).
#[derive(Default)]
pub struct MetricStore {
    families: Mutex<BTreeMap<(String, String), Arc<MetricFamily>>>,
}

/// The process's store.
pub fn store() -> &'static MetricStore {
    static STORE: OnceLock<MetricStore> = OnceLock::new();
    STORE.get_or_init(MetricStore::default)
}

impl MetricStore {
    /// The family for `def` of instance `instance`: the one it had (if defined the
    /// same way), else a new one. An error if the definition is invalid, or if
    /// another instance defines the same name otherwise (they share one name on
    /// `/metrics`, so they must agree on kind and labels).
    pub fn family(&self, instance: &str, def: &MetricDef<'_>) -> Result<Arc<MetricFamily>, String> {
        check_def(def)?;
        let name = def.name.as_str();
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let clash = (families.range((name.to_owned(), String::new())..))
            .take_while(|((metric, _), _)| metric == name)
            .find(|((_, owner), family)| owner != instance && !family.same_as(def));
        if let Some(((_, owner), _)) = clash {
            return Err(format!(
                "metric {name:?} is already defined by plugin instance {owner:?} with \
                 another kind, labels or buckets; give it another name"
            ));
        }
        let key = (name.to_owned(), instance.to_owned());
        match families.get(&key) {
            Some(family) if family.same_as(def) => Ok(Arc::clone(family)),
            _ => {
                let family = Arc::new(MetricFamily::new(def));
                families.insert(key, Arc::clone(&family));
                Ok(family)
            }
        }
    }

    /// Appends every family in OpenMetrics text, then how many updates each folded
    /// into `_other` (`hookgate_plugin_metric_overflow_total{plugin, metric}`), so that
    /// a metric whose label values come from clients shows when it hit its cap.
    pub fn render(&self, out: &mut String) {
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let mut last = None;
        for ((metric, instance), family) in families.iter() {
            let name = format!("hookgate_plugin_{metric}");
            if last != Some(metric) {
                family.header(out, &name);
                last = Some(metric);
            }
            family.samples(out, &name, instance);
        }
        if families.is_empty() {
            return;
        }
        out.push_str(
            "# HELP hookgate_plugin_metric_overflow Updates folded into a metric's _other \
             series once it had 100 series\n# TYPE hookgate_plugin_metric_overflow counter\n",
        );
        for ((metric, instance), family) in families.iter() {
            let instance = hookgate_plugin_api::abi::escape_label(instance);
            out.push_str(&format!(
                "hookgate_plugin_metric_overflow_total{{plugin=\"{instance}\",metric=\"{metric}\"}} {}\n",
                family.overflowed()
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use hookgate_plugin_api::abi::{HostMetric, MetricDef, RStr, COUNTER, GAUGE, MAX_SERIES};

    use super::*;

    fn def<'a>(kind: u8, name: &'a str, labels: &'a [RStr<'a>]) -> MetricDef<'a> {
        MetricDef {
            kind,
            name: name.into(),
            help: "help".into(),
            labels: labels.into(),
            buckets: (&[][..]).into(),
        }
    }

    #[test]
    fn a_reload_keeps_values_and_the_overflow_is_exported() {
        let store = MetricStore::default();
        let labels = [RStr::from("client")];
        let family = store.family("p#1", &def(COUNTER, "seen", &labels)).unwrap();
        for i in 0..MAX_SERIES + 3 {
            let value = format!("c{i}");
            family.add([RStr::from(value.as_str())][..].into(), 1.0);
        }
        // The same instance defining the same metric again (a reload) gets its values.
        let again = store.family("p#1", &def(COUNTER, "seen", &labels)).unwrap();
        assert_eq!(again.value(&["c0"]), Some(1.0));
        // Another instance may not define the name differently.
        let err = store.family("q", &def(GAUGE, "seen", &labels)).unwrap_err();
        assert!(
            err.contains("already defined by plugin instance \"p#1\""),
            "{err}"
        );
        let mut text = String::new();
        store.render(&mut text);
        assert!(
            text.contains("hookgate_plugin_seen_total{plugin=\"p#1\",client=\"c0\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("hookgate_plugin_seen_total{plugin=\"p#1\",client=\"_other\"} 3"),
            "{text}"
        );
        assert!(
            text.contains(
                "hookgate_plugin_metric_overflow_total{plugin=\"p#1\",metric=\"seen\"} 3"
            ),
            "{text}"
        );
    }
}
