//! The `auth-basic` plugin accepts what `mod_auth_basic` becomes.

mod support;

use hookgate_import_bfe::Kind;
use hookgate_plugin_api::testing::TestPlugin;

#[test]
fn auth_basic_config_inits() {
    let dir = support::dir();
    let rules = r#"{"Version": "1", "Config": {"shop": [
        {"Cond": "req_host_in(\"www.example.org\")",
         "UserFile": "../conf/mod_auth_basic/userfile", "Realm": "shop"},
        {"Cond": "default_t()", "UserFile": "../conf/mod_auth_basic/userfile"}]}}"#;
    let users = "# users\nuser1:$apr1$mI7SilJz$CWwYJyYKbhVDNl26sdUSh/\n\
                 user3:$2y$10$r6t6HQnQbd1N8doiWBjVHOrd41B6Lql2e456TzXCbPrs9T4I6Bcoa\n";
    let (config, report) = support::import(
        &dir,
        "mod_auth_basic",
        &[
            (
                "mod_auth_basic/mod_auth_basic.conf",
                "[Basic]\nDataPath = mod_auth_basic/rule.data\n",
            ),
            ("mod_auth_basic/rule.data", rules),
            ("mod_auth_basic/userfile", users),
        ],
    );
    assert_eq!(report.count(Kind::Skipped), 2, "{report}");
    TestPlugin::init(hookgate_plugin_auth_basic::init, &config).unwrap();
}
