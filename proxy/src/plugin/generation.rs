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
use sha2::{Digest, Sha256};

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
    /// The SHA-256 of the settings text it was last initialised with.
    pub settings: Arc<str>,
    /// Its entry's `canary`, as last loaded.
    pub canary_config: Option<CanaryConfig>,
    /// What the load that staged it decided, logged once it serves: warning or not,
    /// and the line.
    news: Vec<(bool, String)>,
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
        settings: &str,
        staged: &mut HashMap<String, History>,
    ) -> Plan {
        let committed = {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.get(name).cloned()
        };
        let (plan, mut history) = next(name, committed, library, canary);
        history.canary_config = canary;
        history.settings = crate::hex::lower(&Sha256::digest(settings.as_bytes())).into();
        staged.insert(name.to_owned(), history);
        plan
    }

    /// Makes `staged` the history (the configuration it was planned for serves now)
    /// and logs what its load decided; entries no longer configured are forgotten.
    pub fn commit(&self, staged: &HashMap<String, History>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        *entries = staged.clone();
        for (name, history) in entries.iter_mut() {
            for (warn, news) in history.news.drain(..) {
                if warn {
                    tracing::warn!(plugin = %name, "{news}");
                } else {
                    tracing::info!(plugin = %name, "{news}");
                }
            }
        }
    }

    /// Each entry's history, by name.
    pub fn histories(&self) -> Vec<(String, History)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = entries
            .iter()
            .map(|(n, h)| (n.clone(), h.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// What the history of an entry says, for [`decide`]: the running proxy's, or the one
/// `hookgate check` reads from it (`GET /plugins/generations`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The kept generations: number and SHA-256.
    pub generations: Vec<(u32, Arc<str>)>,
    /// The generation that serves (a promoted canary's new one).
    pub serving: u32,
    /// The canary in trial: old and new generation.
    pub trial: Option<(u32, u32)>,
    /// The content of the last canary rolled back.
    pub rolled_back: Option<Arc<str>>,
    /// The SHA-256 of the settings text the entry was last initialised with.
    pub settings: Arc<str>,
}

impl Facts {
    fn sha256(&self, number: u32) -> Option<&str> {
        self.generations
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, sha)| &**sha)
    }

    /// As one line of `GET /plugins/generations`: `NAME serving=N trial=OLD,NEW|-
    /// rolled_back=SHA|- settings=SHA generations=N:SHA,...`.
    pub fn line(&self, name: &str) -> String {
        let trial = self
            .trial
            .map_or_else(|| "-".to_owned(), |(old, new)| format!("{old},{new}"));
        let generations: Vec<String> = (self.generations.iter())
            .map(|(n, sha)| format!("{n}:{sha}"))
            .collect();
        format!(
            "{name} serving={} trial={trial} rolled_back={} settings={} generations={}",
            self.serving,
            self.rolled_back.as_deref().unwrap_or("-"),
            self.settings,
            generations.join(",")
        )
    }

    /// Reads a [`Facts::line`] back: the entry's name and its facts.
    pub fn parse(line: &str) -> Option<(String, Facts)> {
        let mut words = line.split(' ');
        let name = words.next().filter(|n| !n.is_empty())?.to_owned();
        let mut facts = Facts::default();
        for word in words {
            let (key, value) = word.split_once('=')?;
            match key {
                "serving" => facts.serving = value.parse().ok()?,
                "trial" if value != "-" => {
                    let (old, new) = value.split_once(',')?;
                    facts.trial = Some((old.parse().ok()?, new.parse().ok()?));
                }
                "rolled_back" if value != "-" => facts.rolled_back = Some(value.into()),
                "settings" => facts.settings = value.into(),
                "generations" => {
                    for generation in value.split(',').filter(|g| !g.is_empty()) {
                        let (number, sha) = generation.split_once(':')?;
                        facts.generations.push((number.parse().ok()?, sha.into()));
                    }
                }
                _ => {}
            }
        }
        Some((name, facts))
    }
}

/// Why a reload keeps the generation that serves although the library changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// The library has the same content: nothing to say.
    Unchanged,
    /// The library has the old generation's content again: the canary of this
    /// generation is abandoned.
    CanaryAbandoned(u32),
    /// The library has the content of the canary rolled back last.
    RolledBack,
}

/// What a reload does with one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Its first load: generation 1.
    First,
    /// The generation that serves goes on (initialised again).
    Same {
        /// It.
        number: u32,
        /// Why, when the library changed.
        why: Kept,
    },
    /// The canary in trial goes on.
    Continue {
        /// The generation serving the rest.
        old: u32,
        /// The one on trial.
        new: u32,
    },
    /// New code: generation `number` (a kept one with the same content, else the
    /// next number), on a canary beside `old`, or serving every new request.
    New {
        /// Its number.
        number: u32,
        /// Whether a kept generation had this content.
        known: bool,
        /// The generation that serves until now.
        old: u32,
        /// Whether it goes on a canary.
        canary: bool,
    },
}

/// The one rule of what a reload runs for an entry whose history says `facts` (none:
/// it never ran) and whose library has the content `sha256` now, with or without a
/// `canary` in its entry.
pub fn decide(facts: Option<&Facts>, sha256: &str, canary: bool) -> Decision {
    let Some(facts) = facts else {
        return Decision::First;
    };
    let serving = facts.serving;
    let serving_now = facts.sha256(serving) == Some(sha256);
    if let Some((old, new)) = facts.trial {
        if canary && facts.sha256(new) == Some(sha256) {
            return Decision::Continue { old, new };
        }
        if serving_now {
            let why = Kept::CanaryAbandoned(new);
            return Decision::Same {
                number: serving,
                why,
            };
        }
    }
    if serving_now {
        let why = Kept::Unchanged;
        return Decision::Same {
            number: serving,
            why,
        };
    }
    if canary && facts.rolled_back.as_deref() == Some(sha256) {
        let why = Kept::RolledBack;
        return Decision::Same {
            number: serving,
            why,
        };
    }
    let known = (facts.generations.iter()).find(|(_, sha)| &**sha == sha256);
    let number = match known {
        Some((number, _)) => *number,
        None => facts.generations.iter().map(|(n, _)| *n).max().unwrap_or(0) + 1,
    };
    Decision::New {
        number,
        known: known.is_some(),
        old: serving,
        canary,
    }
}

/// The plan and the new history of an entry whose committed history is `committed`
/// (none: it never ran), by [`decide`].
fn next(
    name: &str,
    committed: Option<History>,
    library: &Library,
    canary: Option<CanaryConfig>,
) -> (Plan, History) {
    let ran = committed.is_some();
    let mut history = committed.unwrap_or_default();
    history.settle();
    let facts = ran.then(|| history.facts());
    let decision = decide(facts.as_ref(), &library.sha256, canary.is_some());
    let kept = |history: &History, number: u32| history.generation(number).cloned();
    let this = || Generation {
        number: 0,
        library: library.clone(),
    };
    match decision {
        Decision::First => {
            let first = Generation {
                number: 1,
                library: library.clone(),
            };
            history.loaded = vec![first.clone()];
            history.total = 1;
            history.serving = 1;
            (Plan::One(first), history)
        }
        Decision::Same { number, why } => {
            match why {
                Kept::Unchanged => {}
                Kept::CanaryAbandoned(new) => history.tell(
                    true,
                    format!(
                        "canary of generation {new} abandoned: the library has generation \
                         {number}'s content again"
                    ),
                ),
                Kept::RolledBack => history.tell(
                    true,
                    format!(
                        "the library has the content rolled back ({}): generation {number} \
                         serves until the library changes (or the entry has no canary)",
                        library.sha256
                    ),
                ),
            }
            history.canary = None;
            let serving = kept(&history, history.serving).unwrap_or_else(this);
            (Plan::One(serving), history)
        }
        Decision::Continue { old, new } => {
            let running = history.canary.clone();
            match (kept(&history, old), kept(&history, new), running) {
                (Some(old), Some(new), Some(canary)) => {
                    (Plan::Canary { old, new, canary }, history)
                }
                // Not reachable: a canary in trial keeps both records.
                _ => (Plan::One(this()), history),
            }
        }
        Decision::New {
            number,
            known,
            old,
            canary: _,
        } => {
            let new = Generation {
                number,
                library: library.clone(),
            };
            if !known {
                history.add(new.clone(), old);
            }
            history.rolled_back = None;
            history.canary = None;
            let serving = kept(&history, old).unwrap_or_else(this);
            match canary {
                Some(config) => {
                    let canary = Arc::new(Canary::new(
                        name,
                        old,
                        number,
                        config,
                        Arc::clone(&history.counts),
                        &Clock::Real,
                    ));
                    history.tell(
                        false,
                        format!(
                            "generation {number} on trial for {}% of new requests beside \
                             generation {old}",
                            config.percent
                        ),
                    );
                    history.canary = Some(Arc::clone(&canary));
                    (
                        Plan::Canary {
                            old: serving,
                            new,
                            canary,
                        },
                        history,
                    )
                }
                None => {
                    history.tell(
                        false,
                        format!("generation {number} serves every new request in place of {old}"),
                    );
                    history.serving = number;
                    (Plan::One(new), history)
                }
            }
        }
    }
}

impl History {
    /// Notes a line for the log, written when the configuration serves.
    fn tell(&mut self, warn: bool, news: String) {
        self.news.push((warn, news));
    }

    /// Settles a canary that ended since the last reload: promoted, its generation
    /// serves; rolled back, its content is remembered.
    fn settle(&mut self) {
        let Some(ended) = self.canary.take_if(|c| c.stage() != Stage::Trial) else {
            return;
        };
        if ended.stage() == Stage::Promoted {
            self.serving = ended.new;
        } else {
            self.rolled_back = (self.generation(ended.new)).map(|g| Arc::clone(&g.library.sha256));
        }
    }

    /// What it says, for [`decide`] (a canary that ended counts as settled).
    pub fn facts(&self) -> Facts {
        let mut settled = self.clone();
        settled.settle();
        Facts {
            generations: (settled.loaded.iter())
                .map(|g| (g.number, Arc::clone(&g.library.sha256)))
                .collect(),
            serving: settled.serving,
            trial: settled.canary.as_ref().map(|c| (c.old, c.new)),
            rolled_back: settled.rolled_back.clone(),
            settings: Arc::clone(&self.settings),
        }
    }

    /// Keeps the record of a new generation (the last [`KEPT`], never the one serving);
    /// past [`KEPT`] loaded since the start, warns that mapped libraries accumulate.
    fn add(&mut self, generation: Generation, serving: u32) {
        let number = generation.number;
        self.total += 1;
        if self.total > KEPT as u32 {
            let total = self.total;
            self.tell(
                true,
                format!(
                    "{total} generations of this entry's code loaded since the start: \
                     libraries stay mapped (never unloaded) until a restart"
                ),
            );
        }
        self.loaded.push(generation);
        while self.loaded.len() > KEPT {
            let keep = |g: &Generation| g.number == serving || g.number == number;
            match self.loaded.iter().position(|g| !keep(g)) {
                Some(oldest) => self.loaded.remove(oldest),
                None => break,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(generations: &[(u32, &str)], serving: u32) -> Facts {
        Facts {
            generations: (generations.iter())
                .map(|(n, sha)| (*n, Arc::from(*sha)))
                .collect(),
            serving,
            settings: "s".into(),
            ..Facts::default()
        }
    }

    #[test]
    fn a_first_load_is_generation_1_and_unchanged_content_keeps_its_generation() {
        assert_eq!(decide(None, "a", true), Decision::First);
        let f = facts(&[(1, "a")], 1);
        let same = Decision::Same {
            number: 1,
            why: Kept::Unchanged,
        };
        assert_eq!(decide(Some(&f), "a", false), same);
        assert_eq!(decide(Some(&f), "a", true), same);
    }

    #[test]
    fn new_content_is_the_next_generation_on_a_canary_or_for_everyone() {
        let f = facts(&[(1, "a"), (2, "b")], 2);
        let new = |canary| Decision::New {
            number: 3,
            known: false,
            old: 2,
            canary,
        };
        assert_eq!(decide(Some(&f), "c", true), new(true));
        assert_eq!(decide(Some(&f), "c", false), new(false));
        // A kept generation's content is that generation again.
        let back = Decision::New {
            number: 1,
            known: true,
            old: 2,
            canary: false,
        };
        assert_eq!(decide(Some(&f), "a", false), back);
    }

    #[test]
    fn a_canary_goes_on_is_abandoned_or_replaced() {
        let mut f = facts(&[(1, "a"), (2, "b")], 1);
        f.trial = Some((1, 2));
        assert_eq!(
            decide(Some(&f), "b", true),
            Decision::Continue { old: 1, new: 2 }
        );
        assert_eq!(
            decide(Some(&f), "a", true),
            Decision::Same {
                number: 1,
                why: Kept::CanaryAbandoned(2)
            }
        );
        // Other new content: a new canary against the generation that serves.
        assert_eq!(
            decide(Some(&f), "c", true),
            Decision::New {
                number: 3,
                known: false,
                old: 1,
                canary: true
            }
        );
        // The entry's canary removed: the content on trial serves everyone.
        assert_eq!(
            decide(Some(&f), "b", false),
            Decision::New {
                number: 2,
                known: true,
                old: 1,
                canary: false
            }
        );
    }

    #[test]
    fn rolled_back_content_is_not_tried_again_while_the_entry_has_a_canary() {
        let mut f = facts(&[(1, "a"), (2, "b")], 1);
        f.rolled_back = Some("b".into());
        assert_eq!(
            decide(Some(&f), "b", true),
            Decision::Same {
                number: 1,
                why: Kept::RolledBack
            }
        );
        assert!(matches!(
            decide(Some(&f), "b", false),
            Decision::New { number: 2, .. }
        ));
        assert!(matches!(
            decide(Some(&f), "c", true),
            Decision::New { number: 3, .. }
        ));
    }

    #[test]
    fn facts_read_back_as_they_were_written() {
        let mut f = facts(&[(3, "ab"), (4, "cd")], 3);
        f.trial = Some((3, 4));
        f.rolled_back = Some("ef".into());
        let line = f.line("rate-limit#2");
        assert_eq!(
            line,
            "rate-limit#2 serving=3 trial=3,4 rolled_back=ef settings=s generations=3:ab,4:cd"
        );
        assert_eq!(Facts::parse(&line), Some(("rate-limit#2".to_owned(), f)));
        let plain = facts(&[(1, "a")], 1);
        assert_eq!(
            Facts::parse(&plain.line("p")),
            Some(("p".to_owned(), plain))
        );
        assert_eq!(Facts::parse(""), None);
        assert_eq!(Facts::parse("p serving=x"), None);
    }
}
