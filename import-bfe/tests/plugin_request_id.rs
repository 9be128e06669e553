//! The `request-id` plugin accepts what `mod_logid` becomes.

mod support;

use hookgate_plugin_api::testing::TestPlugin;

#[test]
fn logid_config_inits() {
    let dir = support::dir();
    let (config, _) = support::import(&dir, "mod_logid", &[]);
    TestPlugin::init(hookgate_plugin_request_id::init, &config).unwrap();
}
