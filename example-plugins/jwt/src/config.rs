//! The config, checked once at init: a [`Policy`] per product, layered over
//! `[global]` (BFE's per-product module configs).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hookgate_plugin_kit::{Condition, ConfigError, HeaderName, Sections};
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::keys::Jwks;

/// A section as written: every key optional, so that `[global]` parses alone and a
/// product's section takes the global keys it leaves out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    enabled: Option<bool>,
    jwks: Option<String>,
    jwks_path: Option<String>,
    refresh_ms: Option<u64>,
    timeout_ms: Option<u64>,
    issuer: Option<String>,
    audience: Option<Vec<String>>,
    algorithms: Option<Vec<String>>,
    required_claims: Option<Vec<String>>,
    leeway_s: Option<u64>,
    claims_to_headers: Option<BTreeMap<String, HeaderName>>,
    realm: Option<String>,
    cond: Option<Condition>,
}

/// Where a JWKS document comes from: a URL, or a path on a cluster of the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JwksTarget {
    Url(String),
    Cluster { name: String, path: String },
}

/// What one product's requests must carry.
pub(crate) struct Policy {
    /// Its keys: an index into [`Policies::sources`].
    pub(crate) source: usize,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) required_claims: Vec<String>,
    pub(crate) leeway_s: u64,
    /// Claim name → request header (lowercase).
    pub(crate) claims_to_headers: Vec<(String, String)>,
    pub(crate) realm: String,
    /// Only requests for which this holds are checked (`None`: all).
    pub(crate) cond: Option<Condition>,
}

/// The policies: `[global]`'s and each product's (`None`: that product is not
/// checked).
pub(crate) struct Policies {
    pub(crate) global: Option<Policy>,
    pub(crate) products: BTreeMap<String, Option<Policy>>,
    /// Each JWKS document the policies use, once.
    pub(crate) sources: Vec<Arc<Jwks>>,
}

impl Policies {
    /// The policy for `product`: its own section's, else `[global]`'s.
    pub(crate) fn for_product(&self, product: &str) -> Option<&Policy> {
        match self.products.get(product) {
            Some(own) => own.as_ref(),
            None => self.global.as_ref(),
        }
    }

    /// The keys of `policy`.
    pub(crate) fn keys(&self, policy: &Policy) -> &Jwks {
        &self.sources[policy.source]
    }
}

/// The algorithms accepted unless `algorithms` says otherwise: the asymmetric ones
/// (a JWKS publishes public keys).
const DEFAULT_ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Parses and checks the config text (TOML); the error names the key.
pub(crate) fn parse(text: &str) -> Result<Policies, ConfigError> {
    let sections = Sections::<Section>::layered(text)?;
    let mut sources = Sources::default();
    let global = policy(sections.global(), "global", &mut sources)?;
    let mut products = BTreeMap::new();
    for (name, section) in sections.products() {
        let path = format!("products.{name}");
        products.insert(name.to_owned(), policy(section, &path, &mut sources)?);
    }
    let sources = (sources.0.into_iter())
        .map(|(target, refresh, timeout)| Arc::new(Jwks::new(target, refresh, timeout)))
        .collect();
    Ok(Policies {
        global,
        products,
        sources,
    })
}

/// The JWKS documents named so far, each with the shortest refresh and the longest
/// timeout of the sections naming it.
#[derive(Default)]
struct Sources(Vec<(JwksTarget, Duration, Duration)>);

impl Sources {
    /// The index of `target`, added if new.
    fn index(&mut self, target: JwksTarget, refresh: Duration, timeout: Duration) -> usize {
        match self.0.iter_mut().position(|(t, _, _)| *t == target) {
            Some(i) => {
                let (_, r, t) = &mut self.0[i];
                *r = (*r).min(refresh);
                *t = (*t).max(timeout);
                i
            }
            None => {
                self.0.push((target, refresh, timeout));
                self.0.len() - 1
            }
        }
    }
}

/// One section's policy; `None` if it checks nothing (`enabled = false`, or no
/// `jwks`).
fn policy(
    section: &Section,
    at: &str,
    sources: &mut Sources,
) -> Result<Option<Policy>, ConfigError> {
    let key = |name: &str| format!("{at}.{name}");
    if section.enabled == Some(false) {
        return Ok(None);
    }
    let Some(jwks) = &section.jwks else {
        if section.enabled == Some(true) {
            return Err(ConfigError::new(
                key("jwks"),
                "missing (`enabled = true` needs it)",
            ));
        }
        return Ok(None);
    };
    let jwks = match jwks.strip_prefix("cluster:") {
        Some("") => return Err(ConfigError::new(key("jwks"), "\"cluster:\" without a name")),
        Some(name) => {
            let path = section
                .jwks_path
                .as_deref()
                .unwrap_or("/.well-known/jwks.json");
            if !path.starts_with('/') {
                return Err(ConfigError::new(key("jwks_path"), "must start with `/`"));
            }
            JwksTarget::Cluster {
                name: name.to_owned(),
                path: path.to_owned(),
            }
        }
        None if jwks.starts_with("http://") || jwks.starts_with("https://") => {
            JwksTarget::Url(jwks.clone())
        }
        None => {
            let message = format!("{jwks:?} is neither \"cluster:NAME\" nor an http(s):// URL");
            return Err(ConfigError::new(key("jwks"), message));
        }
    };
    let refresh_ms = section.refresh_ms.unwrap_or(300_000);
    if refresh_ms < 100 {
        return Err(ConfigError::new(
            key("refresh_ms"),
            format!("{refresh_ms}; expected at least 100"),
        ));
    }
    let timeout_ms = section.timeout_ms.unwrap_or(2000);
    if timeout_ms == 0 {
        return Err(ConfigError::new(
            key("timeout_ms"),
            "0; expected at least 1",
        ));
    }
    let algorithms = match &section.algorithms {
        None => DEFAULT_ALGORITHMS.to_vec(),
        Some(names) if names.is_empty() => {
            return Err(ConfigError::new(
                key("algorithms"),
                "empty; list at least one",
            ))
        }
        Some(names) => names
            .iter()
            .map(|name| {
                name.parse::<Algorithm>().map_err(|_| {
                    ConfigError::new(
                        key("algorithms"),
                        format!("{name:?} is not a JWS algorithm"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let claims_to_headers = section.claims_to_headers.iter().flatten();
    let headers = claims_to_headers
        .map(|(claim, header)| (claim.clone(), header.as_str().to_owned()))
        .collect();
    let refresh = Duration::from_millis(refresh_ms);
    let timeout = Duration::from_millis(timeout_ms);
    Ok(Some(Policy {
        source: sources.index(jwks, refresh, timeout),
        issuer: section.issuer.clone(),
        audience: section.audience.clone().unwrap_or_default(),
        algorithms,
        required_claims: section
            .required_claims
            .clone()
            .unwrap_or_else(|| vec!["exp".to_owned()]),
        leeway_s: section.leeway_s.unwrap_or(60),
        claims_to_headers: headers,
        realm: section
            .realm
            .clone()
            .unwrap_or_else(|| "hookgate".to_owned()),
        cond: section.cond.clone(),
    }))
}
