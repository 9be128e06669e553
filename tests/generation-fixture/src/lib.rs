//! Test fixture: one plugin that `tests/tests/e2e/generations.rs` builds twice, with
//! `HOOKGATE_FIXTURE_GENERATION` set to 1 and then 2 (and the package version to
//! 0.1.N), to swap one build for the other under a running proxy.
//!
//! - ReadResponse: adds `x-generation: N` (the build's number) to every response.
//! - Accept: keeps the build's number in the connection's typed state; Finish reads it
//!   back and counts `generation_finish{accepted_by, finished_by}` (a Finish without
//!   its Accept's state counts `accepted_by="none"`), so a test sees that Finish ran on
//!   the generation that ran Accept.
//! - BeforeLocation: with `panic_in = N` in the settings, the build N panics on every
//!   request (a bad new build); any other build goes on.

use hookgate_plugin_api::{export_plugin, Action, Outcome, Registry, ResponseOutcome};

/// This build's generation.
const GENERATION: &str = env!("HOOKGATE_FIXTURE_GENERATION");

/// What Accept leaves for Finish.
#[derive(Default)]
struct Accepted(Option<&'static str>);

/// Adds its number, counts Finish against Accept, and panics where told to.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let panics = config
        .lines()
        .filter_map(|line| line.split_once('='))
        .any(|(key, value)| key.trim() == "panic_in" && value.trim() == GENERATION);
    let finished = reg.counter(
        "generation_finish",
        "Connections finished, by the build that ran Accept and the one that ran Finish",
        &["accepted_by", "finished_by"],
    )?;
    reg.on_accept(|session| {
        session.local::<Accepted>().0 = Some(GENERATION);
        Action::GoOn
    });
    reg.on_finish(move |session| {
        let accepted = session.take_local::<Accepted>().and_then(|a| a.0);
        finished.inc(&[accepted.unwrap_or("none"), GENERATION]);
        Action::GoOn
    });
    reg.on_before_location(move |_req| {
        if panics {
            panic!("generation {GENERATION}: a bad build");
        }
        Outcome::GoOn
    });
    reg.on_read_response(|_req, resp| {
        resp.set_header("x-generation", GENERATION);
        ResponseOutcome::GoOn
    });
    Ok(())
}

export_plugin!(
    init,
    points = [Accept, BeforeLocation, ReadResponse, Finish]
);
