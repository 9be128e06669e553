//! [`SniResolver`]: the certificate for a handshake, chosen by SNI.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::load::LoadedCert;

/// Chooses among a listener's certificates by the client's SNI: a certificate naming
/// the host exactly, else one with a wildcard for its parent domain, else the first
/// certificate. When several certificates claim a name, the first listed wins.
#[derive(Debug)]
pub(super) struct SniResolver {
    /// Every certificate, in config order; never empty (the first is the fallback).
    certs: Vec<Arc<CertifiedKey>>,
    /// Exact lowercase name → index in `certs`.
    exact: HashMap<String, usize>,
    /// `example.com` for a `*.example.com` name → index in `certs`.
    wildcard: HashMap<String, usize>,
}

impl SniResolver {
    /// A resolver over `certs`, which must not be empty.
    pub(super) fn new(certs: Vec<LoadedCert>) -> Self {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for (index, cert) in certs.iter().enumerate() {
            for name in &cert.names {
                match name.strip_prefix("*.") {
                    // Only a whole leftmost label may be a wildcard; names like
                    // `f*.example.com` or `*.*.com` never match, as in browsers.
                    Some(parent) if !parent.contains('*') => {
                        wildcard.entry(parent.to_owned()).or_insert(index);
                    }
                    Some(_) => {}
                    None if !name.contains('*') => {
                        exact.entry(name.clone()).or_insert(index);
                    }
                    None => {}
                }
            }
        }
        SniResolver {
            certs: certs.into_iter().map(|c| c.key).collect(),
            exact,
            wildcard,
        }
    }

    /// The certificate for this SNI (any case, an optional trailing dot), or the first.
    fn choose(&self, sni: Option<&str>) -> Option<&Arc<CertifiedKey>> {
        let index = sni.and_then(|sni| {
            let host = sni.trim_end_matches('.').to_ascii_lowercase();
            self.exact.get(&host).copied().or_else(|| {
                let (_, parent) = host.split_once('.')?;
                self.wildcard.get(parent).copied()
            })
        });
        self.certs.get(index.unwrap_or(0))
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(client_hello.server_name()).cloned()
    }
}
