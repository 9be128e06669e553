//! `hookgate import-bfe` (issue 14): a BFE configuration directory written from BFE's
//! documentation (`tests/data/bfe/conf`: every file kind, two products, basic and
//! advanced route rules, GSLB weights, the ten ported modules and one that is not) is
//! converted, the result passes `hookgate check`, and requests sent through it to real
//! backends get the answers BFE's semantics give.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hookgate_tests::{arg, free_port, hookgate, http1_send, Backend, Proxy, Req, Response};

/// The fixture, with `{{NAME}}` placeholders.
fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/bfe/conf")
}

/// Copies `from` to `to`, replacing each `{{NAME}}` by its value.
fn copy_filled(from: &Path, to: &Path, values: &BTreeMap<&str, String>) {
    fs::create_dir_all(to).expect("create conf dir");
    for entry in fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_filled(&entry.path(), &target, values);
            continue;
        }
        let mut text = fs::read_to_string(entry.path()).expect("fixture text");
        for (name, value) in values {
            text = text.replace(&format!("{{{{{name}}}}}"), value);
        }
        assert!(
            !text.contains("{{"),
            "unfilled placeholder in {}",
            entry.path().display()
        );
        fs::write(&target, text).expect("write conf file");
    }
}

/// The backend that answered (an echo's name), or the status and body when the proxy
/// answered itself.
fn answered_by(response: &Response) -> String {
    match hookgate_tests::Echo::parse(&response.text()) {
        Some(echo) => echo.backend,
        None => format!("{} {}", response.status, response.text().trim()),
    }
}

/// A GET to `host` + `path` with `headers`, from 127.0.0.1.
fn get(proxy: &Proxy, host: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let req = Req::get(host, path).headers(headers);
    match http1_send(proxy.addr(), &req) {
        Ok(response) => response,
        Err(e) => panic!("GET {host}{path}: {e}"),
    }
}

/// The backend a GET from `client` (a loopback address) reaches: a raw HTTP/1.1
/// exchange on a socket bound to that address.
fn backend_for_client(proxy: SocketAddr, client: IpAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let text = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(client, 0))
            .expect("bind client address");
        let exchange = async {
            let mut stream = socket.connect(proxy).await.expect("connect");
            let request =
                "GET /home HTTP/1.1\r\nhost: www.unknown.example\r\nconnection: close\r\n\r\n";
            stream.write_all(request.as_bytes()).await.expect("write");
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.expect("read");
            String::from_utf8_lossy(&answer).into_owned()
        };
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .expect("answered within 10 s")
    });
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    match hookgate_tests::Echo::parse(body) {
        Some(echo) => echo.backend,
        None => panic!("not an echo answer:\n{text}"),
    }
}

#[test]
fn a_bfe_configuration_converts_and_routes_as_bfe_does() {
    let names = [
        "web-a",
        "web-b",
        "web-spare",
        "static",
        "cart",
        "api",
        "canary",
        "mobile",
    ];
    let backends: BTreeMap<&str, Backend> = names
        .iter()
        .map(|name| (*name, Backend::echo(name)))
        .collect();
    let mut values: BTreeMap<&str, String> = BTreeMap::new();
    for (placeholder, name) in [
        ("WEB_A", "web-a"),
        ("WEB_B", "web-b"),
        ("WEB_SPARE", "web-spare"),
        ("STATIC", "static"),
        ("CART", "cart"),
        ("API", "api"),
        ("CANARY", "canary"),
        ("MOBILE", "mobile"),
    ] {
        values.insert(placeholder, backends[name].addr().port().to_string());
    }
    let monitor = free_port();
    values.insert("MONITOR_PORT", monitor.to_string());
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("conf");
    copy_filled(&fixture(), &conf, &values);
    // No `log/`: BFE creates its access log's directory at start-up; the import does.
    let out = dir.path().join("out");

    // 1. The import: written, with a report, exit 2 (some items are not converted).
    let import = hookgate(&["import-bfe", arg(&conf), arg(&out)]);
    assert_eq!(
        import.status.code(),
        Some(2),
        "{}\n{}",
        import.stdout,
        import.stderr
    );
    let report = fs::read_to_string(out.join("import-report.txt")).expect("report written");
    assert!(
        import.stdout.contains(report.trim()),
        "the report is printed too:\n{}",
        import.stdout
    );
    for expected in [
        // A product chosen by VIP, a condition primitive the kit lacks, a module without
        // plugin, an MD5 password, an action the redirect plugin lacks, a cluster spoken to
        // over FastCGI, a wildcard host of a basic rule, GSLB's spare subcluster.
        "server_data_conf/vip_rule.data: Vips.api",
        "req_path_regmatch",
        "mod_waf has no hookgate plugin",
        "carol",
        "URL_FROM_QUERY",
        "\"fcgi\"",
        "*.shop.example.com",
        "web.spare",
    ] {
        assert!(
            report.contains(expected),
            "report lacks {expected:?}:\n{report}"
        );
    }
    let config = out.join("hookgate.toml");
    for plugin in [
        "access-log",
        "request-id",
        "cors",
        "block",
        "rate-limit",
        "auth-basic",
        "redirect",
        "static",
        "rewrite",
        "header",
    ] {
        assert!(
            out.join("plugins").join(format!("{plugin}.toml")).is_file(),
            "no {plugin} config"
        );
    }

    // 2. `check` accepts it.
    let check = hookgate(&["check", "--config", arg(&config)]);
    assert!(check.status.success(), "{}\n{}", check.stdout, check.stderr);

    // 3. Requests through it.
    let listen = format!("127.0.0.1:{}", free_port());
    let mut proxy = Proxy::start(&["--config", arg(&config), "--listen", &listen]);
    let shop = "shop.example.com";
    let route = |host: &str, path: &str, headers: &[(&str, &str)]| {
        answered_by(&get(&proxy, host, path, headers))
    };
    // Basic rules, by specificity: the exact host's exact path and path prefixes.
    assert_eq!(route(shop, "/cart", &[]), "cart");
    assert_eq!(route(shop, "/static/app.js", &[]), "static");
    assert_eq!(route(shop, "/static", &[]), "static");
    // `/static*` compares whole path elements: `/staticx` is not under it; the exact
    // host matched, so BFE goes to the advanced rules, not to the `*` host's rule.
    assert_eq!(route(shop, "/staticx", &[]), "api");
    assert_eq!(route(shop, "/other", &[]), "api");
    // ADVANCED_MODE: the advanced rules decide, in order.
    assert_eq!(route(shop, "/api/items", &[]), "api");
    assert_eq!(route(shop, "/api/items", &[("x-canary", "1")]), "canary");
    let post = Req::new("POST", shop, "/other").body("x");
    assert_eq!(
        answered_by(&http1_send(proxy.addr(), &post).expect("POST")),
        "cart"
    );
    // The wildcard host, and a host of no product (the default product, `*` rule):
    // cluster web, whose subcluster is keyed on the client address.
    assert_eq!(route("m.shop.example.com", "/x", &[]), "mobile");
    let web = route("www.unknown.example", "/x", &[]);
    assert!(web == "web-a" || web == "web-b", "{web}");
    // Product `api` (host written `API.example.com`): advanced rules only.
    let api = "api.example.com";
    assert_eq!(
        route(api, "/v1/items", &[("cookie", "a=1; beta=yes")]),
        "canary"
    );
    assert_eq!(route(api, "/v1/items?debug", &[]), web);
    assert_eq!(route(api, "/v1/items", &[]), "api");
    assert_eq!(
        get(&proxy, api, "/v2/items", &[]).status,
        404,
        "no rule matches"
    );

    // GSLB: subclusters web.a and web.b weigh 75 and 25, keyed on the client address;
    // web.spare is in cluster_table.data but not in gslb.data, so never used.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for last in 1..=200u8 {
        let client = IpAddr::V4(Ipv4Addr::new(127, 0, 1, last));
        *counts
            .entry(backend_for_client(proxy.addr(), client))
            .or_default() += 1;
    }
    let (a, b) = (
        counts.get("web-a").copied().unwrap_or(0),
        counts.get("web-b").copied().unwrap_or(0),
    );
    assert_eq!(a + b, 200, "only web.a and web.b answer: {counts:?}");
    assert!(
        (120..=180).contains(&a),
        "web.a takes about 75%: {counts:?}"
    );

    // The modules, through their plugins.
    // mod_block: closed without an answer; a global ALLOW lets a trusted scanner in.
    assert!(http1_send(proxy.addr(), &Req::get(shop, "/.git/config")).is_err());
    assert!(http1_send(proxy.addr(), &Req::get(shop, "/blocked")).is_err());
    let allowed = Req::get(shop, "/.git/config").header("x-trusted-scanner", "1");
    assert_eq!(
        answered_by(&http1_send(proxy.addr(), &allowed).expect("allowed")),
        "api"
    );
    // mod_redirect.
    let moved = get(&proxy, shop, "/old/page", &[]);
    assert_eq!(moved.status, 301);
    assert_eq!(
        moved.header("location"),
        Some("https://shop.example.com/new")
    );
    // mod_rewrite: after routing, the backend sees the rewritten path and query.
    let rewritten = get(&proxy, shop, "/legacy/x", &[]);
    assert_eq!(rewritten.echo().uri, "/v2/items?from=legacy");
    // mod_header: global and product request headers, a product response header.
    let marked = get(&proxy, shop, "/cart", &[]);
    let echo = marked.echo();
    assert_eq!(echo.header("x-gateway"), Some("hookgate"));
    assert_eq!(echo.header("x-client-ip"), Some("127.0.0.1"));
    assert_eq!(marked.header("x-proxied-by"), Some("bfe"));
    // mod_logid: an id per request, in BFE's header.
    let id = echo.header("x-bfe-log-id").expect("a log id");
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    // mod_auth_basic: alice (bcrypt) gets in; carol's MD5 password was not converted.
    let refused = get(&proxy, api, "/admin/x", &[]);
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Basic realm=\"api admin\"")
    );
    let alice = get(
        &proxy,
        api,
        "/admin/x",
        &[("authorization", "Basic YWxpY2U6YWxpY2UtcHc=")],
    );
    assert_eq!(answered_by(&alice), "api");
    // mod_static: BFE joins the full path to the root.
    let logo = get(&proxy, shop, "/assets/logo.txt", &[]);
    assert_eq!((logo.status, logo.text().as_str()), (200, "logo\n"));
    // mod_prison: two requests per client per 60 s; the third is closed.
    for _ in 0..2 {
        assert_eq!(route(api, "/limited/x", &[]), "api");
    }
    assert!(http1_send(proxy.addr(), &Req::get(api, "/limited/x")).is_err());
    // mod_cors: the preflight is answered by the proxy.
    let preflight = Req::new("OPTIONS", api, "/v1/items").headers(&[
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "POST"),
    ]);
    let answer = http1_send(proxy.addr(), &preflight).expect("preflight");
    assert_eq!(answer.status, 204);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );

    // mod_access: the lines are in LogDir/LogPrefix.log once the proxy stops.
    proxy.terminate_and_wait(Duration::from_secs(10));
    let log = fs::read_to_string(dir.path().join("log/access.log")).expect("access log");
    assert!(log.contains("\"GET /cart HTTP/1.1\" 200"), "{log}");
}

#[test]
fn unreadable_input_exits_1_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("conf");
    fs::create_dir_all(conf.join("cluster_conf")).expect("conf dir");
    fs::write(
        conf.join("cluster_conf/cluster_table.data"),
        "{\"Config\": ",
    )
    .expect("write");
    let out = hookgate(&["import-bfe", arg(&conf), arg(&dir.path().join("out"))]);
    assert_eq!(out.status.code(), Some(1), "{}\n{}", out.stdout, out.stderr);
    let line = out.stderr.trim();
    assert!(
        line.starts_with("hookgate: import-bfe: cluster_conf/cluster_table.data: not JSON"),
        "{line}"
    );
    assert!(
        !dir.path().join("out/hookgate.toml").exists(),
        "nothing written"
    );
}
