//! [`Plugins`]: every instance of a configuration, loaded and initialised in order, and
//! the chains their handlers form; and its description for `check` and `/status`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use hookgate_plugin_api::abi::{collect_timers, RStr, RegistryAbi_TO, TD_Opaque};
use hookgate_plugin_api::Point;

use super::cache::PluginCache;
use super::canary::CanarySide;
use super::chain::Chains;
use super::generation::{Generations, History, Plan};
use super::instance::Instance;
use super::loader::{Library, LoadError};
use super::metric_store::StagedMetrics;
use super::registry::Collector;
use super::timer::Timers;
use crate::config::PluginConfig;

/// Every instance, and the chains their handlers form.
pub struct Plugins {
    /// Instances in chain order (during a canary, an entry's old generation then its
    /// new one).
    pub instances: Vec<Arc<Instance>>,
    /// One chain per callback point.
    pub chains: Chains,
    /// The metrics the instances defined ([`MetricStore::commit`](super::metric_store::MetricStore::commit)
    /// serves them once the set serves).
    pub metrics: StagedMetrics,
    /// The timers the instances registered, running once the set serves.
    pub timers: Timers,
    /// The generations of every entry's code, kept across reloads.
    pub generations: Arc<Generations>,
    /// This set's history of every entry, made the history when it serves
    /// ([`Plugins::serve_generations`]).
    staged: HashMap<String, History>,
}

impl Plugins {
    /// Loads and initialises every configured instance, in order, the first time: each
    /// entry at its generation 1 (see [`Plugins::reload`]).
    pub fn load(configs: &[PluginConfig], cache: &PluginCache) -> Result<Plugins, LoadError> {
        Plugins::reload(configs, cache, &Arc::default())
    }

    /// Loads and initialises every configured instance, in order, with the generation
    /// of each entry's code that `generations` (what ran before) plans for it. The
    /// first failure stops loading with an error naming the file and the cause.
    /// Each library is loaded from its copy in `cache`.
    pub fn reload(
        configs: &[PluginConfig],
        cache: &PluginCache,
        generations: &Arc<Generations>,
    ) -> Result<Plugins, LoadError> {
        let mut libraries: HashMap<PathBuf, Library> = HashMap::new();
        let mut name_counts: HashMap<String, usize> = HashMap::new();
        let mut plugins = Plugins {
            instances: Vec::with_capacity(configs.len()),
            chains: Chains::default(),
            metrics: StagedMetrics::default(),
            timers: Timers::default(),
            generations: Arc::clone(generations),
            staged: HashMap::new(),
        };
        let mut canaries = 0u8..64;
        for config in configs {
            let key = std::fs::canonicalize(&config.path).unwrap_or_else(|_| config.path.clone());
            let pinned = config.sha256.as_deref();
            let library = match libraries.get(&key) {
                Some(library) => {
                    super::loader::check_pin(&config.path, pinned, &library.sha256)?;
                    library.clone()
                }
                None => {
                    let library = Library::open(&config.path, cache, pinned)?;
                    libraries.insert(key, library.clone());
                    library
                }
            };
            let base = (config.name.clone()).unwrap_or_else(|| library.manifest().name.clone());
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
            let plan = generations.plan(
                &name,
                &library,
                config.canary,
                &settings,
                &mut plugins.staged,
            );
            let runs = match plan {
                Plan::One(generation) => vec![(generation, None)],
                Plan::Canary { old, new, canary } => {
                    let slot = canaries.next();
                    let side = |new| CanarySide {
                        canary: Arc::clone(&canary),
                        new,
                        slot,
                    };
                    vec![(old, Some(side(false))), (new, Some(side(true)))]
                }
            };
            for (generation, canary) in runs {
                let instance = Instance::of_entry(config, &name, &generation, canary);
                plugins.init(generation.library, Arc::new(instance), &settings)?;
            }
        }
        Ok(plugins)
    }

    /// This set's history of the entry `name` (what it loaded, with which settings).
    pub fn entry(&self, name: &str) -> Option<&History> {
        self.staged.get(name)
    }

    /// Makes this set's generations the history (the set serves from now on).
    pub fn serve_generations(&self) {
        self.generations.commit(&self.staged);
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
            refused: None,
            metrics: &mut self.metrics,
        };
        let registry = RegistryAbi_TO::from_ptr(&mut collector, TD_Opaque);
        let (result, timers) =
            collect_timers(|| (library.module.init())(RStr::from(settings), registry));
        if let Some(point) = collector.undeclared {
            let declared: Vec<&str> = instance.manifest.points.iter().map(Point::name).collect();
            return Err(LoadError::UndeclaredPoint {
                path: instance.path.clone(),
                name: instance.name.clone(),
                point: point.name(),
                declared: declared.join(", "),
            });
        }
        let result = match collector.refused {
            Some(refused) => Err(refused),
            None => result.into_result().map_err(|e| e.into_string()),
        };
        if let Err(message) = result {
            return Err(LoadError::Init {
                path: instance.path.clone(),
                name: instance.name.clone(),
                message: crate::message::one_line(&message),
            });
        }
        self.chains.append(staged);
        self.timers.add(&instance, timers);
        tracing::info!(plugin = %instance.name, path = %instance.path.display(), "plugin initialised");
        self.instances.push(instance);
        Ok(())
    }
}

impl Plugins {
    /// Each instance (version, file, policy, scope, SHA-256) and each point's chain,
    /// as `check` prints it and `/status` shows it (like BFE's `module_handlers`).
    pub fn describe(&self) -> String {
        let mut out = String::from("plugins:\n");
        if self.instances.is_empty() {
            out.push_str("  (none)\n");
        }
        for i in &self.instances {
            let scope = match &i.products {
                Some(products) => format!(", products: {}", products.join(", ")),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  {} {} (api {}) from {} [{}{scope}] sha256={}{} generation={}",
                i.name,
                i.manifest.version,
                i.manifest.api_version,
                i.path.display(),
                i.policy.name(),
                i.sha256,
                if i.pinned { " (pinned)" } else { "" },
                i.generation,
            );
            if let Some(c) = i.trial() {
                let config = c.config();
                let promotion = match config.promote_after_ms {
                    0 => format!("promoted by POST /plugins/{}/promote", i.name),
                    ms => format!("promoted after {ms} ms"),
                };
                let _ = writeln!(
                    out,
                    "    canary: generation {} beside generation {} for {}% of new requests \
                     ({}); {promotion}; rolled back at error_ratio {} over {} ms with at least \
                     {} calls{}",
                    c.new,
                    c.old,
                    config.percent,
                    c.stage().name(),
                    config.error_ratio,
                    config.window_ms,
                    config.min_calls,
                    if config.count_5xx {
                        " (5xx counted)"
                    } else {
                        ""
                    },
                );
            }
            let periods = self.timers.periods(i.id);
            if !periods.is_empty() {
                let every: Vec<String> = (periods.iter())
                    .map(|p| format!("{} ms", p.as_millis()))
                    .collect();
                let _ = writeln!(out, "    timers: every {}", every.join(", "));
            }
            if let Some(breaker) = &i.breaker {
                let c = breaker.config();
                let _ = writeln!(
                    out,
                    "    breaker: opens at error_ratio {} over {} ms with at least {} calls; \
                     cool-down {} ms; {} probe calls",
                    c.error_ratio, c.window_ms, c.min_calls, c.cooldown_ms, c.probe_calls
                );
            }
        }
        out.push_str("chains:\n");
        for point in Point::ALL {
            let names = self.chains.names(point);
            let chain = if names.is_empty() {
                "(empty)".to_owned()
            } else {
                names.join(" -> ")
            };
            let _ = writeln!(out, "  {:<16} {chain}", format!("{}:", point.name()));
        }
        out
    }
}
