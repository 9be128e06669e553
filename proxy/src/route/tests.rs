use std::path::Path;

use http::header::{HeaderMap, HeaderValue};
use http::Method;

use super::RouteTable;
use crate::config::Config;

fn table(toml: &str) -> RouteTable {
    match Config::parse(toml, Path::new("test.toml")) {
        Ok(config) => RouteTable::new(&config),
        Err(e) => panic!("test config: {e}"),
    }
}

const CLUSTERS: &str = r#"
[clusters.a.subclusters.s]
weight = 1
backends = [{ addr = "127.0.0.1:1" }]
[clusters.b.subclusters.s]
weight = 1
backends = [{ addr = "127.0.0.1:2" }]
[clusters.c.subclusters.s]
weight = 1
backends = [{ addr = "127.0.0.1:3" }]
"#;

fn hosts_table(default: bool) -> RouteTable {
    let head = if default {
        "default_product = \"fallback\"\n"
    } else {
        ""
    };
    table(&format!(
        r#"{head}
[products.shop]
hosts = ["shop.example.com", "*.shop.example.com"]
routes = [{{ cluster = "a" }}]
[products.deep]
hosts = ["*.eu.shop.example.com", "Exact.Example.COM"]
routes = [{{ cluster = "b" }}]
[products.fallback]
routes = [{{ cluster = "c" }}]
{CLUSTERS}"#
    ))
}

fn product<'t>(table: &'t RouteTable, host: &str) -> Option<&'t str> {
    table.product(host).map(|p| &*p.name)
}

#[test]
fn exact_host() {
    let t = hosts_table(false);
    assert_eq!(product(&t, "shop.example.com"), Some("shop"));
    // Config hosts are lowercased once.
    assert_eq!(product(&t, "exact.example.com"), Some("deep"));
}

#[test]
fn wildcard_needs_one_more_label() {
    let t = hosts_table(false);
    assert_eq!(product(&t, "a.shop.example.com"), Some("shop"));
    assert_eq!(product(&t, "a.b.shop.example.com"), Some("shop"));
    // `*.eu.shop.example.com` must not claim `eu.shop.example.com` itself; the
    // shorter `*.shop.example.com` does.
    assert_eq!(product(&t, "eu.shop.example.com"), Some("shop"));
    assert_eq!(product(&t, "example.com"), None);
    assert_eq!(product(&t, "xshop.example.com"), None);
}

#[test]
fn longest_wildcard_suffix_wins() {
    let t = hosts_table(false);
    assert_eq!(product(&t, "x.eu.shop.example.com"), Some("deep"));
    assert_eq!(product(&t, "y.x.eu.shop.example.com"), Some("deep"));
}

#[test]
fn default_product_and_none() {
    assert_eq!(product(&hosts_table(true), "other.org"), Some("fallback"));
    assert_eq!(product(&hosts_table(false), "other.org"), None);
    assert_eq!(product(&hosts_table(false), ""), None);
    let names: Vec<_> = hosts_table(true)
        .products()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(names.len(), 3);
}

fn rules_table() -> RouteTable {
    table(&format!(
        r#"
default_product = "p"
[products.p]
routes = [
  {{ path = "/exact", cluster = "a" }},
  {{ path_prefix = "/api/", method = "POST", cluster = "b" }},
  {{ path_prefix = "/api/", cluster = "a" }},
  {{ host = "Admin.Example.com", cluster = "b" }},
  {{ header = {{ name = "X-Canary", value = "1" }}, cluster = "b" }},
  {{ method = "bad method", cluster = "b" }},
  {{ cluster = "c" }},
]
{CLUSTERS}"#
    ))
}

fn cluster(t: &RouteTable, method: Method, host: &str, path: &str, headers: &HeaderMap) -> String {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host)
        .body(())
        .unwrap();
    for (name, value) in headers {
        request.headers_mut().append(name, value.clone());
    }
    let (head, ()) = request.into_parts();
    let facts = super::RouteFacts {
        head: &head,
        client_ip: [10, 0, 0, 1].into(),
        client_ip_trusted: false,
        peer_ip: [10, 0, 0, 1].into(),
        is_secure: false,
        sni: None,
    };
    let product = t.product(host).map(|p| p.cluster(&facts));
    match product {
        Some(Some(cluster)) => cluster.to_string(),
        _ => "none".into(),
    }
}

#[test]
fn each_condition_kind() {
    let t = rules_table();
    let none = HeaderMap::new();
    // path (exact)
    assert_eq!(cluster(&t, Method::GET, "h", "/exact", &none), "a");
    assert_eq!(cluster(&t, Method::GET, "h", "/exact/more", &none), "c");
    // path_prefix + method, combined: both must hold
    assert_eq!(cluster(&t, Method::POST, "h", "/api/x", &none), "b");
    assert_eq!(cluster(&t, Method::GET, "h", "/api/x", &none), "a");
    assert_eq!(cluster(&t, Method::POST, "h", "/apix", &none), "c");
    // method ignores case, as BFE's `req_method_in` does (it was case-sensitive)
    let lower = Method::from_bytes(b"post").unwrap_or(Method::GET);
    assert_eq!(cluster(&t, lower, "h", "/api/x", &none), "b");
    // host, lowercased in the config
    assert_eq!(
        cluster(&t, Method::GET, "admin.example.com", "/", &none),
        "b"
    );
    assert_eq!(
        cluster(&t, Method::GET, "admin.example.org", "/", &none),
        "c"
    );
}

#[test]
fn header_condition() {
    let t = rules_table();
    let mut headers = HeaderMap::new();
    headers.append("x-canary", HeaderValue::from_static("0"));
    assert_eq!(cluster(&t, Method::GET, "h", "/", &headers), "c");
    // the first value is the header's value, as in BFE's `req_header_value_in` (any
    // value used to match)
    headers.append("x-canary", HeaderValue::from_static("1"));
    assert_eq!(cluster(&t, Method::GET, "h", "/", &headers), "c");
    let mut headers = HeaderMap::new();
    headers.append("x-canary", HeaderValue::from_static("1"));
    assert_eq!(cluster(&t, Method::GET, "h", "/", &headers), "b");
    // exact value
    let mut headers = HeaderMap::new();
    headers.insert("x-canary", HeaderValue::from_static("10"));
    assert_eq!(cluster(&t, Method::GET, "h", "/", &headers), "c");
}

#[test]
fn first_match_wins_and_catch_all() {
    let t = rules_table();
    let mut headers = HeaderMap::new();
    headers.insert("x-canary", HeaderValue::from_static("1"));
    // `/exact` matches rule 0 before the header rule.
    assert_eq!(cluster(&t, Method::GET, "h", "/exact", &headers), "a");
    assert_eq!(
        cluster(&t, Method::DELETE, "h", "/other", &HeaderMap::new()),
        "c"
    );
}

#[test]
fn no_rule_matches() {
    let t = table(&format!(
        r#"
default_product = "p"
[products.p]
routes = [{{ path = "/only", cluster = "a" }}]
{CLUSTERS}"#
    ));
    assert_eq!(
        cluster(&t, Method::GET, "h", "/", &HeaderMap::new()),
        "none"
    );
    assert_eq!(
        cluster(&t, Method::GET, "h", "/only", &HeaderMap::new()),
        "a"
    );
}

#[test]
fn cond_routes_speak_bfe_s_condition_language() {
    let t = table(&format!(
        r#"
default_product = "p"
[products.p]
routes = [
  {{ cond = 'req_path_prefix_in("/v2/", false) && req_header_value_in("x-canary", "1", false)', cluster = "b" }},
  {{ path_prefix = "/v2/", cond = '!req_method_in("DELETE|PUT")', cluster = "a" }},
  {{ cluster = "c" }},
]
{CLUSTERS}"#
    ));
    let mut canary = HeaderMap::new();
    canary.insert("x-canary", HeaderValue::from_static("1"));
    assert_eq!(cluster(&t, Method::GET, "h", "/v2/x", &canary), "b");
    assert_eq!(
        cluster(&t, Method::GET, "h", "/v2/x", &HeaderMap::new()),
        "a"
    );
    assert_eq!(
        cluster(&t, Method::PUT, "h", "/v2/x", &HeaderMap::new()),
        "c"
    );
    assert_eq!(cluster(&t, Method::GET, "h", "/v1/x", &canary), "c");
}
