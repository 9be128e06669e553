//! [`Names`]: the resolved addresses of every backend name.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};

use crate::config::BackendName;

/// The addresses of every backend name resolved so far, shared by the running proxy's
/// snapshots and its resolver tasks. Read when subclusters are built, never per
/// request.
#[derive(Clone, Debug, Default)]
pub struct Names {
    resolved: Arc<RwLock<HashMap<BackendName, Resolution>>>,
}

/// What is known of one name.
#[derive(Clone, Debug, Default)]
struct Resolution {
    /// Its addresses, sorted, without duplicates; empty if it never resolved.
    addrs: Vec<SocketAddr>,
    /// Why the last lookup failed, if it did.
    error: Option<String>,
}

/// What [`Names::record`] changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The name's addresses changed.
    pub addrs_changed: bool,
    /// The lookup failed where the one before did not, or with another cause.
    pub new_error: bool,
    /// The lookup succeeded where the one before failed.
    pub recovered: bool,
    /// Why this lookup failed, if it did.
    pub error: Option<String>,
}

impl Names {
    /// The addresses of `name`: none if it never resolved.
    pub fn addrs(&self, name: &BackendName) -> Vec<SocketAddr> {
        self.read(|resolved| resolved.get(name).map(|r| r.addrs.clone()))
            .unwrap_or_default()
    }

    /// Whether a lookup of `name` has been recorded.
    pub fn knows(&self, name: &BackendName) -> bool {
        self.read(|resolved| resolved.contains_key(name))
    }

    /// Records a lookup of `name`: its addresses, or why it failed (the addresses it
    /// had stay). A lookup that finds no address counts as a failure.
    pub fn record(&self, name: &BackendName, lookup: Result<Vec<SocketAddr>, String>) -> Recorded {
        let lookup = lookup.and_then(|mut addrs| {
            addrs.sort_unstable();
            addrs.dedup();
            if addrs.is_empty() {
                Err("no address".to_owned())
            } else {
                Ok(addrs)
            }
        });
        let mut resolved = self
            .resolved
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = resolved.entry(name.clone()).or_default();
        let had_error = entry.error.is_some();
        match lookup {
            Ok(addrs) => {
                let addrs_changed = entry.addrs != addrs;
                entry.addrs = addrs;
                entry.error = None;
                Recorded {
                    addrs_changed,
                    new_error: false,
                    recovered: had_error,
                    error: None,
                }
            }
            Err(error) => {
                let new_error = entry.error.as_deref() != Some(error.as_str());
                entry.error = Some(error.clone());
                Recorded {
                    addrs_changed: false,
                    new_error,
                    recovered: false,
                    error: Some(error),
                }
            }
        }
    }

    fn read<T>(&self, f: impl FnOnce(&HashMap<BackendName, Resolution>) -> T) -> T {
        f(&self.resolved.read().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> BackendName {
        BackendName {
            host: Arc::from("api.internal"),
            port: 80,
        }
    }

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, n], 80))
    }

    #[test]
    fn addresses_are_kept_sorted_and_unique_and_changes_are_told() {
        let names = Names::default();
        assert!(!names.knows(&name()));
        assert!(names.addrs(&name()).is_empty());
        let first = names.record(&name(), Ok(vec![addr(2), addr(1), addr(2)]));
        assert!(first.addrs_changed);
        assert_eq!(names.addrs(&name()), [addr(1), addr(2)]);
        let same = names.record(&name(), Ok(vec![addr(1), addr(2)]));
        assert!(!same.addrs_changed);
        let moved = names.record(&name(), Ok(vec![addr(3)]));
        assert!(moved.addrs_changed);
        assert_eq!(names.addrs(&name()), [addr(3)]);
    }

    #[test]
    fn a_failed_or_empty_lookup_keeps_the_last_addresses_and_is_told_once() {
        let names = Names::default();
        names.record(&name(), Ok(vec![addr(1)]));
        let failed = names.record(&name(), Err("timed out".into()));
        assert_eq!(
            failed,
            Recorded {
                addrs_changed: false,
                new_error: true,
                recovered: false,
                error: Some("timed out".into()),
            }
        );
        assert!(!names.record(&name(), Err("timed out".into())).new_error);
        assert!(names.record(&name(), Ok(vec![])).new_error);
        assert_eq!(names.addrs(&name()), [addr(1)]);
        let back = names.record(&name(), Ok(vec![addr(1)]));
        assert!(back.recovered && !back.addrs_changed);
    }
}
