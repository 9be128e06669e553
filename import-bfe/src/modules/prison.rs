//! `mod_prison` → the `rate-limit` plugin: each rule counts the requests its condition
//! matches, per client, over `CheckPeriod` seconds, and refuses those over
//! `Threshold`.
//!
//! The plugin counts per client IP, or per value of one header (`key_header`), and
//! refuses for the rest of the window only: BFE's composite keys (cookies, query,
//! URL parts, several headers), key-less counting (all clients together),
//! `StayPeriod` and its `PASS`/`REQ_HEADER_SET` actions are reported.

use super::{products, Module, Sections};
use crate::cond;
use crate::json::Node;
use crate::InputError;

pub fn convert(module: &mut Module<'_>) -> Result<Option<toml::Table>, InputError> {
    let data = module.data("Basic", "ProductRulePath", "mod_prison/prison.data")?;
    let mut sections = Sections::default();
    for (product, list) in products(&data)? {
        for rule in list.items()? {
            if let Some(entry) = rule_entry(module, &rule)? {
                sections.push(product, true, "rules", entry);
            }
        }
    }
    Ok((!sections.is_empty()).then(|| sections.into_table()))
}

fn rule_entry(module: &mut Module<'_>, rule: &Node<'_>) -> Result<Option<toml::Table>, InputError> {
    let (file, key) = (rule.file(), rule.key().to_owned());
    // Every field is required by BFE's loader.
    let name = rule.field("Name")?.str()?;
    let sign = rule.field("AccessSignConf")?;
    let action = rule.field("Action")?;
    let cmd = action.field("Cmd")?.str()?;
    let check = rule.field("CheckPeriod")?;
    let period = check.int()?;
    let stay = rule.field("StayPeriod")?.int()?;
    let threshold = rule.field("Threshold")?.int()?;
    rule.field("AccessDictSize")?.int()?;
    rule.field("PrisonDictSize")?.int()?;
    if period <= 0 {
        return Err(InputError::new(file, check.key(), "must be above 0"));
    }
    let what = format!("rule {name:?}");
    let Some(when) = cond::of_rule(rule, &what, module.report)? else {
        return Ok(None);
    };
    let action = match cmd {
        "CLOSE" => "close",
        "FINISH" => {
            let reason = format!(
                "{what}: FINISH (403, then close) becomes the plugin's 429 answer with \
                 Retry-After"
            );
            module.report.approximated(file, key.clone(), reason);
            "respond"
        }
        "PASS" => {
            let reason = format!("{what} left out: its PASS action lets every request through");
            module.report.note(file, key, reason);
            return Ok(None);
        }
        other => {
            let reason = format!(
                "{what} left out: action {other:?} has no equivalent (the rate-limit plugin \
                 answers 429 or closes the connection)"
            );
            module.report.skipped(file, key, reason);
            return Ok(None);
        }
    };
    let Ok(limit) = u32::try_from(threshold) else {
        return Err(InputError::new(
            file,
            format!("{key}.Threshold"),
            "must be from 0",
        ));
    };
    if limit == 0 {
        let reason = format!(
            "{what} left out: Threshold 0 refuses every matching request, which the \
             rate-limit plugin cannot express (a block plugin rule can)"
        );
        module.report.skipped(file, key, reason);
        return Ok(None);
    }
    let mut entry = toml::Table::new();
    entry.insert("cond".into(), when.into());
    entry.insert("limit".into(), i64::from(limit).into());
    entry.insert("window_ms".into(), period.saturating_mul(1000).into());
    entry.insert("action".into(), action.into());
    if stay > 0 {
        let reason = format!(
            "{what}: StayPeriod {stay} s is lost: a client over the limit is refused only \
             for the rest of its window"
        );
        module.report.approximated(file, key.clone(), reason);
    }
    key_parts(module, &what, &key, &sign, &mut entry)?;
    Ok(Some(entry))
}

/// The counter key: the client IP (the plugin's default) or one header.
fn key_parts(
    module: &mut Module<'_>,
    what: &str,
    key: &str,
    sign: &Node<'_>,
    entry: &mut toml::Table,
) -> Result<(), InputError> {
    let file = sign.file();
    let by_ip = sign.opt_bool("UseClientIP")?.unwrap_or(false)
        || sign.opt_bool("UseSocketIP")?.unwrap_or(false);
    let headers = sign.opt_strings("Header")?;
    let mut lost: Vec<String> = Vec::new();
    for flag in ["UseConnectID", "UseUrl", "UseHost", "UsePath", "UseHeaders"] {
        if sign.opt_bool(flag)?.unwrap_or(false) {
            lost.push(flag.to_owned());
        }
    }
    if sign.opt_str("UrlRegexp")?.is_some_and(|r| !r.is_empty()) {
        lost.push("UrlRegexp".to_owned());
    }
    for list in ["Query", "Cookie"] {
        let items = sign.opt_strings(list)?;
        if !items.is_empty() {
            lost.push(format!("{list} {items:?}"));
        }
    }
    if headers.len() > 1 {
        lost.push(format!("Header {headers:?}"));
    }
    if sign.opt_bool("UseSocketIP")?.unwrap_or(false)
        && !sign.opt_bool("UseClientIP")?.unwrap_or(false)
    {
        let reason = format!(
            "{what}: UseSocketIP counts by the client IP the proxy trusts (X-Forwarded-For \
             from server.trusted_proxies), not always the socket peer"
        );
        module.report.approximated(file, key, reason);
    }
    if let [header] = headers[..] {
        entry.insert("key_header".into(), header.to_ascii_lowercase().into());
        let reason = if by_ip {
            format!(
                "{what}: BFE's key is the client IP together with header {header}; the \
                 plugin counts by the header's value when present, else by client IP"
            )
        } else {
            format!(
                "{what}: requests without header {header} are counted per client IP \
                 (BFE counts them together)"
            )
        };
        module.report.approximated(file, key, reason);
    }
    if !lost.is_empty() {
        let reason = format!(
            "{what}: the counter key parts {} are dropped: the plugin counts per client IP \
             (or one header)",
            lost.join(", ")
        );
        module.report.approximated(file, key, reason);
    } else if !by_ip && headers.is_empty() {
        let reason = format!(
            "{what}: BFE counts all clients together (no AccessSignConf key); the plugin \
             counts each client IP separately"
        );
        module.report.approximated(file, key, reason);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testing::{reported, rules, Dir};
    use crate::Kind;

    fn rule(extra: &str) -> String {
        format!(
            r#"{{"Name": "r", "Cond": "req_path_prefix_in(\"/p\", false)",
                 "CheckPeriod": 10, "StayPeriod": 0, "Threshold": 5,
                 "AccessDictSize": 10, "PrisonDictSize": 10, {extra}}}"#
        )
    }

    fn convert(config: &str) -> Result<(Option<toml::Table>, crate::Report), crate::InputError> {
        let dir = Dir::new(&[
            (
                "mod_prison/mod_prison.conf",
                "[Basic]\nProductRulePath = mod_prison/prison.data\n",
            ),
            ("mod_prison/prison.data", &rules(config)),
        ]);
        dir.convert("mod_prison")
    }

    #[test]
    fn rules_with_keys_and_actions() {
        let config = format!(
            r#"{{"global": [{}],
                "shop": [{}, {}, {}, {}]}}"#,
            rule(
                r#""AccessSignConf": {"UseClientIP": true}, "Action": {"Cmd": "CLOSE", "Params": []}"#
            ),
            rule(
                r#""AccessSignConf": {"Header": ["X-Key"]}, "Action": {"Cmd": "FINISH", "Params": []}"#
            ),
            rule(
                r#""AccessSignConf": {"UseClientIP": true, "Cookie": ["UID"]}, "Action": {"Cmd": "CLOSE", "Params": []}, "StayPeriod": 60"#
            ),
            rule(r#""AccessSignConf": {}, "Action": {"Cmd": "PASS", "Params": []}"#),
            rule(
                r#""AccessSignConf": {}, "Action": {"Cmd": "REQ_HEADER_SET", "Params": ["X-Bfe-A", "1"]}"#
            ),
        );
        let (config, report) = convert(&config).unwrap();
        let config = config.unwrap();
        let global = config["global"]["rules"].as_array().unwrap();
        assert_eq!(global.len(), 1);
        assert_eq!(global[0]["action"].as_str(), Some("close"));
        assert_eq!(global[0]["window_ms"].as_integer(), Some(10000));
        assert_eq!(global[0]["limit"].as_integer(), Some(5));
        let shop = config["products"]["shop"]["rules"].as_array().unwrap();
        assert_eq!(shop.len(), 2);
        assert_eq!(shop[0]["key_header"].as_str(), Some("x-key"));
        assert_eq!(shop[0]["action"].as_str(), Some("respond"));
        assert!(reported(&report, "StayPeriod 60"));
        assert!(reported(&report, "Cookie [\"UID\"]"));
        assert!(reported(&report, "REQ_HEADER_SET"));
        assert_eq!(report.count(Kind::Skipped), 1, "{report}");
        assert_eq!(report.count(Kind::Note), 1, "{report}");
    }

    #[test]
    fn threshold_zero_keyless_and_malformed() {
        let zero = rule(
            r#""AccessSignConf": {}, "Action": {"Cmd": "CLOSE", "Params": []}, "Threshold": 0"#,
        )
        .replace(r#""Threshold": 5,"#, "");
        let keyless = rule(r#""AccessSignConf": {}, "Action": {"Cmd": "CLOSE", "Params": []}"#);
        let (config, report) = convert(&format!(r#"{{"a": [{zero}, {keyless}]}}"#)).unwrap();
        assert_eq!(
            config.unwrap()["products"]["a"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(reported(&report, "Threshold 0"));
        assert!(reported(&report, "counts all clients together"));
        let missing = rule(r#""Action": {"Cmd": "CLOSE", "Params": []}"#);
        assert!(convert(&format!(r#"{{"a": [{missing}]}}"#)).is_err());
    }
}
