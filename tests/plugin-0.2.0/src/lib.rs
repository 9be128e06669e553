//! A plugin built against plugin API 0.2.0 (a copy of `plugin-api/` without what
//! 0.2.1 added; see ../README.md): answers `/v020` itself, lets the rest go on.

use hookgate_plugin_api::{export_plugin, Outcome, Registry, Reply};

/// Registers the one BeforeLocation handler.
pub fn init(_config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    reg.on_before_location(|req| {
        if req.path() == "/v020" {
            Outcome::Respond(Reply::new(200).body("built against 0.2.0"))
        } else {
            Outcome::GoOn
        }
    });
    Ok(())
}

export_plugin!(init, points = [BeforeLocation]);
