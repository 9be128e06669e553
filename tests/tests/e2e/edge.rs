//! The edges of the HTTP surface, end to end: what a client can put in a request head
//! or body that a proxy in front of access rules must not misread. Each test runs the
//! real binary with a config file, real echo backends, the `block` example plugin
//! where a rule must hold, and the probe plugin to read the error code the proxy set.
//!
//! What it pins:
//!
//! 1. Host and authority: absolute-form targets win over `Host` (RFC 9112 §3.2.2);
//!    HTTP/1.1 without `Host`, with two, or with an invalid one is 400 `bad_request`;
//!    HTTP/1.0 without `Host` goes to the default product with the backend's address
//!    as `Host`; HTTP/2 `:authority` and `host` that differ reset the stream
//!    (RFC 9113 §8.3.1), neither is 400, `host` alone routes; case and a trailing dot
//!    do not change the product; paths are normalised before routing, plugins and the
//!    backend (RFC 3986 §6.2.2), `encoded_slashes`, and paths escaping the root are
//!    400; and every bypass shape of a block rule or a route rule is refused over
//!    HTTP/1.1, h2c, HTTPS and h2 over TLS.
//! 2. ALPN on TLS listeners decides the protocol (RFC 7301, RFC 9113 §3.2): no HTTP/1.1
//!    after `h2`, no HTTP/2 after `http/1.1` or no ALPN; plain listeners keep both;
//!    `Upgrade: h2c` is not honoured and not forwarded.
//! 3. Methods and client errors: CONNECT is 405 with `Allow`; no extended CONNECT;
//!    broken request bodies are the client's 400 `bad_body`, never 502, and never a
//!    backend failure; a client gone before the response is `client_closed`; a
//!    backend connection whose request body was cut is not reused.
//! 4. Limits: `max_body_bytes` (server and per product, 413 `body_too_large`, no
//!    `100 Continue` for a body that is too large), `h2_max_concurrent_streams`,
//!    `workers` and `backlog` bounds.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use hookgate_tests::contract::{
    start_proxy, tls_exchange, tls_exchange_alpn, H2Exact, H2Failure, H2Request, RawConn,
    RawResponse,
};
use hookgate_tests::{
    arg, free_addr, h2c_get, hookgate, http1_get, http1_send, library, read_events,
    wait_for_events, Backend, Behaviour, Event, Probe, Proxy, Req, TestCa,
};

/// The bound on every wait for a probe event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a raw exchange waits for the server to answer or close.
const EXCHANGE_WAIT: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------
// The setup every test shares
// ---------------------------------------------------------------------------------

/// The backends behind [`Edge`]: `app` serves product `public`, `internal` product
/// `internal`, and `deny` (answering 403 itself) the `public` route for `/admin/`.
struct Backends {
    app: Backend,
    internal: Backend,
    deny: Backend,
}

impl Backends {
    fn start() -> Backends {
        Backends {
            app: Backend::echo("app"),
            internal: Backend::echo("internal"),
            deny: Backend::start(Behaviour::echo("deny").status(403)),
        }
    }
}

/// A proxy with the products `public` (`public.example`, the default), `internal`
/// (`internal.example`) and `small` (`small.example`), a plain, a TLS and an admin
/// listener, the block plugin refusing `/secret` and `/admin/` for `internal` only,
/// and a probe recording every callback.
///
/// Internal: fields drop in order: the proxy stops before its directory and backends
/// go.
struct Edge {
    proxy: Proxy,
    probe: Probe,
    backends: Backends,
    ca: TestCa,
    _dir: tempfile::TempDir,
}

impl Edge {
    /// `server`: lines added to `[server]`; `small`: lines added to `[products.small]`.
    fn start(server: &str, small: &str) -> Edge {
        let backends = Backends::start();
        let ca = TestCa::new();
        let cert = ca.issue("edge", &["public.example", "internal.example"]);
        let dir = tempfile::tempdir().expect("temp dir");
        let block = dir.path().join("block.toml");
        fs::write(
            &block,
            "[products.internal]\nrules = [{ path_prefix = \"/secret\" }, { path_prefix = \"/admin/\" }]\n",
        )
        .expect("write block config");
        let probe = Probe::new(dir.path(), "P", "");
        let config = dir.path().join("hookgate.toml");
        let proxy = start_proxy(|| {
            let text = format!(
                r#"default_product = "public"
[server]
listen = ["{plain}"]
admin = "{admin}"
{server}
[[server.tls]]
listen = "{tls}"
certs = [{cert}]

[[plugins]]
path = {block_lib:?}
config = {block:?}

[products.public]
hosts = ["public.example"]
routes = [{{ path_prefix = "/admin/", cluster = "deny" }}, {{ cluster = "app" }}]

[products.internal]
hosts = ["internal.example"]
routes = [{{ cluster = "internal" }}]

[products.small]
hosts = ["small.example"]
routes = [{{ cluster = "app" }}]
{small}

{app}{internal}{deny}"#,
                plain = free_addr(),
                admin = free_addr(),
                tls = free_addr(),
                cert = cert.toml(),
                block_lib = arg(&library("hookgate_plugin_block")),
                block = arg(&block),
                app = cluster("app", backends.app.addr()),
                internal = cluster("internal", backends.internal.addr()),
                deny = cluster("deny", backends.deny.addr()),
            );
            fs::write(&config, text).expect("write proxy config");
            vec![
                "--config".to_owned(),
                arg(&config).to_owned(),
                "--plugin".to_owned(),
                probe.plugin_arg(),
            ]
        });
        Edge {
            proxy,
            probe,
            backends,
            ca,
            _dir: dir,
        }
    }

    fn plain(&self) -> SocketAddr {
        self.proxy.addr()
    }

    fn tls(&self) -> SocketAddr {
        self.proxy.tls_addr()
    }

    /// Requests the backends that must be protected received: `app` and `internal`
    /// (`deny` answers 403 itself).
    fn protected_requests(&self) -> usize {
        self.backends.app.requests() + self.backends.internal.requests()
    }

    /// Every backend's requests.
    fn all_requests(&self) -> usize {
        self.protected_requests() + self.backends.deny.requests()
    }

    /// The RequestFinish events so far.
    fn finishes(&self) -> Vec<Event> {
        read_events(self.probe.log_path())
            .into_iter()
            .filter(|e| e.is("P", "request_finish"))
            .collect()
    }

    /// The first RequestFinish event after the first `before` ones, waiting for it.
    fn finish_after(&self, before: usize) -> Event {
        let events = wait_for_events(self.probe.log_path(), EVENT_TIMEOUT, |events| {
            events
                .iter()
                .filter(|e| e.is("P", "request_finish"))
                .count()
                > before
        });
        events
            .into_iter()
            .filter(|e| e.is("P", "request_finish"))
            .nth(before)
            .expect("waited for it")
    }

    /// The RequestFinish event of the request for `path`, waiting for it.
    fn finish_of(&self, path: &str) -> Event {
        let matches = |e: &Event| e.is("P", "request_finish") && e.path() == path;
        let events = wait_for_events(self.probe.log_path(), EVENT_TIMEOUT, |events| {
            events.iter().any(matches)
        });
        events.into_iter().find(matches).expect("waited for it")
    }

    /// A counter or gauge of the admin listener's `/metrics`: the sum of every series
    /// of `name` whose labels contain `labels`; panics if there is none (a renamed
    /// metric must not pass as a zero).
    fn metric(&self, name: &str, labels: &str) -> f64 {
        let admin = self
            .proxy
            .admin_addr()
            .expect("the config has an admin listener");
        let text = http1_get(admin, "localhost", "/metrics", &[]).text();
        let values: Vec<f64> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
            .filter(|l| l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .collect();
        assert!(
            !values.is_empty(),
            "no {name}{{{labels}}} in /metrics:\n{text}"
        );
        values.iter().sum()
    }
}

fn cluster(name: &str, addr: SocketAddr) -> String {
    format!(
        "[clusters.{name}.subclusters.main]\nweight = 1\nbackends = [{{ addr = \"{addr}\" }}]\n"
    )
}

/// Writes exact bytes on a fresh connection and reads one response; panics with what
/// came if none does.
fn raw(addr: SocketAddr, bytes: &[u8]) -> RawResponse {
    try_raw(addr, bytes).unwrap_or_else(|e| {
        panic!(
            "no response to {:?}: {e}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        )
    })
}

/// [`raw`], returning the failure.
fn try_raw(addr: SocketAddr, bytes: &[u8]) -> Result<RawResponse, String> {
    let mut conn = RawConn::connect(addr);
    conn.write(bytes)?;
    conn.read_response(false)
}

/// A GET of `target` with these header lines (each without CRLF), HTTP/1.1.
fn get_bytes(target: &str, headers: &[&str]) -> Vec<u8> {
    let mut text = format!("GET {target} HTTP/1.1\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.into_bytes()
}

/// The status of the first response in raw bytes (`HTTP/1.1 NNN ...`).
fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next()?;
    if !line.starts_with("HTTP/1.") {
        return None;
    }
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The request heads a backend received, as the paths and queries it saw.
fn uris(backend: &Backend) -> Vec<String> {
    backend.seen().into_iter().map(|s| s.uri).collect()
}

fn host_values(backend: &Backend) -> Vec<Vec<String>> {
    backend
        .seen()
        .into_iter()
        .map(|s| {
            s.headers
                .into_iter()
                .filter(|(n, _)| n == "host")
                .map(|(_, v)| v)
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// 1. Host and authority
// ---------------------------------------------------------------------------------

/// RFC 9112 §3.2.2: with an absolute-form target the server MUST ignore `Host` and
/// use the target's authority; a proxy that routed by `Host` while its backend (which
/// sees the absolute form, or a rebuilt `Host`) used the target would check one
/// product's rules and serve another's. The backend gets origin-form and one `Host`.
#[test]
fn absolute_form_target_decides_the_product_and_the_backend_host() {
    let edge = Edge::start("", "");
    let response = raw(
        edge.plain(),
        &get_bytes("http://public.example/secret", &["Host: internal.example"]),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-backend"), Some("app"), "product public");
    assert_eq!(edge.backends.internal.requests(), 0);
    assert_eq!(
        uris(&edge.backends.app),
        ["/secret"],
        "origin-form to the backend"
    );
    assert_eq!(host_values(&edge.backends.app), [vec!["public.example"]]);
    let finish = edge.finish_of("/secret");
    assert_eq!(finish.field("host"), Some("public.example"), "{finish}");
    assert_eq!(finish.field("product"), Some("public"), "{finish}");

    // With a port, the backend's Host keeps it.
    let response = raw(
        edge.plain(),
        &get_bytes("http://public.example:8080/x", &["Host: internal.example"]),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-backend"), Some("app"));
    let seen = edge.backends.app.seen();
    let last = seen.last().expect("the backend got it");
    assert_eq!(last.uri, "/x");
    assert_eq!(
        host_values(&edge.backends.app).last().expect("one request"),
        &vec!["public.example:8080".to_owned()]
    );
    assert_eq!(edge.backends.internal.requests(), 0);
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any
/// HTTP/1.1 request message that lacks a Host header field and to any request message
/// that contains more than one Host header field line or a Host header field with an
/// invalid field value." RFC 3986 §3.2.2 says what a valid host is (no space, tab,
/// `/`, `@` userinfo; a port is digits).
#[test]
fn http1_host_missing_repeated_or_invalid_is_400_bad_request() {
    let edge = Edge::start("", "");
    let missing = raw(edge.plain(), b"GET /no-host HTTP/1.1\r\n\r\n");
    assert_eq!(missing.status, 400, "{}", missing.text());
    let finish = edge.finish_after(0);
    assert_eq!(finish.error(), Some("bad_request"), "{finish}");
    assert_eq!(finish.status(), Some(400), "{finish}");

    let cases: [&[&str]; 8] = [
        &["Host: public.example", "Host: public.example"],
        &["Host: public.example", "Host: internal.example"],
        &["Host: "],
        &["Host: a b"],
        &["Host: public\t.example"],
        &["Host: public.example/x"],
        &["Host: user@public.example"],
        &["Host: public.example:xx"],
    ];
    for (i, headers) in cases.iter().enumerate() {
        let response = raw(edge.plain(), &get_bytes(&format!("/bad-host-{i}"), headers));
        assert_eq!(response.status, 400, "{headers:?}: {}", response.text());
        assert_eq!(response.header("x-backend"), None, "{headers:?}");
    }
    assert_eq!(edge.all_requests(), 0, "no backend is contacted");
}

/// RFC 9112 §3.2: HTTP/1.0 requests may lack `Host`. They go to the default product,
/// and the backend (HTTP/1.1, which needs a Host) gets its own address as `Host`.
#[test]
fn http10_without_host_goes_to_the_default_product_with_the_backend_address_as_host() {
    let edge = Edge::start("", "");
    let reply = raw(edge.plain(), b"GET /old HTTP/1.0\r\n\r\n");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-backend"), Some("app"), "default product");
    let app = edge.backends.app.addr().to_string();
    assert_eq!(host_values(&edge.backends.app), [vec![app]]);
}

/// RFC 9113 §8.3.1: a request whose `host` identifies another entity than
/// `:authority` is malformed, and malformed requests are a stream error of type
/// PROTOCOL_ERROR (§8.1.1); other streams go on. Without either there is no host to
/// route by (RFC 9110 §7.2: 400). `host` alone stands for `:authority` (§8.3.1).
#[test]
fn h2_authority_and_host_must_agree_and_one_of_them_is_needed() {
    let edge = Edge::start("", "");
    let conn = H2Exact::h2c(edge.plain()).expect("h2c");
    let differ =
        H2Request::new("GET", "http://public.example/differ").header("host", "internal.example");
    assert_eq!(
        conn.send(&differ).map(|r| r.status),
        Err(H2Failure::Reset("PROTOCOL_ERROR".into())),
        "the stream is reset"
    );
    assert_eq!(edge.all_requests(), 0, "no backend is contacted");
    // The connection and its other streams go on.
    let ok = conn
        .send(&H2Request::new("GET", "http://public.example/after"))
        .expect("a later stream on the same connection");
    assert_eq!(ok.status, 200);
    assert!(!conn.is_closed());

    let neither = conn
        .send(&H2Request::new("GET", "/neither"))
        .expect("a response");
    assert_eq!(neither.status, 400, "{}", neither.text());
    assert_eq!(neither.header("x-backend"), None);

    let host_only = conn
        .send(&H2Request::new("GET", "/host-only").header("host", "internal.example"))
        .expect("a response");
    assert_eq!(host_only.status, 200, "{}", host_only.text());
    assert_eq!(host_only.header("x-backend"), Some("internal"));
    assert_eq!(uris(&edge.backends.internal), ["/host-only"]);
    assert_eq!(uris(&edge.backends.app), ["/after"]);
}

/// RFC 3986 §3.2.2 and §6.2.2.1: host names compare without case; a fully qualified
/// name's trailing dot names the same host (RFC 1034 §3.1). Either way the product,
/// and so its rules, must not change.
#[test]
fn host_case_and_trailing_dot_do_not_change_the_product() {
    let edge = Edge::start("", "");
    for host in [
        "Internal.Example.",
        "INTERNAL.EXAMPLE",
        "internal.example.",
        "internal.example.:8080",
    ] {
        let response = raw(edge.plain(), &get_bytes("/ok", &[&format!("Host: {host}")]));
        assert_eq!(response.status, 200, "{host}: {}", response.text());
        assert_eq!(response.header("x-backend"), Some("internal"), "{host}");
    }
    assert_eq!(edge.backends.app.requests(), 0);
}

/// RFC 3986 §6.2.2 (case, percent-encoding and dot-segment normalisation) and §5.2.4:
/// the path that rules and plugins judge must be the path the backend serves, or a
/// rule on `/admin/` is passed by `/%61dmin/`. Encoded slashes are decoded by default
/// (`server.encoded_slashes = "decode"`); the query is left alone.
#[test]
fn paths_are_normalised_for_rules_plugins_and_the_backend() {
    let edge = Edge::start("", "");
    let cases = [
        ("/a/./b/../c", "/a/c"),
        ("/%61dmin/x", "/admin/x"),
        ("/a/%2e%2e/admin/x", "/admin/x"),
        ("/admin%2Fx", "/admin/x"),
        ("/admin%2fx", "/admin/x"),
        ("//admin//x", "/admin/x"),
        ("/x/../admin/x?q=%2e%2e", "/admin/x?q=%2e%2e"),
        ("/a//b///c", "/a/b/c"),
        ("/%7Euser/%41%2D%5f%2E", "/~user/A-_."),
        ("/a%3fb", "/a%3Fb"),
        ("/a%20b?x=%2f&y=%2e%2e", "/a%20b?x=%2f&y=%2e%2e"),
    ];
    for (sent, normal) in cases {
        // `small.example` has neither block rules nor an `/admin/` route, so the
        // backend shows the path.
        let before = edge.finishes().len();
        let response = raw(
            edge.plain(),
            &get_bytes(sent, &["Host: small.example", "Connection: close"]),
        );
        assert_eq!(response.status, 200, "{sent}: {}", response.text());
        assert_eq!(response.header("x-backend"), Some("app"), "{sent}");
        let seen = edge.backends.app.seen();
        let last = seen.last().expect("the backend got it");
        assert_eq!(last.uri, normal, "{sent}: the backend's request target");
        // The plugins saw the same path (the probe records it without the query).
        let path = normal.split('?').next().unwrap_or_default();
        let finish = edge.finish_after(before);
        assert_eq!(finish.path(), path, "{sent}: {finish}");
        assert_eq!(finish.status(), Some(200), "{sent}: {finish}");
    }
}

/// RFC 3986 §2.1: `%` must be followed by two hex digits; §5.2.4 removes dot-segments
/// and a path that climbs above the root has nothing to name on the origin: both are
/// 400, before any backend.
#[test]
fn invalid_escapes_and_paths_above_the_root_are_400_bad_request() {
    let edge = Edge::start("", "");
    // Above the root: 400 `bad_request` (each request's RequestFinish is awaited, so
    // the count tells them apart).
    for sent in ["/../x", "/%2e%2e/x", "/a/../../x", "/a/%2E%2E/%2e%2e/x"] {
        let before = edge.finishes().len();
        let response = raw(edge.plain(), &get_bytes(sent, &["Host: public.example"]));
        assert_eq!(response.status, 400, "{sent}: {}", response.text());
        assert_eq!(response.header("x-backend"), None, "{sent}");
        let finish = edge.finish_after(before);
        assert_eq!(finish.error(), Some("bad_request"), "{sent}: {finish}");
    }
    // Broken escapes: 400.
    for sent in ["/%zz", "/a%2", "/a%g1/b"] {
        let response = raw(edge.plain(), &get_bytes(sent, &["Host: public.example"]));
        assert_eq!(response.status, 400, "{sent}: {}", response.text());
        assert_eq!(response.header("x-backend"), None, "{sent}");
    }
    assert_eq!(edge.all_requests(), 0, "no backend is contacted");
}

/// `server.encoded_slashes = "reject"`: for origins that treat `%2F` as data, the
/// proxy refuses it rather than guess (400 `bad_request`).
#[test]
fn encoded_slashes_reject_is_400_bad_request() {
    let edge = Edge::start("encoded_slashes = \"reject\"", "");
    for sent in ["/admin%2Fx", "/a%2fb"] {
        let before = edge.finishes().len();
        let response = raw(edge.plain(), &get_bytes(sent, &["Host: public.example"]));
        assert_eq!(response.status, 400, "{sent}: {}", response.text());
        let finish = edge.finish_after(before);
        assert_eq!(finish.error(), Some("bad_request"), "{sent}: {finish}");
    }
    assert_eq!(edge.all_requests(), 0);
    let ok = raw(
        edge.plain(),
        &get_bytes("/a%41b", &["Host: public.example"]),
    );
    assert_eq!(ok.status, 200, "other escapes still pass");
    assert_eq!(uris(&edge.backends.app), ["/aAb"]);
}

/// Every shape that has let requests past a front proxy's rules (CVE-2021-41773-style
/// dot segments, encoded slashes, absolute-form vs Host, host case and trailing
/// dots): over each protocol, the block rule of `internal` and the `/admin/` route of
/// `public` must still decide, and the protected backends never see the request.
#[test]
fn bypass_shapes_are_refused_over_every_protocol() {
    let edge = Edge::start("", "");
    // (target, Host): HTTP/1.1 forms. Absolute-form with another Host is the first.
    let shapes: &[(&str, &str)] = &[
        ("http://internal.example/secret", "public.example"),
        ("http://internal.example/admin/x", "public.example"),
        ("/secret", "Internal.Example."),
        ("/secret", "INTERNAL.EXAMPLE"),
        ("/secret", "internal.example.:443"),
        ("/%73ecret", "internal.example"),
        ("//secret", "internal.example"),
        ("/x/../secret", "internal.example"),
        ("/x/%2e%2e/secret", "internal.example"),
        ("/admin%2Fx", "internal.example"),
        ("/%61dmin/x", "internal.example"),
        ("//admin//x", "internal.example"),
        ("/x/../admin/", "internal.example"),
        ("/admin%2Fx", "public.example"),
        ("/admin%2fx", "public.example"),
        ("/%61dmin/x", "public.example"),
        ("/a/%2e%2e/admin/x", "public.example"),
        ("//admin//x", "public.example"),
        ("/x/../admin/", "public.example"),
        ("/x/../admin/x?q=1", "PUBLIC.example."),
    ];
    let refused = |status: u16| status == 403 || status == 400;
    let mut failures = Vec::new();

    for (target, host) in shapes {
        let bytes = get_bytes(target, &[&format!("Host: {host}"), "Connection: close"]);
        let before = edge.protected_requests();
        let status = try_raw(edge.plain(), &bytes).map(|r| r.status);
        if !matches!(status, Ok(s) if refused(s)) || edge.protected_requests() != before {
            failures.push(format!("HTTP/1.1 {target} Host {host}: {status:?}"));
        }
        let before = edge.protected_requests();
        let status = tls_exchange(
            edge.tls(),
            &edge.ca,
            "public.example",
            &bytes,
            EXCHANGE_WAIT,
        )
        .map(|x| status_of(&x.bytes));
        if !matches!(status, Ok(Some(s)) if refused(s)) || edge.protected_requests() != before {
            failures.push(format!("HTTPS {target} Host {host}: {status:?}"));
        }
    }

    // HTTP/2: the absolute-form shape is `:authority` vs `host`; a reset is a refusal.
    let h2_shapes: Vec<H2Request> = shapes
        .iter()
        .map(|(target, host)| match target.strip_prefix("http://") {
            Some(rest) => {
                let path = &rest[rest.find('/').unwrap_or(rest.len())..];
                let authority = &rest[..rest.len() - path.len()];
                H2Request::new("GET", &format!("http://{authority}{path}")).header("host", host)
            }
            None => H2Request::new("GET", &format!("http://{host}{target}")),
        })
        .collect();
    let h2c = H2Exact::h2c(edge.plain()).expect("h2c");
    let h2tls = H2Exact::tls(edge.tls(), &edge.ca, "public.example").expect("h2 over TLS");
    for (name, conn) in [("h2c", &h2c), ("h2", &h2tls)] {
        for req in &h2_shapes {
            let before = edge.protected_requests();
            let result = conn.send(req);
            let ok = match &result {
                Ok(r) => refused(r.status),
                Err(H2Failure::Reset(reason)) => reason == "PROTOCOL_ERROR",
                Err(H2Failure::Other(_)) => false,
            };
            if !ok || edge.protected_requests() != before {
                let outcome = result.map(|r| r.status);
                failures.push(format!("{name} {} {:?}: {outcome:?}", req.uri, req.headers));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "bypasses ({} of {}):\n{}\napp saw {:?}\ninternal saw {:?}",
        failures.len(),
        shapes.len() * 4,
        failures.join("\n"),
        uris(&edge.backends.app),
        uris(&edge.backends.internal),
    );

    // The rules are not simply refusing everything: plain requests pass.
    let ok = raw(edge.plain(), &get_bytes("/ok", &["Host: internal.example"]));
    assert_eq!(ok.header("x-backend"), Some("internal"));
    let ok = raw(edge.plain(), &get_bytes("/ok", &["Host: public.example"]));
    assert_eq!(ok.header("x-backend"), Some("app"));
    assert_eq!(edge.protected_requests(), 2);
}

// ---------------------------------------------------------------------------------
// 2. ALPN
// ---------------------------------------------------------------------------------

/// The HTTP/2 connection preface and an empty SETTINGS frame (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Whether `bytes` start with an HTTP/2 SETTINGS frame (type 4 on stream 0).
fn starts_with_settings(bytes: &[u8]) -> bool {
    bytes.len() >= 9 && bytes[3] == 0x04 && bytes[5..9] == [0, 0, 0, 0]
}

/// RFC 7301 §3.2 and RFC 9113 §3.2: once ALPN selected `h2`, the connection is
/// HTTP/2; HTTP/1.1 bytes are a connection error (a GOAWAY), not a request to serve.
#[test]
fn tls_with_alpn_h2_does_not_serve_http1() {
    let edge = Edge::start("", "");
    let request = get_bytes("/alpn-h2", &["Host: public.example"]);
    let seen = tls_exchange_alpn(
        edge.tls(),
        &edge.ca,
        "public.example",
        &["h2"],
        &request,
        EXCHANGE_WAIT,
    )
    .expect("TLS handshake");
    assert_eq!(seen.alpn.as_deref(), Some("h2"));
    assert!(
        !seen.bytes.starts_with(b"HTTP/1.1"),
        "an HTTP/1.1 answer after ALPN h2: {:?}",
        seen.text()
    );
    assert_eq!(edge.all_requests(), 0);
}

/// RFC 7301 §3.2: ALPN `http/1.1` (or none, on a TLS listener: RFC 9113 §3.3 needs
/// `h2` for HTTP/2 over TLS) means HTTP/1.1; the HTTP/2 preface is then a bad request,
/// never the start of an HTTP/2 connection.
#[test]
fn tls_with_alpn_http1_or_none_does_not_serve_http2() {
    let edge = Edge::start("", "");
    for alpn in [&["http/1.1"][..], &[][..]] {
        let seen = tls_exchange_alpn(
            edge.tls(),
            &edge.ca,
            "public.example",
            alpn,
            H2_PREFACE,
            EXCHANGE_WAIT,
        )
        .expect("TLS handshake");
        let expected = alpn.first().map(|p| p.to_string());
        assert_eq!(seen.alpn, expected);
        assert!(
            !starts_with_settings(&seen.bytes),
            "ALPN {alpn:?}: the server spoke HTTP/2: {:?}",
            seen.bytes
        );
        // A close, or an HTTP/1.1 error status (400, 505…): the preface is not a
        // request to serve.
        assert!(
            seen.bytes.is_empty() || status_of(&seen.bytes).is_some_and(|s| s >= 400),
            "ALPN {alpn:?}: {:?}",
            seen.text()
        );
    }
    assert_eq!(edge.all_requests(), 0);
}

/// Plain listeners keep serving both HTTP/1.1 and HTTP/2 with prior knowledge (RFC
/// 9113 §3.3) on one port.
#[test]
fn plain_listener_serves_http1_and_h2c_prior_knowledge() {
    let edge = Edge::start("", "");
    let one = http1_get(edge.plain(), "public.example", "/one", &[]);
    assert_eq!((one.status, one.version.as_str()), (200, "HTTP/1.1"));
    let two = h2c_get(edge.plain(), "public.example", "/two", &[]);
    assert_eq!((two.status, two.version.as_str()), (200, "HTTP/2.0"));
    assert_eq!(uris(&edge.backends.app), ["/one", "/two"]);
}

/// RFC 9113 §3.1 removed the `Upgrade: h2c` mechanism of RFC 7540; a server ignores
/// it (RFC 9110 §7.8: Upgrade is optional) and answers in HTTP/1.1. `Upgrade` and
/// `HTTP2-Settings` are hop-by-hop (listed in `Connection`): never forwarded.
#[test]
fn upgrade_h2c_is_ignored_and_not_forwarded() {
    let edge = Edge::start("", "");
    let response = raw(
        edge.plain(),
        &get_bytes(
            "/upgrade",
            &[
                "Host: public.example",
                "Connection: Upgrade, HTTP2-Settings",
                "Upgrade: h2c",
                "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
            ],
        ),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-backend"), Some("app"));
    let seen = edge.backends.app.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("upgrade"), None, "{:?}", seen[0].headers);
    assert_eq!(
        seen[0].header("http2-settings"),
        None,
        "{:?}",
        seen[0].headers
    );
}

// ---------------------------------------------------------------------------------
// 3. Methods and client errors
// ---------------------------------------------------------------------------------

/// RFC 9110 §9.3.6: CONNECT asks for a tunnel, which a reverse proxy does not offer;
/// §15.5.6: 405 must carry `Allow`. Over HTTP/2 (RFC 9113 §8.5) alike.
#[test]
fn connect_is_405_with_allow() {
    let edge = Edge::start("", "");
    let response = raw(
        edge.plain(),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    );
    assert_eq!(response.status, 405, "{}", response.text());
    assert!(response.header("allow").is_some(), "{:?}", response.headers);
    let finish = edge.finish_after(0);
    assert_eq!(finish.error(), Some("method_not_allowed"), "{finish}");
    assert_eq!(finish.status(), Some(405), "{finish}");

    let conn = H2Exact::h2c(edge.plain()).expect("h2c");
    let response = conn
        .send(&H2Request::new("CONNECT", "example.com:443"))
        .expect("a response");
    assert_eq!(response.status, 405, "{}", response.text());
    assert!(response.header("allow").is_some(), "{:?}", response.headers);
    assert_eq!(edge.all_requests(), 0);
}

/// RFC 8441 §3: extended CONNECT (WebSocket over HTTP/2) exists only if the server
/// sends SETTINGS_ENABLE_CONNECT_PROTOCOL = 1; the proxy does not tunnel it.
#[test]
fn h2_extended_connect_is_not_advertised() {
    let edge = Edge::start("", "");
    let conn = H2Exact::h2c(edge.plain()).expect("h2c");
    // A response means the server's SETTINGS came before it.
    let ok = conn
        .send(&H2Request::new("GET", "http://public.example/settings"))
        .expect("a response");
    assert_eq!(ok.status, 200);
    assert!(!conn.extended_connect_enabled());
}

/// Sends `head` and `body` on a fresh connection, half-closes, and reads until the
/// server closes (at most [`EXCHANGE_WAIT`]).
fn send_and_half_close(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let _ = stream.set_nodelay(true);
    // The server may answer and close before reading it all; its answer counts.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + EXCHANGE_WAIT;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    reply
}

fn post_head(path: &str, framing: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: public.example\r\n{framing}\r\n")
}

/// RFC 9112 §7.1 (chunk size is hex, a recipient must guard against overflow and
/// may limit extensions), §6.3 (a Transfer-Encoding whose last coding is not chunked
/// cannot be framed: 400) and §8 (a body shorter than Content-Length is incomplete):
/// the client's error, answered 400 by the proxy (`bad_body`). Never a 502: the
/// backend did nothing wrong and must not be counted as failing.
#[test]
fn broken_request_bodies_are_400_bad_body_not_upstream_failures() {
    let edge = Edge::start("", "");
    let extension = format!("5{}\r\nhello\r\n0\r\n\r\n", ";a=b".repeat(4200));
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        (
            "/bad-size",
            format!(
                "{}zz\r\nhello\r\n0\r\n\r\n",
                post_head("/bad-size", "Transfer-Encoding: chunked\r\n")
            )
            .into_bytes(),
            &["bad_body"],
        ),
        (
            "/overflow",
            format!(
                "{}ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
                post_head("/overflow", "Transfer-Encoding: chunked\r\n")
            )
            .into_bytes(),
            &["bad_body"],
        ),
        (
            "/extension",
            format!(
                "{}{extension}",
                post_head("/extension", "Transfer-Encoding: chunked\r\n")
            )
            .into_bytes(),
            &["bad_body"],
        ),
        // Refused by the HTTP/1 parser itself (400) before a request exists: no
        // callback point runs for it.
        (
            "/gzip",
            format!("{}hello", post_head("/gzip", "Transfer-Encoding: gzip\r\n")).into_bytes(),
            &[],
        ),
    ];
    for (path, bytes, codes) in &cases {
        let reply = send_and_half_close(edge.plain(), bytes);
        let text = String::from_utf8_lossy(&reply).to_ascii_lowercase();
        assert_eq!(status_of(&reply), Some(400), "{path}: {text:?}");
        assert!(
            !text.contains("x-backend:"),
            "{path}: the backend answered: {text:?}"
        );
        if codes.is_empty() {
            continue;
        }
        let finish = edge.finish_of(path);
        assert!(
            finish.error().is_some_and(|e| codes.contains(&e)),
            "{path}: {finish}"
        );
    }
    // Content-Length: 100, 10 bytes, then the client stops sending.
    let mut short = post_head("/short", "Content-Length: 100\r\n").into_bytes();
    short.extend_from_slice(b"0123456789");
    let reply = send_and_half_close(edge.plain(), &short);
    assert_eq!(
        status_of(&reply),
        Some(400),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    let finish = edge.finish_of("/short");
    assert_eq!(finish.error(), Some("bad_body"), "{finish}");

    // The backend is fine: the next request is served, and nothing counts it failing.
    let ok = http1_send(
        edge.plain(),
        &Req::new("POST", "public.example", "/after").body("x"),
    )
    .expect("a response");
    assert_eq!(ok.status, 200, "{}", ok.text());
    for code in [
        "upstream_failed",
        "connect_failed",
        "bad_response",
        "timeout",
    ] {
        let count = edge.metric("hookgate_proxy_errors_total", &format!("code=\"{code}\""));
        assert_eq!(count, 0.0, "{code}");
    }
    let app = format!("backend=\"{}\"", edge.backends.app.addr());
    assert_eq!(edge.metric("hookgate_backend_up", &app), 1.0);
    assert_eq!(
        edge.metric("hookgate_responses_total", "class=\"5xx\""),
        0.0,
        "no 5xx was sent"
    );
}

/// A client that leaves before its response is not a backend failure, and the record
/// of the request must say who ended it: `client_closed`, no status (the access log's
/// 499 of nginx).
#[test]
fn client_gone_before_the_response_is_client_closed_without_status() {
    let edge = Edge::start("", "");
    {
        let mut stream = TcpStream::connect(edge.plain()).expect("connect");
        stream
            .write_all(&get_bytes(
                "/gone",
                &["Host: public.example", "x-backend-delay-ms: 500"],
            ))
            .expect("write");
        let _ = stream.flush();
    }
    let finish = edge.finish_of("/gone");
    assert_eq!(finish.error(), Some("client_closed"), "{finish}");
    assert_eq!(finish.field("status"), Some("none"), "{finish}");
}

/// RFC 9112 §9.6 and §6.3: a connection on which a message was cut short cannot
/// frame the next one; the backend connection that carried the cut body must not be
/// reused (the next request would be read as the rest of the body).
#[test]
fn backend_connection_with_a_cut_request_body_is_not_reused() {
    let edge = Edge::start("", "");
    let app = &edge.backends.app;
    let ok = http1_get(edge.plain(), "public.example", "/warm", &[]);
    assert_eq!(ok.status, 200);
    let connections = app.connections();
    let requests = app.requests();

    let mut short = post_head("/cut", "Content-Length: 100\r\n").into_bytes();
    short.extend_from_slice(b"0123456789");
    let reply = send_and_half_close(edge.plain(), &short);
    assert_ne!(
        status_of(&reply),
        Some(200),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
    let forwarded = app.requests() > requests;

    let next = http1_get(edge.plain(), "public.example", "/next", &[]);
    assert_eq!(next.status, 200, "{}", next.text());
    assert_eq!(next.echo().uri, "/next");
    if forwarded {
        assert!(
            app.connections() > connections,
            "the cut request reached the backend on connection {connections}, and /next \
             came on the same one"
        );
    }
    assert!(app.bodies().iter().all(|&len| len != 10 && len != 100));
}

// ---------------------------------------------------------------------------------
// 4. Limits
// ---------------------------------------------------------------------------------

fn post_bytes(host: &str, path: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut text = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\n");
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// HTTP/1.1 chunked encoding of `body` in `chunk`-byte chunks.
fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for part in body.chunks(chunk) {
        bytes.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        bytes.extend_from_slice(part);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    bytes
}

/// RFC 9110 §15.5.14: 413 for content larger than the server will process, decided
/// from Content-Length before any backend is asked; §10.1.1: a server that will
/// refuse the body answers the final status instead of `100 Continue`. Bodies without
/// a length (chunked, HTTP/2 DATA) are counted as they come.
#[test]
fn server_max_body_bytes_is_413_body_too_large() {
    let edge = Edge::start("max_body_bytes = 1000", "");
    let app = &edge.backends.app;

    let response = raw(
        edge.plain(),
        &post_bytes(
            "public.example",
            "/big",
            &["Content-Length: 1001"],
            &[b'x'; 1001],
        ),
    );
    assert_eq!(response.status, 413, "{}", response.text());
    let finish = edge.finish_of("/big");
    assert_eq!(finish.error(), Some("body_too_large"), "{finish}");
    assert_eq!(app.requests(), 0, "no backend is contacted");

    // Expect: 100-continue: the 413 comes instead of 100 Continue.
    let mut conn = RawConn::connect(edge.plain());
    conn.write(&post_bytes(
        "public.example",
        "/expect",
        &["Content-Length: 1001", "Expect: 100-continue"],
        b"",
    ))
    .expect("write");
    let response = conn.read_response(false).expect("a response");
    assert_eq!(response.status, 413, "100 Continue must not come first");
    assert_eq!(app.requests(), 0);

    let fits = http1_send(
        edge.plain(),
        &Req::new("POST", "public.example", "/fits").body(vec![b'y'; 1000]),
    )
    .expect("a response");
    assert_eq!(fits.status, 200, "{}", fits.text());
    assert_eq!(fits.echo().body_length, 1000);

    let response = raw(
        edge.plain(),
        &post_bytes(
            "public.example",
            "/chunked",
            &["Transfer-Encoding: chunked"],
            &chunked(&[b'z'; 5000], 500),
        ),
    );
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(
        !app.bodies().contains(&5000),
        "the whole body reached the backend: {:?}",
        app.bodies()
    );
    let finish = edge.finish_of("/chunked");
    assert_eq!(finish.error(), Some("body_too_large"), "{finish}");

    let conn = H2Exact::h2c(edge.plain()).expect("h2c");
    let response = conn
        .send(&H2Request::new("POST", "http://public.example/h2").body(vec![b'w'; 5000]))
        .expect("a response");
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(!app.bodies().contains(&5000), "{:?}", app.bodies());
}

/// Without `max_body_bytes` there is no limit (the default keeps today's behaviour
/// for uploads).
#[test]
fn no_max_body_bytes_means_no_limit() {
    let edge = Edge::start("", "");
    let body = vec![b'm'; 1024 * 1024];
    let response = http1_send(
        edge.plain(),
        &Req::new("POST", "public.example", "/mib").body(body),
    )
    .expect("a response");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.echo().body_length, 1024 * 1024);
}

/// A product's `max_body_bytes` replaces the server's for that product only.
#[test]
fn product_max_body_bytes_overrides_the_server_for_that_product_only() {
    let edge = Edge::start("max_body_bytes = 1000", "max_body_bytes = 10");
    let post = |host: &str, path: &str, len: usize| {
        http1_send(
            edge.plain(),
            &Req::new("POST", host, path).body(vec![b'b'; len]),
        )
        .expect("a response")
        .status
    };
    assert_eq!(post("small.example", "/s10", 10), 200);
    assert_eq!(post("small.example", "/s11", 11), 413);
    assert_eq!(edge.finish_of("/s11").error(), Some("body_too_large"));
    assert_eq!(post("public.example", "/p11", 11), 200);
    assert_eq!(post("public.example", "/p1000", 1000), 200);
    assert_eq!(post("public.example", "/p1001", 1001), 413);
}

/// RFC 9113 §6.5.2: SETTINGS_MAX_CONCURRENT_STREAMS bounds what one client connection
/// can make the proxy do at once; 128 by default (RFC 9113 recommends at least 100).
#[test]
fn h2_max_concurrent_streams_defaults_to_128() {
    let edge = Edge::start("", "");
    let conn = H2Exact::h2c(edge.plain()).expect("h2c");
    let ok = conn
        .send(&H2Request::new("GET", "http://public.example/streams"))
        .expect("a response");
    assert_eq!(ok.status, 200);
    assert_eq!(conn.peer_max_concurrent_streams(), 128);
}

/// `server.h2_max_concurrent_streams = 4`: advertised, and so no more than 4 requests
/// of one connection reach the backends at once.
#[test]
fn h2_max_concurrent_streams_bounds_requests_in_flight() {
    let edge = Edge::start("h2_max_concurrent_streams = 4", "");
    let conn = H2Exact::h2c(edge.plain()).expect("h2c");
    let first = conn
        .send(&H2Request::new("GET", "http://public.example/first"))
        .expect("a response");
    assert_eq!(first.status, 200);
    assert_eq!(conn.peer_max_concurrent_streams(), 4);
    let reqs: Vec<H2Request> = (0..12)
        .map(|i| {
            H2Request::new("GET", &format!("http://public.example/slow/{i}"))
                .header("x-backend-delay-ms", "300")
        })
        .collect();
    for (i, result) in conn.send_all(&reqs).into_iter().enumerate() {
        let response = result.unwrap_or_else(|e| panic!("stream {i}: {e:?}"));
        assert_eq!(response.status, 200, "stream {i}");
    }
    let max = edge.backends.app.max_in_flight();
    assert!(
        max <= 4,
        "{max} requests of one connection in flight at once"
    );
}

/// Writes a config with these `[server]` lines and runs `hookgate check` on it.
fn check(server: &str) -> hookgate_tests::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path: PathBuf = dir.path().join("hookgate.toml");
    let text = format!(
        "default_product = \"web\"\n[server]\n{server}\n[products.web]\n\
         routes = [{{ cluster = \"web\" }}]\n{}",
        cluster("web", free_addr())
    );
    fs::write(&path, text).expect("write config");
    hookgate(&["check", "--config", arg(&path)])
}

/// A worker count is a thread count: absurd values (which would abort the process
/// when the runtime tries to spawn them) are config errors naming the key.
#[test]
fn workers_above_1024_fail_check_naming_the_key() {
    for workers in ["9223372036854775807", "1025"] {
        let out = check(&format!("workers = {workers}"));
        assert_eq!(
            out.status.code(),
            Some(1),
            "workers = {workers}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("server.workers"),
            "workers = {workers}: {}",
            out.stderr
        );
    }
    for workers in ["1024", "0"] {
        let out = check(&format!("workers = {workers}"));
        assert_eq!(
            out.status.code(),
            Some(0),
            "workers = {workers}: {}",
            out.stderr
        );
    }
}

/// The listen backlog of the plain listener's socket, from `ss` (its Send-Q column
/// for a LISTEN socket is the backlog).
fn listen_backlog(addr: SocketAddr) -> u32 {
    let output = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{}", addr.port())])
        .output()
        .expect("ss runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("LISTEN"))
        .unwrap_or_else(|| panic!("no LISTEN socket on {addr}: {text:?}"));
    line.split_whitespace()
        .nth(2)
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no Send-Q in {line:?}"))
}

/// `server.backlog`: the accept queue of each listener (listen(2)); 4096 by default
/// (a burst of 5,000 connections on a fresh process then needs no SYN retransmit:
/// BENCHMARKS.md), capped by the kernel at `net.core.somaxconn`.
#[test]
fn backlog_sets_the_listen_queue_and_defaults_to_4096() {
    let edge = Edge::start("backlog = 777", "");
    assert_eq!(listen_backlog(edge.plain()), 777);
    drop(edge);
    let edge = Edge::start("", "");
    let somaxconn: u32 = fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(4096);
    assert_eq!(listen_backlog(edge.plain()), 4096.min(somaxconn));
}

/// listen(2) with a backlog of 0 would make the kernel pick its own minimum: a
/// config error. Any positive value is valid.
#[test]
fn backlog_zero_fails_check_naming_the_key() {
    let out = check("backlog = 0");
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("server.backlog"), "{}", out.stderr);
    let out = check("backlog = 1");
    assert_eq!(out.status.code(), Some(0), "backlog = 1: {}", out.stderr);
}

// ---------------------------------------------------------------------------------
// 5. Coverage of the proxy's own answers (issue 10, item 4)
// ---------------------------------------------------------------------------------

/// Every answer the proxy makes for a request it has parsed reaches RequestFinish with
/// its status and error code, so an access log records it as nginx logs its 400s.
/// Refusals at the front door (400, 405, 414, 431) skip ReadResponse: no other point
/// ran, the request was never routed. Errors found once routed (413, a broken body)
/// pass through ReadResponse like any response. The crate docs of the plugin API hold
/// the same table.
#[test]
fn every_answer_of_the_proxy_reaches_request_finish_with_its_code() {
    let edge = Edge::start("max_body_bytes = 100\n", "");
    let long_target = format!("/long-{}", "a".repeat(9000));
    let big_header = format!("x-big: {}", "b".repeat(9000));
    let cases: Vec<(&str, Vec<u8>, u16, &str, bool)> = vec![
        (
            "no host",
            b"GET /c1 HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "bad_request",
            false,
        ),
        (
            "connect",
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_vec(),
            405,
            "method_not_allowed",
            false,
        ),
        (
            "long target",
            get_bytes(&long_target, &["Host: public.example"]),
            414,
            "uri_too_long",
            false,
        ),
        (
            "big header",
            get_bytes("/c4", &["Host: public.example", &big_header]),
            431,
            "headers_too_large",
            false,
        ),
        (
            "body too large",
            post_bytes(
                "public.example",
                "/c5",
                &["Content-Length: 101"],
                &[b'x'; 101],
            ),
            413,
            "body_too_large",
            true,
        ),
        (
            "bad chunk",
            format!(
                "{}zz\r\nhello\r\n0\r\n\r\n",
                post_head("/c6", "Transfer-Encoding: chunked\r\n")
            )
            .into_bytes(),
            400,
            "bad_body",
            true,
        ),
    ];
    for (what, bytes, status, code, through_read_response) in cases {
        let before = edge.finishes().len();
        let read_responses = || {
            read_events(edge.probe.log_path())
                .iter()
                .filter(|e| e.is("P", "read_response"))
                .count()
        };
        let read_before = read_responses();
        let answer = raw(edge.plain(), &bytes);
        assert_eq!(answer.status, status, "{what}: {}", answer.text());
        let finish = edge.finish_after(before);
        assert_eq!(finish.error(), Some(code), "{what}: {finish}");
        assert_eq!(finish.status(), Some(status), "{what}: {finish}");
        assert_eq!(
            read_responses() - read_before,
            usize::from(through_read_response),
            "{what}: ReadResponse"
        );
    }
    assert_eq!(
        edge.backends.app.bodies().len(),
        0,
        "no complete body got through"
    );
}
