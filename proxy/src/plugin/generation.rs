//! Generations: the builds of each `[[plugins]]` entry's code this process has
//! loaded, across reloads, and what a reload runs for each entry.
//!
//! An entry (by its instance name) starts at generation 1. A reload that finds the
//! entry's library with other content loads it as the next generation, beside the old
//! one: requests and connections that started before the reload finish on the old one
//! (their snapshot holds it), those that start after run on the new one, or, when the
//! entry has a `canary`, on either by the share of its [`Canary`]. A reload whose
//! content is unchanged keeps the generation: the instance is initialised again with
//! the entry's settings as they are now (a change of settings alone is that, never a
//! new generation), so an instance's own state starts fresh at every reload, in a new
//! generation or not.
//!
//! What a reload does with an entry whose canary is running:
//! - the same new content: the canary goes on (both generations initialised again);
//! - the old content again: the canary is abandoned, the old generation serves;
//! - other new content: a new canary of it against the generation that serves.
//!
//! Once a canary has been rolled back, its content is not tried again while the entry
//! has a `canary`: a reload serves the old generation (with a warning) until the file
//! changes. Promotion makes the new generation the one that serves.
//!
//! Libraries stay mapped (they are never unloaded); the records of the last
//! [`KEPT`] generations of an entry are kept, and each generation past that is loaded
//! with a warning that the mapped libraries accumulate until a restart.
//!
//! Internal: a load plans every entry against the history committed so far and
//! stages the new history; [`Generations::commit`] makes it the history when the
//! configuration serves, so that a reload that fails changes nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use hookgate_plugin_kit::Clock;

use super::canary::{Canary, CanaryCounts, Stage};
use super::loader::Library;
use crate::config::CanaryConfig;

/// Generation records kept per entry.
pub const KEPT: usize = 4;

/// One generation of an entry's code.
#[derive(Clone)]
pub struct Generation {
    /// 1 for the first code the entry ran, then one more for each new build.
    pub number: u32,
    /// The library (its module and SHA-256).
    pub library: Library,
}

/// An entry's generations.
#[derive(Clone, Default)]
pub struct History {
    /// The last [`KEPT`] generations loaded, oldest first.
    pub loaded: Vec<Generation>,
    /// Generations loaded since the start, including records no longer kept.
    pub total: u32,
    /// The generation serving (everything, or the rest of a canary's share).
    pub serving: u32,
    /// The canary started by the last reload that changed the code, if any (it may
    /// have been promoted or rolled back since).
    pub canary: Option<Arc<Canary>>,
    /// The content of the last canary rolled back: not tried again while the entry
    /// has a `canary`.
    rolled_back: Option<Arc<str>>,
    /// Its canaries' promotions and rollbacks.
    pub counts: Arc<CanaryCounts>,
}

impl History {
    /// The generation with this number, if its record is kept.
    pub fn generation(&self, number: u32) -> Option<&Generation> {
        self.loaded.iter().find(|g| g.number == number)
    }

    /// The generation that serves every new request not on a canary's share now (a
    /// promoted canary's new one from its promotion on).
    pub fn serving_now(&self) -> u32 {
        match &self.canary {
            Some(canary) if canary.stage() == Stage::Promoted => canary.new,
            _ => self.serving,
        }
    }

    /// The canary, while it is in trial.
    pub fn on_trial(&self) -> Option<&Arc<Canary>> {
        self.canary.as_ref().filter(|c| c.stage() == Stage::Trial)
    }

    /// Each kept generation's share of new requests and connections now (percent).
    pub fn share(&self, number: u32) -> f64 {
        match self.on_trial() {
            Some(canary) if canary.new == number => canary.share(),
            Some(canary) if canary.old == number => 100.0 - canary.share(),
            _ if self.serving_now() == number => 100.0,
            _ => 0.0,
        }
    }

    fn by_content(&self, sha256: &str) -> Option<&Generation> {
        self.loaded.iter().find(|g| &*g.library.sha256 == sha256)
    }
}

/// What one entry runs in a configuration.
pub enum Plan {
    /// One generation, for every request.
    One(Generation),
    /// The old generation and the new one, sharing the traffic.
    Canary {
        /// Serves the rest.
        old: Generation,
        /// On trial.
        new: Generation,
        /// Their share.
        canary: Arc<Canary>,
    },
}

/// The generations of every entry, kept across reloads (shared by every configuration
/// a process loads).
#[derive(Default)]
pub struct Generations {
    entries: Mutex<HashMap<String, History>>,
}

impl Generations {
    /// What entry `name` runs when its library now is `library`: planned against the
    /// committed history, the entry's new history put in `staged`.
    pub fn plan(
        &self,
        name: &str,
        library: &Library,
        canary: Option<CanaryConfig>,
        staged: &mut HashMap<String, History>,
    ) -> Plan {
        let committed = {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.get(name).cloned()
        };
        let (plan, history) = match committed {
            None => {
                let first = Generation {
                    number: 1,
                    library: library.clone(),
                };
                let history = History {
                    loaded: vec![first.clone()],
                    total: 1,
                    serving: 1,
                    ..History::default()
                };
                (Plan::One(first), history)
            }
            Some(history) => next(name, history, library, canary),
        };
        staged.insert(name.to_owned(), history);
        plan
    }

    /// Makes `staged` the history (the configuration it was planned for serves now);
    /// entries no longer configured are forgotten.
    pub fn commit(&self, staged: &HashMap<String, History>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        *entries = staged.clone();
    }

    /// Each entry's history, by name.
    pub fn histories(&self) -> Vec<(String, History)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = entries.iter().map(|(n, h)| (n.clone(), h.clone())).collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// The plan and the new history of an entry that has run before.
fn next(
    name: &str,
    mut history: History,
    library: &Library,
    canary: Option<CanaryConfig>,
) -> (Plan, History) {
    // A canary that ended since the last reload settles what serves.
    if let Some(ended) = history.canary.take_if(|c| c.stage() != Stage::Trial) {
        match ended.stage() {
            Stage::Promoted => history.serving = ended.new,
            _ => {
                history.rolled_back = history
                    .generation(ended.new)
                    .map(|g| Arc::clone(&g.library.sha256))
            }
        }
    }
    let Some(serving) = history.generation(history.serving).cloned() else {
        // Not reachable: the serving generation's record is always kept.
        let generation = Generation {
            number: history.serving,
            library: library.clone(),
        };
        return (Plan::One(generation), history);
    };
    let sha256 = &library.sha256;
    if let Some(running) = history.canary.clone() {
        let on_trial = history.generation(running.new).cloned();
        match on_trial {
            Some(new) if new.library.sha256 == *sha256 && canary.is_some() => {
                let plan = Plan::Canary {
                    old: serving,
                    new,
                    canary: running,
                };
                return (plan, history);
            }
            _ => {
                if serving.library.sha256 == *sha256 {
                    tracing::warn!(
                        plugin = name,
                        generation = running.new,
                        "canary abandoned: the library has generation {}'s content again",
                        serving.number
                    );
                }
                history.canary = None;
            }
        }
    }
    if serving.library.sha256 == *sha256 {
        return (Plan::One(serving), history);
    }
    if canary.is_some() && history.rolled_back.as_deref() == Some(&**sha256) {
        tracing::warn!(
            plugin = name,
            sha256 = &**sha256,
            "this content was rolled back: generation {} serves until the library changes \
             (or the entry has no canary)",
            serving.number
        );
        return (Plan::One(serving), history);
    }
    let new = match history.by_content(sha256) {
        Some(known) => known.clone(),
        None => {
            let number = history.loaded.iter().map(|g| g.number).max().unwrap_or(0) + 1;
            let generation = Generation {
                number,
                library: library.clone(),
            };
            history.total += 1;
            if history.total > KEPT as u32 {
                tracing::warn!(
                    plugin = name,
                    generation = number,
                    "{} generations of this entry's code loaded since the start: libraries \
                     stay mapped (never unloaded) until a restart",
                    history.total
                );
            }
            history.loaded.push(generation.clone());
            while history.loaded.len() > KEPT {
                let keep = |g: &Generation| g.number == serving.number || g.number == number;
                match history.loaded.iter().position(|g| !keep(g)) {
                    Some(oldest) => history.loaded.remove(oldest),
                    None => break,
                };
            }
            generation
        }
    };
    history.rolled_back = None;
    match canary {
        Some(config) => {
            let canary = Arc::new(Canary::new(
                name,
                serving.number,
                new.number,
                config,
                Arc::clone(&history.counts),
                &Clock::Real,
            ));
            tracing::info!(
                plugin = name,
                generation = new.number,
                beside = serving.number,
                "new generation on trial for {}% of new requests",
                config.percent
            );
            history.canary = Some(Arc::clone(&canary));
            let plan = Plan::Canary {
                old: serving,
                new,
                canary,
            };
            (plan, history)
        }
        None => {
            tracing::info!(
                plugin = name,
                generation = new.number,
                replaces = serving.number,
                "new generation serves every new request"
            );
            history.serving = new.number;
            (Plan::One(new), history)
        }
    }
}
