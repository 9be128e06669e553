//! [`MetricStore`]: the metrics the serving plugins define, for the whole process,
//! rendered on `/metrics` as `hookgate_plugin_<name>` with a `plugin` label; and
//! [`StagedMetrics`]: those a plugin set defines while it loads.
//!
//! A reload keeps values: an instance of the same name defining the same metric again
//! gets the same [`MetricFamily`] back. What the new set no longer defines leaves
//! `/metrics` when the set starts serving, and names are checked for clashes among the
//! new set's instances only, so a reload may rename an instance or change a metric's
//! labels.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use hookgate_plugin_api::abi::{check_def, MetricDef, MetricFamily};

/// Families by (metric name, instance name).
type Families = BTreeMap<(String, String), Arc<MetricFamily>>;

/// Every metric of the serving plugins.
#[derive(Default)]
pub struct MetricStore {
    families: Mutex<Families>,
}

/// The process's store.
pub fn store() -> &'static MetricStore {
    static STORE: OnceLock<MetricStore> = OnceLock::new();
    STORE.get_or_init(MetricStore::default)
}

/// The metrics of one plugin set, defined while it loads; [`MetricStore::commit`]
/// makes them the served ones.
#[derive(Default)]
pub struct StagedMetrics {
    families: Families,
}

impl StagedMetrics {
    /// The family for `def` of instance `instance`: the one the store has for it (if
    /// defined the same way), else a new one. An error if the definition is invalid,
    /// if another instance of this set defines the same name otherwise (they share one
    /// name on `/metrics`, so they must agree on kind and labels), or if the instance
    /// defines it twice differently.
    pub fn family(
        &mut self,
        store: &MetricStore,
        instance: &str,
        def: &MetricDef<'_>,
    ) -> Result<Arc<MetricFamily>, String> {
        check_def(def)?;
        let name = def.name.as_str();
        let clash = (self.families.range((name.to_owned(), String::new())..))
            .take_while(|((metric, _), _)| metric == name)
            .find(|(_, family)| !family.same_as(def));
        if let Some(((_, owner), _)) = clash {
            return Err(format!(
                "metric {name:?} is already defined by plugin instance {owner:?} with \
                 another kind, labels or buckets; give it another name"
            ));
        }
        let key = (name.to_owned(), instance.to_owned());
        if let Some(family) = self.families.get(&key) {
            return Ok(Arc::clone(family));
        }
        let kept = {
            let served = store
                .families
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            served.get(&key).filter(|f| f.same_as(def)).cloned()
        };
        let family = kept.unwrap_or_else(|| Arc::new(MetricFamily::new(def)));
        self.families.insert(key, Arc::clone(&family));
        Ok(family)
    }
}

impl MetricStore {
    /// Serves `staged`'s metrics from now on, in place of the previous set's.
    pub fn commit(&self, staged: &StagedMetrics) {
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        *families = staged.families.clone();
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
        let mut first = StagedMetrics::default();
        let family = (first.family(&store, "p#1", &def(COUNTER, "seen", &labels))).unwrap();
        store.commit(&first);
        for i in 0..MAX_SERIES + 3 {
            let value = format!("c{i}");
            family.add([RStr::from(value.as_str())][..].into(), 1.0);
        }
        // The same instance defining the same metric again (a reload) gets its values.
        let mut reload = StagedMetrics::default();
        let again = (reload.family(&store, "p#1", &def(COUNTER, "seen", &labels))).unwrap();
        assert_eq!(again.value(&["c0"]), Some(1.0));
        // Another instance of the same set may not define the name differently.
        let err = (reload.family(&store, "q", &def(GAUGE, "seen", &labels))).unwrap_err();
        assert!(
            err.contains("already defined by plugin instance \"p#1\""),
            "{err}"
        );
        store.commit(&reload);
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

    /// A reload may rename an instance or change a metric's labels: clashes are
    /// checked within the new set, and what it no longer defines leaves `/metrics`.
    #[test]
    fn a_reload_drops_what_the_new_set_no_longer_defines() {
        let store = MetricStore::default();
        let mut first = StagedMetrics::default();
        let old = (first.family(&store, "a", &def(COUNTER, "hits", &[RStr::from("x")]))).unwrap();
        store.commit(&first);
        old.add([RStr::from("1")][..].into(), 1.0);
        let mut reload = StagedMetrics::default();
        let relabelled = [RStr::from("y")];
        (reload.family(&store, "b", &def(COUNTER, "hits", &relabelled))).unwrap();
        store.commit(&reload);
        let mut text = String::new();
        store.render(&mut text);
        assert!(!text.contains("plugin=\"a\""), "{text}");
        assert!(
            text.contains("# TYPE hookgate_plugin_hits counter"),
            "{text}"
        );
    }
}
