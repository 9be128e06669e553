//! An example hookgate plugin that does nothing: one BeforeLocation handler that goes
//! on. The chain benchmark loads this library N times to measure the cost of a chain of
//! N handlers; it ignores its config.

use hookgate_plugin_api::{export_plugin, Outcome, Registry};

/// Registers the one no-op handler.
pub fn init(_config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    reg.on_before_location(|_req| Outcome::GoOn);
    Ok(())
}

export_plugin!(init, points = [BeforeLocation]);

#[cfg(test)]
mod tests {
    use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
    use hookgate_plugin_api::{Outcome, Point};

    use super::init;

    #[test]
    fn goes_on_and_changes_nothing_whatever_the_config() {
        for config in ["", "anything = 1", "not toml at all"] {
            let plugin = TestPlugin::init(init, config).unwrap();
            let total: usize = Point::ALL.iter().map(|p| plugin.handler_count(*p)).sum();
            assert_eq!((plugin.handler_count(Point::BeforeLocation), total), (1, 1));
            let mut req = FakeRequest::get("/a").header("x-a", "1");
            assert_eq!(plugin.before_location(&mut req), Ok(Outcome::GoOn));
            assert_eq!(req.header_values("x-a"), ["1"]);
            assert_eq!(req.context("anything"), None);
        }
    }
}
