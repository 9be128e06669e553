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

    /// Appends every family in OpenMetrics text.
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
    }
}
