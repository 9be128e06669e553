//! [`Jwks`]: one JWKS document's keys, fetched through the host's callouts (by a
//! timer, and by the first request when none arrived yet) and swapped whole.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hookgate_plugin_api::{Callout, CalloutResult};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::config::JwksTarget;

/// The most bytes of a JWKS document read.
const JWKS_BODY_LIMIT: u64 = 256 * 1024;

/// Where a JWKS document comes from, how often it is fetched, and its keys now.
pub(crate) struct Jwks {
    pub(crate) target: JwksTarget,
    /// The shortest `refresh_ms` of the sections that use it.
    pub(crate) refresh: Duration,
    /// The longest `timeout_ms` of the sections that use it.
    pub(crate) timeout: Duration,
    keys: RwLock<Option<Arc<Keys>>>,
}

/// The keys of one JWKS document.
#[derive(Default)]
pub(crate) struct Keys {
    by_id: HashMap<String, Key>,
    /// Keys without a `kid`.
    unnamed: Vec<Key>,
}

/// One verification key.
struct Key {
    /// The algorithm the key is for, if the JWKS says.
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl Jwks {
    /// A source with no keys yet.
    pub(crate) fn new(target: JwksTarget, refresh: Duration, timeout: Duration) -> Jwks {
        Jwks {
            target,
            refresh,
            timeout,
            keys: RwLock::new(None),
        }
    }

    /// The request that fetches the document.
    pub(crate) fn callout(&self) -> Callout {
        let callout = match &self.target {
            JwksTarget::Url(url) => Callout::get(url),
            JwksTarget::Cluster { name, path } => Callout::to_cluster(name, path),
        };
        (callout.header("accept", "application/json"))
            .timeout(self.timeout)
            .body_limit(JWKS_BODY_LIMIT)
    }

    /// The keys now; `None` until a fetch succeeded.
    pub(crate) fn current(&self) -> Option<Arc<Keys>> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        keys.clone()
    }

    /// Takes a fetch's answer: a good document replaces the keys (its count is
    /// returned); anything else keeps them, and says why.
    pub(crate) fn update(&self, answer: &CalloutResult) -> Result<usize, String> {
        if let Some(error) = &answer.error {
            return Err(error.clone());
        }
        if !answer.is_success() {
            return Err(format!("answered {}", answer.status));
        }
        let keys = Keys::parse(&answer.body)?;
        let count = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keys));
        Ok(count)
    }

    /// Where it comes from, for logs.
    pub(crate) fn describe(&self) -> String {
        match &self.target {
            JwksTarget::Url(url) => url.clone(),
            JwksTarget::Cluster { name, path } => format!("cluster:{name}{path}"),
        }
    }
}

impl Keys {
    /// The signing keys of a JWKS document. Keys this crate cannot use (another
    /// `use`, an unknown type or curve) are skipped; a document with none left is
    /// refused, so that a broken publication never replaces good keys.
    pub(crate) fn parse(body: &[u8]) -> Result<Keys, String> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document =
            serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut keys = Keys::default();
        for value in document.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            let usable = matches!(
                jwk.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            );
            let Ok(key) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            if !usable {
                continue;
            }
            let alg = (jwk.common.key_algorithm)
                .and_then(|alg| alg.to_string().parse::<Algorithm>().ok());
            let key = Key { alg, key };
            match jwk.common.key_id {
                Some(id) => {
                    keys.by_id.insert(id, key);
                }
                None => keys.unnamed.push(key),
            }
        }
        if keys.len() == 0 {
            return Err("no usable signing key in the JWKS document".to_owned());
        }
        Ok(keys)
    }

    /// How many keys.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len() + self.unnamed.len()
    }

    /// The keys that may have signed a token with this `kid` and `alg`: the key with
    /// that id, or (no `kid`) every key; those whose JWKS names another algorithm
    /// are left out.
    pub(crate) fn candidates<'k>(
        &'k self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'k DecodingKey> + 'k {
        let named: Box<dyn Iterator<Item = &Key>> = match kid {
            Some(kid) => Box::new(self.by_id.get(kid).into_iter()),
            None => Box::new(self.by_id.values().chain(&self.unnamed)),
        };
        named
            .filter(move |key| key.alg.is_none_or(|a| a == alg))
            .map(|key| &key.key)
    }
}
