//! A fleet of proxies (issue 20 §1, §2, §4): two hookgate processes share one real
//! `redis-server` through the rate-limit plugin's `redis` store, and enforce one limit
//! together; the store stopped or stalled is each rule's `on_store_error`; a script the
//! server forgot is run again by `EVAL`.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use hookgate_tests::{
    arg, free_addr, http1_send, library, Backend, Proxy, RedisCluster, RedisServer, Req,
};

/// The rate-limit rules: per client IP, counted in the store `main`.
const RULES: &str = r#"
[products.fixed]
rules = [{ limit = 10, window_ms = 600000, redis = "main" }]
[products.sliding]
rules = [{ limit = 10, window_ms = 600000, redis = "main", window = "sliding" }]
[products.synced]
rules = [{ limit = 20, window_ms = 600000, redis = "main", sync_ms = 50 }]
[products.keyed]
rules = [{ limit = 5, window_ms = 600000, redis = "main", key_header = "x-key", window = "sliding" }]
[products.open]
rules = [{ limit = 1000, window_ms = 600000, redis = "main", on_store_error = "open" }]
[products.closed]
rules = [{ limit = 1000, window_ms = 600000, redis = "main", on_store_error = "closed" }]
"#;

/// One proxy of the fleet: every product to `app`, the rate-limit plugin with
/// [`RULES`], the store at `redis`.
fn start(dir: &Path, name: &str, app: &Backend, redis: &str) -> (Proxy, SocketAddr) {
    start_with_store(dir, name, app, &format!("url = \"{redis}\""))
}

/// [`start`], the store `main` written as `store` (its `url` or `cluster` line).
fn start_with_store(dir: &Path, name: &str, app: &Backend, store: &str) -> (Proxy, SocketAddr) {
    let rules = dir.join("rate-limit.toml");
    fs::write(&rules, RULES).expect("write the rules");
    let listen = free_addr();
    let products: String = ["fixed", "sliding", "synced", "open", "closed", "keyed"]
        .iter()
        .map(|p| {
            format!(
                "[products.{p}]\nhosts = [\"{p}.example\"]\nroutes = [{{ cluster = \"app\" }}]\n"
            )
        })
        .collect();
    let text = format!(
        r#"[server]
listen = ["{listen}"]
admin = "{admin}"
[[plugins]]
path = {plugin:?}
config = {rules:?}
[redis.main]
{store}
timeout_ms = 200
connect_timeout_ms = 200
{products}
[clusters.app.subclusters.main]
weight = 1
backends = [{{ addr = "{app}" }}]
"#,
        admin = free_addr(),
        plugin = arg(&library("hookgate_plugin_rate_limit")),
        rules = arg(&rules),
        app = app.addr(),
    );
    let path = dir.join(format!("{name}.toml"));
    fs::write(&path, text).expect("write the config");
    (Proxy::start(&["--config", arg(&path)]), listen)
}

fn status(listen: SocketAddr, product: &str) -> u16 {
    let host = format!("{product}.example");
    http1_send(listen, &Req::get(&host, "/"))
        .expect("answered")
        .status
}

/// Requests for `product` alternating between the proxies: how many were let on.
fn accepted(fleet: &[SocketAddr], product: &str, requests: usize) -> usize {
    (0..requests)
        .filter(|i| {
            let status = status(fleet[i % fleet.len()], product);
            assert!(status == 200 || status == 429, "{product}: {status}");
            status == 200
        })
        .count()
}

#[test]
fn two_proxies_sharing_a_store_enforce_one_limit() {
    let redis = RedisServer::start();
    let app = Backend::echo("app");
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, a_listen) = start(dir.path(), "a", &app, &redis.url());
    let (_b, b_listen) = start(dir.path(), "b", &app, &redis.url());
    let fleet = [a_listen, b_listen];

    // Fixed windows: the script counts atomically, so the limit is exact.
    assert_eq!(accepted(&fleet, "fixed", 30), 10);
    // Sliding windows: an estimate from two fixed windows, exact within the first.
    assert_eq!(accepted(&fleet, "sliding", 30), 10);
    assert_eq!(app.requests(), 20);

    // Counted locally and synced every 50 ms: the fleet lets on at most what both
    // proxies let on within about one sync beyond the limit (requests 10 ms apart
    // here: some 5 per proxy per sync), and never less than the limit.
    let synced = (0..60)
        .filter(|i| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            status(fleet[i % 2], "synced") == 200
        })
        .count();
    eprintln!("synced every 50 ms: {synced} of 60 let on for a limit of 20");
    assert!(
        (20..=32).contains(&synced),
        "{synced} let on for a limit of 20"
    );
    assert!(redis.cli(&["KEYS", "{hookgate:rl:*"]).lines().count() >= 3);

    // The server forgets its scripts (a restart, a failover): EVALSHA fails with
    // NOSCRIPT and the host runs the script by EVAL.
    redis.cli(&["SCRIPT", "FLUSH"]);
    assert_eq!(status(a_listen, "open"), 200);
    let stats = redis.cli(&["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_eval:calls="), "{stats}");
    let answered = a
        .metric("hookgate_redis_commands_total{store=\"main\",outcome=\"answered\"}")
        .unwrap_or(0.0);
    assert!(answered >= 30.0, "{answered}");
}

#[test]
fn a_store_down_or_stalled_is_each_rules_on_store_error() {
    let mut redis = RedisServer::start();
    let app = Backend::echo("app");
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, listen) = start(dir.path(), "a", &app, &redis.url());
    assert_eq!(status(listen, "open"), 200);
    assert_eq!(status(listen, "closed"), 200);

    // Stalled: every client paused for longer than the store's 200 ms timeout.
    redis.cli(&["CLIENT", "PAUSE", "3000", "ALL"]);
    assert_eq!(status(listen, "open"), 200, "fail-open lets it on");
    assert_eq!(status(listen, "closed"), 429, "fail-closed refuses");
    let timeouts = proxy
        .metric("hookgate_redis_commands_total{store=\"main\",outcome=\"timeout\"}")
        .unwrap_or(0.0);
    assert!(timeouts >= 2.0, "{timeouts}");
    redis.cli(&["CLIENT", "UNPAUSE"]);

    // Down.
    redis.stop();
    assert_eq!(status(listen, "open"), 200);
    assert_eq!(status(listen, "closed"), 429);
    let errors = |policy: &str| {
        let series = format!(
            "hookgate_plugin_rate_limit_store_errors_total{{plugin=\"hookgate-plugin-rate-limit\",product=\"{policy}\",on_store_error=\"{policy}\"}}"
        );
        proxy.metric(&series).unwrap_or(0.0)
    };
    assert_eq!(errors("open"), 2.0);
    assert_eq!(errors("closed"), 2.0);
    assert!(
        proxy.stderr_text().contains("on_store_error = closed"),
        "{}",
        proxy.stderr_text()
    );
}

#[test]
fn a_redis_cluster_store_routes_each_clients_counts_to_its_slot() {
    let cluster = RedisCluster::start(3);
    let app = Backend::echo("app");
    let dir = tempfile::tempdir().expect("temp dir");
    let nodes: Vec<String> = cluster.urls().iter().map(|u| format!("{u:?}")).collect();
    let store = format!("cluster = [{}]", nodes.join(", "));
    let (_a, a_listen) = start_with_store(dir.path(), "a", &app, &store);
    let (_b, b_listen) = start_with_store(dir.path(), "b", &app, &store);
    let fleet = [a_listen, b_listen];
    // Twelve clients (by header), each limited to 5 across both proxies, their keys
    // spread over the cluster's slots.
    for client in 0..12 {
        let key = format!("client-{client}");
        let accepted = (0..12)
            .filter(|i| {
                let req = Req::get("keyed.example", "/").header("x-key", &key);
                let status = http1_send(fleet[i % 2], &req).expect("answered").status;
                assert!(status == 200 || status == 429, "{status}");
                status == 200
            })
            .count();
        assert_eq!(accepted, 5, "{key}");
    }
    assert_eq!(accepted(&fleet, "fixed", 30), 10);
    let holding = (cluster.nodes().iter())
        .filter(|node| node.cli(&["DBSIZE"]) != "0")
        .count();
    assert!(
        holding >= 2,
        "the keys are spread over the nodes: {holding}"
    );
}
