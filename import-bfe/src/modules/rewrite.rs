//! `mod_rewrite` → the `rewrite` plugin. Every matching BFE rule applies its actions
//! in order, and a matching `Last` rule stops the rest: so does the plugin, whose
//! rules take at most one action of each kind, applied in a fixed order (`set_host`,
//! `set_path`, `replace_path_prefix`, `delete_query`, `add_query`). A BFE rule whose
//! actions repeat a kind or come in another order is split into consecutive rules
//! with the same condition, `last` on the final one (reported: the later parts'
//! condition is judged on the rewritten request).
//!
//! `HOST_SET_FROM_PATH_PREFIX`, `QUERY_RENAME`, `QUERY_DEL_ALL_EXCEPT` and actions of
//! other modules have no equivalent: reported and left out of the rule.

use super::{products, Module, Sections};
use crate::cond;
use crate::json::Node;
use crate::InputError;

/// The plugin's action keys, in the order it applies them.
const ORDER: [&str; 5] = [
    "set_host",
    "set_path",
    "replace_path_prefix",
    "delete_query",
    "add_query",
];

pub fn convert(module: &mut Module<'_>) -> Result<Option<toml::Table>, InputError> {
    let data = module.data("Basic", "DataPath", "mod_rewrite/rewrite.data")?;
    let mut sections = Sections::default();
    for (product, list) in products(&data)? {
        for rule in list.items()? {
            for entry in rule_entries(module, &rule)? {
                sections.push(product, false, "rules", entry);
            }
        }
    }
    Ok((!sections.is_empty()).then(|| sections.into_table()))
}

/// One BFE rule as plugin rules (none if its condition cannot be evaluated).
fn rule_entries(module: &mut Module<'_>, rule: &Node<'_>) -> Result<Vec<toml::Table>, InputError> {
    let (file, key) = (rule.file(), rule.key().to_owned());
    let actions = rule.field("Actions")?.items()?;
    let last = rule.field("Last")?.bool()?;
    let mut parsed = Vec::new();
    for action in &actions {
        let cmd = action.field("Cmd")?.str()?.to_ascii_uppercase();
        let params = action.field("Params")?.strings()?;
        parsed.push((action.key().to_owned(), cmd, params));
    }
    let Some(when) = cond::of_rule(rule, "the rule", module.report)? else {
        return Ok(Vec::new());
    };
    let mut parts: Vec<toml::Table> = vec![toml::Table::new()];
    for (at, cmd, params) in parsed {
        let wrong =
            |n: &str| InputError::new(file, format!("{at}.Params"), format!("{cmd} takes {n}"));
        let (kind, value): (&str, toml::Value) = match (cmd.as_str(), &params[..]) {
            ("HOST_SET", [host]) if !host.is_empty() => {
                if host.contains(['/', '?', '#', '@', ' ']) {
                    skip(
                        module,
                        file,
                        &at,
                        format!("HOST_SET {host:?} is not a host[:port]"),
                    );
                    continue;
                }
                ("set_host", (*host).into())
            }
            ("HOST_SET", _) => return Err(wrong("one host")),
            ("PATH_SET", [path]) => {
                if !is_path(path) {
                    skip(
                        module,
                        file,
                        &at,
                        format!("PATH_SET {path:?} is not a path starting with `/`"),
                    );
                    continue;
                }
                ("set_path", (*path).into())
            }
            ("PATH_SET", _) => return Err(wrong("one path")),
            ("PATH_PREFIX_ADD", [prefix]) => {
                let to = if prefix.starts_with('/') {
                    (*prefix).to_owned()
                } else {
                    format!("/{prefix}")
                };
                if !is_path(&to) {
                    skip(
                        module,
                        file,
                        &at,
                        format!("PATH_PREFIX_ADD {prefix:?} is not a path"),
                    );
                    continue;
                }
                ("replace_path_prefix", prefix_table("/", &to))
            }
            ("PATH_PREFIX_ADD", _) => return Err(wrong("one prefix")),
            ("PATH_PREFIX_TRIM", [prefix]) => {
                let from = if prefix.ends_with('/') {
                    (*prefix).to_owned()
                } else {
                    let reason = format!(
                        "PATH_PREFIX_TRIM {prefix:?} becomes trimming {prefix:?}/: paths \
                         {prefix:?} itself and those merely starting with it (`{prefix}x`) \
                         are no longer trimmed"
                    );
                    module.report.approximated(file, at.clone(), reason);
                    format!("{prefix}/")
                };
                if !is_path(&from) {
                    skip(
                        module,
                        file,
                        &at,
                        format!("PATH_PREFIX_TRIM {prefix:?} is not a path"),
                    );
                    continue;
                }
                ("replace_path_prefix", prefix_table(&from, "/"))
            }
            ("PATH_PREFIX_TRIM", _) => return Err(wrong("one prefix")),
            ("QUERY_ADD", [name, value]) => {
                if !is_query_text(name) || name.contains('=') || !is_query_text(value) {
                    skip(
                        module,
                        file,
                        &at,
                        format!("QUERY_ADD {name:?}={value:?} is not a query pair"),
                    );
                    continue;
                }
                let mut pair = toml::Table::new();
                pair.insert((*name).to_owned(), (*value).into());
                ("add_query", pair.into())
            }
            ("QUERY_ADD", _) => return Err(wrong("a key and a value")),
            ("QUERY_DEL", names) if !names.is_empty() => {
                if let Some(bad) = names.iter().find(|n| !is_query_text(n) || n.contains('=')) {
                    skip(
                        module,
                        file,
                        &at,
                        format!("QUERY_DEL {bad:?} is not a query key"),
                    );
                    continue;
                }
                let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
                ("delete_query", names.into())
            }
            ("QUERY_DEL", _) => return Err(wrong("one or more keys")),
            (other, _) => {
                let why = match other {
                    "HOST_SET_FROM_PATH_PREFIX" => "taking the host from the path's first segment",
                    "QUERY_RENAME" => "renaming a query key",
                    "QUERY_DEL_ALL_EXCEPT" => "deleting all query keys but some",
                    _ => "not a rewrite action",
                };
                let reason = format!(
                    "action {other} left out: {why} has no equivalent in the rewrite plugin"
                );
                module.report.skipped(file, at, reason);
                continue;
            }
        };
        let rank = ORDER.iter().position(|k| *k == kind).unwrap_or(0);
        let Some(current) = parts.last_mut() else {
            continue;
        };
        // delete_query lists merge; any other repeat, or an earlier kind after a later
        // one, needs a new rule to keep BFE's order.
        let later_taken = ORDER[rank + 1..].iter().any(|k| current.contains_key(*k));
        if kind == "delete_query" && !later_taken {
            if let (Some(toml::Value::Array(have)), toml::Value::Array(more)) =
                (current.get_mut(kind), &value)
            {
                have.extend(more.iter().cloned());
                continue;
            }
        }
        if later_taken || current.contains_key(kind) {
            parts.push(toml::Table::new());
        }
        if let Some(current) = parts.last_mut() {
            current.insert(kind.to_owned(), value);
        }
    }
    parts.retain(|part| !part.is_empty());
    if parts.len() > 1 {
        let reason = format!(
            "its actions are split into {} rules with the same condition, to keep their \
             order: the later ones judge {when:?} on the request as already rewritten",
            parts.len()
        );
        module.report.approximated(file, key.clone(), reason);
    }
    if parts.is_empty() {
        if !last {
            return Ok(Vec::new());
        }
        // A matching Last rule still stops the later rules.
        parts.push(toml::Table::new());
    }
    let count = parts.len();
    Ok(parts
        .into_iter()
        .enumerate()
        .map(|(i, actions)| {
            let mut entry = toml::Table::new();
            entry.insert("cond".into(), when.into());
            entry.extend(actions);
            if last && i + 1 == count {
                entry.insert("last".into(), true.into());
            }
            entry
        })
        .collect())
}

fn skip(module: &mut Module<'_>, file: &str, at: &str, why: String) {
    module
        .report
        .skipped(file, at, format!("action left out: {why}"));
}

fn prefix_table(from: &str, to: &str) -> toml::Value {
    let mut table = toml::Table::new();
    table.insert("from".into(), from.into());
    table.insert("to".into(), to.into());
    table.into()
}

fn is_path(path: &str) -> bool {
    path.starts_with('/') && !path.contains(['?', '#', ' '])
}

fn is_query_text(text: &str) -> bool {
    !text.is_empty() && !text.contains(['&', '#', ' '])
}

#[cfg(test)]
mod tests {
    use super::super::testing::{reported, rules, Dir};
    use crate::Kind;

    fn convert(config: &str) -> Result<(Option<toml::Table>, crate::Report), crate::InputError> {
        Dir::new(&[
            (
                "mod_rewrite/mod_rewrite.conf",
                "[Basic]\nDataPath = mod_rewrite/rewrite.data\n",
            ),
            ("mod_rewrite/rewrite.data", &rules(config)),
        ])
        .convert("mod_rewrite")
    }

    #[test]
    fn actions_and_splits() {
        let config = r#"{"shop": [
            {"Cond": "req_path_prefix_in(\"/rewrite\", false)", "Last": true,
             "Actions": [{"Cmd": "PATH_PREFIX_ADD", "Params": ["/bfe/"]},
                         {"Cmd": "HOST_SET", "Params": ["a.internal"]}]},
            {"Cond": "default_t()", "Last": false,
             "Actions": [{"cmd": "query_del", "params": ["a", "b"]},
                         {"Cmd": "QUERY_DEL", "Params": ["c"]},
                         {"Cmd": "QUERY_ADD", "Params": ["k", "v"]},
                         {"Cmd": "QUERY_ADD", "Params": ["k2", "v2"]},
                         {"Cmd": "PATH_PREFIX_TRIM", "Params": ["/api"]},
                         {"Cmd": "QUERY_RENAME", "Params": ["a", "b"]}]},
            {"Cond": "default_t()", "Last": true,
             "Actions": [{"Cmd": "HOST_SET_FROM_PATH_PREFIX", "Params": []}]}
        ]}"#;
        let (config, report) = convert(config).unwrap();
        let config = config.unwrap();
        let shop = config["products"]["shop"]["rules"].as_array().unwrap();
        // Rule 0 split in two (host after path), rule 1 in three, rule 2 a bare `last`.
        assert_eq!(shop.len(), 6, "{shop:#?}");
        assert_eq!(shop[0]["replace_path_prefix"]["to"].as_str(), Some("/bfe/"));
        assert!(shop[0].get("last").is_none());
        assert_eq!(shop[1]["set_host"].as_str(), Some("a.internal"));
        assert_eq!(shop[1]["last"].as_bool(), Some(true));
        assert_eq!(shop[2]["delete_query"].as_array().unwrap().len(), 3);
        assert_eq!(shop[2]["add_query"]["k"].as_str(), Some("v"));
        assert_eq!(shop[3]["add_query"]["k2"].as_str(), Some("v2"));
        assert_eq!(
            shop[4]["replace_path_prefix"]["from"].as_str(),
            Some("/api/")
        );
        assert_eq!(shop[5]["last"].as_bool(), Some(true));
        assert_eq!(shop[5].as_table().unwrap().len(), 2);
        assert_eq!(report.count(Kind::Skipped), 2, "{report}");
        assert_eq!(report.count(Kind::Approximated), 3, "{report}");
        assert!(reported(&report, "QUERY_RENAME left out"));
        assert!(reported(&report, "split into 3 rules"));
    }

    #[test]
    fn malformed() {
        let no_last = r#"{"a": [{"Cond": "default_t()", "Actions": []}]}"#;
        assert!(convert(no_last).is_err());
        let params = r#"{"a": [{"Cond": "default_t()", "Last": false,
            "Actions": [{"Cmd": "QUERY_ADD", "Params": ["k"]}]}]}"#;
        assert!(convert(params).is_err());
    }
}
