//! The config, checked once at init into [`Policies`]: one [`Policy`] per listener,
//! layered over `[default]` key by key by the kit, which names a failing key.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use hookgate_plugin_kit::{config_key, ConfigError, Sections};
use serde::Deserialize;

/// The policy of every listener.
pub(crate) struct Policies {
    default: Policy,
    /// By listener address, formatted as the proxy reports it (`SocketAddr`'s Display).
    listeners: HashMap<String, Policy>,
}

/// What one listener allows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Policy {
    #[serde(default)]
    min_version: Option<Version>,
    /// `None`: any name, or none.
    #[serde(default, rename = "sni")]
    names: Option<Vec<Name>>,
    /// By SNI name: the client certificate must carry one of these subjectAltNames.
    #[serde(default)]
    client_san: Option<ClientSans>,
}

/// `client_san = { "name" = ["DNS:…", …] }`: for connections to a name (exact or
/// `*.` wildcard), the subjectAltNames of which a verified client certificate must
/// carry one. The most specific name applies: an exact one, else the longest wildcard.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BTreeMap<String, Vec<String>>")]
struct ClientSans(Vec<(Name, Vec<San>)>);

/// A subjectAltName as sessions report them (`DNS:a.example.com`, `IP:192.0.2.1`,
/// `email:ops@example.com`, `URI:spiffe://…`); compared with the kind's own case rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct San {
    kind: &'static str,
    value: String,
}

/// A TLS version; the order is the protocol's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
enum Version {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

/// An allowed SNI name, lowercase.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
enum Name {
    Exact(String),
    /// `*.example.com`, kept as `.example.com`.
    Suffix(String),
}

impl Policies {
    /// The policy for the listener the proxy names `listener`.
    pub(crate) fn for_listener(&self, listener: &str) -> &Policy {
        self.listeners.get(listener).unwrap_or(&self.default)
    }
}

impl Policy {
    /// Whether a connection with this SNI and negotiated version (as the session
    /// reports them) may go on. An unknown version fails a minimum.
    pub(crate) fn allows(&self, sni: Option<&str>, version: Option<&str>) -> bool {
        let version_ok = self
            .min_version
            .is_none_or(|min| version.and_then(Version::parse).is_some_and(|v| v >= min));
        let name_ok = self.names.as_deref().is_none_or(|names| {
            sni.map(|s| s.trim_end_matches('.'))
                .is_some_and(|sni| names.iter().any(|name| name.matches(sni)))
        });
        version_ok && name_ok
    }

    /// The subjectAltNames a connection to `sni` needs one of, if its name has a rule.
    pub(crate) fn client_sans(&self, sni: Option<&str>) -> Option<&[San]> {
        let rules = &self.client_san.as_ref()?.0;
        let sni = sni?.trim_end_matches('.');
        let specificity = |name: &Name| match name {
            Name::Exact(_) => usize::MAX,
            Name::Suffix(suffix) => suffix.len(),
        };
        rules
            .iter()
            .filter(|(name, _)| name.matches(sni))
            .max_by_key(|(name, _)| specificity(name))
            .map(|(_, sans)| sans.as_slice())
    }
}

impl San {
    const KINDS: [&'static str; 4] = ["DNS", "IP", "email", "URI"];

    fn parse(text: &str) -> Option<San> {
        let (kind, value) = text.split_once(':')?;
        let kind = San::KINDS.into_iter().find(|k| *k == kind)?;
        if value.is_empty() {
            return None;
        }
        Some(San {
            kind,
            value: value.to_owned(),
        })
    }

    /// Whether the certificate's `san` (as the session reports it) is this one:
    /// DNS names and e-mail addresses in any case, IP addresses as addresses, URIs
    /// exactly.
    pub(crate) fn matches(&self, san: &str) -> bool {
        let Some(theirs) = San::parse(san) else {
            return false;
        };
        self.kind == theirs.kind
            && match self.kind {
                "DNS" | "email" => self.value.eq_ignore_ascii_case(&theirs.value),
                "IP" => match (self.value.parse::<IpAddr>(), theirs.value.parse::<IpAddr>()) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => false,
                },
                _ => self.value == theirs.value,
            }
    }
}

impl TryFrom<BTreeMap<String, Vec<String>>> for ClientSans {
    type Error = String;

    fn try_from(rules: BTreeMap<String, Vec<String>>) -> Result<ClientSans, String> {
        let mut parsed = Vec::with_capacity(rules.len());
        for (name, sans) in rules {
            let name_rule = Name::try_from(name.clone())?;
            if sans.is_empty() {
                return Err(format!("{name:?}: no subjectAltName listed"));
            }
            let sans = sans
                .iter()
                .map(|san| {
                    let parsed = San::parse(san).ok_or_else(|| {
                        format!(
                            "{name:?}: {san:?} is not a subjectAltName like \"DNS:a.example.com\", \
                             \"IP:192.0.2.1\", \"email:ops@example.com\" or \"URI:spiffe://…\""
                        )
                    })?;
                    if parsed.kind == "IP" && parsed.value.parse::<IpAddr>().is_err() {
                        return Err(format!("{name:?}: {san:?} is not an IP address"));
                    }
                    Ok(parsed)
                })
                .collect::<Result<Vec<_>, String>>()?;
            parsed.push((name_rule, sans));
        }
        Ok(ClientSans(parsed))
    }
}

impl Version {
    /// `1.2` as written in the config, or `TLSv1.2` as sessions report it.
    fn parse(s: &str) -> Option<Version> {
        match s.strip_prefix("TLSv").unwrap_or(s) {
            "1.0" => Some(Version::Tls10),
            "1.1" => Some(Version::Tls11),
            "1.2" => Some(Version::Tls12),
            "1.3" => Some(Version::Tls13),
            _ => None,
        }
    }
}

impl Name {
    fn parse(s: &str) -> Option<Name> {
        let (wildcard, host) = match s.strip_prefix("*.") {
            Some(suffix) => (true, suffix),
            None => (false, s),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !host.split('.').all(label_ok) {
            return None;
        }
        let host = host.to_ascii_lowercase();
        Some(if wildcard {
            Name::Suffix(format!(".{host}"))
        } else {
            Name::Exact(host)
        })
    }

    fn matches(&self, sni: &str) -> bool {
        match self {
            Name::Exact(name) => sni.eq_ignore_ascii_case(name),
            // At least one character (so one label) in front of the suffix.
            Name::Suffix(suffix) => {
                sni.len() > suffix.len()
                    && (sni.get(sni.len() - suffix.len()..))
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
            }
        }
    }
}

impl TryFrom<String> for Version {
    type Error = String;

    fn try_from(v: String) -> Result<Version, String> {
        Version::parse(&v).ok_or_else(|| format!("{v:?} is not a TLS version (\"1.0\" to \"1.3\")"))
    }
}

impl TryFrom<String> for Name {
    type Error = String;

    fn try_from(s: String) -> Result<Name, String> {
        Name::parse(&s).ok_or_else(|| format!("{s:?} is not a host name or `*.` wildcard"))
    }
}

/// Parses and checks the config text (TOML).
pub(crate) fn parse(text: &str) -> Result<Policies, ConfigError> {
    let sections = Sections::<Policy>::layered_as(text, "default", "listeners")?;
    let mut listeners = HashMap::new();
    for (addr, policy) in sections.products() {
        let key = config_key("listeners", addr);
        let Ok(parsed) = addr.parse::<SocketAddr>() else {
            let message = "not a listener address like \"127.0.0.1:8443\"";
            return Err(ConfigError::new(key, message));
        };
        if listeners
            .insert(parsed.to_string(), policy.clone())
            .is_some()
        {
            return Err(ConfigError::new(key, "the same listener as another entry"));
        }
    }
    let default = sections.global().clone();
    Ok(Policies { default, listeners })
}
