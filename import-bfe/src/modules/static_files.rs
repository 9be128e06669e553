//! `mod_static` → the `static` plugin: one site per product (`root`, `prefix`,
//! `index`), from the product's first rule.
//!
//! BFE serves `root + path` (the full path) to requests its condition matches; the
//! plugin serves the paths under `prefix`, stripped, from `root`. So a rule with
//! `default_t()` keeps its root with `prefix = "/"`, and a rule with
//! `req_path_prefix_in("/s/", false)` becomes `prefix = "/s/"`, `root = <root>/s`. A
//! condition on the host only is dropped (reported). BFE serves its default file for
//! any missing path; the plugin serves the index for directories only, and 404
//! otherwise (reported). `mime_type.data` and `EnableCompress` are not used.

use std::path::PathBuf;

use super::{first_rule_per_product, Module};
use crate::cond;
use crate::json::Node;
use crate::InputError;

pub fn convert(module: &mut Module<'_>) -> Result<Option<toml::Table>, InputError> {
    let conf_file = module.conf_file().to_owned();
    let data = module.data("Basic", "DataPath", "mod_static/static_rule.data")?;
    if let Some(mime) = module.conf("Basic", "MimeTypePath") {
        let reason = format!(
            "{mime} is not used: the static plugin guesses content types from file \
             extensions"
        );
        module
            .report
            .approximated(&conf_file, "Basic.MimeTypePath", reason);
    }
    if module
        .conf("Basic", "EnableCompress")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        let reason = "EnableCompress: the static plugin does not compress the files it serves";
        module
            .report
            .skipped(&conf_file, "Basic.EnableCompress", reason);
    }
    let why = "the static plugin serves one directory per product";
    first_rule_per_product(module, &data, why, site)
}

fn site(module: &mut Module<'_>, rule: &Node<'_>) -> Result<Option<toml::Table>, InputError> {
    let (file, key) = (rule.file(), rule.key().to_owned());
    let action = rule.field("Action")?;
    let cmd = action.field("Cmd")?.str()?;
    let params_node = action.field("Params")?;
    let params = params_node.strings()?;
    if !cmd.eq_ignore_ascii_case("BROWSE") {
        return Err(InputError::new(
            file,
            action.key(),
            format!("unknown Cmd {cmd:?} (BFE has BROWSE)"),
        ));
    }
    let [root, default_file] = params[..] else {
        let message = "must hold the root directory and the default file";
        return Err(InputError::new(file, params_node.key(), message));
    };
    let Some(when) = cond::of_rule(rule, "the rule", module.report)? else {
        return Ok(None);
    };
    let (prefix, sub) = match prefix_of(when) {
        Some(found) => found,
        None if host_only(when) => {
            let reason = format!(
                "its host condition {when:?} is dropped: the static plugin serves every \
                 request of the product"
            );
            module.report.approximated(file, key.clone(), reason);
            ("/".to_owned(), String::new())
        }
        None => {
            let reason = format!(
                "its condition {when:?} cannot be kept: the static plugin has no \
                 condition, only a path prefix per product"
            );
            module.report.skipped(file, key, reason);
            return Ok(None);
        }
    };
    let base = module.path_in_data(root);
    let dir: PathBuf = if sub.is_empty() {
        base
    } else {
        base.join(&sub)
    };
    let dir = match std::fs::canonicalize(&dir) {
        Ok(dir) if dir.is_dir() => dir,
        _ => {
            let reason = format!(
                "the rule left out: {} (root {root:?}{}) is not an existing directory, \
                 which the static plugin requires at start-up",
                dir.display(),
                if sub.is_empty() {
                    String::new()
                } else {
                    format!(" plus {sub}")
                },
            );
            module.report.skipped(file, key, reason);
            return Ok(None);
        }
    };
    let reason = format!(
        "BFE serves {default_file:?} for any missing path; the static plugin serves it \
         only for a directory, and 404 for a missing file"
    );
    module.report.approximated(file, key.clone(), reason);
    if prefix != "/" {
        module.report.note(
            file,
            key,
            format!(
                "the prefix {prefix} is stripped by the plugin: root is {}",
                dir.display()
            ),
        );
    }
    let mut site = toml::Table::new();
    site.insert("root".into(), dir.to_string_lossy().into_owned().into());
    site.insert("prefix".into(), prefix.into());
    site.insert("index".into(), default_file.into());
    Ok(Some(site))
}

/// For `default_t()`: `("/", "")`; for `req_path_prefix_in("/s/", false)` (one
/// case-sensitive prefix ending in `/`): `("/s/", "s")`.
fn prefix_of(when: &str) -> Option<(String, String)> {
    let when = when.trim();
    if when == "default_t()" {
        return Some(("/".to_owned(), String::new()));
    }
    let args = when
        .strip_prefix("req_path_prefix_in(")?
        .strip_suffix(')')?;
    let (literal, flag) = args.rsplit_once(',')?;
    if flag.trim() != "false" {
        return None;
    }
    let prefix = literal.trim().strip_prefix('"')?.strip_suffix('"')?;
    if !prefix.starts_with('/') || !prefix.ends_with('/') || prefix.contains(['|', '"', '\\']) {
        return None;
    }
    let sub = prefix.trim_matches('/');
    if sub.split('/').any(|part| part == ".." || part == ".") {
        return None;
    }
    Some((prefix.to_owned(), sub.to_owned()))
}

/// Whether `when` only tests the host (checked crudely).
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

#[cfg(test)]
mod tests {
    use super::super::testing::{reported, rules, Dir};
    use crate::Kind;

    fn dir(config: &str) -> Dir {
        let dir = Dir::new(&[
            (
                "mod_static/mod_static.conf",
                "[Basic]\nDataPath = mod_static/static_rule.data\n\
                 MimeTypePath = mod_static/mime_type.data\nEnableCompress = true\n",
            ),
            ("mod_static/static_rule.data", &rules(config)),
        ]);
        std::fs::create_dir_all(dir.dir.path().join("www/s")).unwrap();
        dir
    }

    #[test]
    fn roots_and_prefixes() {
        let config = r#"{
            "a": [{"Cond": "default_t()", "Action": {"Cmd": "BROWSE", "Params": ["../www", "index.html"]}},
                  {"Cond": "default_t()", "Action": {"Cmd": "BROWSE", "Params": ["../www", "i.html"]}}],
            "b": [{"Cond": "req_path_prefix_in(\"/s/\", false)", "Action": {"Cmd": "BROWSE", "Params": ["../www", "index.html"]}}],
            "c": [{"Cond": "req_host_in(\"c.com\")", "Action": {"Cmd": "BROWSE", "Params": ["../www", "index.html"]}}],
            "d": [{"Cond": "req_path_in(\"/x\", false)", "Action": {"Cmd": "BROWSE", "Params": ["../www", "index.html"]}}],
            "e": [{"Cond": "default_t()", "Action": {"Cmd": "BROWSE", "Params": ["../nowhere", "index.html"]}}]
        }"#;
        let dir = dir(config);
        let (config, report) = dir.convert("mod_static").unwrap();
        let config = config.unwrap();
        let www = std::fs::canonicalize(dir.dir.path().join("www")).unwrap();
        let a = config["products"]["a"].as_table().unwrap();
        assert_eq!(a["root"].as_str(), www.to_str());
        assert_eq!(a["prefix"].as_str(), Some("/"));
        assert_eq!(a["index"].as_str(), Some("index.html"));
        let b = config["products"]["b"].as_table().unwrap();
        assert_eq!(b["root"].as_str(), www.join("s").to_str());
        assert_eq!(b["prefix"].as_str(), Some("/s/"));
        assert!(config["products"].get("c").is_some());
        assert!(config["products"].get("d").is_none());
        assert!(config["products"].get("e").is_none());
        // EnableCompress, a's second rule, d's condition, e's root.
        assert_eq!(report.count(Kind::Skipped), 4, "{report}");
        assert!(reported(&report, "not an existing directory"));
        assert!(reported(&report, "mime_type.data is not used"));
    }

    #[test]
    fn malformed() {
        let dir = dir(
            r#"{"a": [{"Cond": "default_t()", "Action": {"Cmd": "BROWSE", "Params": ["../www"]}}]}"#,
        );
        assert!(dir.convert("mod_static").is_err());
    }
}
