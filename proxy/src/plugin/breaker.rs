//! A plugin instance's circuit breaker (`[[plugins]] breaker`): while its handlers
//! fail too often, they are not called.
//!
//! - **Closed**: every call is made; its outcome goes into a sliding window
//!   ([`crate::error_rate`], the mechanism passive backend ejection uses too). When at
//!   least `error_ratio` of at least `min_calls` calls in `window_ms` failed, it opens.
//! - **Open**: no call is made for `cooldown_ms`: each is *bypassed*, and the
//!   instance's `on_error` policy applies as after a failure (fail-open: the handler is
//!   skipped; fail-closed: the request is rejected with 500, a connection at Accept or
//!   Handshake is closed). Bypassed calls are counted, never as failures.
//! - **Half-open**: after the cool-down, `probe_calls` calls are made (the rest are
//!   bypassed). If they all succeed it closes, with an empty window; the first that
//!   fails opens it again for another cool-down.
//!
//! What fails is what the host settles as a failure: a panic or a broken verdict. A
//! handler that rejects a request (Response, Redirect, Finish, Close) succeeded;
//! client-caused failures (a bad request, a client gone) never reach a handler as
//! failures, so they never count.
//!
//! Internal: the state is one word, `generation << 2 | state`, so that a probe's
//! outcome that arrives after its half-open round ended cannot close or reopen a
//! later one. Transitions race only by a few calls under concurrency (as the window's
//! counts do); each is logged once, by the thread whose compare-and-swap made it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hookgate_plugin_kit::Clock;

use crate::config::BreakerConfig;
use crate::error_rate::{Threshold, Window};

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Calls are made.
    Closed,
    /// Calls are bypassed until the cool-down ends.
    Open,
    /// A few calls probe the instance.
    HalfOpen,
}

impl State {
    /// All three, in the order of `/metrics`.
    pub const ALL: [State; 3] = [State::Closed, State::Open, State::HalfOpen];

    /// Its name in logs, metrics and `/status`.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }

    fn code(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
        }
    }

    fn of(word: u64) -> State {
        match word & 3 {
            1 => State::Open,
            2 => State::HalfOpen,
            _ => State::Closed,
        }
    }
}

/// How a call was let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: an ordinary call.
    Call,
    /// Half-open: a probe of this round.
    Probe(u64),
}

/// One instance's breaker.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    /// For logs.
    plugin: String,
    fail_open: bool,
    threshold: Threshold,
    calls: Window,
    /// `generation << 2 | state`.
    state: AtomicU64,
    /// When it last opened (milliseconds since `epoch`).
    opened_at_ms: AtomicU64,
    probes_admitted: AtomicU32,
    probes_ok: AtomicU32,
    /// Times it opened (from closed or again from half-open).
    opened: AtomicU64,
    epoch: Instant,
    clock: Clock,
}

impl Breaker {
    /// A closed breaker for the instance `plugin`, whose policy is `fail_open` or not.
    pub fn new(config: BreakerConfig, plugin: &str, fail_open: bool, clock: &Clock) -> Breaker {
        Breaker {
            config,
            plugin: plugin.to_owned(),
            fail_open,
            threshold: Threshold::ratio(config.error_ratio, config.min_calls),
            // Ten steps: the window slides by a tenth of itself.
            calls: Window::new(Duration::from_millis(config.window_ms), 10),
            state: AtomicU64::new(State::Closed.code()),
            opened_at_ms: AtomicU64::new(0),
            probes_admitted: AtomicU32::new(0),
            probes_ok: AtomicU32::new(0),
            opened: AtomicU64::new(0),
            epoch: clock.now(),
            clock: clock.clone(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Its state now.
    pub fn state(&self) -> State {
        State::of(self.state.load(Ordering::Acquire))
    }

    /// Times it opened so far.
    pub fn opened_count(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// How long ago it last opened, if it is open.
    pub fn open_for(&self) -> Option<Duration> {
        (self.state() == State::Open).then(|| {
            let since = self.opened_at_ms.load(Ordering::Acquire);
            Duration::from_millis(self.now_ms().saturating_sub(since))
        })
    }

    /// Whether a call may be made now; `None`: bypass it.
    #[inline]
    pub fn admit(&self) -> Option<Admission> {
        let word = self.state.load(Ordering::Acquire);
        match State::of(word) {
            State::Closed => Some(Admission::Call),
            State::Open => self.after_cool_down(word),
            State::HalfOpen => self.probe(word),
        }
    }

    /// The call let through by `admission` returned.
    #[inline]
    pub fn succeeded(&self, admission: Admission) {
        match admission {
            Admission::Call => self.calls.note(self.now_ms(), false),
            Admission::Probe(generation) => self.probe_succeeded(generation),
        }
    }

    /// The call let through by `admission` failed.
    pub fn failed(&self, admission: Admission) {
        let now = self.now_ms();
        match admission {
            Admission::Call => {
                let counts = self.calls.record(now, true);
                let word = self.state.load(Ordering::Acquire);
                if State::of(word) != State::Closed || !self.threshold.crossed(counts) {
                    return;
                }
                if self.open(word, generation(word), now) {
                    tracing::warn!(
                        plugin = %self.plugin,
                        policy = self.policy(),
                        calls = counts.calls,
                        errors = counts.errors,
                        error_ratio = self.config.error_ratio,
                        window_ms = self.config.window_ms,
                        cooldown_ms = self.config.cooldown_ms,
                        "plugin circuit breaker open: its handlers are not called for \
                         cooldown_ms; {}",
                        self.consequence()
                    );
                }
            }
            Admission::Probe(generation) => {
                let word = self.state.load(Ordering::Acquire);
                if word != pack(generation, State::HalfOpen) {
                    return;
                }
                if self.open(word, generation, now) {
                    tracing::warn!(
                        plugin = %self.plugin,
                        policy = self.policy(),
                        cooldown_ms = self.config.cooldown_ms,
                        "plugin circuit breaker: a probe call failed; open again for \
                         cooldown_ms; {}",
                        self.consequence()
                    );
                }
            }
        }
    }

    /// Open from `word`: the time first, so that a reader of the state never sees an
    /// old opening time.
    fn open(&self, word: u64, generation: u64, now: u64) -> bool {
        self.opened_at_ms.store(now, Ordering::Release);
        let opened = self
            .state
            .compare_exchange(
                word,
                pack(generation, State::Open),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if opened {
            self.opened.fetch_add(1, Ordering::Relaxed);
        }
        opened
    }

    /// Open: past the cool-down, the first caller turns it half-open (a new round) and
    /// takes the first probe.
    fn after_cool_down(&self, word: u64) -> Option<Admission> {
        let since = self.opened_at_ms.load(Ordering::Acquire);
        if self.now_ms().saturating_sub(since) < self.config.cooldown_ms {
            return None;
        }
        let round = generation(word) + 1;
        self.probes_admitted.store(0, Ordering::Release);
        self.probes_ok.store(0, Ordering::Release);
        if self
            .state
            .compare_exchange(
                word,
                pack(round, State::HalfOpen),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            tracing::info!(
                plugin = %self.plugin,
                probe_calls = self.config.probe_calls,
                "plugin circuit breaker half-open: probing with probe_calls calls"
            );
        }
        self.admit_again()
    }

    fn admit_again(&self) -> Option<Admission> {
        let word = self.state.load(Ordering::Acquire);
        match State::of(word) {
            State::Closed => Some(Admission::Call),
            State::Open => None,
            State::HalfOpen => self.probe(word),
        }
    }

    /// Half-open: one of the round's probes, or a bypass once they are all out.
    fn probe(&self, word: u64) -> Option<Admission> {
        // A load first: bypassed calls of a round write nothing shared.
        if self.probes_admitted.load(Ordering::Acquire) >= self.config.probe_calls {
            return None;
        }
        let admitted = self.probes_admitted.fetch_add(1, Ordering::AcqRel);
        (admitted < self.config.probe_calls).then_some(Admission::Probe(generation(word)))
    }

    fn probe_succeeded(&self, generation: u64) {
        let word = self.state.load(Ordering::Acquire);
        if word != pack(generation, State::HalfOpen) {
            return;
        }
        let ok = self.probes_ok.fetch_add(1, Ordering::AcqRel) + 1;
        if ok < self.config.probe_calls {
            return;
        }
        self.calls.clear();
        if self
            .state
            .compare_exchange(
                word,
                pack(generation + 1, State::Closed),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            tracing::info!(
                plugin = %self.plugin,
                probe_calls = self.config.probe_calls,
                "plugin circuit breaker closed: the probe calls succeeded"
            );
        }
    }

    fn policy(&self) -> &'static str {
        if self.fail_open {
            "fail-open"
        } else {
            "fail-closed"
        }
    }

    /// What an open breaker does to traffic, for the log.
    fn consequence(&self) -> &'static str {
        if self.fail_open {
            "fail-open: its handlers are skipped"
        } else {
            "FAIL-CLOSED: EVERY REQUEST IT WOULD SEE IS REJECTED WITH 500 (and connections \
             are closed at accept/handshake)"
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(
            self.clock
                .now()
                .saturating_duration_since(self.epoch)
                .as_millis(),
        )
        .unwrap_or(u64::MAX)
    }
}

fn pack(generation: u64, state: State) -> u64 {
    generation << 2 | state.code()
}

fn generation(word: u64) -> u64 {
    word >> 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn breaker(clock: &Clock) -> Breaker {
        let config = BreakerConfig {
            error_ratio: 0.5,
            window_ms: 10_000,
            min_calls: 4,
            cooldown_ms: 1_000,
            probe_calls: 2,
        };
        Breaker::new(config, "p", false, clock)
    }

    /// Makes one call with `ok` as its outcome; `false` if it was bypassed.
    fn call(b: &Breaker, ok: bool) -> bool {
        match b.admit() {
            Some(admission) if ok => b.succeeded(admission),
            Some(admission) => b.failed(admission),
            None => return false,
        }
        true
    }

    #[test]
    fn stays_closed_below_min_calls() {
        let clock = Clock::manual();
        let b = breaker(&clock);
        for _ in 0..3 {
            assert!(call(&b, false));
        }
        assert_eq!(b.state(), State::Closed);
        // The fourth call, a failure: 4 of 4.
        assert!(call(&b, false));
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.opened_count(), 1);
    }

    #[test]
    fn successes_keep_the_ratio_down() {
        let clock = Clock::manual();
        let b = breaker(&clock);
        for _ in 0..10 {
            assert!(call(&b, true));
            assert!(call(&b, true));
            assert!(call(&b, false));
        }
        assert_eq!(b.state(), State::Closed);
        // 10 of 30 failed; 6 more failures make 16 of 36 (< 0.5), 2 more 18 of 38.
        for _ in 0..8 {
            assert!(call(&b, false));
        }
        assert_eq!(b.state(), State::Closed);
        // 19 of 39: still not half; 20 of 40 is.
        assert!(call(&b, false));
        assert_eq!(b.state(), State::Closed);
        assert!(call(&b, false));
        assert_eq!(b.state(), State::Open);
    }

    #[test]
    fn errors_older_than_the_window_do_not_count() {
        let clock = Clock::manual();
        let b = breaker(&clock);
        for _ in 0..3 {
            assert!(call(&b, false));
        }
        clock.advance(Duration::from_millis(10_001));
        assert!(call(&b, false));
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn open_bypasses_until_the_cool_down_then_probes_and_closes() {
        let clock = Clock::manual();
        let b = breaker(&clock);
        for _ in 0..4 {
            call(&b, false);
        }
        assert_eq!(b.state(), State::Open);
        assert!(!call(&b, true));
        clock.advance(Duration::from_millis(999));
        assert!(!call(&b, true));
        assert_eq!(b.open_for(), Some(Duration::from_millis(999)));
        clock.advance(Duration::from_millis(1));
        // Half-open: two probes; a third call meanwhile is bypassed.
        let first = b.admit();
        assert_eq!(b.state(), State::HalfOpen);
        let second = b.admit();
        assert!(matches!(first, Some(Admission::Probe(_))));
        assert!(matches!(second, Some(Admission::Probe(_))));
        assert_eq!(b.admit(), None);
        b.succeeded(first.unwrap());
        assert_eq!(b.state(), State::HalfOpen);
        b.succeeded(second.unwrap());
        assert_eq!(b.state(), State::Closed);
        // A fresh window: three failures do not open it again.
        for _ in 0..3 {
            assert!(call(&b, false));
        }
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.opened_count(), 1);
    }

    #[test]
    fn a_failed_probe_opens_again_with_a_new_cool_down() {
        let clock = Clock::manual();
        let b = breaker(&clock);
        for _ in 0..4 {
            call(&b, false);
        }
        clock.advance(Duration::from_millis(1_000));
        assert!(call(&b, false));
        assert_eq!(b.state(), State::Open);
        assert_eq!(b.opened_count(), 2);
        clock.advance(Duration::from_millis(999));
        assert!(!call(&b, true));
        clock.advance(Duration::from_millis(1));
        assert!(call(&b, true));
        assert!(call(&b, true));
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn a_stale_probe_outcome_is_ignored() {
        let clock = Clock::manual();
        let b = breaker(&clock);
        for _ in 0..4 {
            call(&b, false);
        }
        clock.advance(Duration::from_millis(1_000));
        let late = b.admit().unwrap();
        let failing = b.admit().unwrap();
        b.failed(failing);
        assert_eq!(b.state(), State::Open);
        clock.advance(Duration::from_millis(1_000));
        let fresh = b.admit().unwrap();
        assert_eq!(b.state(), State::HalfOpen);
        // The first round's probe returns now: it neither counts nor reopens.
        b.succeeded(late);
        b.failed(late);
        assert_eq!(b.state(), State::HalfOpen);
        b.succeeded(fresh);
        assert!(call(&b, true));
        assert_eq!(b.state(), State::Closed);
    }

    #[test]
    fn concurrent_admissions_take_at_most_probe_calls_permits() {
        let clock = Clock::manual();
        let b = Arc::new(breaker(&clock));
        for _ in 0..4 {
            call(&b, false);
        }
        clock.advance(Duration::from_millis(1_000));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || (0..100).filter(|_| b.admit().is_some()).count())
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(admitted, 2);
    }
}
