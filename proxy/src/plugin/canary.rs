//! A canary (`[[plugins]] canary`): a new generation of an entry's code runs for a
//! share of the traffic beside the old one, until it is promoted or rolled back.
//!
//! - **Trial**: a new request or connection runs on the new generation when the hash
//!   of its client address (with the canary's seed, independent of the subcluster
//!   choice) falls in the configured share; on the old one otherwise. The new
//!   generation's calls go into a sliding window ([`crate::error_rate`], the
//!   mechanism of the circuit breaker and of passive backend ejection): a failure
//!   (a panic, a broken verdict, under either `on_error` policy) is an error, and so
//!   is a response of 500 and above its handlers produce when the entry says
//!   `count_5xx`.
//! - **Rolled back**: when the window crosses the threshold (or by
//!   `POST /plugins/NAME/rollback`), every request and connection from then on runs on
//!   the old generation.
//! - **Promoted**: after `promote_after_ms` in trial (or by
//!   `POST /plugins/NAME/promote`), every request and connection from then on runs on
//!   the new generation.
//!
//! A request decides once, at the first handler of the entry it meets, and keeps its
//! generation to its end; a connection likewise, so that Finish runs on the generation
//! that ran Accept ([`Picks`]). Requests and connections that decided before a
//! promotion or a rollback finish where they started.
//!
//! Internal: the stage is one atomic; the transition out of trial happens once, by
//! the thread whose compare-and-swap made it, which logs it and counts it. Promotion
//! after the period is noticed by the next request that asks (or by `/status`), so an
//! idle proxy promotes when traffic comes back.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hookgate_plugin_kit::Clock;

use crate::config::CanaryConfig;
use crate::error_rate::{Counts, Threshold, Window};

/// Where a canary stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The new generation serves its share.
    Trial,
    /// The new generation serves everything.
    Promoted,
    /// The old generation serves everything.
    RolledBack,
}

impl Stage {
    /// Its name in logs and `/status`.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Trial => "trial",
            Stage::Promoted => "promoted",
            Stage::RolledBack => "rolled back",
        }
    }

    fn code(self) -> u8 {
        match self {
            Stage::Trial => 0,
            Stage::Promoted => 1,
            Stage::RolledBack => 2,
        }
    }

    fn of(code: u8) -> Stage {
        match code {
            1 => Stage::Promoted,
            2 => Stage::RolledBack,
            _ => Stage::Trial,
        }
    }
}

/// Promotions and rollbacks of an entry's canaries, for `/metrics` (kept across
/// reloads).
#[derive(Debug, Default)]
pub struct CanaryCounts {
    /// Canaries promoted.
    pub promoted: AtomicU64,
    /// Canaries rolled back.
    pub rolled_back: AtomicU64,
}

/// One canary: an entry's old and new generation sharing its traffic.
#[derive(Debug)]
pub struct Canary {
    /// The entry (its instance name).
    pub entry: String,
    /// The generation that serves the rest.
    pub old: u32,
    /// The generation on trial.
    pub new: u32,
    config: CanaryConfig,
    /// The share of the 10,000 hash buckets on the new generation in trial.
    buckets: u64,
    seed: u64,
    threshold: Threshold,
    calls: Window,
    stage: AtomicU8,
    /// How it left trial, for `/status`.
    outcome: Mutex<Option<String>>,
    counts: Arc<CanaryCounts>,
    epoch: Instant,
    clock: Clock,
}

impl Canary {
    /// A canary of `entry` in trial from now: generation `new` beside `old`.
    pub fn new(
        entry: &str,
        old: u32,
        new: u32,
        config: CanaryConfig,
        counts: Arc<CanaryCounts>,
        clock: &Clock,
    ) -> Canary {
        Canary {
            entry: entry.to_owned(),
            old,
            new,
            config,
            // Hundredths of a percent.
            buckets: (config.percent * 100.0).round() as u64,
            seed: config.seed.unwrap_or_else(|| name_seed(entry)),
            threshold: Threshold::ratio(config.error_ratio, config.min_calls),
            calls: Window::new(Duration::from_millis(config.window_ms), 10),
            stage: AtomicU8::new(Stage::Trial.code()),
            outcome: Mutex::new(None),
            counts,
            epoch: clock.now(),
            clock: clock.clone(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &CanaryConfig {
        &self.config
    }

    /// Where it stands now (promoting it first if its trial period is over).
    pub fn stage(&self) -> Stage {
        let stage = Stage::of(self.stage.load(Ordering::Acquire));
        if stage == Stage::Trial && self.config.promote_after_ms > 0 {
            let after = Duration::from_millis(self.config.promote_after_ms);
            if self.elapsed() >= after {
                self.promote(&format!("after {} ms without trouble", after.as_millis()));
                return Stage::of(self.stage.load(Ordering::Acquire));
            }
        }
        stage
    }

    /// How long since it started.
    pub fn elapsed(&self) -> Duration {
        self.clock.now().saturating_duration_since(self.epoch)
    }

    /// The share of new requests and connections on the new generation now (percent).
    pub fn share(&self) -> f64 {
        match self.stage() {
            Stage::Trial => self.config.percent,
            Stage::Promoted => 100.0,
            Stage::RolledBack => 0.0,
        }
    }

    /// How it left trial (who, why), if it has.
    pub fn outcome(&self) -> Option<String> {
        self.outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The new generation's calls and errors in the window now.
    pub fn window(&self) -> Counts {
        self.calls.counts(self.now_ms())
    }

    /// Whether a new request or connection from `client` runs on the new generation.
    #[inline]
    pub fn picks_new(&self, client: IpAddr) -> bool {
        match self.stage() {
            Stage::Trial => bucket(self.seed, client) < self.buckets,
            Stage::Promoted => true,
            Stage::RolledBack => false,
        }
    }

    /// Notes a call of the new generation's handlers; in trial, an error that takes
    /// the window over the threshold rolls it back.
    pub fn note(&self, error: bool) {
        if Stage::of(self.stage.load(Ordering::Acquire)) != Stage::Trial {
            return;
        }
        let counts = self.calls.record(self.now_ms(), error);
        if error && self.threshold.crossed(counts) {
            self.roll_back(&format!(
                "{} errors in {} calls within {} ms (threshold: error_ratio {} with at \
                 least {} calls)",
                counts.errors,
                counts.calls,
                self.config.window_ms,
                self.config.error_ratio,
                self.config.min_calls
            ));
        }
    }

    /// Ends the trial: the new generation serves everything. `false` if it was no
    /// longer in trial.
    pub fn promote(&self, why: &str) -> bool {
        if !self.leave_trial(Stage::Promoted, why) {
            return false;
        }
        self.counts.promoted.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            plugin = %self.entry,
            generation = self.new,
            replaces = self.old,
            "canary promoted {why}: the new generation serves every new request"
        );
        true
    }

    /// Ends the trial: the old generation serves everything. `false` if it was no
    /// longer in trial.
    pub fn roll_back(&self, why: &str) -> bool {
        if !self.leave_trial(Stage::RolledBack, why) {
            return false;
        }
        self.counts.rolled_back.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            plugin = %self.entry,
            generation = self.new,
            back_to = self.old,
            "canary rolled back ({why}): the old generation serves every new request"
        );
        true
    }

    fn leave_trial(&self, to: Stage, why: &str) -> bool {
        let left = self
            .stage
            .compare_exchange(
                Stage::Trial.code(),
                to.code(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if left {
            let at = self.elapsed();
            *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(format!("{} after {at:.1?}: {why}", to.name()));
        }
        left
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// An instance's place in a canary: the old or the new generation, and the bit its
/// entry's choice takes in a request's or connection's [`Picks`].
#[derive(Debug)]
pub struct CanarySide {
    /// The canary.
    pub canary: Arc<Canary>,
    /// Whether this instance is the new generation.
    pub new: bool,
    /// Its bit in [`Picks`] (the first 64 canaries of a configuration; the others
    /// decide per call).
    pub slot: Option<u8>,
}

/// A request's or a connection's choice of generation for each canary entry, made the
/// first time one of the entry's handlers would run, and kept.
#[derive(Clone, Copy, Debug, Default)]
pub struct Picks {
    decided: u64,
    new: u64,
}

impl Picks {
    /// Whether the instance on `side` runs for a request or connection from `client`.
    #[inline]
    pub fn runs(&mut self, side: &CanarySide, client: IpAddr) -> bool {
        let new = match side.slot {
            Some(slot) => {
                let bit = 1u64 << slot;
                if self.decided & bit == 0 {
                    self.decided |= bit;
                    if side.canary.picks_new(client) {
                        self.new |= bit;
                    }
                }
                self.new & bit != 0
            }
            None => side.canary.picks_new(client),
        };
        new == side.new
    }
}

/// The default seed of an entry: FNV-1a of its name (the same on every proxy).
fn name_seed(entry: &str) -> u64 {
    entry.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The bucket (0 to 9,999) of `client` under `seed`: SplitMix64's finaliser over the
/// address, so that neighbouring addresses spread evenly.
fn bucket(seed: u64, client: IpAddr) -> u64 {
    let bits = match client {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    };
    let mut h = mix(seed ^ 0x9E37_79B9_7F4A_7C15);
    h = mix(h ^ (bits as u64));
    h = mix(h ^ ((bits >> 64) as u64));
    h % 10_000
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn canary(config: CanaryConfig, clock: &Clock) -> Arc<Canary> {
        Arc::new(Canary::new("p", 1, 2, config, Arc::default(), clock))
    }

    fn loopback(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x7F00_0000 | n))
    }

    #[test]
    fn the_share_of_clients_on_the_new_generation_is_the_configured_one() {
        let clock = Clock::manual();
        for percent in [1.0, 10.0, 50.0, 90.0] {
            let c = canary(
                CanaryConfig {
                    percent,
                    ..CanaryConfig::default()
                },
                &clock,
            );
            let new = (1..=20_000).filter(|&n| c.picks_new(loopback(n))).count();
            let share = new as f64 / 200.0;
            assert!((share - percent).abs() < 1.0, "{percent}%: {share}%");
        }
        // 0 and 100 are exact.
        for (percent, expected) in [(0.0, 0), (100.0, 1000)] {
            let c = canary(
                CanaryConfig {
                    percent,
                    ..CanaryConfig::default()
                },
                &clock,
            );
            let new = (1..=1000).filter(|&n| c.picks_new(loopback(n))).count();
            assert_eq!(new, expected);
        }
    }

    #[test]
    fn the_seed_decides_who_is_on_the_new_generation() {
        let clock = Clock::manual();
        let with = |seed| {
            let c = canary(
                CanaryConfig {
                    percent: 50.0,
                    seed: Some(seed),
                    ..CanaryConfig::default()
                },
                &clock,
            );
            (1..=1000)
                .map(|n| c.picks_new(loopback(n)))
                .collect::<Vec<_>>()
        };
        assert_eq!(with(7), with(7));
        let same = (with(7).iter().zip(with(8)))
            .filter(|(a, b)| **a == *b)
            .count();
        // Independent choices agree about half the time.
        assert!((400..600).contains(&same), "{same}");
    }

    #[test]
    fn errors_over_the_threshold_roll_it_back_once_and_a_choice_made_is_kept() {
        let clock = Clock::manual();
        let counts = Arc::new(CanaryCounts::default());
        let c = Arc::new(Canary::new(
            "p",
            1,
            2,
            CanaryConfig {
                percent: 100.0,
                error_ratio: 0.5,
                min_calls: 4,
                ..CanaryConfig::default()
            },
            Arc::clone(&counts),
            &clock,
        ));
        let new = CanarySide {
            canary: Arc::clone(&c),
            new: true,
            slot: Some(3),
        };
        let old = CanarySide {
            canary: Arc::clone(&c),
            new: false,
            slot: Some(3),
        };
        let mut before = Picks::default();
        assert!(before.runs(&new, loopback(1)));
        c.note(true);
        c.note(false);
        c.note(true);
        assert_eq!(c.stage(), Stage::Trial, "3 calls: under min_calls");
        c.note(true);
        assert_eq!(c.stage(), Stage::RolledBack);
        assert_eq!(c.share(), 0.0);
        assert!(c.outcome().unwrap().contains("3 errors in 4 calls"));
        // Once.
        assert!(!c.roll_back("again"));
        assert!(!c.promote("too late"));
        assert_eq!(counts.rolled_back.load(Ordering::Relaxed), 1);
        // A request that chose before keeps its choice; a new one runs on the old.
        assert!(before.runs(&new, loopback(1)) && !before.runs(&old, loopback(1)));
        let mut after = Picks::default();
        assert!(after.runs(&old, loopback(1)) && !after.runs(&new, loopback(1)));
    }

    #[test]
    fn it_is_promoted_after_its_period_or_by_hand() {
        let clock = Clock::manual();
        let c = canary(
            CanaryConfig {
                percent: 0.0,
                promote_after_ms: 1_000,
                ..CanaryConfig::default()
            },
            &clock,
        );
        assert!(!c.picks_new(loopback(1)));
        clock.advance(Duration::from_millis(999));
        assert_eq!(c.stage(), Stage::Trial);
        clock.advance(Duration::from_millis(1));
        assert!(c.picks_new(loopback(1)));
        assert_eq!(c.stage(), Stage::Promoted);
        assert!(c
            .outcome()
            .unwrap()
            .contains("after 1000 ms without trouble"));
        // Errors after promotion change nothing.
        for _ in 0..100 {
            c.note(true);
        }
        assert_eq!(c.stage(), Stage::Promoted);

        let by_hand = canary(
            CanaryConfig {
                promote_after_ms: 0,
                ..CanaryConfig::default()
            },
            &clock,
        );
        clock.advance(Duration::from_secs(86_400));
        assert_eq!(by_hand.stage(), Stage::Trial, "0: only by the admin call");
        assert!(by_hand.promote("by POST /plugins/p/promote"));
        assert_eq!(by_hand.share(), 100.0);
    }
}
