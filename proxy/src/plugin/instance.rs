//! Plugin instances: one library, one config, one init, one set of handlers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hookgate_plugin_api::abi::{RStr, RegistryAbi_TO, TD_Opaque};
use hookgate_plugin_api::Point;

use super::cache::PluginCache;
use super::chain::Chains;
use super::loader::{Library, LoadError};
use super::manifest::Manifest;
use super::registry::Collector;
use crate::config::{ErrorPolicy, PluginConfig};

/// One initialised plugin instance.
#[derive(Debug)]
pub struct Instance {
    /// Name in logs, metrics and chains: the config's `name`, else the plugin's name
    /// (with `#2`, `#3`… when a plugin is listed more than once).
    pub name: String,
    /// The library file.
    pub path: PathBuf,
    /// The SHA-256 of the library's content as loaded.
    pub sha256: Arc<str>,
    /// The library's manifest.
    pub manifest: Manifest,
    /// What a handler failure does.
    pub policy: ErrorPolicy,
    /// Products the request-level handlers are limited to (`None`: all).
    pub products: Option<Box<[String]>>,
    /// Handler failures so far (panics, broken verdicts).
    errors: AtomicU64,
}

impl Instance {
    /// Whether this instance's request-level handlers run for `product`.
    #[inline]
    pub fn serves(&self, product: &str) -> bool {
        match &self.products {
            None => true,
            Some(products) => products.iter().any(|p| p == product),
        }
    }

    /// Records a handler failure: logs it with the plugin and the point, and counts it.
    pub fn failed(&self, point: Point, message: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            plugin = %self.name,
            point = point.name(),
            policy = self.policy.name(),
            error = message,
            "plugin handler failed"
        );
    }

    /// Handler failures so far.
    pub fn error_count(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// Every instance, and the chains their handlers form.
pub struct Plugins {
    /// Instances in chain order.
    pub instances: Vec<Arc<Instance>>,
    /// One chain per callback point.
    pub chains: Chains,
}

impl Plugins {
    /// Loads and initialises every configured instance, in order. The first failure
    /// stops loading with an error naming the file and the cause.
    /// Each library is loaded from its copy in `cache`.
    pub fn load(configs: &[PluginConfig], cache: &PluginCache) -> Result<Plugins, LoadError> {
        let mut libraries: HashMap<PathBuf, Library> = HashMap::new();
        let mut name_counts: HashMap<String, usize> = HashMap::new();
        let mut plugins = Plugins {
            instances: Vec::with_capacity(configs.len()),
            chains: Chains::default(),
        };
        for config in configs {
            let key = std::fs::canonicalize(&config.path).unwrap_or_else(|_| config.path.clone());
            let library = match libraries.get(&key) {
                Some(library) => library.clone(),
                None => {
                    let library = Library::open(&config.path, cache)?;
                    libraries.insert(key, library.clone());
                    library
                }
            };
            let manifest = library.manifest();
            let base = config.name.clone().unwrap_or_else(|| manifest.name.clone());
            let count = name_counts.entry(base.clone()).or_insert(0);
            *count += 1;
            let name = if *count == 1 {
                base
            } else {
                format!("{base}#{count}")
            };
            let settings = config
                .settings_text()
                .map_err(|source| LoadError::Settings {
                    path: config.path.clone(),
                    source,
                })?;
            let instance = Arc::new(Instance {
                name,
                path: config.path.clone(),
                sha256: Arc::clone(&library.sha256),
                manifest,
                policy: config.on_error,
                products: config.products.clone().map(Vec::into_boxed_slice),
                errors: AtomicU64::new(0),
            });
            plugins.init(library, instance, &settings)?;
        }
        Ok(plugins)
    }

    /// Runs one instance's init; its handlers join the chains only if init succeeds.
    fn init(
        &mut self,
        library: Library,
        instance: Arc<Instance>,
        settings: &str,
    ) -> Result<(), LoadError> {
        let mut staged = Chains::default();
        let mut collector = Collector {
            instance: Arc::clone(&instance),
            chains: &mut staged,
            undeclared: None,
        };
        let registry = RegistryAbi_TO::from_ptr(&mut collector, TD_Opaque);
        let result = (library.module.init())(RStr::from(settings), registry);
        if let Some(point) = collector.undeclared {
            let declared: Vec<&str> = instance.manifest.points.iter().map(Point::name).collect();
            return Err(LoadError::UndeclaredPoint {
                path: instance.path.clone(),
                name: instance.name.clone(),
                point: point.name(),
                declared: declared.join(", "),
            });
        }
        if let Err(message) = result.into_result() {
            return Err(LoadError::Init {
                path: instance.path.clone(),
                name: instance.name.clone(),
                message: crate::message::one_line(message.as_str()),
            });
        }
        self.chains.append(staged);
        tracing::info!(plugin = %instance.name, path = %instance.path.display(), "plugin initialised");
        self.instances.push(instance);
        Ok(())
    }
}
