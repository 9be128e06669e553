//! The config as written ([`File`]), checked once at init into [`Policies`]: one
//! [`Policy`] per listener, each already merged with the default.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use serde::Deserialize;

/// The policy of every listener.
pub(crate) struct Policies {
    default: Policy,
    /// By listener address, formatted as the proxy reports it (`SocketAddr`'s Display).
    listeners: HashMap<String, Policy>,
}

/// What one listener allows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    min_version: Option<Version>,
    /// `None`: any name, or none.
    names: Option<Vec<Name>>,
}

/// A TLS version; the order is the protocol's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

/// An allowed SNI name, lowercase.
#[derive(Clone, Debug, PartialEq, Eq)]
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

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct File {
    default: Section,
    listeners: BTreeMap<String, Section>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Section {
    min_version: Option<String>,
    sni: Option<Vec<String>>,
}

/// Parses and checks the config text (TOML).
pub(crate) fn parse(text: &str) -> Result<Policies, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
    let default = policy("default", file.default, &Policy::default())?;
    let mut listeners = HashMap::new();
    for (addr, section) in file.listeners {
        let key = format!("listeners.{addr:?}");
        let Ok(parsed) = addr.parse::<SocketAddr>() else {
            return Err(format!(
                "{key}: not a listener address like \"127.0.0.1:8443\""
            ));
        };
        if listeners
            .insert(parsed.to_string(), policy(&key, section, &default)?)
            .is_some()
        {
            return Err(format!("{key}: the same listener as another entry"));
        }
    }
    Ok(Policies { default, listeners })
}

/// A section's policy; keys it leaves out come from `fallback`.
fn policy(key: &str, section: Section, fallback: &Policy) -> Result<Policy, String> {
    let min_version = match section.min_version {
        Some(v) => Some(Version::parse(&v).ok_or_else(|| {
            format!("{key}.min_version: {v:?} is not a TLS version (\"1.0\" to \"1.3\")")
        })?),
        None => fallback.min_version,
    };
    let names = match section.sni {
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    Name::parse(s).ok_or_else(|| {
                        format!("{key}.sni[{i}]: {s:?} is not a host name or `*.` wildcard")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => fallback.names.clone(),
    };
    Ok(Policy { min_version, names })
}
