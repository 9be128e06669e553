//! `mod_header` → the `header` plugin: `REQ_*` actions become `request` rules,
//! `RSP_*` actions `response` rules, under the same condition.
//!
//! - BFE applies a rule's actions in list order; the plugin applies a rule's edits as
//!   `rename`, `delete`, `set`, `add`. A rule needing another order (or adding one
//!   header twice) is split into consecutive rules with the same condition (reported).
//! - BFE's `Last` stops the rest of its list (the `global` list, or the product's) for
//!   requests its rule matches; the plugin has no `last`, so every later rule of the
//!   list gets `!(<condition>)` instead: the same requests are edited.
//! - `%bfe_client_ip`/`%bfe_cip`, `%bfe_log_id` and `%bfe_request_host` become
//!   `%{client_ip}`, `%{request_id}` and `%{host}`; other variables, the `*_MOD` and
//!   cookie actions have no equivalent and are reported.
//! - BFE's default headers (`DisableDefaultHeader`) differ from hookgate's fixed ones
//!   (reported).

use super::{products, Module, Sections};
use crate::cond;
use crate::json::Node;
use crate::InputError;

/// The plugin's edit keys, in the order it applies them.
const ORDER: [&str; 4] = ["rename", "delete", "set", "add"];

pub fn convert(module: &mut Module<'_>) -> Result<Option<toml::Table>, InputError> {
    let conf_file = module.conf_file().to_owned();
    let data = module.data("Basic", "DataPath", "mod_header/header_rule.data")?;
    if module
        .conf("Basic", "DisableDefaultHeader")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        let reason = "DisableDefaultHeader = true: hookgate always sets X-Forwarded-For, \
                      X-Forwarded-Proto and X-Real-IP on requests to backends";
        module
            .report
            .skipped(&conf_file, "Basic.DisableDefaultHeader", reason);
    } else {
        let reason = "BFE's default request headers X-Forwarded-Host, X-Forwarded-Port, \
                      X-Real-Port and X-Bfe-Ip are not added; hookgate sets X-Forwarded-For, \
                      X-Forwarded-Proto and X-Real-IP";
        module
            .report
            .approximated(&conf_file, "Basic.DisableDefaultHeader", reason);
    }
    let mut sections = Sections::default();
    for (product, list) in products(&data)? {
        // `!(<condition>)` of every earlier `Last` rule of this list.
        let mut stopped: Vec<String> = Vec::new();
        for rule in list.items()? {
            let last = rule.field("Last")?.bool()?;
            let actions = actions(&rule)?;
            let Some(when) = cond::of_rule(&rule, "the rule", module.report)? else {
                if last {
                    let reason = "its Last is lost with it: later rules of the list also \
                                  apply to the requests it matched";
                    module.report.approximated(rule.file(), rule.key(), reason);
                }
                continue;
            };
            let full = if stopped.is_empty() {
                when.to_owned()
            } else {
                cond::and(&stopped.join(" && "), when)
            };
            for (phase, prefix) in [("request", "REQ_"), ("response", "RSP_")] {
                let phase_actions: Vec<&Action> = actions
                    .iter()
                    .filter(|a| a.cmd.starts_with(prefix))
                    .collect();
                let parts = edits(module, &rule, &phase_actions)?;
                if parts.len() > 1 {
                    let reason = format!(
                        "its {phase} actions are split into {} rules with the same \
                         condition, to keep their order (the plugin applies rename, delete, \
                         set, add)",
                        parts.len()
                    );
                    module.report.approximated(rule.file(), rule.key(), reason);
                }
                for edits in parts {
                    let mut entry = toml::Table::new();
                    entry.insert("cond".into(), full.clone().into());
                    entry.extend(edits);
                    sections.push(product, true, phase, entry);
                }
            }
            for action in actions.iter() {
                if !action.cmd.starts_with("REQ_") && !action.cmd.starts_with("RSP_") {
                    let reason = format!("action {} left out: not a header action", action.cmd);
                    module.report.skipped(rule.file(), &action.key, reason);
                }
            }
            if last {
                stopped.push(format!("!({when})"));
            }
        }
    }
    Ok((!sections.is_empty()).then(|| sections.into_table()))
}

/// One BFE action.
struct Action {
    key: String,
    cmd: String,
    params: Vec<String>,
}

fn actions(rule: &Node<'_>) -> Result<Vec<Action>, InputError> {
    let mut out = Vec::new();
    for action in rule.field("Actions")?.items()? {
        let cmd = action.field("Cmd")?.str()?.to_ascii_uppercase();
        let params = action.field("Params")?.strings()?;
        out.push(Action {
            key: action.key().to_owned(),
            cmd,
            params: params.into_iter().map(str::to_owned).collect(),
        });
    }
    Ok(out)
}

/// The edit tables of one phase of a rule: one, or more to keep BFE's order.
fn edits(
    module: &mut Module<'_>,
    rule: &Node<'_>,
    actions: &[&Action],
) -> Result<Vec<toml::Table>, InputError> {
    let file = rule.file();
    let mut parts: Vec<toml::Table> = vec![toml::Table::new()];
    for action in actions {
        let at = action.key.as_str();
        let verb = action.cmd.get(4..).unwrap_or("");
        let wrong = |n: &str| {
            let message = format!("{} takes {n}", action.cmd);
            InputError::new(file, format!("{at}.Params"), message)
        };
        let p: Vec<&str> = action.params.iter().map(String::as_str).collect();
        let (kind, name, value): (&str, String, Option<String>) = match (verb, &p[..]) {
            ("HEADER_SET" | "HEADER_ADD", [name, value]) => {
                let Some(value) = variable(module, file, at, value) else {
                    continue;
                };
                let kind = if verb == "HEADER_SET" { "set" } else { "add" };
                (kind, name.to_ascii_lowercase(), Some(value))
            }
            ("HEADER_SET" | "HEADER_ADD", _) => return Err(wrong("a name and a value")),
            ("HEADER_DEL", [name]) => ("delete", name.to_ascii_lowercase(), None),
            ("HEADER_DEL", _) => return Err(wrong("one name")),
            ("HEADER_RENAME", [from, to]) => {
                if !is_name(to) {
                    skip(module, file, at, format!("{to:?} is not a header name"));
                    continue;
                }
                (
                    "rename",
                    from.to_ascii_lowercase(),
                    Some(to.to_ascii_lowercase()),
                )
            }
            ("HEADER_RENAME", _) => return Err(wrong("two names")),
            _ => {
                let why = if verb == "HEADER_MOD" {
                    "editing part of a header value has no equivalent in the header plugin"
                } else if verb.contains("COOKIE") {
                    "the header plugin has no cookie actions"
                } else {
                    "not a header action"
                };
                skip(module, file, at, format!("{}: {why}", action.cmd));
                continue;
            }
        };
        if !is_name(&name) {
            skip(module, file, at, format!("{name:?} is not a header name"));
            continue;
        }
        let rank = ORDER.iter().position(|k| *k == kind).unwrap_or(0);
        let needs_new = parts.last().is_some_and(|current| {
            let later_taken = ORDER[rank + 1..].iter().any(|k| current.contains_key(*k));
            let repeat = match current.get(kind) {
                Some(toml::Value::Table(t)) => kind != "set" && t.contains_key(&name),
                _ => false,
            };
            later_taken || repeat
        });
        if needs_new {
            parts.push(toml::Table::new());
        }
        let Some(current) = parts.last_mut() else {
            continue;
        };
        match value {
            None => {
                let list = current
                    .entry("delete")
                    .or_insert_with(|| toml::Value::Array(Vec::new()));
                if let toml::Value::Array(names) = list {
                    names.push(name.into());
                }
            }
            Some(value) => {
                let table = current
                    .entry(kind)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(table) = table {
                    table.insert(name, value.into());
                }
            }
        }
    }
    parts.retain(|part| !part.is_empty());
    Ok(parts)
}

/// A BFE value as the plugin writes it: `%bfe_*` variables mapped, `None` (reported)
/// when it has no equivalent.
fn variable(module: &mut Module<'_>, file: &str, at: &str, value: &str) -> Option<String> {
    if value.contains("%{") {
        skip(
            module,
            file,
            at,
            format!("{value:?} holds `%{{`, which the plugin reads as a variable"),
        );
        return None;
    }
    if !value.starts_with('%') {
        return Some(value.to_owned());
    }
    match value {
        "%bfe_client_ip" | "%bfe_cip" => Some("%{client_ip}".to_owned()),
        "%bfe_log_id" => {
            let reason = "%bfe_log_id becomes %{request_id}, set by the request-id plugin \
                          (mod_logid); empty without it";
            module.report.note(file, at, reason);
            Some("%{request_id}".to_owned())
        }
        "%bfe_request_host" => {
            let reason = "%bfe_request_host becomes %{host}: lowercase, without the port";
            module.report.approximated(file, at, reason);
            Some("%{host}".to_owned())
        }
        other => {
            skip(
                module,
                file,
                at,
                format!("variable {other} has no equivalent in the header plugin"),
            );
            None
        }
    }
}

fn skip(module: &mut Module<'_>, file: &str, at: &str, why: String) {
    module
        .report
        .skipped(file, at, format!("action left out: {why}"));
}

/// Whether `name` is an HTTP token.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{reported, rules, Dir};
    use crate::Kind;

    fn convert(config: &str) -> Result<(Option<toml::Table>, crate::Report), crate::InputError> {
        Dir::new(&[
            (
                "mod_header/mod_header.conf",
                "[Basic]\nDataPath = mod_header/header_rule.data\n",
            ),
            ("mod_header/header_rule.data", &rules(config)),
        ])
        .convert("mod_header")
    }

    #[test]
    fn phases_variables_and_last() {
        let config = r#"{
          "global": [{"cond": "req_path_prefix_in(\"/h\", false)", "last": true,
            "actions": [{"cmd": "REQ_HEADER_SET", "params": ["X-Bfe-Log-Id", "%bfe_log_id"]},
                        {"cmd": "RSP_HEADER_SET", "params": ["X-Proxied-By", "bfe"]}]},
                      {"cond": "default_t()", "last": false,
            "actions": [{"cmd": "REQ_HEADER_ADD", "params": ["X-Ip", "%bfe_cip"]},
                        {"cmd": "REQ_HEADER_DEL", "params": ["X-A"]},
                        {"cmd": "REQ_HEADER_SET", "params": ["X-V", "%bfe_vip"]},
                        {"cmd": "REQ_COOKIE_SET", "params": ["c", "v"]}]}],
          "shop": [{"Cond": "req_host_regmatch(\"x\")", "Last": true, "Actions": []},
                   {"Cond": "default_t()", "Last": false,
            "Actions": [{"Cmd": "RSP_HEADER_RENAME", "Params": ["Server", "X-Server"]}]}]
        }"#;
        let (config, report) = convert(config).unwrap();
        let config = config.unwrap();
        let request = config["global"]["request"].as_array().unwrap();
        assert_eq!(request.len(), 3, "{request:#?}");
        assert_eq!(
            request[0]["set"]["x-bfe-log-id"].as_str(),
            Some("%{request_id}")
        );
        assert_eq!(request[1]["add"]["x-ip"].as_str(), Some("%{client_ip}"));
        assert_eq!(
            request[1]["cond"].as_str(),
            Some("(!(req_path_prefix_in(\"/h\", false))) && (default_t())")
        );
        assert_eq!(request[2]["delete"][0].as_str(), Some("x-a"));
        let response = config["global"]["response"].as_array().unwrap();
        assert_eq!(response[0]["set"]["x-proxied-by"].as_str(), Some("bfe"));
        let shop = config["products"]["shop"]["response"].as_array().unwrap();
        assert_eq!(shop[0]["rename"]["server"].as_str(), Some("x-server"));
        assert_eq!(shop[0]["cond"].as_str(), Some("default_t()"));
        assert!(reported(&report, "%bfe_vip has no equivalent"));
        assert!(reported(&report, "no cookie actions"));
        assert!(reported(&report, "its Last is lost"));
        assert!(reported(&report, "split into 2 rules"));
        // vip, cookie, regmatch cond.
        assert_eq!(report.count(Kind::Skipped), 3, "{report}");
    }

    #[test]
    fn malformed() {
        assert!(convert(r#"{"a": [{"Cond": "default_t()", "Actions": []}]}"#).is_err());
        let params = r#"{"a": [{"Cond": "default_t()", "Last": false,
            "Actions": [{"Cmd": "REQ_HEADER_SET", "Params": ["x"]}]}]}"#;
        assert!(convert(params).is_err());
    }
}
