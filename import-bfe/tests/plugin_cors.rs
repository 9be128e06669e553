//! The `cors` plugin accepts what `mod_cors` becomes.

mod support;

use hookgate_import_bfe::Kind;
use hookgate_plugin_api::testing::TestPlugin;

#[test]
fn cors_config_inits() {
    let dir = support::dir();
    let rules = r#"{"Version": "1", "Config": {
        "shop": [{"Cond": "default_t()",
            "AccessControlAllowOrigins": ["https://a.example", "http://b.example:8080"],
            "AccessControlAllowCredentials": true,
            "AccessControlExposeHeaders": ["X-Custom-Header"],
            "AccessControlAllowMethods": ["HEAD","GET","POST","PUT","DELETE","OPTIONS","PATCH"],
            "AccessControlAllowHeaders": ["X-Custom-Header"],
            "AccessControlMaxAge": 600}],
        "web": [{"Cond": "req_host_in(\"example.org\")",
            "AccessControlAllowOrigins": ["%origin"], "AccessControlMaxAge": -1}]}}"#;
    let (config, report) = support::import(
        &dir,
        "mod_cors",
        &[
            (
                "mod_cors/mod_cors.conf",
                "[Basic]\nDataPath = mod_cors/cors_rule.data\n",
            ),
            ("mod_cors/cors_rule.data", rules),
        ],
    );
    assert_eq!(report.count(Kind::Approximated), 4, "{report}");
    TestPlugin::init(hookgate_plugin_cors::init, &config).unwrap();
}
