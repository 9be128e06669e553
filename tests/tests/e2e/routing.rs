//! Routing, balancing, health and retries, end to end (DESIGN §3): the real binary
//! with a config file written per test, real backends that name themselves in the
//! `x-backend` header, and the probe plugin where a test needs to see the request's
//! route or error code.
//!
//! - Products by host, route rules by condition, subclusters by weight.
//! - Backends by WRR, least connections and hash of the client IP.
//! - Active and passive health.
//! - Each proxy error's status and error code.
//! - Retries: after a connect failure (body kept), and after sending (idempotent
//!   requests without a body only).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use hookgate_tests::backend::checksum;
use hookgate_tests::scripted::{RawBackend, SwitchBackend};
use hookgate_tests::{
    free_addr, h2c_send, http1_send, pattern, read_events, wait_for_events, wait_until, Backend,
    Behaviour, Conn, Event, Probe, Proxy, Req, Response,
};

/// The bound on every poll for a state the proxy reaches on its own (health).
const POLL_TIMEOUT: Duration = Duration::from_secs(5);

/// Trusted proxies for tests that set the client IP with `X-Forwarded-For`.
const TRUST_LOOPBACK: &str = "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n";

// ---------------------------------------------------------------------------------
// Products by host
// ---------------------------------------------------------------------------------

#[test]
fn product_by_exact_host_then_longest_wildcard_then_default() {
    let exact = Backend::echo("exact");
    let wild = Backend::echo("wild");
    let deep = Backend::echo("deep");
    let fallback = Backend::echo("fallback");
    let config = format!(
        r#"default_product = "fallback"

[products.exact]
hosts = ["shop.example.com", "special.api.example.com"]
routes = [{{ cluster = "exact" }}]

[products.wild]
hosts = ["*.example.com"]
routes = [{{ cluster = "wild" }}]

[products.wild_api]
hosts = ["*.API.example.com"]
routes = [{{ cluster = "deep" }}]

[products.fallback]
routes = [{{ cluster = "fallback" }}]

{}{}{}{}"#,
        one("exact", exact.addr()),
        one("wild", wild.addr()),
        one("deep", deep.addr()),
        one("fallback", fallback.addr()),
    );
    let run = Run::start(&config);
    let cases = [
        ("shop.example.com", "exact"),
        // Case and port do not matter.
        ("SHOP.Example.COM:8080", "exact"),
        ("shop.example.com:80", "exact"),
        // An exact host beats every wildcard.
        ("special.api.example.com", "exact"),
        ("a.example.com", "wild"),
        ("x.y.example.com", "wild"),
        // The longest suffix wins, though its product comes after the other one
        // (products are taken in name order).
        ("v1.api.example.com", "deep"),
        ("a.b.api.example.com", "deep"),
        ("V1.Api.Example.Com:8443", "deep"),
        // `*.api.example.com` needs a label in front; `*.example.com` has one.
        ("api.example.com", "wild"),
        // `*.example.com` does not match `example.com` itself.
        ("example.com", "fallback"),
        ("other.org", "fallback"),
        ("shop.example.com.evil.org", "fallback"),
    ];
    for (host, product) in cases {
        let response = run.send(&Req::get(host, "/"));
        assert_eq!(response.status, 200, "{host}: {}", response.text());
        assert_eq!(answered_by(&response), product, "host {host:?}");
        assert_eq!(response.echo().header("host"), Some(host), "Host is kept");
    }
    // HTTP/2: the host comes from `:authority`.
    let req = Req::get("V2.API.EXAMPLE.COM:9000", "/h2");
    let response = h2c_send(run.proxy.addr(), &req).expect("h2c request");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(answered_by(&response), "deep", "h2c :authority");
}

#[test]
fn host_without_product_and_without_default_is_404_no_product() {
    let backend = Backend::echo("shop");
    let config = format!(
        "[products.shop]\nhosts = [\"shop.example.com\", \"*.shop.example.com\"]\n\
         routes = [{{ cluster = \"shop\" }}]\n{}",
        one("shop", backend.addr())
    );
    let run = Run::with_probe(&config);
    assert_eq!(answered_by(&run.get("a.shop.example.com", "/ok")), "shop");
    for (host, path) in [
        ("other.example.com", "/other"),
        ("shop.example.com.org", "/suffix"),
        // The wildcard needs a label in front, and there is no default to fall to.
        ("example.com", "/parent"),
    ] {
        let response = run.get(host, path);
        assert_eq!(response.status, 404, "{host}: {}", response.text());
        let read = run.read_response(path);
        assert_eq!(read.status(), Some(404), "{read}");
        assert_eq!(read.error(), Some("no_product"), "{read}");
        assert_eq!(read.field("product"), Some("-"), "{read}");
        assert!(run.forwards(path).is_empty(), "no backend is tried");
    }
    assert_eq!(backend.requests(), 1);
}

// ---------------------------------------------------------------------------------
// Route rules
// ---------------------------------------------------------------------------------

#[test]
fn route_rules_match_each_condition_and_the_first_match_wins() {
    let names = [
        "exact", "api_post", "api", "deleter", "canary", "alias", "catchall",
    ];
    let backends: Vec<Backend> = names.iter().map(|n| Backend::echo(n)).collect();
    let clusters: String = names
        .iter()
        .zip(&backends)
        .map(|(name, backend)| one(name, backend.addr()))
        .collect();
    let config = format!(
        r#"[products.shop]
hosts = ["shop.test", "alias.test"]
routes = [
  {{ path = "/exact", cluster = "exact" }},
  {{ path_prefix = "/api/", method = "POST", cluster = "api_post" }},
  {{ path_prefix = "/api/", cluster = "api" }},
  {{ method = "DELETE", cluster = "deleter" }},
  {{ header = {{ name = "X-Canary", value = "1" }}, cluster = "canary" }},
  {{ host = "Alias.Test", cluster = "alias" }},
  {{ cluster = "catchall" }},
]

{clusters}"#
    );
    let run = Run::start(&config);
    let shop = |method: &str, path: &str| Req::new(method, "shop.test", path);
    let cases: Vec<(Req, &str)> = vec![
        // path: exact, the query is not part of it.
        (shop("GET", "/exact"), "exact"),
        (shop("GET", "/exact?q=1"), "exact"),
        (shop("GET", "/exact/more"), "catchall"),
        (shop("GET", "/exac"), "catchall"),
        // path_prefix, alone and with method.
        (shop("GET", "/api/users"), "api"),
        (shop("GET", "/api/"), "api"),
        (shop("GET", "/api"), "catchall"),
        (shop("GET", "/apix"), "catchall"),
        (shop("POST", "/api/users").body("x"), "api_post"),
        (shop("PUT", "/api/users").body("x"), "api"),
        // method.
        (shop("DELETE", "/anything"), "deleter"),
        (shop("PATCH", "/anything"), "catchall"),
        // header: name in any case, the value exactly; the header's value is its
        // first one, as in BFE's `req_header_value_in` (the rule engine is the plugin
        // kit's, BFE's semantics).
        (shop("GET", "/h").header("x-canary", "1"), "canary"),
        (shop("GET", "/h").header("X-CANARY", "1"), "canary"),
        (
            shop("GET", "/h")
                .header("x-canary", "0")
                .header("x-canary", "1"),
            "catchall",
        ),
        (shop("GET", "/h").header("x-canary", "2"), "catchall"),
        (shop("GET", "/h").header("x-canary", "10"), "catchall"),
        (shop("GET", "/h").header("x-other", "1"), "catchall"),
        // host: lowercase, without port.
        (Req::get("alias.test", "/h"), "alias"),
        (Req::get("ALIAS.test:8080", "/h"), "alias"),
        // First match wins: earlier rules shadow later ones.
        (shop("DELETE", "/exact"), "exact"),
        (shop("DELETE", "/api/users"), "api"),
        (shop("POST", "/api/x").header("x-canary", "1"), "api_post"),
        (
            Req::get("alias.test", "/h").header("x-canary", "1"),
            "canary",
        ),
        (Req::new("DELETE", "alias.test", "/h"), "deleter"),
        // No condition: everything else.
        (shop("GET", "/"), "catchall"),
        (shop("OPTIONS", "/whatever"), "catchall"),
    ];
    for (req, cluster) in cases {
        let response = run.send(&req);
        let what = format!(
            "{} {} (host {:?}, headers {:?})",
            req.method, req.path, req.host, req.headers
        );
        assert_eq!(response.status, 200, "{what}: {}", response.text());
        assert_eq!(answered_by(&response), cluster, "{what}");
        let echo = response.echo();
        assert_eq!(echo.method, req.method, "{what}");
        assert_eq!(echo.uri, req.path, "{what}");
    }
}

#[test]
fn no_matching_route_is_404_no_route() {
    let backend = Backend::echo("only");
    let config = format!(
        "default_product = \"strict\"\n\
         [products.strict]\n\
         routes = [{{ path = \"/only\", method = \"GET\", cluster = \"only\" }}]\n{}",
        one("only", backend.addr())
    );
    let run = Run::with_probe(&config);
    assert_eq!(answered_by(&run.get("x.test", "/only")), "only");
    for req in [
        Req::get("x.test", "/other"),
        Req::new("POST", "x.test", "/only").body("b"),
    ] {
        let response = run.send(&req);
        assert_eq!(response.status, 404, "{}: {}", req.method, response.text());
        let read = wait_for_event(&run, |e| {
            e.point == "read_response"
                && e.path() == req.path
                && e.field("method") == Some(req.method.as_str())
        });
        assert_eq!(read.status(), Some(404), "{read}");
        assert_eq!(read.error(), Some("no_route"), "{read}");
        assert_eq!(read.field("product"), Some("strict"), "{read}");
        assert_eq!(read.field("cluster"), Some("-"), "{read}");
    }
    assert_eq!(backend.requests(), 1);
}

// ---------------------------------------------------------------------------------
// Subclusters by weight
// ---------------------------------------------------------------------------------

#[test]
fn subclusters_share_clients_by_weight_and_each_client_sticks_to_one() {
    const CLIENTS: usize = 1000;
    let big = Backend::echo("big");
    let small = Backend::echo("small");
    let off = Backend::echo("off");
    let config = proxy_config(
        TRUST_LOOPBACK,
        &["{ cluster = \"split\" }"],
        &subclusters(
            "split",
            "",
            &[
                ("big", 70, &[(big.addr(), 1)]),
                ("off", 0, &[(off.addr(), 1)]),
                ("small", 30, &[(small.addr(), 1)]),
            ],
        ),
    );
    let run = Run::start(&config);
    let ips: Vec<String> = (0..CLIENTS).map(client_ip).collect();

    let mut conn = Conn::http1(run.proxy.addr()).expect("connect to the proxy");
    let mut first: HashMap<&str, String> = HashMap::new();
    for ip in &ips {
        let response = send_on(
            &mut conn,
            &Req::get("w.test", "/w").header("x-forwarded-for", ip),
        );
        if first.len() < 3 {
            // The backend is told the client IP the proxy derived.
            assert_eq!(response.echo().header("x-real-ip"), Some(ip.as_str()));
        }
        first.insert(ip, answered_by(&response).to_owned());
    }
    let big_share = first.values().filter(|b| *b == "big").count();
    let small_share = first.values().filter(|b| *b == "small").count();
    assert_eq!(
        big_share + small_share,
        CLIENTS,
        "weight 0 takes no traffic"
    );
    assert_eq!(off.requests(), 0);
    // Each client lands on one subcluster with probability 70 %: over 1000 distinct
    // clients the count is binomial, σ = √(1000·0.7·0.3) ≈ 14.5 (1.45 points). ±5
    // points is 3.4σ: a fair hash passes (and the hash is deterministic, so a pass
    // always passes); a choice that ignores the weights (50/50) or the client (all on
    // one) fails by far.
    let percent = big_share * 100 / CLIENTS;
    assert!(
        (65..=75).contains(&percent),
        "big got {big_share} of {CLIENTS} clients ({percent} %), expected 70 % ± 5"
    );

    // Each client again, in reverse order on a new connection: same subcluster.
    let mut conn = Conn::http1(run.proxy.addr()).expect("connect to the proxy");
    for ip in ips.iter().rev() {
        let response = send_on(
            &mut conn,
            &Req::get("w.test", "/again").header("x-forwarded-for", ip),
        );
        assert_eq!(
            answered_by(&response),
            first[ip.as_str()],
            "client {ip} moved"
        );
    }
    // Repeatedly, one client: always the same.
    for ip in &ips[..5] {
        for _ in 0..4 {
            let response = run.send(&Req::get("w.test", "/x").header("x-forwarded-for", ip));
            assert_eq!(
                answered_by(&response),
                first[ip.as_str()],
                "client {ip} moved"
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// Backends inside a subcluster
// ---------------------------------------------------------------------------------

#[test]
fn wrr_follows_backend_weights_exactly_and_smoothly() {
    let heavy = Backend::echo("heavy");
    let light = Backend::echo("light");
    let off = Backend::echo("off");
    let config = proxy_config(
        "",
        TO_C,
        &cluster(
            "c",
            "balance = \"wrr\"",
            &[(heavy.addr(), 3), (off.addr(), 0), (light.addr(), 1)],
        ),
    );
    let run = Run::start(&config);
    let mut conn = Conn::http1(run.proxy.addr()).expect("connect to the proxy");
    let order: Vec<String> = (0..40)
        .map(|_| answered_by(&send_on(&mut conn, &Req::get("x", "/"))).to_owned())
        .collect();
    let count = |name: &str| order.iter().filter(|b| *b == name).count();
    assert_eq!((count("heavy"), count("light")), (30, 10), "{order:?}");
    // Smooth: the period of 3:1 is four picks, each window of four has one `light`.
    for window in order.windows(4) {
        let lights = window.iter().filter(|b| *b == "light").count();
        assert_eq!(lights, 1, "not smooth: {order:?}");
    }
    assert_eq!((heavy.requests(), light.requests()), (30, 10));
    assert_eq!(off.requests(), 0, "weight 0 takes no traffic");
}

#[test]
fn least_conn_sends_new_requests_past_a_busy_backend() {
    let one_backend = Backend::echo("one");
    let other_backend = Backend::echo("other");
    let config = proxy_config(
        "",
        TO_C,
        &cluster(
            "c",
            "balance = \"least_conn\"",
            &[(one_backend.addr(), 1), (other_backend.addr(), 1)],
        ),
    );
    let run = Run::start(&config);
    let addr = run.proxy.addr();
    // One slow request in flight keeps its backend busy...
    let slow = thread::spawn(move || {
        let req = Req::get("x", "/slow").header("x-backend-delay-ms", "1000");
        http1_send(addr, &req)
    });
    wait_until("the slow request reaches a backend", POLL_TIMEOUT, || {
        one_backend.requests() + other_backend.requests() == 1
    });
    let (busy, idle) = if one_backend.requests() == 1 {
        ("one", "other")
    } else {
        ("other", "one")
    };
    // ...so every request meanwhile goes to the other one.
    let mut conn = Conn::http1(addr).expect("connect to the proxy");
    for i in 0..10 {
        let response = send_on(&mut conn, &Req::get("x", &format!("/quick{i}")));
        assert_eq!(
            answered_by(&response),
            idle,
            "request {i} went to the busy backend while the slow request was in flight"
        );
    }
    assert!(
        !slow.is_finished(),
        "the slow request ended before the quick ones did: the test tells nothing"
    );
    let slow = slow
        .join()
        .expect("slow client thread")
        .expect("slow request");
    assert_eq!(slow.status, 200);
    assert_eq!(answered_by(&slow), busy);
    // Nothing in flight: ties rotate over both.
    let after: HashSet<String> = (0..6)
        .map(|_| answered_by(&send_on(&mut conn, &Req::get("x", "/after"))).to_owned())
        .collect();
    assert_eq!(
        after.len(),
        2,
        "with no request in flight both take traffic: {after:?}"
    );
}

#[test]
fn hash_keeps_a_client_on_one_backend_and_spreads_clients() {
    let h1 = Backend::echo("h1");
    let h2 = Backend::echo("h2");
    let config = proxy_config(
        TRUST_LOOPBACK,
        TO_C,
        &cluster("c", "balance = \"hash\"", &[(h1.addr(), 1), (h2.addr(), 1)]),
    );
    let run = Run::start(&config);
    let mut conn = Conn::http1(run.proxy.addr()).expect("connect to the proxy");
    let mut get = |ip: &str| {
        let req = Req::get("x", "/").header("x-forwarded-for", ip);
        answered_by(&send_on(&mut conn, &req)).to_owned()
    };
    let one: HashSet<String> = (0..20).map(|_| get("203.0.113.7")).collect();
    assert_eq!(one.len(), 1, "one client IP, several backends: {one:?}");

    let mut per_backend: BTreeMap<String, usize> = BTreeMap::new();
    let mut elsewhere = None;
    for i in 0..100 {
        let ip = client_ip(i);
        let first = get(&ip);
        assert_eq!(get(&ip), first, "client {ip} moved");
        if !one.contains(&first) {
            elsewhere = Some(ip);
        }
        *per_backend.entry(first).or_default() += 1;
    }
    assert_eq!(per_backend.len(), 2, "clients not spread: {per_backend:?}");
    // Behind the trusted proxy, the client is the rightmost untrusted hop of
    // X-Forwarded-For: an address a client writes in front of it changes nothing,
    // even one that hashes to the other backend.
    let other = elsewhere.expect("a client on the other backend");
    let real = get("203.0.113.7");
    assert_eq!(get(&format!("{other}, 203.0.113.7")), real);
    assert_eq!(get(&format!("{other}, 203.0.113.7, 127.0.0.1")), real);
    assert_ne!(get(&format!("203.0.113.7, {other}")), real);
    // 100 virtual nodes per backend keep the split near even; 20 % is far from it.
    assert!(
        per_backend.values().all(|&n| n >= 20),
        "clients spread too unevenly: {per_backend:?}"
    );
}

// ---------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------

#[test]
fn active_health_check_ejects_after_unhealthy_after_and_restores_after_healthy_after() {
    let flaky = SwitchBackend::start("flaky", "/healthz");
    let steady = SwitchBackend::start("steady", "/healthz");
    let config = proxy_config(
        "",
        TO_C,
        &cluster(
            "c",
            &health_check(3, 2),
            &[(flaky.addr(), 1), (steady.addr(), 1)],
        ),
    );
    let run = Run::start(&config);
    let flaky_addr = flaky.addr().to_string();
    let marked_down = |run: &Run| {
        run.log_lines(&[
            "marked down after consecutive health check failures",
            &format!("backend={flaky_addr}"),
        ])
    };
    wait_until("both backends are checked", POLL_TIMEOUT, || {
        flaky.checks_passed() >= 1 && steady.checks_passed() >= 1
    });
    let mut conn = Conn::http1(run.proxy.addr()).expect("connect to the proxy");
    let mut next = || answered_by(&send_on(&mut conn, &Req::get("x", "/r"))).to_owned();
    let both: HashSet<String> = (0..4).map(|_| next()).collect();
    assert_eq!(both.len(), 2, "both healthy, both take traffic: {both:?}");

    // Fewer failures than unhealthy_after, then a success: the backend stays in.
    flaky.fail_next_checks(2);
    wait_until("two failed checks", POLL_TIMEOUT, || {
        flaky.checks_failed() == 2
    });
    let passed = flaky.checks_passed();
    // Checks of one backend are sequential: once the next one arrives, the proxy
    // has counted the two failures.
    wait_until("a passing check after the failures", POLL_TIMEOUT, || {
        flaky.checks_passed() > passed
    });
    assert!(
        marked_down(&run).is_empty(),
        "two failures (unhealthy_after = 3) marked it down:\n{}",
        run.proxy.stderr_text()
    );
    let both: HashSet<String> = (0..4).map(|_| next()).collect();
    assert_eq!(both.len(), 2, "still both in rotation: {both:?}");

    // Failing for good: out of rotation, and only after three failures.
    let failed_before = flaky.checks_failed();
    flaky.set_healthy(false);
    let deadline = Instant::now() + POLL_TIMEOUT;
    let mut steady_in_a_row = 0;
    // With both in rotation WRR alternates; four in a row on one means the other is out.
    while steady_in_a_row < 4 {
        assert!(
            Instant::now() < deadline,
            "the failing backend is still in rotation"
        );
        if next() == "steady" {
            steady_in_a_row += 1;
        } else {
            steady_in_a_row = 0;
        }
    }
    let failures = flaky.checks_failed() - failed_before;
    assert!(
        failures >= 3,
        "out of rotation after {failures} failed checks; unhealthy_after is 3"
    );
    let served = flaky.requests();
    for _ in 0..20 {
        assert_eq!(next(), "steady");
    }
    assert_eq!(
        flaky.requests(),
        served,
        "a backend marked down got traffic"
    );
    let lines = marked_down(&run);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("failures=3"), "{lines:?}");

    // Healthy again: back in rotation, and only after two successes.
    let passed_before = flaky.checks_passed();
    flaky.set_healthy(true);
    let deadline = Instant::now() + POLL_TIMEOUT;
    while next() != "flaky" {
        assert!(Instant::now() < deadline, "the backend did not come back");
    }
    let successes = flaky.checks_passed() - passed_before;
    assert!(
        successes >= 2,
        "back in rotation after {successes} passing checks; healthy_after is 2"
    );
    let both: HashSet<String> = (0..4).map(|_| next()).collect();
    assert_eq!(both.len(), 2, "both in rotation again: {both:?}");
    let up = run.log_lines(&[
        "back up after consecutive health check successes",
        &format!("backend={flaky_addr}"),
    ]);
    assert_eq!(up.len(), 1, "{up:?}");
}

#[test]
fn passive_health_skips_a_dead_backend_after_max_fails() {
    let dead = free_addr();
    let live = Backend::echo("live");
    let config = proxy_config(
        "",
        TO_C,
        &cluster(
            "c",
            "max_fails = 3\nfail_timeout_ms = 60000",
            &[(dead, 1), (live.addr(), 1)],
        ),
    );
    let run = Run::with_probe(&config);
    let (dead, live_addr) = (dead.to_string(), live.addr().to_string());
    // WRR alternates the first pick, so the dead backend is tried first until it is
    // marked down: three requests, each retried on the live one.
    for i in 0..6 {
        let response = run.get("x", &format!("/warm{i}"));
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(answered_by(&response), "live");
    }
    let to_dead = |run: &Run| {
        read_events(run.probe().log_path())
            .into_iter()
            .filter(|e| e.point == "forward" && e.backend() == Some(dead.as_str()))
            .count()
    };
    assert_eq!(
        to_dead(&run),
        3,
        "attempts on the dead backend before max_fails = 3 marked it down"
    );
    for i in 0..10 {
        let path = format!("/after{i}");
        let response = run.get("x", &path);
        assert_eq!(response.status, 200, "{}", response.text());
        let forwards = run.forwards(&path);
        let backends: Vec<Option<&str>> = forwards.iter().map(Event::backend).collect();
        assert_eq!(
            backends,
            [Some(live_addr.as_str())],
            "{path}: one attempt, on the live backend"
        );
    }
    assert_eq!(to_dead(&run), 3);
    let lines = run.log_lines(&[
        "marked down after failures within fail_timeout",
        &format!("backend={dead}"),
    ]);
    assert_eq!(lines.len(), 1, "{lines:?}");
}

#[test]
fn passive_health_tries_a_dead_backend_once_after_fail_timeout() {
    let dead = free_addr();
    let live = Backend::echo("live");
    let config = proxy_config(
        &format!("[server]\nadmin = \"{}\"", free_addr()),
        TO_C,
        &cluster(
            "c",
            "max_fails = 2\nfail_timeout_ms = 600",
            &[(dead, 1), (live.addr(), 1)],
        ),
    );
    let run = Run::with_probe(&config);
    let dead = dead.to_string();
    let to_dead = |run: &Run, prefix: &str| {
        read_events(run.probe().log_path())
            .into_iter()
            .filter(|e| e.point == "forward" && e.path().starts_with(prefix))
            .filter(|e| e.backend() == Some(dead.as_str()))
            .count()
    };
    for i in 0..4 {
        assert_eq!(run.get("x", &format!("/mark{i}")).status, 200);
    }
    assert_eq!(to_dead(&run, "/mark"), 2, "max_fails = 2");
    // The admin status shows the backend up again once its fail_timeout has passed.
    let dead_up = format!("main/{dead} up");
    wait_until(
        "the dead backend's fail_timeout passed",
        Duration::from_secs(5),
        || run.proxy.admin_text("/status").contains(&dead_up),
    );
    // Past fail_timeout one request tries it again (WRR reaches it within two), and
    // that one failure marks it down again for another fail_timeout.
    for i in 0..4 {
        let response = run.get("x", &format!("/trial{i}"));
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(answered_by(&response), "live");
    }
    assert_eq!(to_dead(&run, "/trial"), 1, "one trial after fail_timeout");
}

// ---------------------------------------------------------------------------------
// Proxy errors: status and error code
// ---------------------------------------------------------------------------------

#[test]
fn all_backends_down_by_active_checks_is_503_no_backend() {
    let sick = [
        SwitchBackend::start("sick1", "/healthz"),
        SwitchBackend::start("sick2", "/healthz"),
    ];
    for backend in &sick {
        backend.set_healthy(false);
    }
    let config = proxy_config(
        "",
        TO_C,
        &cluster(
            "c",
            &health_check(2, 1),
            &[(sick[0].addr(), 1), (sick[1].addr(), 1)],
        ),
    );
    let run = Run::with_probe(&config);
    // A third failed check means the proxy has counted the second (checks of one
    // backend are sequential): both are down.
    wait_until("three failed checks on each backend", POLL_TIMEOUT, || {
        sick.iter().all(|b| b.checks_failed() >= 3)
    });
    let response = run.get("x", "/down");
    assert_eq!(response.status, 503, "{}", response.text());
    let read = run.read_response("/down");
    assert_eq!(read.status(), Some(503), "{read}");
    assert_eq!(read.error(), Some("no_backend"), "{read}");
    assert_eq!(read.field("cluster"), Some("c"), "{read}");
    assert!(
        run.forwards("/down").is_empty(),
        "no attempt on a backend marked down"
    );
    assert_eq!(sick[0].requests() + sick[1].requests(), 0);
}

#[test]
fn connect_failure_on_every_backend_is_502_connect_failed() {
    let (dead1, dead2) = (free_addr(), free_addr());
    let config = proxy_config(
        "",
        TO_C,
        &cluster("c", "retries = 1\nmax_fails = 0", &[(dead1, 1), (dead2, 1)]),
    );
    let run = Run::with_probe(&config);
    let response = run.get("x", "/dead");
    assert_eq!(response.status, 502, "{}", response.text());
    let read = run.read_response("/dead");
    assert_eq!(read.status(), Some(502), "{read}");
    assert_eq!(read.error(), Some("connect_failed"), "{read}");
    // Each attempt ran Forward: one per backend, each backend once.
    let tried: HashSet<String> = run
        .forwards("/dead")
        .iter()
        .filter_map(|e| e.backend().map(str::to_owned))
        .collect();
    let expected: HashSet<String> = [dead1.to_string(), dead2.to_string()].into();
    assert_eq!(tried, expected);
    assert_eq!(run.forwards("/dead").len(), 2);
}

#[test]
fn upstream_response_timeout_is_504_timeout() {
    let slow = Backend::echo("slow");
    let config = proxy_config(
        "",
        TO_C,
        &cluster("c", "response_timeout_ms = 300", &[(slow.addr(), 1)]),
    );
    let run = Run::with_probe(&config);
    let started = Instant::now();
    let response = run.send(&Req::get("x", "/slow").header("x-backend-delay-ms", "3000"));
    let took = started.elapsed();
    assert_eq!(response.status, 504, "{}", response.text());
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(2500),
        "answered after {took:?}; response_timeout_ms is 300"
    );
    let read = run.read_response("/slow");
    assert_eq!(read.status(), Some(504), "{read}");
    assert_eq!(read.error(), Some("timeout"), "{read}");
    // A fast request afterwards is fine.
    assert_eq!(run.get("x", "/fast").status, 200);
}

#[test]
fn invalid_upstream_response_is_502_bad_response() {
    let garbage = RawBackend::start(b"this is not HTTP at all\r\n\r\n");
    let config = proxy_config("", TO_C, &cluster("c", "", &[(garbage.addr(), 1)]));
    let run = Run::with_probe(&config);
    let response = run.get("x", "/garbage");
    assert_eq!(response.status, 502, "{}", response.text());
    assert!(
        !response.text().contains("not HTTP"),
        "the garbage reached the client: {}",
        response.text()
    );
    let read = run.read_response("/garbage");
    assert_eq!(read.status(), Some(502), "{read}");
    assert_eq!(read.error(), Some("bad_response"), "{read}");
    assert_eq!(garbage.requests(), 1);
}

// ---------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------

#[test]
fn connect_failure_is_retried_on_another_backend() {
    let dead = free_addr();
    let live = Backend::echo("live");
    let config = proxy_config("", TO_C, &cluster("c", "", &[(dead, 1), (live.addr(), 1)]));
    let run = Run::with_probe(&config);
    // WRR's first pick is the first backend of the list: the dead one.
    let response = run.get("x", "/retry");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(answered_by(&response), "live");
    let tried: Vec<String> = run
        .forwards("/retry")
        .iter()
        .map(|e| e.backend().unwrap_or("-").to_owned())
        .collect();
    assert_eq!(
        tried,
        [dead.to_string(), live.addr().to_string()],
        "Forward runs per attempt"
    );
    let read = run.read_response("/retry");
    assert_eq!(read.status(), Some(200), "{read}");
    assert_eq!(read.error(), None, "{read}");
    assert_eq!(
        read.backend(),
        Some(live.addr().to_string().as_str()),
        "{read}"
    );
    assert_eq!(live.requests(), 1);
}

#[test]
fn post_body_is_intact_after_a_connect_retry() {
    let dead = free_addr();
    let live = Backend::echo("live");
    let config = proxy_config("", TO_C, &cluster("c", "", &[(dead, 1), (live.addr(), 1)]));
    let run = Run::with_probe(&config);
    let body = pattern(256 * 1024);
    let response = run.send(&Req::new("POST", "x", "/upload").body(body.clone()));
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(answered_by(&response), "live");
    let echo = response.echo();
    assert_eq!(echo.method, "POST");
    assert_eq!(echo.body_length, body.len(), "the retried body lost bytes");
    assert_eq!(
        echo.body_checksum,
        checksum(&body),
        "the retried body changed"
    );
    let tried: Vec<String> = run
        .forwards("/upload")
        .iter()
        .map(|e| e.backend().unwrap_or("-").to_owned())
        .collect();
    assert_eq!(tried, [dead.to_string(), live.addr().to_string()]);
}

#[test]
fn connect_retries_stop_at_retries_then_cross_to_another_subcluster() {
    let dead: Vec<SocketAddr> = (0..4).map(|_| free_addr()).collect();
    let (live, spare) = (Backend::echo("live"), Backend::echo("spare"));
    let weighted = |name: &str, settings: &str, first: &[(SocketAddr, u32)], second: &Backend| {
        subclusters(
            name,
            settings,
            &[("a", 1000, first), ("b", 1, &[(second.addr(), 1)])],
        )
    };
    let two_dead = [(dead[0], 1), (dead[1], 1)];
    let four_dead: Vec<(SocketAddr, u32)> = dead.iter().map(|&d| (d, 1)).collect();
    // One client, keyed to subcluster `a` (weight 1000 of 1001).
    let routes = [
        "{ path_prefix = \"/cross/\", cluster = \"cross\" }",
        "{ path_prefix = \"/stay/\", cluster = \"stay\" }",
        "{ path_prefix = \"/bounded/\", cluster = \"bounded\" }",
    ];
    let clusters = format!(
        "{}{}{}",
        weighted(
            "cross",
            "retries = 1\ncross_retry = 1\nmax_fails = 0",
            &two_dead,
            &live
        ),
        weighted(
            "stay",
            "retries = 1\ncross_retry = 0\nmax_fails = 0",
            &two_dead,
            &spare
        ),
        weighted(
            "bounded",
            "retries = 2\ncross_retry = 0\nmax_fails = 0",
            &four_dead,
            &spare
        ),
    );
    let config = proxy_config(TRUST_LOOPBACK, &routes, &clusters);
    let run = Run::with_probe(&config);
    let client = |path: &str| run.send(&Req::get("x", path).header("x-forwarded-for", "10.9.8.7"));
    let dead_names: HashSet<String> = dead.iter().map(SocketAddr::to_string).collect();
    let tried = |path: &str| -> Vec<String> {
        run.forwards(path)
            .iter()
            .map(|e| e.backend().unwrap_or("-").to_owned())
            .collect()
    };

    // Both backends of `a` fail (1 + retries = 2 attempts), then one try in `b`.
    let response = client("/cross/x");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(answered_by(&response), "live");
    let attempts = tried("/cross/x");
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert!(
        attempts[..2].iter().all(|b| dead_names.contains(b)),
        "{attempts:?}"
    );
    assert_ne!(
        attempts[0], attempts[1],
        "a backend tried twice: {attempts:?}"
    );
    assert_eq!(attempts[2], live.addr().to_string());

    // Without cross_retry the request stays in `a`.
    let response = client("/stay/x");
    assert_eq!(response.status, 502, "{}", response.text());
    assert_eq!(tried("/stay/x").len(), 2, "{:?}", tried("/stay/x"));
    assert_eq!(run.read_response("/stay/x").error(), Some("connect_failed"));

    // Four dead backends, retries = 2: three attempts, no more.
    let response = client("/bounded/x");
    assert_eq!(response.status, 502, "{}", response.text());
    let attempts = tried("/bounded/x");
    assert_eq!(attempts.len(), 3, "1 + retries attempts: {attempts:?}");
    assert_eq!(
        attempts.iter().collect::<HashSet<_>>().len(),
        3,
        "{attempts:?}"
    );
    assert_eq!(spare.requests(), 0, "no cross_retry, yet `b` was tried");
}

#[test]
fn failure_after_sending_is_retried_only_for_idempotent_requests_without_body() {
    struct Case {
        name: &'static str,
        req: Req,
        retried: bool,
    }
    let cases = [
        Case {
            name: "post_body",
            req: Req::new("POST", "x", "/post_body/x").body("hello"),
            retried: false,
        },
        Case {
            name: "post_empty",
            req: Req::new("POST", "x", "/post_empty/x"),
            retried: false,
        },
        Case {
            name: "get_body",
            req: Req::new("GET", "x", "/get_body/x").body("hello"),
            retried: false,
        },
        Case {
            name: "get",
            req: Req::get("x", "/get/x"),
            retried: true,
        },
        Case {
            name: "put",
            req: Req::new("PUT", "x", "/put/x"),
            retried: true,
        },
    ];
    // Per case, a cluster of its own: a backend that reads the request and closes the
    // connection without answering, first in WRR order, then an echoing one.
    let closers: Vec<Backend> = cases
        .iter()
        .map(|c| {
            Backend::start(Behaviour::echo(&format!("closer-{}", c.name)).close_without_answer())
        })
        .collect();
    let echoes: Vec<Backend> = cases
        .iter()
        .map(|c| Backend::echo(&format!("echo-{}", c.name)))
        .collect();
    let routes: Vec<String> = cases
        .iter()
        .map(|c| format!("{{ path_prefix = \"/{0}/\", cluster = \"{0}\" }}", c.name))
        .collect();
    let routes: Vec<&str> = routes.iter().map(String::as_str).collect();
    let clusters: String = cases
        .iter()
        .zip(closers.iter().zip(&echoes))
        .map(|(c, (closer, echo))| cluster(c.name, "", &[(closer.addr(), 1), (echo.addr(), 1)]))
        .collect();
    let config = proxy_config("", &routes, &clusters);
    let run = Run::with_probe(&config);
    for (case, (closer, echo)) in cases.iter().zip(closers.iter().zip(&echoes)) {
        let response = run.send(&case.req);
        let name = case.name;
        let attempts = run.forwards(&case.req.path).len();
        if case.retried {
            assert_eq!(response.status, 200, "{name}: {}", response.text());
            assert_eq!(answered_by(&response), echo.name(), "{name}");
            assert_eq!(attempts, 2, "{name}: Forward per attempt");
            assert_eq!(echo.requests(), 1, "{name}");
        } else {
            assert_eq!(response.status, 502, "{name}: {}", response.text());
            assert_eq!(attempts, 1, "{name}: retried after sending");
            assert_eq!(echo.requests(), 0, "{name}: retried after sending");
            let read = run.read_response(&case.req.path);
            assert_eq!(read.status(), Some(502), "{name}: {read}");
            assert_eq!(read.error(), Some("upstream_failed"), "{name}: {read}");
        }
        assert_eq!(
            closer.requests(),
            1,
            "{name}: the closing backend saw one attempt"
        );
    }
}

// ---------------------------------------------------------------------------------
// Support
// ---------------------------------------------------------------------------------

/// One test's proxy, its config directory and its probe, if any.
struct Run {
    // Internal: fields drop in order: the proxy stops before its directory goes.
    proxy: Proxy,
    probe: Option<Probe>,
    _dir: tempfile::TempDir,
}

impl Run {
    /// Writes `config` to a fresh directory and starts the proxy with it.
    fn start(config: &str) -> Run {
        Run::launch(config, false)
    }

    /// [`Run::start`] with a probe plugin recording every callback.
    fn with_probe(config: &str) -> Run {
        Run::launch(config, true)
    }

    fn launch(config: &str, probe: bool) -> Run {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("hookgate.toml");
        fs::write(&path, config).expect("write config");
        let probe = probe.then(|| Probe::new(dir.path(), "P", ""));
        let mut args = vec![
            "--config".to_owned(),
            path.to_str().expect("UTF-8 path").to_owned(),
        ];
        if let Some(probe) = &probe {
            args.push("--plugin".to_owned());
            args.push(probe.plugin_arg());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Run {
            proxy: Proxy::start(&args),
            probe,
            _dir: dir,
        }
    }

    /// Sends `req` on a fresh HTTP/1.1 connection; panics if no response comes.
    fn send(&self, req: &Req) -> Response {
        http1_send(self.proxy.addr(), req)
            .unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.path))
    }

    fn get(&self, host: &str, path: &str) -> Response {
        self.send(&Req::get(host, path))
    }

    fn probe(&self) -> &Probe {
        self.probe.as_ref().expect("this test runs the probe")
    }

    /// The ReadResponse event of the request for `path` (the first, if several).
    fn read_response(&self, path: &str) -> Event {
        wait_for_event(self, |e| e.point == "read_response" && e.path() == path)
    }

    /// The Forward events of the requests for `path`, in order: one per attempt.
    fn forwards(&self, path: &str) -> Vec<Event> {
        // ReadResponse runs after every attempt, so its event says they are all in.
        self.read_response(path);
        read_events(self.probe().log_path())
            .into_iter()
            .filter(|e| e.point == "forward" && e.path() == path)
            .collect()
    }

    /// The proxy's log lines that contain every one of `needles`, colours removed.
    fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        strip_ansi(&self.proxy.stderr_text())
            .lines()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .map(str::to_owned)
            .collect()
    }
}

/// The first probe event for which `matches` holds, waiting a little for it.
fn wait_for_event(run: &Run, matches: impl Fn(&Event) -> bool) -> Event {
    let events = wait_for_events(run.probe().log_path(), Duration::from_secs(5), |events| {
        events.iter().any(&matches)
    });
    events
        .into_iter()
        .find(|e| matches(e))
        .expect("wait_for_events returned once it held")
}

/// A config file: `server` (a `[server]` table, or ""), one product `p` that is the
/// default (so every host goes to it) with these route rules (TOML inline tables),
/// and `clusters`.
fn proxy_config(server: &str, routes: &[&str], clusters: &str) -> String {
    let routes: String = routes.iter().map(|r| format!("  {r},\n")).collect();
    format!("default_product = \"p\"\n{server}\n[products.p]\nroutes = [\n{routes}]\n{clusters}")
}

/// The route rules of a product that sends everything to cluster `c`.
const TO_C: &[&str] = &["{ cluster = \"c\" }"];

/// An active health check on `/healthz` every 50 ms, as cluster settings.
fn health_check(unhealthy_after: u32, healthy_after: u32) -> String {
    format!(
        "health_check = {{ path = \"/healthz\", interval_ms = 50, \
         unhealthy_after = {unhealthy_after}, healthy_after = {healthy_after} }}"
    )
}

/// `[clusters.<name>]` with `settings` (TOML lines) and one subcluster `main` of
/// `backends` (address, weight).
fn cluster(name: &str, settings: &str, backends: &[(SocketAddr, u32)]) -> String {
    subclusters(name, settings, &[("main", 1, backends)])
}

/// A cluster of one backend with default settings.
fn one(name: &str, addr: SocketAddr) -> String {
    cluster(name, "", &[(addr, 1)])
}

/// A subcluster: name, weight, and backends (address, weight).
type Subcluster<'a> = (&'a str, u32, &'a [(SocketAddr, u32)]);

/// `[clusters.<name>]` with `settings` and these subclusters.
fn subclusters(name: &str, settings: &str, subs: &[Subcluster<'_>]) -> String {
    let mut text = format!("\n[clusters.{name}]\n{settings}\n");
    for (sub, weight, backends) in subs {
        let list: Vec<String> = backends
            .iter()
            .map(|(addr, w)| format!("{{ addr = \"{addr}\", weight = {w} }}"))
            .collect();
        text.push_str(&format!(
            "[clusters.{name}.subclusters.{sub}]\nweight = {weight}\nbackends = [{}]\n",
            list.join(", ")
        ));
    }
    text
}

/// The name of the backend that answered.
fn answered_by(response: &Response) -> &str {
    response
        .header("x-backend")
        .unwrap_or("<no x-backend header>")
}

/// Sends on a kept-alive connection; panics if no response comes.
fn send_on(conn: &mut Conn, req: &Req) -> Response {
    conn.send(req)
        .unwrap_or_else(|e| panic!("{} {}: {e}", req.method, req.path))
}

/// A distinct client address per `i`: `10.a.b.c`.
fn client_ip(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

/// `text` without ANSI colour sequences (`ESC [ … m`), which the proxy's log has.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Route rules speak BFE's condition language (`cond`), beside and together with the
/// table form, through the same engine plugins use (the plugin kit).
#[test]
fn cond_routes_use_bfe_s_condition_language() {
    let canary = Backend::echo("canary");
    let main = Backend::echo("main");
    let config = proxy_config(
        "",
        &[
            r#"{ cond = 'req_header_value_in("x-canary", "1", false) || req_cookie_value_in("canary", "yes", false)', cluster = "canary" }"#,
            r#"{ path_prefix = "/api/", cond = '!req_method_in("DELETE")', cluster = "canary" }"#,
            r#"{ cluster = "main" }"#,
        ],
        &format!(
            "{}{}",
            one("canary", canary.addr()),
            one("main", main.addr())
        ),
    );
    let run = Run::start(&config);
    let by = |req: Req| answered_by(&run.send(&req)).to_owned();
    assert_eq!(by(Req::get("x", "/").header("x-canary", "1")), "canary");
    assert_eq!(
        by(Req::get("x", "/").header("cookie", "a=b; canary=yes")),
        "canary"
    );
    assert_eq!(by(Req::get("x", "/api/items")), "canary");
    assert_eq!(by(Req::new("DELETE", "x", "/api/items")), "main");
    assert_eq!(by(Req::get("x", "/")), "main");
}
