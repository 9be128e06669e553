//! `mod_redirect` → the `redirect` plugin: one rule per BFE rule, its single action
//! becoming `set_url`, `add_prefix` or `set_scheme`.
//!
//! `URL_FROM_QUERY` and statuses other than 301, 302, 303, 307 and 308 have no
//! equivalent and are reported.

use super::{products, Module, Sections};
use crate::cond;
use crate::InputError;

pub fn convert(module: &mut Module<'_>) -> Result<Option<toml::Table>, InputError> {
    let data = module.data("Basic", "DataPath", "mod_redirect/redirect.data")?;
    let mut sections = Sections::default();
    for (product, list) in products(&data)? {
        for rule in list.items()? {
            let (file, key) = (rule.file(), rule.key().to_owned());
            let actions = rule.field("Actions")?;
            let [action] = &actions.items()?[..] else {
                return Err(InputError::new(
                    file,
                    actions.key(),
                    "must hold exactly one action",
                ));
            };
            let cmd = action.field("Cmd")?.str()?;
            let params = action.field("Params")?.strings()?;
            let status_node = rule.field("Status")?;
            let status = status_node.int()?;
            if status == 0 {
                return Err(InputError::new(file, status_node.key(), "must not be 0"));
            }
            let Some(when) = cond::of_rule(&rule, "the rule", module.report)? else {
                continue;
            };
            let [param] = params[..] else {
                let at = format!("{}.Params", action.key());
                return Err(InputError::new(file, at, "must hold exactly one value"));
            };
            let (target, value) = match cmd.to_ascii_uppercase().as_str() {
                "URL_SET" if param.starts_with('/') || param.contains("://") => {
                    ("set_url", param.to_owned())
                }
                "URL_SET" => {
                    let reason = format!(
                        "the rule left out: URL {param:?} is neither absolute nor a path, \
                         which the redirect plugin requires"
                    );
                    module.report.skipped(file, key, reason);
                    continue;
                }
                "URL_PREFIX_ADD" => {
                    if param.ends_with('/') {
                        let reason = format!(
                            "prefix {param:?}: the plugin drops its trailing `/` before \
                             the request's path (BFE keeps it, giving `//`)"
                        );
                        module.report.approximated(file, key.clone(), reason);
                    }
                    ("add_prefix", param.to_owned())
                }
                "SCHEME_SET" => {
                    let scheme = param.to_ascii_lowercase();
                    if scheme != "http" && scheme != "https" {
                        let reason =
                            format!("the rule left out: scheme {param:?} is not http or https");
                        module.report.skipped(file, key, reason);
                        continue;
                    }
                    let reason = "SCHEME_SET: the plugin redirects to the host without its \
                                  port, and does not redirect a request already on that \
                                  scheme (BFE does)";
                    module.report.approximated(file, key.clone(), reason);
                    ("set_scheme", scheme)
                }
                "URL_FROM_QUERY" => {
                    let reason = "the rule left out: URL_FROM_QUERY (redirect to a query \
                                  value) has no equivalent in the redirect plugin";
                    module.report.skipped(file, key, reason);
                    continue;
                }
                other => {
                    let reason = format!("the rule left out: unknown action {other:?}");
                    module.report.skipped(file, key, reason);
                    continue;
                }
            };
            if ![301, 302, 303, 307, 308].contains(&status) {
                let reason = format!(
                    "the rule left out: status {status} is not one the redirect plugin \
                     sends (301, 302, 303, 307, 308)"
                );
                module.report.skipped(file, key, reason);
                continue;
            }
            let mut entry = toml::Table::new();
            entry.insert("cond".into(), when.into());
            entry.insert(target.into(), value.into());
            entry.insert("status".into(), status.into());
            sections.push(product, false, "rules", entry);
        }
    }
    Ok((!sections.is_empty()).then(|| sections.into_table()))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{reported, rules, Dir};
    use crate::Kind;

    fn convert(config: &str) -> Result<(Option<toml::Table>, crate::Report), crate::InputError> {
        Dir::new(&[
            (
                "mod_redirect/mod_redirect.conf",
                "[Basic]\nDataPath = mod_redirect/redirect.data\n",
            ),
            ("mod_redirect/redirect.data", &rules(config)),
        ])
        .convert("mod_redirect")
    }

    fn rule(cmd: &str, param: &str, status: u16) -> String {
        format!(
            r#"{{"Cond": "req_path_prefix_in(\"/r\", false)",
                "Actions": [{{"Cmd": "{cmd}", "Params": ["{param}"]}}], "Status": {status}}}"#
        )
    }

    #[test]
    fn each_action() {
        let config = format!(
            r#"{{"global": [{}], "shop": [{}, {}, {}, {}, {}]}}"#,
            rule("URL_SET", "https://example.org", 301),
            rule("URL_PREFIX_ADD", "https://b.example/", 302),
            rule("SCHEME_SET", "HTTPS", 308),
            rule("URL_FROM_QUERY", "u", 302),
            rule("URL_SET", "/x", 300),
            rule("URL_SET", "x", 301),
        );
        let (config, report) = convert(&config).unwrap();
        let config = config.unwrap();
        let global = config["products"]["global"]["rules"].as_array().unwrap();
        assert_eq!(global[0]["set_url"].as_str(), Some("https://example.org"));
        assert_eq!(global[0]["status"].as_integer(), Some(301));
        let shop = config["products"]["shop"]["rules"].as_array().unwrap();
        assert_eq!(shop.len(), 2);
        assert_eq!(shop[0]["add_prefix"].as_str(), Some("https://b.example/"));
        assert_eq!(shop[1]["set_scheme"].as_str(), Some("https"));
        assert_eq!(report.count(Kind::Skipped), 3, "{report}");
        assert_eq!(report.count(Kind::Approximated), 2, "{report}");
        assert!(reported(&report, "URL_FROM_QUERY"));
        assert!(reported(&report, "status 300"));
    }

    #[test]
    fn malformed() {
        let two = r#"{"a": [{"Cond": "default_t()", "Status": 301, "Actions": [
            {"Cmd": "URL_SET", "Params": ["/a"]}, {"Cmd": "URL_SET", "Params": ["/b"]}]}]}"#;
        assert!(convert(two).is_err());
        let no_status = r#"{"a": [{"Cond": "default_t()", "Actions": [
            {"Cmd": "URL_SET", "Params": ["/a"]}]}]}"#;
        assert!(convert(no_status).is_err());
    }
}
