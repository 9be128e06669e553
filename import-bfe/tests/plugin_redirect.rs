//! The `redirect` plugin accepts what `mod_redirect` becomes.

mod support;

use hookgate_plugin_api::testing::TestPlugin;

#[test]
fn redirect_config_inits() {
    let dir = support::dir();
    let rule = |cmd: &str, param: &str, status: u16| {
        format!(
            r#"{{"Cond": "req_path_prefix_in(\"/redirect\", false)",
                "Actions": [{{"Cmd": "{cmd}", "Params": ["{param}"]}}], "Status": {status}}}"#
        )
    };
    let rules = format!(
        r#"{{"Version": "1", "Config": {{"global": [{}], "shop": [{}, {}, {}]}}}}"#,
        rule("URL_SET", "https://example.org", 301),
        rule("URL_PREFIX_ADD", "https://b.example", 302),
        rule("SCHEME_SET", "https", 308),
        rule("URL_SET", "/moved", 307),
    );
    let (config, _) = support::import(
        &dir,
        "mod_redirect",
        &[
            (
                "mod_redirect/mod_redirect.conf",
                "[Basic]\nDataPath = mod_redirect/redirect.data\n",
            ),
            ("mod_redirect/redirect.data", &rules),
        ],
    );
    TestPlugin::init(hookgate_plugin_redirect::init, &config).unwrap();
}
