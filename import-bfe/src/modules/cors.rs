//! `mod_cors` → the `cors` plugin: one policy per product, from the product's first
//! rule.
//!
//! The plugin has no rule list and no condition: a rule converts when its condition
//! holds for every request of the product (`default_t()`), or, reported as an
//! approximation, when it only tests the host. BFE's `%origin` (echo any origin)
//! becomes `["*"]`, which the plugin answers with the origin itself; with credentials
//! it cannot be expressed (the plugin refuses `*` with credentials).

use super::{first_rule_per_product, Module};
use crate::cond;
use crate::json::Node;
use crate::InputError;

pub fn convert(module: &mut Module<'_>) -> Result<Option<toml::Table>, InputError> {
    let data = module.data("Basic", "DataPath", "mod_cors/cors_rule.data")?;
    let why = "the cors plugin has one policy per product and no conditions";
    first_rule_per_product(module, &data, why, policy)
}

/// A rule's policy, or `None` (reported) when it cannot be expressed.
fn policy(module: &mut Module<'_>, rule: &Node<'_>) -> Result<Option<toml::Table>, InputError> {
    let (file, key) = (rule.file(), rule.key().to_owned());
    let origins = rule.opt_strings("AccessControlAllowOrigins")?;
    let credentials = rule
        .opt_bool("AccessControlAllowCredentials")?
        .unwrap_or(false);
    let expose = rule.opt_strings("AccessControlExposeHeaders")?;
    let methods = rule
        .get("AccessControlAllowMethods")
        .map(|n| n.strings())
        .transpose()?;
    let headers = rule.opt_strings("AccessControlAllowHeaders")?;
    let max_age = rule.opt_int("AccessControlMaxAge")?;
    if let Some(age) = max_age {
        if !(-1..=86400).contains(&age) {
            let at = format!("{key}.AccessControlMaxAge");
            return Err(InputError::new(file, at, "must be from -1 to 86400"));
        }
    }
    let Some(when) = cond::of_rule(rule, "the rule", module.report)? else {
        return Ok(None);
    };
    if when.trim() != "default_t()" {
        if !host_only(when) {
            let reason = format!(
                "its condition {when:?} cannot be kept: the cors plugin applies one policy \
                 to every request of the product"
            );
            module.report.skipped(file, key, reason);
            return Ok(None);
        }
        let reason = format!(
            "its host condition {when:?} is dropped: the policy holds for every host of \
             the product"
        );
        module.report.approximated(file, key.clone(), reason);
    }
    let mut allow = Vec::new();
    for origin in origins {
        match origin {
            "%origin" if credentials => {
                let reason = "\"%origin\" with credentials cannot be converted: the cors \
                              plugin refuses any-origin (\"*\") with credentials; list the \
                              origins instead";
                module.report.skipped(file, key, reason);
                return Ok(None);
            }
            "%origin" => allow.push("*".to_owned()),
            "*" => {
                let reason = "BFE's literal `Access-Control-Allow-Origin: *` becomes the \
                              plugin's any-origin, which answers with the request's origin";
                module.report.approximated(file, key.clone(), reason);
                allow.push("*".to_owned());
            }
            other if is_origin(other) => allow.push(other.to_ascii_lowercase()),
            other => {
                let reason = format!(
                    "origin {other:?} left out: the cors plugin takes only \
                     scheme://host[:port] origins"
                );
                module.report.skipped(file, key.clone(), reason);
            }
        }
    }
    if allow.is_empty() {
        let reason = "no origin is allowed, so the rule allows nothing: not converted";
        module.report.skipped(file, key, reason);
        return Ok(None);
    }
    if allow.iter().any(|o| o == "*") {
        if credentials {
            let reason = "any origin (`*`) with credentials cannot be converted: the cors \
                          plugin refuses it; list the origins instead";
            module.report.skipped(file, key, reason);
            return Ok(None);
        }
        allow.retain(|o| o == "*");
    }
    let mut policy = toml::Table::new();
    policy.insert("allow_origins".into(), allow.into());
    if credentials {
        policy.insert("allow_credentials".into(), true.into());
    }
    let lower =
        |list: Vec<&str>| -> Vec<String> { list.iter().map(|h| h.to_ascii_lowercase()).collect() };
    if !expose.is_empty() {
        policy.insert("expose_headers".into(), lower(expose).into());
    }
    if !headers.is_empty() {
        policy.insert("allow_headers".into(), lower(headers).into());
    }
    if let Some(methods) = methods {
        let methods: Vec<String> = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        policy.insert("allow_methods".into(), methods.into());
    }
    match max_age {
        Some(-1) => {
            let reason = "AccessControlMaxAge -1 (browsers must not cache preflights) is \
                          left out: the plugin sends no max age, so browsers cache for their \
                          default (5 s)";
            module.report.approximated(file, key.clone(), reason);
        }
        Some(age) => {
            policy.insert("max_age".into(), age.into());
        }
        None => {}
    }
    let reason = "a preflight from an origin not allowed is refused with 403 (BFE answers \
                  204 without Access-Control-* headers)";
    module.report.approximated(file, key, reason);
    Ok(Some(policy))
}

/// Whether `when` only tests the host: `req_host_in(...)` or `req_host_suffix_in(...)`
/// alternatives (checked crudely; anything unusual counts as not host-only).
fn host_only(when: &str) -> bool {
    !when.contains("&&")
        && !when.contains('!')
        && when.split("||").all(|part| {
            let part = part.trim();
            (part.starts_with("req_host_in(") || part.starts_with("req_host_suffix_in("))
                && part.ends_with(')')
                && part.matches('(').count() == 1
        })
}

/// Whether `text` is `http(s)://host[:port]` and nothing more.
fn is_origin(text: &str) -> bool {
    let Some((scheme, authority)) = text.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    !authority.is_empty()
        && !authority.contains(['/', '@', '?', '#', ' '])
        && !authority.ends_with(default_port)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{reported, rules, Dir};
    use crate::Kind;

    const CONF: &str = "[Basic]\nDataPath = mod_cors/cors_rule.data\n";

    fn convert(config: &str) -> (Option<toml::Table>, crate::Report) {
        let dir = Dir::new(&[
            ("mod_cors/mod_cors.conf", CONF),
            ("mod_cors/cors_rule.data", &rules(config)),
        ]);
        dir.convert("mod_cors").unwrap()
    }

    #[test]
    fn first_rule_of_each_product() {
        let (config, report) = convert(
            r#"{"shop": [{"Cond": "default_t()",
                "AccessControlAllowOrigins": ["https://A.example", "bad/x"],
                "AccessControlAllowCredentials": true,
                "AccessControlExposeHeaders": ["X-Custom-Header"],
                "AccessControlAllowMethods": ["get", "POST"],
                "AccessControlMaxAge": 600},
               {"Cond": "default_t()", "AccessControlAllowOrigins": ["%origin"]}],
               "web": [{"cond": "req_host_in(\"a.com|b.com\")",
                "AccessControlAllowOrigins": ["%origin"], "AccessControlMaxAge": -1}]}"#,
        );
        let config = config.unwrap();
        let shop = config["products"]["shop"].as_table().unwrap();
        assert_eq!(shop["allow_origins"].as_array().unwrap().len(), 1);
        assert_eq!(shop["allow_origins"][0].as_str(), Some("https://a.example"));
        assert_eq!(shop["allow_methods"][0].as_str(), Some("GET"));
        assert_eq!(shop["expose_headers"][0].as_str(), Some("x-custom-header"));
        assert_eq!(shop["max_age"].as_integer(), Some(600));
        let web = config["products"]["web"].as_table().unwrap();
        assert_eq!(web["allow_origins"][0].as_str(), Some("*"));
        assert!(web.get("max_age").is_none());
        assert_eq!(report.count(Kind::Skipped), 2, "{report}");
        assert_eq!(report.count(Kind::Approximated), 4, "{report}");
        assert!(reported(&report, "only a product's first rule"));
        assert!(reported(&report, "\"bad/x\""));
    }

    #[test]
    fn unconvertible_rules() {
        let (config, report) = convert(
            r#"{"a": [{"Cond": "req_path_prefix_in(\"/x\", false)",
                       "AccessControlAllowOrigins": ["https://a.example"]}],
                "b": [{"Cond": "default_t()", "AccessControlAllowOrigins": ["%origin"],
                       "AccessControlAllowCredentials": true}],
                "d": [{"Cond": "default_t()", "AccessControlAllowOrigins": ["*"],
                       "AccessControlAllowCredentials": true}],
                "c": [{"Cond": "req_host_regmatch(\"x\")"}]}"#,
        );
        assert!(config.is_none());
        assert_eq!(report.count(Kind::Skipped), 4, "{report}");
        assert!(reported(&report, "any origin (`*`) with credentials"));
        assert!(reported(&report, "\"%origin\" with credentials"));
    }

    #[test]
    fn malformed() {
        let dir = Dir::new(&[
            ("mod_cors/mod_cors.conf", CONF),
            (
                "mod_cors/cors_rule.data",
                &rules(r#"{"a": [{"Cond": "default_t()", "AccessControlMaxAge": 90000}]}"#),
            ),
        ]);
        assert!(dir.convert("mod_cors").is_err());
        dir.write("mod_cors/cors_rule.data", &rules(r#"{"a": [{"Cond": 1}]}"#));
        assert!(dir.convert("mod_cors").is_err());
    }
}
