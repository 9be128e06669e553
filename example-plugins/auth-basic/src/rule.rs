//! [`Rule`]: a condition, the users allowed in, and the challenge for everyone else.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hookgate_plugin_api::{Reply, Request};
use hookgate_plugin_kit::{Condition, Conditional};

use crate::verified::{UserHash, Verified};

/// One protected area.
pub(crate) struct Rule {
    pub when: Condition,
    /// User name → bcrypt hash, checked at init. A B-tree: a few string comparisons
    /// cost less than hashing the name.
    pub users: BTreeMap<String, UserHash>,
    /// The 401 with `WWW-Authenticate: Basic realm="..."`, built once.
    pub challenge: Reply,
    /// Whether `Authorization` is removed before forwarding.
    pub remove_authorization: bool,
}

impl Conditional for Rule {
    fn condition(&self) -> &Condition {
        &self.when
    }
}

impl Rule {
    /// The user `req`'s `Authorization` header proves to be, if any.
    pub(crate) fn user(&self, req: &Request<'_>, verified: &Verified) -> Option<&str> {
        let (name, password) = basic_credentials(req.header("authorization")?)?;
        let (name, hash) = self.users.get_key_value(name.as_str())?;
        verified.check(hash, &password).then_some(name.as_str())
    }
}

/// The user name and password of a `Basic` `Authorization` value.
fn basic_credentials(value: &str) -> Option<(String, Vec<u8>)> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let mut decoded = STANDARD.decode(token.trim()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let password = decoded.split_off(colon + 1);
    decoded.truncate(colon);
    Some((String::from_utf8(decoded).ok()?, password))
}

#[cfg(test)]
mod tests {
    use super::basic_credentials;

    #[test]
    fn basic_credentials_are_decoded() {
        let ok = |user: &str, password: &[u8]| Some((user.to_owned(), password.to_vec()));
        // "alice:pa:ss"
        assert_eq!(
            basic_credentials("Basic YWxpY2U6cGE6c3M="),
            ok("alice", b"pa:ss")
        );
        assert_eq!(
            basic_credentials("basic  YWxpY2U6cGE6c3M= "),
            ok("alice", b"pa:ss")
        );
        // ":" alone: empty user and password.
        assert_eq!(basic_credentials("Basic Og=="), ok("", b""));
        assert_eq!(basic_credentials("Bearer YWxpY2U6cGE6c3M="), None);
        assert_eq!(basic_credentials("Basic not-base64!"), None);
        // "alice" without a colon.
        assert_eq!(basic_credentials("Basic YWxpY2U="), None);
        assert_eq!(basic_credentials("Basic"), None);
    }
}
