//! The `rate-limit` plugin accepts what `mod_prison` becomes.

mod support;

use hookgate_plugin_api::testing::TestPlugin;

#[test]
fn prison_config_inits() {
    let dir = support::dir();
    let rule = |name: &str, sign: &str, cmd: &str| {
        format!(
            r#"{{"Name": "{name}", "Cond": "req_path_prefix_in(\"/prison\", false)",
                "AccessSignConf": {sign}, "Action": {{"Cmd": "{cmd}", "Params": []}},
                "CheckPeriod": 10, "StayPeriod": 10, "Threshold": 5,
                "AccessDictSize": 1000, "PrisonDictSize": 1000}}"#
        )
    };
    let rules = format!(
        r#"{{"Version": "1", "Config": {{"global": [{}], "shop": [{}, {}]}}}}"#,
        rule("g", r#"{"UseClientIP": true}"#, "CLOSE"),
        rule("h", r#"{"Header": ["X-Api-Key"]}"#, "FINISH"),
        rule("c", r#"{"UseClientIP": true, "Cookie": ["UID"]}"#, "CLOSE"),
    );
    let (config, _) = support::import(
        &dir,
        "mod_prison",
        &[
            (
                "mod_prison/mod_prison.conf",
                "[Basic]\nProductRulePath = mod_prison/prison.data\n",
            ),
            ("mod_prison/prison.data", &rules),
        ],
    );
    TestPlugin::init(hookgate_plugin_rate_limit::init, &config).unwrap();
}
