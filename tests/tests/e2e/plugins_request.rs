//! The request-shaping example plugins, end to end: request-id, redirect, rewrite and
//! header, each loaded by the real proxy from its config file, between real clients
//! and a real echo backend (whose body shows the head it received).
//!
//! Every proxy here serves two products from one cluster: `shop`
//! (`shop.example.com`) and `web` (the default), so that per-product rules show.

use std::fs;

use hookgate_tests::{
    arg, free_addr, h2c_get, hookgate, http1_get, https_get, library, Backend, Behaviour, Proxy,
    Response, TestCa,
};

/// A proxy in front of one echo backend, with plugins chained in the given order.
struct Setup {
    backend: Backend,
    proxy: Proxy,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// `plugins`: (library crate name, TOML config). `server`: extra TOML after the
    /// `[server]` table (e.g. `[[server.tls]]`). The proxy trusts `X-Forwarded-For`
    /// from 127.0.0.1, so a test can present other client IPs.
    fn start(backend: Behaviour, plugins: &[(&str, &str)], server: &str) -> Setup {
        let backend = Backend::start(backend);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut text = String::from(
            "default_product = \"web\"\n[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
        );
        text.push_str(server);
        for (i, (name, config)) in plugins.iter().enumerate() {
            let file = dir.path().join(format!("{i}-{name}.toml"));
            fs::write(&file, config).expect("write plugin config");
            text.push_str(&format!(
                "[[plugins]]\npath = {:?}\nconfig = {:?}\n",
                arg(&library(name)),
                arg(&file)
            ));
        }
        text.push_str(&format!(
            r#"
[products.shop]
hosts = ["shop.example.com"]
routes = [{{ cluster = "main" }}]
[products.web]
routes = [{{ cluster = "main" }}]
[clusters.main.subclusters.local]
weight = 1
backends = [{{ addr = "{}" }}]
"#,
            backend.addr()
        ));
        let config = dir.path().join("hookgate.toml");
        fs::write(&config, text).expect("write proxy config");
        let proxy = Proxy::start(&["--config", arg(&config)]);
        Setup {
            backend,
            proxy,
            _dir: dir,
        }
    }

    fn get(&self, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        http1_get(self.proxy.addr(), host, path, headers)
    }
}

fn is_generated(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The id the backend saw, checked against what the header plugin copied from the
/// request context into the request (`x-seen-id`) and the response (`x-request-id`).
fn request_id(response: &Response) -> String {
    assert_eq!(response.status, 200, "{}", response.text());
    let echo = response.echo();
    let id = echo.header("x-request-id").expect("the backend sees an id");
    assert_eq!(echo.header_all("x-request-id").len(), 1, "{echo:?}");
    assert_eq!(echo.header("x-seen-id"), Some(id), "context = header");
    assert_eq!(
        response.header("x-request-id"),
        Some(id),
        "response carries it"
    );
    id.to_owned()
}

#[test]
fn request_id_is_set_kept_from_trusted_clients_and_shared_with_header() {
    let request_id_config = "trusted = [\"10.0.0.0/8\"]\n";
    let header_config = r#"
[[global.request]]
set = { x-seen-id = "%{request_id}" }
[[global.response]]
set = { x-request-id = "%{request_id}" }
"#;
    let setup = Setup::start(
        Behaviour::echo("b1"),
        &[
            ("hookgate_plugin_request_id", request_id_config),
            ("hookgate_plugin_header", header_config),
        ],
        "",
    );

    let first = request_id(&setup.get("www.example.com", "/a", &[]));
    let second = request_id(&setup.get("www.example.com", "/a", &[]));
    assert!(is_generated(&first), "{first}");
    assert!(is_generated(&second), "{second}");
    assert_ne!(first, second);

    // A client in 10.0.0.0/8 (behind the trusted proxy 127.0.0.1) keeps its id.
    let trusted = [("x-request-id", "edge-42"), ("x-forwarded-for", "10.1.2.3")];
    assert_eq!(
        request_id(&setup.get("shop.example.com", "/", &trusted)),
        "edge-42"
    );
    // Any other client's id is replaced: another address, or the peer itself.
    let untrusted = [
        ("x-request-id", "forged"),
        ("x-forwarded-for", "203.0.113.7"),
    ];
    let replaced = request_id(&setup.get("shop.example.com", "/", &untrusted));
    assert!(is_generated(&replaced), "{replaced}");
    let replaced = request_id(&setup.get("shop.example.com", "/", &[("x-request-id", "forged")]));
    assert!(is_generated(&replaced), "{replaced}");

    let h2 = h2c_get(setup.proxy.addr(), "www.example.com", "/h2", &[]);
    assert_eq!(h2.version, "HTTP/2.0");
    assert!(is_generated(&request_id(&h2)));
}

#[test]
fn redirect_rules_per_product_with_status_and_scheme_switch() {
    let config = r#"
[[global.rules]]
path = "/old-home"
set_url = "https://www.example.com/"
status = 301

[[products.shop.rules]]
path_prefix = "/checkout/"
set_scheme = "https"
status = 308

[[products.shop.rules]]
path_prefix = "/blog/"
add_prefix = "https://blog.example.com"
"#;
    let ca = TestCa::new();
    let cert = ca.issue("shop", &["shop.example.com"]);
    let tls = free_addr();
    let server = format!(
        "[[server.tls]]\nlisten = \"{tls}\"\ncerts = [{}]\n",
        cert.toml()
    );
    let setup = Setup::start(
        Behaviour::echo("b1"),
        &[("hookgate_plugin_redirect", config)],
        &server,
    );
    let redirected = |host: &str, path: &str| {
        let response = setup.get(host, path, &[]);
        let location = response.header("location").map(str::to_owned);
        (response.status, location.unwrap_or_default())
    };
    let to = |status: u16, location: &str| (status, location.to_owned());

    // A global rule, for every product.
    for host in ["www.example.com", "shop.example.com"] {
        assert_eq!(
            redirected(host, "/old-home"),
            to(301, "https://www.example.com/")
        );
    }
    assert_eq!(
        redirected("shop.example.com", "/checkout/pay?cart=3"),
        to(308, "https://shop.example.com/checkout/pay?cart=3")
    );
    assert_eq!(
        redirected("shop.example.com", "/blog/post?id=7"),
        to(302, "https://blog.example.com/blog/post?id=7")
    );
    assert_eq!(setup.backend.requests(), 0);

    // The shop's rules leave the web product alone.
    let response = setup.get("www.example.com", "/blog/post", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.echo().uri, "/blog/post");
    // Already on https: no redirect loop.
    let got = https_get(
        tls,
        &ca,
        Some("shop.example.com"),
        "/checkout/pay",
        &["http/1.1"],
    );
    assert_eq!(got.response.status, 200, "{}", got.response.text());
    assert_eq!(got.response.echo().uri, "/checkout/pay");
    assert_eq!(setup.backend.requests(), 2);
}

#[test]
fn rewrite_host_path_and_query_with_last() {
    let config = r#"
[[global.rules]]
delete_query = ["utm_source"]

[[products.shop.rules]]
path_prefix = "/old/"
replace_path_prefix = { from = "/old/", to = "/new/" }
set_host = "backend.internal"
add_query = { v = "2" }
last = true

[[products.shop.rules]]
path_prefix = "/new/"
set_path = "/latest"
"#;
    let setup = Setup::start(
        Behaviour::echo("b1"),
        &[("hookgate_plugin_rewrite", config)],
        "",
    );
    let seen = |host: &str, path: &str| {
        let response = setup.get(host, path, &[]);
        assert_eq!(response.status, 200, "{}", response.text());
        let echo = response.echo();
        (
            echo.uri.clone(),
            echo.header("host").unwrap_or("").to_owned(),
        )
    };
    let pair = |uri: &str, host: &str| (uri.to_owned(), host.to_owned());

    // Rewritten to /new/..., and `last` keeps the /new/ rule from running after it.
    assert_eq!(
        seen("shop.example.com", "/old/a?utm_source=mail&keep=1"),
        pair("/new/a?keep=1&v=2", "backend.internal")
    );
    assert_eq!(
        seen("shop.example.com", "/new/b?x=1"),
        pair("/latest?x=1", "shop.example.com")
    );
    // Only the global rule for the web product.
    assert_eq!(
        seen("www.example.com", "/old/a?utm_source=mail"),
        pair("/old/a", "www.example.com")
    );
}

#[test]
fn header_edits_requests_and_responses_per_product() {
    let config = r#"
[[global.request]]
set = { x-product = "%{product}", x-client = "%{client_ip}" }
delete = ["x-debug"]
rename = { x-old = "x-new" }

[[global.response]]
delete = ["x-internal"]
set = { x-served = "%{host}%{path}" }

[[products.shop.request]]
path_prefix = "/api/"
add = { x-api = "v1" }

[[products.shop.response]]
rename = { x-backend = "x-origin" }
"#;
    let backend = Behaviour::echo("b1").header("x-internal", "secret");
    let setup = Setup::start(backend, &[("hookgate_plugin_header", config)], "");
    let client = [("x-debug", "1"), ("x-old", "a")];

    let response = setup.get("shop.example.com", "/api/items", &client);
    assert_eq!(response.status, 200, "{}", response.text());
    let echo = response.echo();
    assert_eq!(echo.header("x-product"), Some("shop"));
    assert_eq!(echo.header("x-client"), Some("127.0.0.1"));
    assert_eq!(echo.header("x-api"), Some("v1"));
    assert_eq!(echo.header("x-new"), Some("a"));
    assert!(
        !echo.has_header("x-old") && !echo.has_header("x-debug"),
        "{echo:?}"
    );
    assert_eq!(response.header("x-internal"), None);
    assert_eq!(
        response.header("x-served"),
        Some("shop.example.com/api/items")
    );
    assert_eq!(response.header("x-origin"), Some("b1"));
    assert_eq!(response.header("x-backend"), None);

    let response = setup.get("www.example.com", "/api/items", &client);
    let echo = response.echo();
    assert_eq!(echo.header("x-product"), Some("web"));
    assert_eq!(echo.header("x-new"), Some("a"));
    assert!(!echo.has_header("x-api"), "{echo:?}");
    assert_eq!(response.header("x-internal"), None);
    assert_eq!(
        response.header("x-served"),
        Some("www.example.com/api/items")
    );
    assert_eq!(response.header("x-backend"), Some("b1"));
    assert_eq!(response.header("x-origin"), None);
}

#[test]
fn bad_plugin_configs_stop_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "hookgate_plugin_request_id",
            "trusted = [\"10.0.0.0/33\"]\n",
            "trusted[0]",
        ),
        (
            "hookgate_plugin_redirect",
            "[[products.shop.rules]]\nset_url = \"/a\"\n[[products.shop.rules]]\nset_url = \"/b\"\nstatus = 200\n",
            "products.shop.rules[1]: status",
        ),
        (
            "hookgate_plugin_rewrite",
            "[[global.rules]]\nset_pth = \"/a\"\n",
            "unknown field `set_pth`",
        ),
        (
            "hookgate_plugin_header",
            "[[products.shop.request]]\nset = { \"x a\" = \"1\" }\n",
            "products.shop.request[0]: set.\"x a\"",
        ),
    ];
    for (name, config, key) in cases {
        let file = dir.path().join(format!("{name}.toml"));
        fs::write(&file, config).expect("write plugin config");
        let lib = library(name);
        let out = hookgate(&[
            "check",
            "--plugin",
            &format!("{}={}", arg(&lib), arg(&file)),
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}: {}", out.stderr);
        let lines = out.error_lines();
        assert_eq!(lines.len(), 1, "{name}: {}", out.stderr);
        assert!(lines[0].contains(arg(&lib)), "{}", lines[0]);
        assert!(lines[0].contains(key), "{}", lines[0]);
    }
}
