use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::{clusters, wrr, Backend, Cluster};
use crate::config::{
    BackendAddr, BackendConfig, BackendName, Balance, ClusterConfig, Config, HealthCheckConfig,
    SubclusterConfig,
};
use crate::resolve::Names;
use hookgate_plugin_kit::Clock;

fn addr(n: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 8000 + n))
}

/// A client IP from a counter: consecutive addresses, the hardest case for the hash.
fn client(i: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
}

fn subcluster_config(weight: u32, backends: &[(u16, u32)]) -> SubclusterConfig {
    SubclusterConfig {
        weight,
        backends: backends
            .iter()
            .map(|&(n, weight)| BackendConfig {
                addr: addr(n).into(),
                weight,
            })
            .collect(),
    }
}

fn cluster_config(balance: Balance, subclusters: &[(&str, SubclusterConfig)]) -> ClusterConfig {
    ClusterConfig {
        balance,
        connect_timeout_ms: 1000,
        response_timeout_ms: 1000,
        read_timeout_ms: 1000,
        send_timeout_ms: 1000,
        pool_idle_timeout_ms: 4000,
        pool_max_idle_per_backend: 64,
        fail_on_5xx: false,
        retries: 2,
        cross_retry: 1,
        health_check: None,
        max_fails: 1,
        fail_timeout_ms: 60_000,
        protocol: Default::default(),
        h2_max_streams_per_connection: 100,
        resolve_interval_ms: 5000,
        tls: None,
        tls_loaded: None,
        subclusters: subclusters
            .iter()
            .map(|(name, s)| ((*name).to_owned(), s.clone()))
            .collect(),
    }
}

/// One cluster with one subcluster `s` of the given `(port, weight)` backends.
fn single(balance: Balance, backends: &[(u16, u32)]) -> Cluster {
    let config = cluster_config(balance, &[("s", subcluster_config(1, backends))]);
    Cluster::new("c", &config)
}

/// The port offset of the chosen backend, or `None`.
fn pick(cluster: &Cluster, balance: Balance, ip: IpAddr, tried: &[usize]) -> Option<u16> {
    cluster.subclusters[0]
        .backend(balance, ip, tried)
        .map(|b| b.addr.port() - 8000)
}

fn backend(cluster: &Cluster, n: u16) -> Arc<Backend> {
    let mut all = cluster
        .subclusters
        .iter()
        .flat_map(|s| s.members().backends.clone());
    match all.find(|b| b.addr == addr(n)) {
        Some(b) => b,
        None => panic!("no backend {n}"),
    }
}

#[test]
fn wrr_sequence_is_nginx_smooth() {
    assert_eq!(wrr::sequence(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
    // Reduced by the gcd, zero weights left out.
    assert_eq!(wrr::sequence(&[10, 10]), [0, 1]);
    assert_eq!(wrr::sequence(&[0, 2, 0]), [1]);
    assert!(wrr::sequence(&[0, 0]).is_empty());
    // Huge sums are capped but keep ratios.
    let long = wrr::sequence(&[1_000_000, 999_999]);
    assert!(long.len() <= 4096 + 2);
    let zeros = long.iter().filter(|&&i| i == 0).count();
    assert!(zeros.abs_diff(long.len() / 2) <= 2);
}

#[test]
fn wrr_one_cycle_is_exact() {
    let c = single(Balance::Wrr, &[(1, 5), (2, 1), (3, 1)]);
    let ip = client(1);
    let picks: Vec<_> = (0..14)
        .filter_map(|_| pick(&c, Balance::Wrr, ip, &[]))
        .collect();
    // a a b a c a a, twice
    assert_eq!(picks, [1, 1, 2, 1, 3, 1, 1, 1, 1, 2, 1, 3, 1, 1]);
}

#[test]
fn wrr_skips_unhealthy_and_tried() {
    let c = single(Balance::Wrr, &[(1, 5), (2, 1), (3, 1)]);
    backend(&c, 2).upstream_failed(); // max_fails = 1
    assert!(!backend(&c, 2).is_healthy());
    let picks: Vec<_> = (0..7)
        .filter_map(|_| pick(&c, Balance::Wrr, client(1), &[]))
        .collect();
    assert_eq!(picks.len(), 7);
    assert_eq!(picks.iter().filter(|&&p| p == 1).count(), 6);
    assert_eq!(picks.iter().filter(|&&p| p == 3).count(), 1);

    let tried = [backend(&c, 1).id];
    for _ in 0..7 {
        assert_eq!(pick(&c, Balance::Wrr, client(1), &tried), Some(3));
    }
    let tried = [backend(&c, 1).id, backend(&c, 3).id];
    assert_eq!(pick(&c, Balance::Wrr, client(1), &tried), None);
}

#[test]
fn zero_weight_backend_takes_no_traffic() {
    for balance in [Balance::Wrr, Balance::LeastConn, Balance::Hash] {
        let c = single(balance, &[(1, 0), (2, 1)]);
        for i in 0..200 {
            assert_eq!(pick(&c, balance, client(i), &[]), Some(2), "{balance:?}");
        }
    }
}

#[test]
fn least_conn_prefers_the_idle_backend() {
    let c = single(Balance::LeastConn, &[(1, 1), (2, 1), (3, 1)]);
    let busy_a = backend(&c, 1).start_request();
    let busy_b = backend(&c, 2).start_request();
    let busy_b2 = backend(&c, 2).start_request();
    assert_eq!(backend(&c, 2).active(), 2);
    for _ in 0..10 {
        assert_eq!(pick(&c, Balance::LeastConn, client(1), &[]), Some(3));
    }
    // Only 1 and 2 left: 1 has fewer requests.
    let tried = [backend(&c, 3).id];
    assert_eq!(pick(&c, Balance::LeastConn, client(1), &tried), Some(1));
    drop((busy_a, busy_b, busy_b2));
    assert_eq!(backend(&c, 1).active(), 0);
    assert_eq!(backend(&c, 2).active(), 0);
    // All idle: ties rotate over every backend.
    let mut seen: Vec<_> = (0..3)
        .filter_map(|_| pick(&c, Balance::LeastConn, client(1), &[]))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, [1, 2, 3]);
}

#[test]
fn least_conn_ties_go_to_the_heavier_backend() {
    let c = single(Balance::LeastConn, &[(1, 1), (2, 3)]);
    for _ in 0..5 {
        assert_eq!(pick(&c, Balance::LeastConn, client(1), &[]), Some(2));
    }
    let _busy = backend(&c, 2).start_request();
    assert_eq!(pick(&c, Balance::LeastConn, client(1), &[]), Some(1));
}

#[test]
fn hash_is_sticky_and_spreads() {
    let c = single(Balance::Hash, &[(1, 1), (2, 1), (3, 1)]);
    let mut counts = HashMap::new();
    for i in 0..3000 {
        let first = pick(&c, Balance::Hash, client(i), &[]);
        assert_eq!(first, pick(&c, Balance::Hash, client(i), &[]));
        *counts.entry(first).or_insert(0u32) += 1;
    }
    assert_eq!(counts.len(), 3);
    for (backend, count) in counts {
        // 1000 each ideally; 100 virtual nodes per backend keep it within ±25 %.
        assert!((750..=1250).contains(&count), "{backend:?}: {count}");
    }
    // IPv6, and IPv4-mapped IPv6 hashes as IPv4.
    let mapped = IpAddr::V6(Ipv4Addr::new(10, 0, 0, 7).to_ipv6_mapped());
    assert_eq!(
        pick(&c, Balance::Hash, mapped, &[]),
        pick(&c, Balance::Hash, client(7), &[])
    );
}

#[test]
fn hash_removing_a_backend_moves_only_its_keys() {
    let three = single(Balance::Hash, &[(1, 1), (2, 1), (3, 1)]);
    let two = single(Balance::Hash, &[(1, 1), (2, 1)]);
    let mut moved = 0;
    for i in 0..3000 {
        let before = pick(&three, Balance::Hash, client(i), &[]);
        let after = pick(&two, Balance::Hash, client(i), &[]);
        if before == Some(3) {
            moved += 1;
        } else {
            assert_eq!(before, after, "client {i} moved");
        }
    }
    assert!(moved > 0);
    // Marking it down (rather than removing it) does the same.
    backend(&three, 3).upstream_failed();
    for i in 0..3000 {
        assert_eq!(
            pick(&three, Balance::Hash, client(i), &[]),
            pick(&two, Balance::Hash, client(i), &[])
        );
    }
}

fn two_subclusters(weights: &[u32]) -> Cluster {
    let subclusters: Vec<(String, SubclusterConfig)> = weights
        .iter()
        .zip(1u16..)
        .map(|(&w, n)| (format!("s{n}"), subcluster_config(w, &[(n, 1)])))
        .collect();
    let named: Vec<(&str, SubclusterConfig)> = subclusters
        .iter()
        .map(|(name, s)| (name.as_str(), s.clone()))
        .collect();
    Cluster::new("c", &cluster_config(Balance::Wrr, &named))
}

fn spread(cluster: &Cluster, tried: &[usize], clients: u32) -> Vec<f64> {
    let mut counts = vec![0u32; cluster.subclusters.len()];
    for i in 0..clients {
        if let Some(s) = cluster.subcluster(client(i), tried) {
            counts[s] += 1;
        }
    }
    counts
        .into_iter()
        .map(|c| f64::from(c) / f64::from(clients))
        .collect()
}

#[test]
fn subclusters_by_weight_within_3_percent() {
    let c = two_subclusters(&[70, 30]);
    let shares = spread(&c, &[], 10_000);
    assert!((shares[0] - 0.70).abs() <= 0.03, "{shares:?}");
    assert!((shares[1] - 0.30).abs() <= 0.03, "{shares:?}");
    // Sticky.
    for i in 0..100 {
        assert_eq!(c.subcluster(client(i), &[]), c.subcluster(client(i), &[]));
    }
}

#[test]
fn subcluster_fallback_by_weight() {
    let c = two_subclusters(&[50, 30, 20]);
    // With the first excluded, its clients spread 60/40 over the others, and those
    // already on the others stay put.
    let shares = spread(&c, &[0], 10_000);
    assert_eq!(shares[0], 0.0);
    assert!((shares[1] - 0.60).abs() <= 0.03, "{shares:?}");
    assert!((shares[2] - 0.40).abs() <= 0.03, "{shares:?}");
    for i in 0..1000 {
        let keyed = c.subcluster(client(i), &[]);
        if keyed != Some(0) {
            assert_eq!(keyed, c.subcluster(client(i), &[0]));
        }
    }
    // A subcluster without a healthy backend is skipped like a tried one.
    c.subclusters[0].members().backends[0].upstream_failed();
    assert_eq!(spread(&c, &[], 2000), spread(&c, &[0], 2000));
    assert_eq!(c.subcluster(client(1), &[1, 2]), None);
    // Weight 0 takes nothing.
    let c = two_subclusters(&[0, 1]);
    assert_eq!(spread(&c, &[], 100), [0.0, 1.0]);
    assert_eq!(c.subcluster(client(1), &[1]), None);
}

/// One backend on port 1, whose passive health reads `clock`.
fn passive(
    max_fails: u32,
    fail_timeout_ms: u64,
    check: Option<HealthCheckConfig>,
    clock: &Clock,
) -> Cluster {
    let mut config = cluster_config(Balance::Wrr, &[("s", subcluster_config(1, &[(1, 1)]))]);
    config.max_fails = max_fails;
    config.fail_timeout_ms = fail_timeout_ms;
    config.health_check = check;
    Cluster::with_state(
        "c",
        &config,
        &crate::balance::HealthStates::with_clock(clock.clone()),
        &crate::resolve::Names::default(),
    )
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn passive_down_after_max_fails_and_back_after_fail_timeout() {
    let clock = Clock::manual();
    let c = passive(2, 100, None, &clock);
    let b = backend(&c, 1);
    b.upstream_failed();
    assert!(b.is_healthy());
    b.upstream_failed();
    assert!(!b.is_healthy());
    assert_eq!(pick(&c, Balance::Wrr, client(1), &[]), None);
    clock.advance(99 * MS);
    assert!(!b.is_healthy(), "down for the whole fail_timeout");
    clock.advance(MS);
    assert!(b.is_healthy(), "tried again after fail_timeout");
    // One failure of the trial marks it down again, for a fail_timeout from now.
    b.upstream_failed();
    assert!(!b.is_healthy());
    clock.advance(99 * MS);
    assert!(!b.is_healthy());
    // A request chosen before the marking fails within the timeout: nothing new.
    b.upstream_failed();
    clock.advance(MS);
    assert!(b.is_healthy());
    b.upstream_succeeded();
    // The success reset the count: one failure is not enough any more.
    b.upstream_failed();
    assert!(b.is_healthy());
    b.upstream_succeeded();
    b.upstream_failed();
    assert!(b.is_healthy());
}

#[test]
fn passive_marking_off_with_max_fails_zero() {
    let c = passive(0, 50, None, &Clock::manual());
    for _ in 0..10 {
        backend(&c, 1).upstream_failed();
    }
    assert!(backend(&c, 1).is_healthy());
}

fn check(unhealthy_after: u32, healthy_after: u32) -> HealthCheckConfig {
    HealthCheckConfig {
        path: "/healthz".into(),
        interval_ms: 20,
        unhealthy_after,
        healthy_after,
    }
}

#[test]
fn passive_with_active_check_waits_for_the_checker() {
    let clock = Clock::manual();
    let c = passive(1, 10, Some(check(3, 2)), &clock);
    let b = backend(&c, 1);
    b.upstream_failed();
    assert!(!b.is_healthy());
    clock.advance(30 * MS);
    assert!(!b.is_healthy(), "only the checker brings it back");
    b.upstream_succeeded();
    assert!(!b.is_healthy());
    b.check_result(true);
    assert!(!b.is_healthy());
    b.check_result(true);
    assert!(b.is_healthy());
}

#[test]
fn active_check_thresholds() {
    let c = passive(3, 10_000, Some(check(3, 2)), &Clock::manual());
    let b = backend(&c, 1);
    b.check_result(false);
    b.check_result(false);
    assert!(b.is_healthy());
    b.check_result(true); // resets the failure streak
    b.check_result(false);
    b.check_result(false);
    assert!(b.is_healthy());
    b.check_result(false);
    assert!(!b.is_healthy());
    b.check_result(true);
    b.check_result(false); // resets the success streak
    b.check_result(true);
    assert!(!b.is_healthy());
    b.check_result(true);
    assert!(b.is_healthy());
}

fn two_clusters() -> Config {
    let mut config = Config {
        default_product: None,
        server: Default::default(),
        plugins: Vec::new(),
        products: BTreeMap::new(),
        clusters: BTreeMap::new(),
        redis: BTreeMap::new(),
        tracing: None,
    };
    config.clusters.insert(
        "a".into(),
        cluster_config(
            Balance::Wrr,
            &[
                ("x", subcluster_config(1, &[(1, 1), (2, 1)])),
                ("y", subcluster_config(1, &[(3, 1)])),
            ],
        ),
    );
    config.clusters.insert(
        "b".into(),
        cluster_config(Balance::Hash, &[("z", subcluster_config(1, &[(4, 1)]))]),
    );
    config
}

#[test]
fn backend_ids_are_unique_in_the_process_and_backends_in_config_order() {
    let config = two_clusters();
    let health = crate::balance::HealthStates::default();
    let names = Names::default();
    let ids = |map: &HashMap<Arc<str>, Arc<Cluster>>| -> Vec<(usize, u16)> {
        let mut all = Vec::new();
        for name in ["a", "b"] {
            for s in &map[name].subclusters {
                all.extend(
                    s.members()
                        .backends
                        .iter()
                        .map(|b| (b.id, b.addr.port() - 8000)),
                );
            }
        }
        all
    };
    let first = ids(&clusters(&config, &health, &names));
    let second = ids(&clusters(&config, &health, &names));
    let ports = |ids: &[(usize, u16)]| ids.iter().map(|&(_, port)| port).collect::<Vec<_>>();
    assert_eq!(ports(&first), [1, 2, 3, 4]);
    assert_eq!(ports(&second), [1, 2, 3, 4]);
    let mut every: Vec<usize> = first.iter().chain(&second).map(|&(id, _)| id).collect();
    every.sort_unstable();
    every.dedup();
    assert_eq!(every.len(), 8, "{first:?} {second:?}");
    let map = clusters(&config, &health, &names);
    assert_eq!(&*backend(&map["a"], 1).name, "10.0.0.1:8001");
    assert_eq!(&**backend(&map["a"], 3).subcluster(), "y");
}

fn api_name() -> BackendName {
    BackendName {
        host: Arc::from("api.internal"),
        port: 80,
    }
}

/// One subcluster: a backend at 10.0.0.1:8001 (weight 1) and one by the name
/// `api.internal:80` (weight 3).
fn named_cluster(names: &Names) -> Cluster {
    let mut entries = subcluster_config(1, &[(1, 1)]);
    entries.backends.push(BackendConfig {
        addr: BackendAddr::Name(api_name()),
        weight: 3,
    });
    let config = cluster_config(Balance::Wrr, &[("s", entries)]);
    Cluster::with_state(
        "c",
        &config,
        &crate::balance::HealthStates::default(),
        names,
    )
}

fn at(ip: [u8; 4]) -> SocketAddr {
    SocketAddr::from((ip, 80))
}

#[test]
fn every_address_of_a_name_is_a_backend_with_the_entry_weight() {
    let names = Names::default();
    names.record(&api_name(), Ok(vec![at([10, 1, 0, 2]), at([10, 1, 0, 1])]));
    let c = named_cluster(&names);
    let members = c.subclusters[0].members();
    let listed: Vec<_> = members
        .backends
        .iter()
        .map(|b| {
            (
                b.name.to_string(),
                b.weight,
                b.host.as_deref().map(str::to_owned),
            )
        })
        .collect();
    let host = Some("api.internal:80".to_owned());
    assert_eq!(
        listed,
        [
            ("10.0.0.1:8001".to_owned(), 1, None),
            ("10.1.0.1:80".to_owned(), 3, host.clone()),
            ("10.1.0.2:80".to_owned(), 3, host),
        ]
    );
    // Round-robin spreads by weight: 1 + 3 + 3 over a period of 7.
    let mut seen = HashMap::new();
    for i in 0..70 {
        let chosen = c.subclusters[0].backend(Balance::Wrr, client(i), &[]);
        *seen.entry(chosen.map(|b| b.addr)).or_insert(0) += 1;
    }
    assert_eq!(seen[&Some(addr(1))], 10);
    assert_eq!(seen[&Some(at([10, 1, 0, 1]))], 30);
    assert_eq!(seen[&Some(at([10, 1, 0, 2]))], 30);
}

#[test]
fn a_refresh_keeps_the_backends_whose_address_stays() {
    let names = Names::default();
    names.record(&api_name(), Ok(vec![at([10, 1, 0, 1]), at([10, 1, 0, 2])]));
    let c = named_cluster(&names);
    let subcluster = &c.subclusters[0];
    let before = subcluster.members();
    let health = crate::balance::HealthStates::default();
    assert!(!subcluster.refresh(&names, &health), "nothing changed");
    assert!(Arc::ptr_eq(&before, &subcluster.members()));

    let busy = before.backends[1].start_request();
    names.record(&api_name(), Ok(vec![at([10, 1, 0, 1]), at([10, 1, 0, 3])]));
    assert!(subcluster.refresh(&names, &health));
    let after = subcluster.members();
    let addrs: Vec<_> = after.backends.iter().map(|b| b.addr).collect();
    assert_eq!(addrs, [addr(1), at([10, 1, 0, 1]), at([10, 1, 0, 3])]);
    // Kept whole: the same backend, its count of active requests with it.
    assert!(Arc::ptr_eq(&before.backends[0], &after.backends[0]));
    assert!(Arc::ptr_eq(&before.backends[1], &after.backends[1]));
    assert_eq!(after.backends[1].active(), 1);
    // New: another id, never chosen before.
    assert!(before.backends.iter().all(|b| b.id != after.backends[2].id));
    // The one gone is no longer chosen; a request on it keeps it.
    for i in 0..50 {
        let chosen = subcluster.backend(Balance::Wrr, client(i), &[]);
        assert_ne!(chosen.map(|b| b.addr), Some(at([10, 1, 0, 2])));
    }
    drop(busy);
}

#[test]
fn a_name_that_never_resolved_has_no_backend() {
    let names = Names::default();
    let mut entries = subcluster_config(1, &[]);
    entries.backends.push(BackendConfig {
        addr: BackendAddr::Name(api_name()),
        weight: 1,
    });
    let config = cluster_config(Balance::LeastConn, &[("s", entries)]);
    let health = crate::balance::HealthStates::default();
    let c = Cluster::with_state("c", &config, &health, &names);
    assert!(c.subclusters[0].members().backends.is_empty());
    assert_eq!(c.subcluster(client(1), &[]), None);
    names.record(&api_name(), Ok(vec![at([10, 1, 0, 1])]));
    assert!(c.subclusters[0].refresh(&names, &health));
    assert_eq!(c.subcluster(client(1), &[]), Some(0));
    let chosen = c.subclusters[0].backend(Balance::LeastConn, client(1), &[]);
    assert_eq!(chosen.map(|b| b.addr), Some(at([10, 1, 0, 1])));
}
