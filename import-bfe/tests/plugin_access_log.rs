//! The `access-log` plugin accepts what `mod_access` becomes.

mod support;

use hookgate_import_bfe::Kind;
use hookgate_plugin_api::testing::TestPlugin;

#[test]
fn access_config_inits() {
    let dir = support::dir();
    std::fs::create_dir(dir.path().join("log")).unwrap();
    let conf = "[Log]\nLogPrefix = access\nLogDir = ../log\nRotateWhen = NEXTHOUR\n\
                [Template]\nRequestTemplate = COMBINED\n";
    let (config, report) =
        support::import(&dir, "mod_access", &[("mod_access/mod_access.conf", conf)]);
    assert!(report.count(Kind::Skipped) >= 1);
    TestPlugin::init(hookgate_plugin_access_log::init, &config).unwrap();
    assert!(dir.path().join("log/access.log").exists());
}
