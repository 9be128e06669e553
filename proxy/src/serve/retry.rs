//! [`Retries`]: the retry rules of DESIGN §3 for one request, as a value the
//! forwarding loop asks; no I/O.
//!
//! - The first attempt goes to a subcluster chosen by weight (keyed on the client IP)
//!   and a backend chosen by the cluster's balancing, skipping unhealthy ones.
//! - After a **connect failure** (nothing was sent), the next attempt goes to another
//!   backend of the same subcluster, up to `retries` more attempts there; then to
//!   another subcluster, at most `cross_retry` times.
//! - After a failure **once the request was sent**, there is a next attempt only if
//!   the request is idempotent and has no body (it can be sent again as it was).
//! - A **reused connection that fails before any response byte** (the backend closed
//!   it while it idled) gives such a request one more attempt on the same backend
//!   (on a fresh connection), whatever `retries` says.
//! - No backend is tried twice, and no request makes more than [`MAX_ATTEMPTS`].

use std::net::IpAddr;
use std::sync::Arc;

use http::Method;

use crate::balance::{Backend, Cluster};

/// Attempts at most, whatever the config says: bounds the work one request can cause.
pub(crate) const MAX_ATTEMPTS: usize = 16;

/// How an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Nothing was sent (connect failed or timed out, or the connection closed first).
    Connect,
    /// The request was (at least partly) sent.
    AfterSending,
    /// A reused connection failed before any response byte (closed while idle).
    Stale,
}

/// Where a request's attempts have been, and where the next one goes.
#[derive(Debug)]
pub(crate) struct Retries {
    tried_subclusters: Tried,
    tried_backends: Tried,
    /// The subcluster of the attempts so far, while it still has attempts left.
    current: Option<usize>,
    attempts_here: u32,
    crosses_left: u32,
    retries: u32,
    /// Whether the request can be sent again after it was sent once.
    resendable: bool,
    /// The last attempt's subcluster and backend, while it may go again there once
    /// (after a [`Failure::Stale`]).
    again: Option<(usize, Arc<Backend>)>,
    last: Option<(usize, Arc<Backend>)>,
    stale_retried: bool,
}

impl Retries {
    /// The rules of `cluster` for a request with `method`, with or without a body.
    pub(crate) fn new(cluster: &Cluster, method: &Method, has_body: bool) -> Retries {
        Retries {
            tried_subclusters: Tried::default(),
            tried_backends: Tried::default(),
            current: None,
            attempts_here: 0,
            crosses_left: cluster.cross_retry,
            retries: cluster.retries,
            resendable: idempotent(method) && !has_body,
            again: None,
            last: None,
            stale_retried: false,
        }
    }

    /// Whether the request can be sent again once it was sent (idempotent, no body).
    pub(crate) fn resendable(&self) -> bool {
        self.resendable
    }

    /// The next attempt's subcluster (index in `cluster`) and backend; `None` when
    /// there is none left.
    pub(crate) fn next(
        &mut self,
        cluster: &Cluster,
        client_ip: IpAddr,
    ) -> Option<(usize, Arc<Backend>)> {
        if let Some(again) = self.again.take() {
            return Some(again);
        }
        let next = self.choose(cluster, client_ip);
        self.last.clone_from(&next);
        next
    }

    fn choose(&mut self, cluster: &Cluster, client_ip: IpAddr) -> Option<(usize, Arc<Backend>)> {
        while !self.tried_backends.is_full() {
            let index = match self.current {
                Some(index) => index,
                None => {
                    let index = cluster.subcluster(client_ip, self.tried_subclusters.as_slice())?;
                    self.current = Some(index);
                    self.attempts_here = 0;
                    index
                }
            };
            let backend = if self.attempts_here <= self.retries {
                cluster.subclusters[index].backend(
                    cluster.balance,
                    client_ip,
                    self.tried_backends.as_slice(),
                )
            } else {
                None
            };
            match backend {
                Some(backend) => {
                    self.attempts_here += 1;
                    self.tried_backends.push(backend.id);
                    return Some((index, backend));
                }
                None => {
                    // This subcluster is used up: cross to another, if allowed.
                    self.tried_subclusters.push(index);
                    self.current = None;
                    if self.crosses_left == 0 {
                        return None;
                    }
                    self.crosses_left -= 1;
                }
            }
        }
        None
    }

    /// Records how the last attempt failed; `false` means there is no next attempt
    /// whatever [`next`](Retries::next) would say.
    pub(crate) fn failed(&mut self, failure: Failure) -> bool {
        match failure {
            Failure::Connect => true,
            Failure::AfterSending => self.resendable,
            // Once per request, on a fresh connection to the same backend, whatever
            // `retries` says: the backend did nothing wrong.
            Failure::Stale if self.resendable && !self.stale_retried => {
                self.stale_retried = true;
                self.again = self.last.clone();
                true
            }
            Failure::Stale => self.resendable,
        }
    }
}

/// Whether a request may be sent again after a failure once it was sent (RFC 9110
/// §9.2.2).
fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Backend ids (or subcluster indexes) already tried, without allocating.
#[derive(Debug)]
struct Tried {
    ids: [usize; MAX_ATTEMPTS],
    len: usize,
}

impl Default for Tried {
    fn default() -> Tried {
        Tried {
            ids: [0; MAX_ATTEMPTS],
            len: 0,
        }
    }
}

impl Tried {
    fn push(&mut self, id: usize) {
        if self.len < MAX_ATTEMPTS {
            self.ids[self.len] = id;
            self.len += 1;
        }
    }
    fn as_slice(&self) -> &[usize] {
        &self.ids[..self.len]
    }
    fn is_full(&self) -> bool {
        self.len == MAX_ATTEMPTS
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{BackendConfig, ClusterConfig, SubclusterConfig};

    /// A cluster of subclusters `(name, weight, backend count)`; backend addresses
    /// are never connected to.
    fn cluster(subclusters: &[(&str, u32, u16)], retries: u32, cross_retry: u32) -> Cluster {
        let mut port = 1000;
        let subclusters = subclusters
            .iter()
            .map(|&(name, weight, count)| {
                let backends = (0..count)
                    .map(|_| {
                        port += 1;
                        BackendConfig::at(([10, 0, 0, 1], port).into())
                    })
                    .collect();
                (name.to_owned(), SubclusterConfig { weight, backends })
            })
            .collect::<BTreeMap<_, _>>();
        let mut config = ClusterConfig::with_subclusters(subclusters);
        config.retries = retries;
        config.cross_retry = cross_retry;
        Cluster::new("c", &config)
    }

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    /// Every attempt `retries` allows after connect failures: (subcluster, backend).
    fn attempts_after_connect_failures(cluster: &Cluster, method: Method) -> Vec<(String, usize)> {
        let mut retries = Retries::new(cluster, &method, false);
        let mut seen = Vec::new();
        while let Some((index, backend)) = retries.next(cluster, CLIENT) {
            seen.push((cluster.subclusters[index].name.to_string(), backend.id));
            assert!(retries.failed(Failure::Connect));
        }
        seen
    }

    #[test]
    fn connect_failures_retry_in_the_subcluster_then_cross_once() {
        let cluster = cluster(&[("a", 100, 4), ("b", 1, 3)], 2, 1);
        let seen = attempts_after_connect_failures(&cluster, Method::POST);
        // 1 + retries in the first subcluster, then 1 + retries in the other.
        assert_eq!(seen.len(), 6, "{seen:?}");
        let first = &seen[0].0;
        assert!(seen[..3].iter().all(|(s, _)| s == first), "{seen:?}");
        assert!(seen[3..].iter().all(|(s, _)| s != first), "{seen:?}");
        let mut ids: Vec<usize> = seen.iter().map(|(_, id)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 6, "no backend twice: {seen:?}");
    }

    #[test]
    fn without_cross_retry_one_subcluster_only() {
        let cluster = cluster(&[("a", 1, 2), ("b", 1, 2)], 5, 0);
        let seen = attempts_after_connect_failures(&cluster, Method::GET);
        assert_eq!(seen.len(), 2, "both backends of one subcluster: {seen:?}");
        assert_eq!(seen[0].0, seen[1].0);
    }

    #[test]
    fn a_subcluster_with_fewer_backends_than_retries_crosses_early() {
        let cluster = cluster(&[("a", 1, 1), ("b", 1, 1)], 3, 1);
        let seen = attempts_after_connect_failures(&cluster, Method::GET);
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_ne!(seen[0].0, seen[1].0);
    }

    #[test]
    fn after_sending_only_idempotent_requests_without_a_body_go_again() {
        let cluster = cluster(&[("a", 1, 3)], 2, 0);
        let mut get = Retries::new(&cluster, &Method::GET, false);
        assert!(get.next(&cluster, CLIENT).is_some());
        assert!(get.failed(Failure::AfterSending));
        assert!(get.next(&cluster, CLIENT).is_some());
        let mut post = Retries::new(&cluster, &Method::POST, false);
        assert!(post.next(&cluster, CLIENT).is_some());
        assert!(!post.failed(Failure::AfterSending));
        let mut put_with_body = Retries::new(&cluster, &Method::PUT, true);
        assert!(!put_with_body.resendable());
        assert!(
            put_with_body.failed(Failure::Connect),
            "a connect failure sent nothing"
        );
    }

    #[test]
    fn a_stale_connection_goes_again_to_the_same_backend_once() {
        let cluster = cluster(&[("a", 1, 2)], 0, 0);
        let mut get = Retries::new(&cluster, &Method::GET, false);
        let (_, first) = get.next(&cluster, CLIENT).unwrap();
        assert!(get.failed(Failure::Stale));
        let (_, again) = get.next(&cluster, CLIENT).unwrap();
        assert_eq!(again.id, first.id, "the same backend, though retries = 0");
        assert!(get.failed(Failure::Stale));
        assert!(
            get.next(&cluster, CLIENT).is_none(),
            "once; then retries = 0 applies"
        );
        let mut post = Retries::new(&cluster, &Method::POST, false);
        assert!(post.next(&cluster, CLIENT).is_some());
        assert!(!post.failed(Failure::Stale), "not idempotent");
    }

    #[test]
    fn attempts_are_bounded() {
        let cluster = cluster(&[("a", 1, 40)], 100, 0);
        let seen = attempts_after_connect_failures(&cluster, Method::GET);
        assert_eq!(seen.len(), MAX_ATTEMPTS);
    }

    #[test]
    fn a_cluster_without_backends_has_no_attempt() {
        let cluster = cluster(&[("a", 1, 0)], 2, 1);
        let mut retries = Retries::new(&cluster, &Method::GET, false);
        assert!(retries.next(&cluster, CLIENT).is_none());
    }
}
