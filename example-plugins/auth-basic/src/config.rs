//! The config as written, checked once at init into [`Realms`]: rules with their
//! users' hashes checked and their challenges built. Conditions and per-product
//! scoping are the kit's.

use std::collections::BTreeMap;
use std::str::FromStr;

use bcrypt::HashParts;
use hookgate_plugin_api::Reply;
use hookgate_plugin_kit::{Condition, ScopedRules};
use serde::Deserialize;

use crate::rule::Rule;
use crate::verified::UserHash;

/// Every rule: `[global]`, then `[products.<name>]`.
pub(crate) type Realms = ScopedRules<Rule>;

/// A rule as written: the kit's condition keys inline, beside the realm and users.
#[derive(Deserialize)]
pub(crate) struct RuleEntry {
    #[serde(default)]
    realm: Realm,
    users: Users,
    #[serde(default)]
    remove_authorization: bool,
    #[serde(flatten)]
    when: Condition,
}

/// A realm that can go between the quotes of `realm="..."`.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Realm(String);

impl Default for Realm {
    fn default() -> Realm {
        Realm("restricted".to_owned())
    }
}

impl TryFrom<String> for Realm {
    type Error = &'static str;

    fn try_from(realm: String) -> Result<Realm, Self::Error> {
        if realm.contains(['"', '\\']) || realm.chars().any(char::is_control) {
            return Err("a realm cannot hold `\"`, `\\` or control characters");
        }
        Ok(Realm(realm))
    }
}

/// At least one user, each with a bcrypt hash.
#[derive(Deserialize)]
#[serde(try_from = "BTreeMap<String, Hash>")]
struct Users(BTreeMap<String, UserHash>);

impl TryFrom<BTreeMap<String, Hash>> for Users {
    type Error = String;

    fn try_from(users: BTreeMap<String, Hash>) -> Result<Users, String> {
        if users.is_empty() {
            return Err(
                "no user: nobody could get in (the `block` plugin refuses requests)".into(),
            );
        }
        if let Some(user) =
            (users.keys()).find(|u| u.contains(':') || u.chars().any(char::is_control))
        {
            return Err(format!(
                "{user:?}: a user name cannot hold `:` or control characters"
            ));
        }
        Ok(Users(
            users
                .into_iter()
                .map(|(u, Hash(h))| (u, UserHash::new(h)))
                .collect(),
        ))
    }
}

/// A bcrypt hash as `htpasswd -B` writes it.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Hash(String);

impl TryFrom<String> for Hash {
    type Error = String;

    fn try_from(hash: String) -> Result<Hash, String> {
        let not_bcrypt = "not a bcrypt hash (`$2y$`, `$2b$` or `$2a$`; e.g. `htpasswd -nB user`)";
        if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
            return Err(not_bcrypt.to_owned());
        }
        let parts = HashParts::from_str(&hash).map_err(|e| format!("{not_bcrypt}: {e}"))?;
        if !(4..=31).contains(&parts.get_cost()) {
            return Err(format!(
                "bcrypt cost {} is outside 4 to 31",
                parts.get_cost()
            ));
        }
        Ok(Hash(hash))
    }
}

impl From<RuleEntry> for Rule {
    fn from(entry: RuleEntry) -> Rule {
        let challenge = Reply::new(401)
            .header(
                "www-authenticate",
                &format!("Basic realm=\"{}\"", entry.realm.0),
            )
            .header("content-type", "text/plain")
            .body("unauthorized\n");
        Rule {
            when: entry.when,
            users: entry.users.0,
            challenge,
            remove_authorization: entry.remove_authorization,
        }
    }
}

/// Parses and checks the config text (TOML).
pub(crate) fn parse(text: &str) -> Result<Realms, String> {
    ScopedRules::from_toml(text).map_err(|e| e.to_string())
}

/// A rule is read as written ([`RuleEntry`]) and checked into what the request path needs.
impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rule, D::Error> {
        RuleEntry::deserialize(deserializer).map(Rule::from)
    }
}
