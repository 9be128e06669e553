//! The `static` plugin accepts what `mod_static` becomes.

mod support;

use hookgate_import_bfe::Kind;
use hookgate_plugin_api::testing::TestPlugin;

#[test]
fn static_config_inits() {
    let dir = support::dir();
    std::fs::create_dir_all(dir.path().join("www/s")).unwrap();
    let rules = r#"{"Version": "1", "Config": {
        "shop": [{"Cond": "req_path_prefix_in(\"/s/\", false)",
                  "Action": {"Cmd": "BROWSE", "Params": ["../www", "index.html"]}}],
        "web": [{"Cond": "default_t()",
                 "Action": {"Cmd": "BROWSE", "Params": ["../www", "index.html"]}}]}}"#;
    let (config, report) = support::import(
        &dir,
        "mod_static",
        &[
            (
                "mod_static/mod_static.conf",
                "[Basic]\nDataPath = mod_static/static_rule.data\n",
            ),
            ("mod_static/static_rule.data", rules),
        ],
    );
    assert_eq!(report.count(Kind::Skipped), 0, "{report}");
    TestPlugin::init(hookgate_plugin_static::init, &config).unwrap();
}
