//! `mod_auth_basic` → the `auth-basic` plugin: each rule's user file is inlined as
//! `users`, and its realm (BFE's default `Restricted`) always written.
//!
//! The plugin checks bcrypt hashes only (`$2y$`, `$2b$`, `$2a$`): users with BFE's
//! other formats (`$apr1$`, `{SHA}`) cannot be re-hashed without their password and are
//! reported one by one; a rule left with no user is reported and left out.

use std::collections::BTreeMap;

use super::{products, Module, Sections};
use crate::cond;
use crate::InputError;

pub fn convert(module: &mut Module<'_>) -> Result<Option<toml::Table>, InputError> {
    let data = module.data("Basic", "DataPath", "mod_auth_basic/auth_basic_rule.data")?;
    let mut sections = Sections::default();
    for (product, list) in products(&data)? {
        for rule in list.items()? {
            let (file, key) = (rule.file(), rule.key().to_owned());
            let user_file = rule.field("UserFile")?.str()?;
            let realm = rule.opt_str("Realm")?.unwrap_or("Restricted");
            let Some(when) = cond::of_rule(&rule, "the rule", module.report)? else {
                continue;
            };
            let users = users(module, user_file, &format!("{file}: {key}.UserFile"))?;
            if users.is_empty() {
                let reason = format!(
                    "the rule left out: no user of {user_file} has a bcrypt hash, the only \
                     kind the auth-basic plugin checks (requests it matched are no longer \
                     asked for credentials)"
                );
                module.report.skipped(file, key, reason);
                continue;
            }
            let mut entry = toml::Table::new();
            entry.insert("cond".into(), when.into());
            entry.insert("realm".into(), realm.into());
            let users: toml::Table = users.into_iter().map(|(u, h)| (u, h.into())).collect();
            entry.insert("users".into(), users.into());
            sections.push(product, false, "rules", entry);
        }
    }
    Ok((!sections.is_empty()).then(|| sections.into_table()))
}

/// The bcrypt users of an htpasswd-style file (`user:hash[:comment]`, `#` comments),
/// read from where BFE reads it; the others reported.
fn users(
    module: &mut Module<'_>,
    written: &str,
    named_at: &str,
) -> Result<BTreeMap<String, String>, InputError> {
    let path = module.path_in_data(written);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        InputError::new(
            written,
            "",
            format!("cannot read ({}, named by {named_at}): {e}", path.display()),
        )
    })?;
    // Reported relative to the configuration directory when it is inside it.
    let shown = std::fs::canonicalize(&path)
        .ok()
        .zip(std::fs::canonicalize(module.root).ok())
        .and_then(|(path, root)| {
            (path.strip_prefix(root).ok()).map(|rel| rel.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| written.to_owned());
    let written = shown.as_str();
    let mut users = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("line {}", n + 1);
        let mut parts = line.splitn(3, ':');
        let (Some(user), Some(hash)) = (parts.next(), parts.next()) else {
            module
                .report
                .skipped(written, at, "not `user:hash`: left out");
            continue;
        };
        if user.is_empty() {
            module.report.skipped(written, at, "no user name: left out");
            continue;
        }
        if is_bcrypt(hash) {
            users.insert(user.to_owned(), hash.to_owned());
            continue;
        }
        let kind = if hash.starts_with("$apr1$") {
            "an MD5-apr1 ($apr1$) hash"
        } else if hash.starts_with("{SHA}") {
            "a SHA-1 ({SHA}) hash"
        } else {
            "a hash of unknown kind"
        };
        let reason = format!(
            "user {user:?} left out: {kind} cannot be converted to bcrypt without the \
             password; re-create it with `htpasswd -nB {user}`"
        );
        module.report.skipped(written, at, reason);
    }
    Ok(users)
}

/// `$2y$`/`$2b$`/`$2a$`, a cost from 4 to 31, and the 53 characters of salt and hash.
fn is_bcrypt(hash: &str) -> bool {
    let Some(rest) = ["$2y$", "$2b$", "$2a$"]
        .iter()
        .find_map(|p| hash.strip_prefix(p))
    else {
        return false;
    };
    let Some((cost, tail)) = rest.split_once('$') else {
        return false;
    };
    cost.len() == 2 && cost.parse::<u32>().is_ok_and(|c| (4..=31).contains(&c)) && tail.len() == 53
}

#[cfg(test)]
mod tests {
    use super::super::testing::{reported, rules, Dir};
    use crate::Kind;

    const BCRYPT: &str = "$2y$10$r6t6HQnQbd1N8doiWBjVHOrd41B6Lql2e456TzXCbPrs9T4I6Bcoa";

    fn dir(config: &str, users: &str) -> Dir {
        Dir::new(&[
            (
                "mod_auth_basic/mod_auth_basic.conf",
                "[Basic]\nDataPath = mod_auth_basic/rule.data\n",
            ),
            ("mod_auth_basic/rule.data", &rules(config)),
            ("mod_auth_basic/userfile", users),
        ])
    }

    #[test]
    fn bcrypt_users_only() {
        let users = format!(
            "# c\nuser1:$apr1$mI7SilJz$CWwYJyYKbhVDNl26sdUSh/\n\
             user2:{{SHA}}fEqNCco3Yq9h5ZUglD3CZJT4lBs=:user2\nuser3:{BCRYPT}\n"
        );
        let config = r#"{"shop": [{"Cond": "req_host_in(\"a.com\")",
                       "UserFile": "../conf/mod_auth_basic/userfile", "Realm": "shop"},
                      {"Cond": "default_t()", "UserFile": "../conf/mod_auth_basic/userfile"}]}"#;
        let (config, report) = dir(config, &users).convert("mod_auth_basic").unwrap();
        let config = config.unwrap();
        let shop = config["products"]["shop"]["rules"].as_array().unwrap();
        assert_eq!(shop.len(), 2);
        assert_eq!(shop[0]["realm"].as_str(), Some("shop"));
        assert_eq!(shop[1]["realm"].as_str(), Some("Restricted"));
        assert_eq!(shop[0]["users"]["user3"].as_str(), Some(BCRYPT));
        assert_eq!(shop[0]["users"].as_table().unwrap().len(), 1);
        assert_eq!(report.count(Kind::Skipped), 4, "{report}");
        assert!(reported(&report, "user \"user1\" left out: an MD5-apr1"));
        assert!(reported(&report, "user \"user2\" left out: a SHA-1"));
        assert!(report
            .items()
            .iter()
            .any(|i| i.file == "mod_auth_basic/userfile"));
    }

    #[test]
    fn rule_without_users_and_missing_file() {
        let config =
            r#"{"a": [{"Cond": "default_t()", "UserFile": "../conf/mod_auth_basic/userfile"}]}"#;
        let (config, report) = dir(config, "u:{SHA}x=\n")
            .convert("mod_auth_basic")
            .unwrap();
        assert!(config.is_none());
        assert!(reported(&report, "the rule left out: no user"));
        let missing = r#"{"a": [{"Cond": "default_t()", "UserFile": "nowhere"}]}"#;
        assert!(dir(missing, "").convert("mod_auth_basic").is_err());
        let no_file = r#"{"a": [{"Cond": "default_t()"}]}"#;
        assert!(dir(no_file, "").convert("mod_auth_basic").is_err());
    }
}
