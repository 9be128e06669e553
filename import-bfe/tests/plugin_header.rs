//! The `header` plugin accepts what `mod_header` becomes.

mod support;

use hookgate_import_bfe::Kind;
use hookgate_plugin_api::testing::TestPlugin;

#[test]
fn header_config_inits() {
    let dir = support::dir();
    let rules = r#"{"Version": "1", "Config": {
      "global": [{"cond": "req_path_prefix_in(\"/header\", false)", "last": true,
        "actions": [{"cmd": "REQ_HEADER_SET", "params": ["X-Bfe-Log-Id", "%bfe_log_id"]},
                    {"cmd": "RSP_HEADER_SET", "params": ["X-Proxied-By", "bfe"]}]},
                  {"cond": "default_t()", "last": false,
        "actions": [{"cmd": "REQ_HEADER_ADD", "params": ["X-Ip", "%bfe_client_ip"]},
                    {"cmd": "REQ_HEADER_DEL", "params": ["X-A"]},
                    {"cmd": "REQ_HEADER_SET", "params": ["X-Host", "%bfe_request_host"]}]}],
      "shop": [{"Cond": "default_t()", "Last": false,
        "Actions": [{"Cmd": "RSP_HEADER_RENAME", "Params": ["Server", "X-Server"]},
                    {"Cmd": "RSP_HEADER_ADD", "Params": ["X-A", "1"]},
                    {"Cmd": "RSP_HEADER_ADD", "Params": ["X-A", "2"]}]}]}}"#;
    let (config, report) = support::import(
        &dir,
        "mod_header",
        &[
            (
                "mod_header/mod_header.conf",
                "[Basic]\nDataPath = mod_header/header_rule.data\n",
            ),
            ("mod_header/header_rule.data", rules),
        ],
    );
    assert_eq!(report.count(Kind::Skipped), 0, "{report}");
    TestPlugin::init(hookgate_plugin_header::init, &config).unwrap();
}
