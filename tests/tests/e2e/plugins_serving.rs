//! The example plugins that serve, log and mark requests, end to end: `static` answers
//! from a directory, `access-log` writes every line before the proxy exits, `cors`
//! answers preflights without the backend. Real proxy, real backend, real clients.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hookgate_tests::{
    h2c_get, http1_get, http1_send, keep_alive_gets, library, Backend, Proxy, Req, Response,
};
use httpdate::HttpDate;
use serde_json::Value;

const SHOP: &str = "shop.example.com";

/// A proxy config in `dir`: product `shop` (host `shop.example.com`) and the default
/// product `web`, both routed to `backend`, with these plugins in order: (library
/// crate name, plugin config text), each config written to its own file.
fn proxy_config(dir: &Path, backend: &Backend, plugins: &[(&str, &str)]) -> PathBuf {
    let mut text = String::from("default_product = \"web\"\n");
    for (i, (name, config)) in plugins.iter().enumerate() {
        let config_path = dir.join(format!("{name}-{i}.toml"));
        fs::write(&config_path, config).expect("write plugin config");
        text += &format!(
            "[[plugins]]\npath = {:?}\nconfig = {:?}\n",
            library(name).display().to_string(),
            config_path.display().to_string(),
        );
    }
    text += &format!(
        "[products.shop]\nhosts = [\"{SHOP}\"]\nroutes = [{{ cluster = \"web\" }}]\n\
         [products.web]\nroutes = [{{ cluster = \"web\" }}]\n\
         [clusters.web.subclusters.main]\nweight = 1\n\
         backends = [{{ addr = \"{}\" }}]\n",
        backend.addr()
    );
    let path = dir.join("hookgate.toml");
    fs::write(&path, text).expect("write proxy config");
    path
}

fn start(config: &Path) -> Proxy {
    Proxy::start(&["--config", config.to_str().expect("UTF-8 path")])
}

fn send(proxy: &Proxy, req: &Req) -> Response {
    match http1_send(proxy.addr(), req) {
        Ok(response) => response,
        Err(e) => panic!("{} {}: {e}", req.method, req.path),
    }
}

#[test]
fn static_files_are_served_by_the_proxy() {
    let backend = Backend::echo("b1");
    let dir = tempfile::tempdir().expect("temp dir");
    let site = dir.path().join("site");
    fs::create_dir_all(site.join("docs")).expect("site dirs");
    fs::create_dir_all(dir.path().join("outside")).expect("outside dir");
    fs::write(site.join("hello.txt"), "hello\n").expect("file");
    fs::write(site.join("app.js"), "let x = 1;\n").expect("file");
    fs::write(site.join("docs/index.html"), "<h1>docs</h1>\n").expect("file");
    fs::write(dir.path().join("outside/secret.txt"), "secret\n").expect("file");
    std::os::unix::fs::symlink(dir.path().join("outside/secret.txt"), site.join("escape"))
        .expect("symlink");
    let plugin = format!(
        "[products.shop]\nroot = {:?}\nprefix = \"/static/\"\n",
        site.display().to_string()
    );
    let config = proxy_config(dir.path(), &backend, &[("hookgate_plugin_static", &plugin)]);
    let proxy = start(&config);

    let got = http1_get(proxy.addr(), SHOP, "/static/hello.txt", &[]);
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.text(), "hello\n");
    assert_eq!(got.header("content-type"), Some("text/plain"));
    let modified = fs::metadata(site.join("hello.txt"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let last_modified = HttpDate::from(modified).to_string();
    assert_eq!(got.header("last-modified"), Some(last_modified.as_str()));
    assert_eq!(got.header("x-backend"), None);
    let got = http1_get(proxy.addr(), SHOP, "/static/app.js", &[]);
    assert_eq!(got.header("content-type"), Some("text/javascript"));
    let got = http1_get(proxy.addr(), SHOP, "/static/docs/", &[]);
    assert_eq!(got.text(), "<h1>docs</h1>\n");

    let since = [("if-modified-since", last_modified.as_str())];
    let got = http1_get(proxy.addr(), SHOP, "/static/hello.txt", &since);
    assert_eq!(got.status, 304);
    assert!(got.body.is_empty());

    let got = send(&proxy, &Req::new("HEAD", SHOP, "/static/hello.txt"));
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-length"), Some("6"), "the GET's length");
    assert_eq!(got.header("content-type"), Some("text/plain"));
    assert_eq!(got.header("last-modified"), Some(last_modified.as_str()));
    assert!(got.body.is_empty());

    let got = http1_get(proxy.addr(), SHOP, "/static/nope.txt", &[]);
    assert_eq!(got.status, 404);
    let got = send(
        &proxy,
        &Req::new("POST", SHOP, "/static/hello.txt").body("x"),
    );
    assert_eq!(got.status, 405);
    assert_eq!(got.header("allow"), Some("GET, HEAD"));

    let got = http1_get(proxy.addr(), SHOP, "/static/escape", &[]);
    assert_eq!(got.status, 403, "a symlink out of the root: {}", got.text());
    assert!(!got.text().contains("secret"));
    assert_eq!(
        backend.requests(),
        0,
        "every answer so far came from the plugin"
    );
    // The proxy normalises paths before any plugin runs (DESIGN §6): these are
    // `/outside/secret.txt`, no longer under the plugin's prefix, so they go to the
    // backend as that path and the file outside the root is never served.
    for path in [
        "/static/../outside/secret.txt",
        "/static/docs/../../outside/secret.txt",
        "/static/%2e%2e/outside/secret.txt",
    ] {
        let got = http1_get(proxy.addr(), SHOP, path, &[]);
        assert_eq!(got.header("x-backend"), Some("b1"), "{path}");
        assert_eq!(got.echo().uri, "/outside/secret.txt", "{path}");
        assert_ne!(got.text(), "secret\n", "{path}");
    }
    let got = http1_get(proxy.addr(), SHOP, "/static/../../etc/passwd", &[]);
    assert_eq!(got.status, 400, "above the root");
    assert_eq!(backend.requests(), 3);

    // Outside the prefix, and other products, reach the backend.
    let got = http1_get(proxy.addr(), SHOP, "/api/hello.txt", &[]);
    assert_eq!(got.header("x-backend"), Some("b1"));
    assert_eq!(got.echo().uri, "/api/hello.txt");
    let got = http1_get(proxy.addr(), "www.example.com", "/static/hello.txt", &[]);
    assert_eq!(got.header("x-backend"), Some("b1"));
    assert_eq!(backend.requests(), 5);
}

/// The combined-format lines of one kind: `"CONNECTION"` lines or request lines.
fn combined_lines(text: &str, connections: bool) -> Vec<&str> {
    text.lines()
        .filter(|line| line.contains("] \"CONNECTION\" ") == connections)
        .collect()
}

/// The value of `key=` in a combined line (quoted values without their quotes).
fn field<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split(' ').next(),
    }
}

#[test]
fn the_access_log_holds_every_line_after_sigterm() {
    let backend = Backend::echo("b1");
    let dir = tempfile::tempdir().expect("temp dir");
    let combined = dir.path().join("access.log");
    let json = dir.path().join("access.json");
    // A long flush interval: only the flush at shutdown can write these lines.
    let plugin = |path: &Path, format: &str| {
        let path = path.display().to_string();
        format!("path = {path:?}\nformat = \"{format}\"\nflush_interval_ms = 600000\n")
    };
    let (plugin_combined, plugin_json) = (plugin(&combined, "combined"), plugin(&json, "json"));
    let config = proxy_config(
        dir.path(),
        &backend,
        &[
            ("hookgate_plugin_access_log", &plugin_combined),
            ("hookgate_plugin_access_log", &plugin_json),
        ],
    );
    let mut proxy = start(&config);

    // Five requests on three connections: three kept alive, one 404, one over h2c.
    let kept = keep_alive_gets(proxy.addr(), SHOP, &["/a", "/b", "/c"]);
    assert!(kept.responses.iter().all(|r| r.is_ok()), "{kept:?}");
    let headers = [("x-backend-status", "404"), ("x-request-id", "rid-7")];
    let got = http1_get(proxy.addr(), SHOP, "/missing", &headers);
    assert_eq!(got.status, 404);
    let got = h2c_get(proxy.addr(), "www.example.com", "/h2", &[]);
    assert_eq!(got.status, 200);
    let status = proxy.terminate_and_wait(Duration::from_secs(10));
    assert!(status.success(), "{status}\n{}", proxy.stderr_text());

    let text = fs::read_to_string(&combined).expect("the combined log");
    let requests = combined_lines(&text, false);
    assert_eq!(requests.len(), 5, "{text}");
    let mut seen: Vec<(&str, &str)> = requests
        .iter()
        .map(|line| {
            let (_, request) = line.split_once("] \"GET ").expect("a GET request line");
            let (path, rest) = request.split_once(' ').expect("path, protocol");
            (path, rest.split(' ').nth(1).expect("a status"))
        })
        .collect();
    seen.sort();
    let expected = [
        ("/a", "200"),
        ("/b", "200"),
        ("/c", "200"),
        ("/h2", "200"),
        ("/missing", "404"),
    ];
    assert_eq!(seen, expected, "{text}");
    let missing = requests
        .iter()
        .find(|l| l.contains("/missing"))
        .expect("/missing");
    assert_eq!(field(missing, "request_id"), Some("rid-7"));
    assert_eq!(field(missing, "product"), Some("shop"));
    assert_eq!(field(missing, "cluster"), Some("web"));
    let backend_addr = backend.addr_string();
    assert_eq!(field(missing, "backend"), Some(backend_addr.as_str()));

    let connections = combined_lines(&text, true);
    assert_eq!(connections.len(), 3, "{text}");
    let mut counts: Vec<&str> = connections
        .iter()
        .filter_map(|l| field(l, "requests"))
        .collect();
    counts.sort();
    assert_eq!(counts, ["1", "1", "3"], "{text}");
    // Each request line names a session that has its connection line.
    for line in &requests {
        let session = field(line, "session");
        assert!(
            connections.iter().any(|c| field(c, "session") == session),
            "{line}\n{text}"
        );
    }

    let text = fs::read_to_string(&json).expect("the JSON log");
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let of_type = |kind: &'static str| lines.iter().filter(move |l| l["type"] == kind);
    assert_eq!(of_type("request").count(), 5, "{text}");
    assert_eq!(of_type("connection").count(), 3, "{text}");
    let h2 = of_type("request").find(|l| l["uri"] == "/h2").expect("/h2");
    assert_eq!(h2["protocol"], "HTTP/2.0");
    assert_eq!(h2["product"], "web");
    assert_eq!(h2["status"], 200);
    assert!(h2["duration_ms"].as_f64().is_some(), "{h2}");
    let missing = of_type("request").find(|l| l["uri"] == "/missing");
    let missing = missing.expect("/missing");
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["request_id"], "rid-7");
    let h2c = of_type("connection").find(|l| l["protocol"] == "h2");
    assert_eq!(h2c.expect("an h2 connection")["requests"], 1);
}

#[test]
fn cors_preflights_are_answered_by_the_proxy() {
    let backend = Backend::echo("b1");
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin = "[products.shop]\n\
                  allow_origins = [\"https://app.example.com\"]\n\
                  allow_methods = [\"GET\", \"PUT\"]\n\
                  allow_headers = [\"content-type\"]\n\
                  expose_headers = [\"x-backend\"]\n\
                  max_age = 600\n";
    let config = proxy_config(dir.path(), &backend, &[("hookgate_plugin_cors", plugin)]);
    let proxy = start(&config);
    let app = "https://app.example.com";

    let preflight = |origin: &str| {
        Req::new("OPTIONS", SHOP, "/api/cart")
            .header("origin", origin)
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type")
    };
    let got = send(&proxy, &preflight(app));
    assert_eq!(got.status, 204, "{}", got.text());
    assert_eq!(got.header("access-control-allow-origin"), Some(app));
    assert_eq!(got.header("access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(
        got.header("access-control-allow-headers"),
        Some("content-type")
    );
    assert_eq!(got.header("access-control-max-age"), Some("600"));
    assert_eq!(got.header_all("vary"), ["Origin"]);
    let got = send(&proxy, &preflight("https://evil.example"));
    assert_eq!(got.status, 403);
    assert_eq!(got.header("access-control-allow-origin"), None);
    assert_eq!(backend.requests(), 0, "preflights never reach the backend");

    let got = http1_get(proxy.addr(), SHOP, "/api/cart", &[("origin", app)]);
    assert_eq!(got.header("x-backend"), Some("b1"));
    assert_eq!(got.header("access-control-allow-origin"), Some(app));
    assert_eq!(
        got.header("access-control-expose-headers"),
        Some("x-backend")
    );
    assert_eq!(got.header_all("vary"), ["Origin"]);
    let evil = [("origin", "https://evil.example")];
    let got = http1_get(proxy.addr(), SHOP, "/api/cart", &evil);
    assert_eq!(got.header("x-backend"), Some("b1"));
    assert_eq!(got.header("access-control-allow-origin"), None);
    // Another product has no policy: its preflights go to the backend.
    let mut other = preflight(app);
    other.host = Some("www.example.com".to_owned());
    let got = send(&proxy, &other);
    assert_eq!(got.header("x-backend"), Some("b1"));
    assert_eq!(got.header("access-control-allow-origin"), None);
    assert_eq!(backend.requests(), 3);
}
