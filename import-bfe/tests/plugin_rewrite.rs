//! The `rewrite` plugin accepts what `mod_rewrite` becomes.

mod support;

use hookgate_plugin_api::testing::TestPlugin;

#[test]
fn rewrite_config_inits() {
    let dir = support::dir();
    let rules = r#"{"Version": "1", "Config": {"shop": [
        {"Cond": "req_path_prefix_in(\"/rewrite\", false)", "Last": true,
         "Actions": [{"Cmd": "PATH_PREFIX_ADD", "Params": ["/bfe/"]},
                     {"Cmd": "HOST_SET", "Params": ["a.internal:8080"]}]},
        {"Cond": "default_t()", "Last": false,
         "Actions": [{"Cmd": "QUERY_DEL", "Params": ["a", "b"]},
                     {"Cmd": "QUERY_ADD", "Params": ["k", "v"]},
                     {"Cmd": "QUERY_ADD", "Params": ["k2", "v2"]},
                     {"Cmd": "PATH_PREFIX_TRIM", "Params": ["/api"]},
                     {"Cmd": "PATH_SET", "Params": ["/index.html"]}]},
        {"Cond": "default_t()", "Last": true,
         "Actions": [{"Cmd": "QUERY_RENAME", "Params": ["a", "b"]}]}]}}"#;
    let (config, _) = support::import(
        &dir,
        "mod_rewrite",
        &[
            (
                "mod_rewrite/mod_rewrite.conf",
                "[Basic]\nDataPath = mod_rewrite/rewrite.data\n",
            ),
            ("mod_rewrite/rewrite.data", rules),
        ],
    );
    TestPlugin::init(hookgate_plugin_rewrite::init, &config).unwrap();
}
