//! The callback contract, end to end: DESIGN §2.3 (stated once in
//! `hookgate_plugin_api`'s crate docs) pinned cell by cell against the real binary,
//! with the probe plugin returning chosen values at chosen points and recording every
//! callback, real echo backends, and clients that see exact bytes and closes.
//!
//! One module per row of the table (callback point), one test per cell; then the
//! coverage rules, Forward per attempt, chain order, product scoping and panics.
//!
//! Conventions: probes are named A, B, … in command-line order and share one event
//! log; rules usually apply to the path `/x` only, so that a second request on the
//! same connection (`/next`) shows what the first one did to the connection.

use std::fs;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use hookgate_tests::contract::{rules, start_proxy, tls_exchange, H2c, RawConn, Rule};
use hookgate_tests::{
    events_log, free_addr, http1_get, https_get, raw_exchange, read_events, wait_until, Backend,
    Conn, Event, Probe, Proxy, Req, Response, TestCa,
};

/// How long events may take to reach the log (RequestFinish and Finish run after the
/// client has its response).
const EVENT_WAIT: Duration = Duration::from_secs(5);
/// How long a connection the proxy must close may take to be seen closed.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long a connection that must stay open is watched.
const OPEN_WAIT: Duration = Duration::from_millis(300);
/// The request points, in the order they run.
const REQUEST_POINTS: [&str; 6] = [
    "before_location",
    "found_product",
    "after_location",
    "forward",
    "read_response",
    "request_finish",
];
/// Every value a handler can return, as the probe names them.
const ACTIONS: [&str; 5] = ["go_on", "response", "redirect", "finish", "close"];
/// Host of the TLS listener's certificate.
const TLS_NAME: &str = "shop.example";

// ----------------------------------------------------------------------------------
// Set-up

/// A running proxy in front of one echo backend, with probes A, B, … whose configs and
/// shared event log live in the CA's directory.
struct Rig {
    // Dropped in this order: the proxy before the backend it forwards to.
    proxy: Proxy,
    backend: Backend,
    ca: TestCa,
}

impl Rig {
    /// Starts the proxy with the arguments `args` makes from the backend and the
    /// directory (called again, for fresh ports, if a port was taken meanwhile).
    /// Every rig has an admin listener, whose `/metrics` says when the proxy's
    /// connections are over.
    fn start(args: impl Fn(&Backend, &TestCa) -> Vec<String>) -> Rig {
        let (backend, ca) = (Backend::echo("b1"), TestCa::new());
        let proxy = start_proxy(|| {
            let mut args = args(&backend, &ca);
            args.extend(["--admin".to_owned(), free_addr().to_string()]);
            args
        });
        Rig { proxy, backend, ca }
    }

    /// Probes with these rules (A, B, … in this order) on the command line; the
    /// default cluster is the backend.
    fn cli(probes: &[&[Rule]]) -> Rig {
        Rig::start(|backend, ca| {
            let mut args = vec!["--backend".to_owned(), backend.addr_string()];
            args.extend(plugin_args(ca, probes));
            args
        })
    }

    /// Probes on the command line after `--config`, the file's text made by `config`.
    fn config(probes: &[&[Rule]], config: impl Fn(&Backend, &TestCa) -> String) -> Rig {
        Rig::start(|backend, ca| {
            let mut args = config_args(ca, &config(backend, ca));
            args.extend(plugin_args(ca, probes));
            args
        })
    }

    /// [`Rig::config`] with [`tls_config`]: a plain and a TLS listener.
    fn tls(probes: &[&[Rule]]) -> Rig {
        Rig::config(probes, tls_config)
    }

    fn addr(&self) -> SocketAddr {
        self.proxy.addr()
    }

    /// Every event so far.
    fn events(&self) -> Vec<Event> {
        read_events(&events_log(self.ca.dir()))
    }

    /// Polls the events until `done` holds for them; panics listing them if it never
    /// does within [`EVENT_WAIT`].
    fn wait_events(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + EVENT_WAIT;
        loop {
            let events = self.events();
            if done(&events) {
                return events;
            }
            assert!(
                Instant::now() < deadline,
                "waited {EVENT_WAIT:?} for {what}; events:\n{}",
                show(&events)
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asserts that the events of requests to `path` are, in order, `expected`
    /// (`"A found_product"`…), waiting for the ones that come after the response.
    fn assert_trace(&self, path: &str, expected: &[String]) {
        let deadline = Instant::now() + EVENT_WAIT;
        let events = loop {
            let events = self.events();
            if trace(&events, path) == expected || Instant::now() >= deadline {
                break events;
            }
            thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(
            trace(&events, path),
            expected,
            "events of {path}; all events:\n{}",
            show(&events)
        );
    }

    /// The one event of `probe` at `point` for `path`.
    fn event(&self, probe: &str, point: &str, path: &str) -> Event {
        let events = self.events();
        let mut found = events
            .iter()
            .filter(|e| e.is(probe, point) && e.path() == path);
        match (found.next(), found.next()) {
            (Some(event), None) => event.clone(),
            _ => panic!(
                "want one `{probe} {point} {path}` event; all events:\n{}",
                show(&events)
            ),
        }
    }

    /// Waits until `connections` connections have finished (seen by probe A) and the
    /// proxy has no connection open; returns the events. Finish runs as a
    /// connection's state drops, before the proxy counts the connection closed, so
    /// once none is open every Finish that will ever run has been logged, a second
    /// one for the same connection included.
    fn wait_connections_done(&self, connections: usize) -> Vec<Event> {
        self.wait_events(&format!("Finish of {connections} connections"), |events| {
            count(events, "A", "finish") >= connections
        });
        self.proxy.wait_connections_closed(EVENT_WAIT);
        self.events()
    }

    /// The proxy's stderr without colour codes.
    fn stderr(&self) -> String {
        strip_ansi(&self.proxy.stderr_text())
    }
}

/// Writes the config file; `--config <it>`.
fn config_args(ca: &TestCa, text: &str) -> Vec<String> {
    let path = ca.dir().join("hookgate.toml");
    fs::write(&path, text).expect("write config");
    vec!["--config".to_owned(), path.display().to_string()]
}

/// `--plugin <probe>=<config>` for probes A, B, … with these rules.
fn plugin_args(ca: &TestCa, probes: &[&[Rule]]) -> Vec<String> {
    probes
        .iter()
        .zip(["A", "B", "C", "D"])
        .flat_map(|(r, name)| ["--plugin".to_owned(), probe(ca, name, r).plugin_arg()])
        .collect()
}

/// A probe named `name` in the rig's directory.
fn probe(ca: &TestCa, name: &str, probe_rules: &[Rule]) -> Probe {
    Probe::new(ca.dir(), name, &rules(probe_rules))
}

/// A config file's text: `top` (top-level keys), a plain listener on a fresh port,
/// then `tables` (listeners, plugins, products, clusters).
fn config_text(top: &str, tables: &str) -> String {
    format!("{top}\n[server]\nlisten = [\"{}\"]\n{tables}", free_addr())
}

/// The product `web` for every host, routed to [`web_cluster`] of the backend.
fn web_product(backend: &Backend) -> String {
    format!(
        "[products.web]\nroutes = [{{ cluster = \"web\" }}]\n{}",
        web_cluster(&item(backend))
    )
}

/// A backend as an item of a subcluster's `backends`.
fn item(backend: &Backend) -> String {
    format!("{{ addr = \"{}\" }}", backend.addr())
}

/// The cluster `web`: one subcluster of these backends (TOML inline tables).
fn web_cluster(backends: &str) -> String {
    format!("[clusters.web.subclusters.main]\nweight = 1\nbackends = [{backends}]\n")
}

/// A `[[plugins]]` instance of the probe, with `extra` keys.
fn plugin_table(probe: &Probe, extra: &str) -> String {
    format!(
        "[[plugins]]\npath = {:?}\nconfig = {:?}\n{extra}\n",
        Probe::library().display().to_string(),
        probe.config_path().display().to_string(),
    )
}

/// A config with a plain listener, a TLS listener (a certificate for [`TLS_NAME`]), one
/// product for every host and one cluster: the backend.
fn tls_config(backend: &Backend, ca: &TestCa) -> String {
    let cert = ca.issue("shop", &[TLS_NAME]);
    let tls = format!(
        "[[server.tls]]\nlisten = \"{}\"\ncerts = [{}]\n",
        free_addr(),
        cert.toml()
    );
    config_text("default_product = \"web\"", &(tls + &web_product(backend)))
}

/// A rule at `point` for the path `/x`.
fn at_x(point: &str, action: &str) -> Rule {
    Rule::new(point, action).path("/x")
}

/// A rule at `point` for the path `/x`, with a redirect URL where the action needs one.
fn at_x_with_url(point: &str, action: &str) -> Rule {
    let rule = at_x(point, action);
    if action == "redirect" {
        rule.redirect("/elsewhere")
    } else {
        rule
    }
}

// ----------------------------------------------------------------------------------
// Events

/// The events of requests to `path` as `"<probe> <point>"`, in log order.
fn trace(events: &[Event], path: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.path() == path && REQUEST_POINTS.contains(&e.point.as_str()))
        .map(|e| format!("{} {}", e.probe, e.point))
        .collect()
}

/// `"<probe> <point>"` for each point, and at each point for each probe in order.
fn steps(probes: &[&str], points: &[&str]) -> Vec<String> {
    points
        .iter()
        .flat_map(|point| probes.iter().map(move |probe| format!("{probe} {point}")))
        .collect()
}

/// The request points before `point`.
fn points_before(point: &str) -> &'static [&'static str] {
    let index = REQUEST_POINTS
        .iter()
        .position(|p| *p == point)
        .expect("a request point");
    &REQUEST_POINTS[..index]
}

/// How many events `probe` recorded at `point`.
fn count(events: &[Event], probe: &str, point: &str) -> usize {
    events.iter().filter(|e| e.is(probe, point)).count()
}

/// The sessions `probe` saw at `point`, sorted.
fn sessions(events: &[Event], probe: &str, point: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = events
        .iter()
        .filter(|e| e.is(probe, point))
        .filter_map(Event::session)
        .collect();
    ids.sort_unstable();
    ids
}

/// Asserts that Finish ran exactly once for each connection Accept saw, and for no
/// other.
fn assert_finish_once_per_accept(events: &[Event], probe: &str) {
    let accepted = sessions(events, probe, "accept");
    let finished = sessions(events, probe, "finish");
    assert_eq!(
        finished,
        accepted,
        "Finish must run exactly once per accepted connection; events:\n{}",
        show(events)
    );
}

/// Events one per line, for failure messages.
fn show(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| format!("  {e}\n"))
        .collect::<String>()
}

/// `text` without ANSI escape sequences (the proxy colours its log even into a file).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ----------------------------------------------------------------------------------
// Clients and what they saw

/// A keep-alive HTTP/1.1 connection.
fn http1(rig: &Rig) -> Conn {
    Conn::http1(rig.addr()).expect("HTTP/1.1 connection to the proxy")
}

/// Sends `method path` on `conn`, panicking if there is no response.
fn send(conn: &mut Conn, method: &str, path: &str) -> Response {
    match conn.send(&Req::new(method, "example.com", path)) {
        Ok(response) => response,
        Err(e) => panic!("{method} {path}: no response: {e}"),
    }
}

/// Asserts that `conn` stays open and serves `/next` from the backend: keep-alive.
fn assert_kept_alive(conn: &mut Conn) {
    assert!(
        !conn.closed_within(OPEN_WAIT),
        "the connection must stay open (keep-alive)"
    );
    let next = send(conn, "GET", "/next");
    assert_eq!(next.status, 200, "{}", next.text());
    assert_eq!(next.echo().uri, "/next");
}

/// Asserts that the server closes `conn` without sending another byte.
fn assert_closed_by_proxy(conn: &mut RawConn) {
    assert_eq!(
        conn.close_seen(CLOSE_WAIT).as_deref(),
        Some(""),
        "the proxy must close the connection, sending nothing more"
    );
}

/// Asserts that a response is the backend's echo of `path`.
fn assert_backend_answer(response: &Response, path: &str) {
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("x-backend"), Some("b1"));
    assert_eq!(response.echo().uri, path);
}

// ----------------------------------------------------------------------------------
// Accept and Handshake: GoOn continues; Response, Redirect, Finish ignored; Close
// closes the socket, sending nothing.

/// The request on a connection whose Accept (or Handshake) returned `action` is served
/// as usual, and so is the next one on the same connection.
fn assert_session_point_continues(point: &str, action: &str) {
    let rig = Rig::tls(&[&[Rule::new(point, action)]]);
    let mut conn = if point == "handshake" {
        Conn::tls(rig.proxy.tls_addr(), &rig.ca, Some(TLS_NAME), &["http/1.1"])
            .expect("TLS connection")
    } else {
        http1(&rig)
    };
    assert_backend_answer(&send(&mut conn, "GET", "/x"), "/x");
    assert_backend_answer(&send(&mut conn, "GET", "/next"), "/next");
    assert_eq!(rig.backend.requests(), 2);
    drop(conn);
    let events = rig.wait_connections_done(1);
    let at_point: Vec<&Event> = events.iter().filter(|e| e.is("A", point)).collect();
    assert_eq!(at_point.len(), 1, "{}", show(&events));
    assert_eq!(at_point[0].action(), Some(action));
    assert_eq!(
        trace(&events, "/x"),
        steps(&["A"], &REQUEST_POINTS),
        "{}",
        show(&events)
    );
}

mod accept {
    use super::*;

    #[test]
    fn go_on_continues() {
        assert_session_point_continues("accept", "go_on");
    }

    #[test]
    fn response_is_ignored() {
        assert_session_point_continues("accept", "response");
    }

    #[test]
    fn redirect_is_ignored() {
        assert_session_point_continues("accept", "redirect");
    }

    #[test]
    fn finish_is_ignored() {
        assert_session_point_continues("accept", "finish");
    }

    /// Not a byte back, no request read, and Finish still runs once.
    #[test]
    fn close_closes_the_socket_sending_nothing() {
        let rig = Rig::cli(&[&[Rule::new("accept", "close")]]);
        let reply = raw_exchange(
            rig.addr(),
            b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n",
            CLOSE_WAIT,
        );
        assert!(
            reply.closed_silently(),
            "want a close with zero bytes, got closed={} {:?}",
            reply.closed,
            reply.text()
        );
        let events = rig.wait_connections_done(1);
        assert_eq!(
            count(&events, "A", "before_location"),
            0,
            "{}",
            show(&events)
        );
        assert_finish_once_per_accept(&events, "A");
        assert_eq!(rig.backend.requests(), 0);
    }

    /// Accept runs before the TLS handshake: Close there means not even a ServerHello.
    #[test]
    fn close_on_a_tls_listener_comes_before_the_handshake() {
        let rig = Rig::tls(&[&[Rule::new("accept", "close")]]);
        let reply = raw_exchange(rig.proxy.tls_addr(), b"", CLOSE_WAIT);
        assert!(reply.closed_silently(), "got {:?}", reply.text());
        let events = rig.wait_connections_done(1);
        assert_eq!(count(&events, "A", "handshake"), 0, "{}", show(&events));
        assert_finish_once_per_accept(&events, "A");
    }

    /// The session at Accept on a TLS listener is a TLS session (§2.4 "is-TLS"; the
    /// SDK marks SNI, ALPN and version "after Handshake", but not `is_tls`).
    #[test]
    fn a_tls_listener_s_session_is_tls_at_accept() {
        let rig = Rig::tls(&[&[]]);
        let got = https_get(
            rig.proxy.tls_addr(),
            &rig.ca,
            Some(TLS_NAME),
            "/x",
            &["http/1.1"],
        );
        assert_backend_answer(&got.response, "/x");
        let events = rig.wait_connections_done(1);
        let accept = events.iter().find(|e| e.is("A", "accept"));
        assert_eq!(
            accept.and_then(|e| e.field("tls")),
            Some("true"),
            "{}",
            show(&events)
        );
    }
}

mod handshake {
    use super::*;

    #[test]
    fn go_on_continues() {
        assert_session_point_continues("handshake", "go_on");
    }

    #[test]
    fn response_is_ignored() {
        assert_session_point_continues("handshake", "response");
    }

    #[test]
    fn redirect_is_ignored() {
        assert_session_point_continues("handshake", "redirect");
    }

    #[test]
    fn finish_is_ignored() {
        assert_session_point_continues("handshake", "finish");
    }

    /// The handshake completes, then not one byte of plaintext comes back.
    #[test]
    fn close_closes_the_socket_sending_nothing() {
        let rig = Rig::tls(&[&[Rule::new("handshake", "close")]]);
        let seen = tls_exchange(
            rig.proxy.tls_addr(),
            &rig.ca,
            TLS_NAME,
            b"GET /x HTTP/1.1\r\nHost: shop.example\r\n\r\n",
            CLOSE_WAIT,
        )
        .expect("the handshake itself succeeds");
        assert!(
            seen.closed && seen.bytes.is_empty(),
            "want a close with zero bytes, got closed={} {:?}",
            seen.closed,
            seen.text()
        );
        let events = rig.wait_connections_done(1);
        assert_eq!(count(&events, "A", "handshake"), 1, "{}", show(&events));
        assert_eq!(
            count(&events, "A", "before_location"),
            0,
            "{}",
            show(&events)
        );
        assert_finish_once_per_accept(&events, "A");
        assert_eq!(rig.backend.requests(), 0);
    }
}

// ----------------------------------------------------------------------------------
// BeforeLocation, FoundProduct, AfterLocation: probe A returns the value at the point
// for `/x`; probe B, after it, only records. The three rows are the same, so one set
// of checks serves all three.

/// GoOn: B's handler runs next, then routing and the rest of the request.
fn request_go_on(point: &str) {
    let rig = Rig::cli(&[&[at_x(point, "go_on")], &[]]);
    let mut conn = http1(&rig);
    assert_backend_answer(&send(&mut conn, "GET", "/x"), "/x");
    rig.assert_trace("/x", &steps(&["A", "B"], &REQUEST_POINTS));
    assert_eq!(rig.event("A", point, "/x").action(), Some("go_on"));
}

/// Response: the handler's reply is sent, ReadResponse runs on it, keep-alive.
fn request_response(point: &str) {
    let rule = at_x(point, "response").status(201).body("reply from A");
    let rig = Rig::cli(&[&[rule], &[]]);
    let mut conn = http1(&rig);
    let response = send(&mut conn, "GET", "/x");
    assert_eq!(response.status, 201);
    assert_eq!(response.text(), "reply from A");
    assert_eq!(response.header_all("x-probe-seen"), ["A", "B"]);
    assert_kept_alive(&mut conn);
    assert_eq!(rig.backend.requests(), 1, "only /next reaches the backend");
    let expected = [
        steps(&["A", "B"], points_before(point)),
        steps(&["A"], &[point]),
        steps(&["A", "B"], &["read_response", "request_finish"]),
    ]
    .concat();
    rig.assert_trace("/x", &expected);
    assert_eq!(rig.event("A", "read_response", "/x").status(), Some(201));
    assert_eq!(rig.event("B", "request_finish", "/x").status(), Some(201));
}

/// Redirect: `Location` (relative URLs resolved against the request path), the code
/// (302 by default), a short HTML body for GET only, ReadResponse skipped, keep-alive;
/// RequestFinish sees no response.
fn request_redirect(point: &str) {
    let relative = Rule::new(point, "redirect")
        .path("/dir/page")
        .redirect("moved")
        .code(301);
    let absolute = Rule::new(point, "redirect")
        .path("/abs")
        .redirect("https://elsewhere.example/y");
    let rig = Rig::cli(&[&[relative, absolute], &[]]);
    let mut conn = http1(&rig);

    let get = send(&mut conn, "GET", "/dir/page");
    assert_eq!(get.status, 301, "{}", get.text());
    assert_eq!(get.header("location"), Some("/dir/moved"));
    assert!(get.text().contains("/dir/moved"), "body: {}", get.text());
    assert!(get.text().contains("<"), "an HTML body: {}", get.text());
    assert_eq!(get.header("x-probe-seen"), None, "ReadResponse is skipped");
    for method in ["HEAD", "POST"] {
        let response = send(&mut conn, method, "/dir/page");
        assert_eq!(response.status, 301, "{method}");
        assert_eq!(response.header("location"), Some("/dir/moved"), "{method}");
        assert!(response.body.is_empty(), "{method}: {}", response.text());
        assert!(!conn.is_closed(), "{method}: keep-alive");
    }
    let absolute = send(&mut conn, "GET", "/abs");
    assert_eq!(absolute.status, 302, "the default code");
    assert_eq!(
        absolute.header("location"),
        Some("https://elsewhere.example/y")
    );
    assert_kept_alive(&mut conn);
    assert_eq!(rig.backend.requests(), 1, "only /next reaches the backend");

    let one = [
        steps(&["A", "B"], points_before(point)),
        steps(&["A"], &[point]),
        steps(&["A", "B"], &["request_finish"]),
    ]
    .concat();
    rig.assert_trace("/dir/page", &[one.clone(), one.clone(), one].concat());
    let events = rig.events();
    let finishes: Vec<&Event> = events
        .iter()
        .filter(|e| e.point == "request_finish" && e.path() == "/dir/page")
        .collect();
    assert!(
        finishes.iter().all(|e| e.field("status") == Some("none")),
        "RequestFinish sees no response after a redirect:\n{}",
        show(&events)
    );
}

/// Finish: the handler's reply (500 without one), ReadResponse skipped, then the
/// proxy closes the connection.
fn request_finish_value(point: &str) {
    let with_reply = Rule::new(point, "finish")
        .path("/x")
        .status(403)
        .body("bye");
    let without = Rule::new(point, "finish").path("/no-reply");
    let rig = Rig::cli(&[&[with_reply, without], &[]]);

    let mut conn = RawConn::connect(rig.addr());
    let response = conn.get("example.com", "/x").expect("the reply");
    assert_eq!((response.status, response.text().as_str()), (403, "bye"));
    assert_eq!(
        response.header("x-probe-seen"),
        None,
        "ReadResponse is skipped"
    );
    assert_closed_by_proxy(&mut conn);

    let mut conn = RawConn::connect(rig.addr());
    let response = conn.get("example.com", "/no-reply").expect("a 500");
    assert_eq!(response.status, 500, "{}", response.text());
    assert_eq!(
        response.header("x-probe-seen"),
        None,
        "ReadResponse is skipped"
    );
    assert_closed_by_proxy(&mut conn);

    assert_eq!(rig.backend.requests(), 0);
    let expected = [
        steps(&["A", "B"], points_before(point)),
        steps(&["A"], &[point]),
        steps(&["A", "B"], &["request_finish"]),
    ]
    .concat();
    rig.assert_trace("/x", &expected);
    rig.assert_trace("/no-reply", &expected);
    assert_eq!(rig.event("B", "request_finish", "/x").status(), Some(403));
    assert_eq!(
        rig.event("B", "request_finish", "/no-reply").status(),
        Some(500)
    );
}

/// Close: not one byte back, the connection closed; RequestFinish (no response) and
/// Finish still run.
fn request_close(point: &str) {
    let rig = Rig::cli(&[&[at_x(point, "close")], &[]]);
    let mut conn = RawConn::connect(rig.addr());
    conn.write(b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .expect("write the request");
    assert_closed_by_proxy(&mut conn);
    assert_eq!(rig.backend.requests(), 0);
    let expected = [
        steps(&["A", "B"], points_before(point)),
        steps(&["A"], &[point]),
        steps(&["A", "B"], &["request_finish"]),
    ]
    .concat();
    rig.assert_trace("/x", &expected);
    assert_eq!(
        rig.event("B", "request_finish", "/x").field("status"),
        Some("none")
    );
    let events = rig.wait_connections_done(1);
    assert_finish_once_per_accept(&events, "A");
}

/// Close on HTTP/2: the whole connection goes, with the other stream in flight, and
/// no further request can be sent on it.
fn request_close_h2(point: &str) {
    let rig = Rig::cli(&[&[at_x(point, "close")]]);
    let h2 = H2c::connect(rig.addr());
    let before = h2.send(&Req::get("example.com", "/before"));
    assert_backend_answer(&before.expect("a first stream is served"), "/before");
    let slow = h2.start(&Req::get("example.com", "/slow").header("x-backend-delay-ms", "3000"));
    wait_until("the slow stream to reach the backend", EVENT_WAIT, || {
        rig.backend.requests() == 2
    });

    let closed = h2.send(&Req::get("example.com", "/x"));
    assert!(closed.is_err(), "no response to /x: {closed:?}");
    let slow = slow.wait();
    assert!(slow.is_err(), "the stream in flight fails too: {slow:?}");
    assert!(h2.closed_within(CLOSE_WAIT), "the connection is gone");
    let after = h2.send(&Req::get("example.com", "/after"));
    assert!(after.is_err(), "no request after the close: {after:?}");
    assert_eq!(
        rig.event("A", "request_finish", "/x").field("status"),
        Some("none")
    );
}

/// Finish on HTTP/2: the reply is sent, then the connection closes (no further
/// request on it).
fn request_finish_value_h2(point: &str) {
    let rule = at_x(point, "finish").status(403).body("bye");
    let rig = Rig::cli(&[&[rule]]);
    let h2 = H2c::connect(rig.addr());
    let response = h2.send(&Req::get("example.com", "/x"));
    let response = response.expect("the reply");
    assert_eq!((response.status, response.text().as_str()), (403, "bye"));
    assert!(h2.closed_within(CLOSE_WAIT), "the connection closes");
    let after = h2.send(&Req::get("example.com", "/after"));
    assert!(after.is_err(), "no request after the close: {after:?}");
    assert_eq!(rig.backend.requests(), 0);
}

/// One module per request point with a routing step after it; each test is one cell.
macro_rules! request_point_rows {
    ($($row:ident),*) => {$(
        mod $row {
            use super::*;

            const POINT: &str = stringify!($row);

            #[test]
            fn go_on_runs_the_next_handler_then_routing() {
                request_go_on(POINT);
            }

            #[test]
            fn response_is_sent_through_read_response_with_keep_alive() {
                request_response(POINT);
            }

            #[test]
            fn redirect_is_sent_without_read_response_with_keep_alive() {
                request_redirect(POINT);
            }

            #[test]
            fn finish_sends_the_reply_or_500_then_closes() {
                request_finish_value(POINT);
            }

            #[test]
            fn finish_on_http2_sends_the_reply_then_closes_the_connection() {
                request_finish_value_h2(POINT);
            }

            #[test]
            fn close_sends_nothing_and_closes() {
                request_close(POINT);
            }

            #[test]
            fn close_on_http2_closes_the_whole_connection() {
                request_close_h2(POINT);
            }
        }
    )*};
}

request_point_rows!(before_location, found_product, after_location);

// ----------------------------------------------------------------------------------
// Forward: GoOn sends; Response, Redirect, Close ignored; Finish: no backend call, a
// 500 through ReadResponse, then close.

mod forward {
    use super::*;

    #[test]
    fn go_on_sends_to_the_backend() {
        let rig = Rig::cli(&[&[at_x("forward", "go_on")], &[]]);
        let mut conn = http1(&rig);
        assert_backend_answer(&send(&mut conn, "GET", "/x"), "/x");
        assert_eq!(rig.backend.requests(), 1);
        rig.assert_trace("/x", &steps(&["A", "B"], &REQUEST_POINTS));
        let backend = rig.backend.addr_string();
        let forward = rig.event("B", "forward", "/x");
        assert_eq!(forward.backend(), Some(backend.as_str()));
    }

    /// The backend is still called; B's Forward does not run (the chain stopped).
    fn ignored(action: &str) {
        let rig = Rig::cli(&[&[at_x_with_url("forward", action)], &[]]);
        let mut conn = http1(&rig);
        let response = send(&mut conn, "GET", "/x");
        assert_backend_answer(&response, "/x");
        assert_eq!(response.header_all("x-probe-seen"), ["A", "B"]);
        assert_kept_alive(&mut conn);
        assert_eq!(rig.backend.requests(), 2);
        let expected = [
            steps(&["A", "B"], points_before("forward")),
            steps(&["A"], &["forward"]),
            steps(&["A", "B"], &["read_response", "request_finish"]),
        ]
        .concat();
        rig.assert_trace("/x", &expected);
    }

    #[test]
    fn response_is_ignored() {
        ignored("response");
    }

    #[test]
    fn redirect_is_ignored() {
        ignored("redirect");
    }

    #[test]
    fn close_is_ignored() {
        ignored("close");
    }

    #[test]
    fn finish_skips_the_backend_and_sends_500_through_read_response_then_closes() {
        let rig = Rig::cli(&[&[at_x("forward", "finish")], &[]]);
        let mut conn = RawConn::connect(rig.addr());
        let response = conn.get("example.com", "/x").expect("a 500");
        assert_eq!(response.status, 500, "{}", response.text());
        assert_eq!(
            response.header("x-probe-seen"),
            Some("A"),
            "ReadResponse ran"
        );
        assert_closed_by_proxy(&mut conn);
        assert_eq!(rig.backend.requests(), 0, "no backend call");
        let expected = [
            steps(&["A", "B"], points_before("forward")),
            steps(&["A"], &["forward"]),
            steps(&["A", "B"], &["read_response", "request_finish"]),
        ]
        .concat();
        rig.assert_trace("/x", &expected);
        assert_eq!(rig.event("B", "read_response", "/x").status(), Some(500));
    }
}

// ----------------------------------------------------------------------------------
// ReadResponse: GoOn sends; Response and Close ignored; Redirect replaces the
// response; Finish sends it, then closes.

mod read_response {
    use super::*;

    #[test]
    fn go_on_sends_the_response() {
        let rig = Rig::cli(&[&[at_x("read_response", "go_on")], &[]]);
        let mut conn = http1(&rig);
        let response = send(&mut conn, "GET", "/x");
        assert_backend_answer(&response, "/x");
        assert_eq!(response.header_all("x-probe-seen"), ["A", "B"]);
        assert_kept_alive(&mut conn);
        rig.assert_trace("/x", &steps(&["A", "B"], &REQUEST_POINTS));
        assert_eq!(rig.event("B", "read_response", "/x").status(), Some(200));
    }

    /// The backend's response is sent as usual, with keep-alive; B's ReadResponse
    /// does not run.
    fn ignored(action: &str) {
        let rig = Rig::cli(&[&[at_x("read_response", action)], &[]]);
        let mut conn = http1(&rig);
        let response = send(&mut conn, "GET", "/x");
        assert_backend_answer(&response, "/x");
        assert_eq!(response.header_all("x-probe-seen"), ["A"]);
        assert_kept_alive(&mut conn);
        let expected = [
            steps(&["A", "B"], points_before("read_response")),
            steps(&["A"], &["read_response"]),
            steps(&["A", "B"], &["request_finish"]),
        ]
        .concat();
        rig.assert_trace("/x", &expected);
        assert_eq!(rig.event("B", "request_finish", "/x").status(), Some(200));
    }

    #[test]
    fn response_is_ignored() {
        ignored("response");
    }

    #[test]
    fn close_is_ignored() {
        ignored("close");
    }

    /// The backend was called, but the client gets the redirect instead.
    #[test]
    fn redirect_is_sent_instead_of_the_response() {
        let rule = at_x("read_response", "redirect").redirect("login");
        let rig = Rig::cli(&[&[rule], &[]]);
        let mut conn = http1(&rig);
        let response = send(&mut conn, "GET", "/x");
        assert_eq!(response.status, 302, "{}", response.text());
        assert_eq!(response.header("location"), Some("/login"));
        assert_eq!(
            response.header("x-backend"),
            None,
            "not the backend's response"
        );
        assert!(response.text().contains("/login"), "{}", response.text());
        assert_eq!(rig.backend.requests(), 1);
        assert_kept_alive(&mut conn);
        let expected = [
            steps(&["A", "B"], points_before("read_response")),
            steps(&["A"], &["read_response"]),
            steps(&["A", "B"], &["request_finish"]),
        ]
        .concat();
        rig.assert_trace("/x", &expected);
        assert_eq!(
            rig.event("B", "request_finish", "/x").field("status"),
            Some("none")
        );
    }

    #[test]
    fn finish_sends_the_response_then_closes() {
        let rig = Rig::cli(&[&[at_x("read_response", "finish")], &[]]);
        let mut conn = RawConn::connect(rig.addr());
        let response = conn
            .get("example.com", "/x")
            .expect("the backend's response");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.header("x-backend"), Some("b1"));
        assert!(response.text().contains("uri: /x"), "{}", response.text());
        assert_closed_by_proxy(&mut conn);
        let expected = [
            steps(&["A", "B"], points_before("read_response")),
            steps(&["A"], &["read_response"]),
            steps(&["A", "B"], &["request_finish"]),
        ]
        .concat();
        rig.assert_trace("/x", &expected);
    }
}

// ----------------------------------------------------------------------------------
// RequestFinish: GoOn keeps alive; Finish ends keep-alive; the others are ignored.

mod request_finish {
    use super::*;

    /// The connection stays open after the response and serves the next request.
    fn keeps_alive(action: &str) {
        let rig = Rig::cli(&[&[at_x_with_url("request_finish", action)], &[]]);
        let mut conn = RawConn::connect(rig.addr());
        let response = conn.get("example.com", "/x").expect("a response");
        assert_eq!(response.status, 200, "{}", response.text());
        rig.wait_events("A's RequestFinish", |events| {
            count(events, "A", "request_finish") == 1
        });
        assert_eq!(conn.close_seen(OPEN_WAIT), None, "keep-alive");
        let next = conn.get("example.com", "/next").expect("a second response");
        assert_eq!(next.status, 200, "{}", next.text());
        let b_runs = if action == "go_on" { vec!["B"] } else { vec![] };
        let expected = [
            steps(&["A", "B"], points_before("request_finish")),
            steps(&["A"], &["request_finish"]),
            steps(&b_runs, &["request_finish"]),
        ]
        .concat();
        rig.assert_trace("/x", &expected);
    }

    #[test]
    fn go_on_keeps_alive() {
        keeps_alive("go_on");
    }

    #[test]
    fn response_is_ignored() {
        keeps_alive("response");
    }

    #[test]
    fn redirect_is_ignored() {
        keeps_alive("redirect");
    }

    #[test]
    fn close_is_ignored() {
        keeps_alive("close");
    }

    /// The response is sent whole, then the proxy closes the connection.
    #[test]
    fn finish_ends_keep_alive() {
        let rig = Rig::cli(&[&[at_x("request_finish", "finish")], &[]]);
        let mut conn = RawConn::connect(rig.addr());
        let response = conn.get("example.com", "/x").expect("a response");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_closed_by_proxy(&mut conn);
        let expected = [
            steps(&["A", "B"], points_before("request_finish")),
            steps(&["A"], &["request_finish"]),
        ]
        .concat();
        rig.assert_trace("/x", &expected);
    }

    /// "No keep-alive after this request" holds for a request already waiting on the
    /// connection (pipelined): it is not served.
    #[test]
    fn finish_ends_keep_alive_even_for_a_pipelined_request() {
        let rig = Rig::cli(&[&[at_x("request_finish", "finish")]]);
        let mut conn = RawConn::connect(rig.addr());
        conn.write(
            b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n\
              GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n",
        )
        .expect("write two requests");
        let response = conn.read_response(false).expect("the first response");
        assert_eq!(response.status, 200, "{}", response.text());
        assert_closed_by_proxy(&mut conn);
        assert_eq!(rig.backend.requests(), 1, "/next is not served");
    }
}

// ----------------------------------------------------------------------------------
// Finish: the return value is ignored.

mod finish {
    use super::*;

    /// Whatever Finish returns, later connections are served as usual (and Finish
    /// runs once for each).
    #[test]
    fn return_value_is_ignored() {
        for action in ACTIONS {
            let rig = Rig::cli(&[&[Rule::new("finish", action)]]);
            for round in 1..=2 {
                let mut conn = http1(&rig);
                assert_backend_answer(&send(&mut conn, "GET", "/x"), "/x");
                assert_backend_answer(&send(&mut conn, "GET", "/next"), "/next");
                drop(conn);
                let events = rig.wait_connections_done(round);
                assert_finish_once_per_accept(&events, "A");
                let finishes: Vec<&Event> = events.iter().filter(|e| e.is("A", "finish")).collect();
                assert!(
                    finishes.iter().all(|e| e.action() == Some(action)),
                    "{}",
                    show(&events)
                );
            }
        }
    }
}

// ----------------------------------------------------------------------------------
// Chains stop at the first value other than GoOn, even where the server ignores it.

mod chains {
    use super::*;

    /// A's Response at Forward is ignored (the backend is called), yet B's Forward
    /// does not run.
    #[test]
    fn an_ignored_value_at_forward_stops_the_chain() {
        let rig = Rig::cli(&[&[at_x("forward", "response")], &[]]);
        let response = send(&mut http1(&rig), "GET", "/x");
        assert_backend_answer(&response, "/x");
        assert_eq!(rig.backend.requests(), 1);
        let events = rig.wait_events("B's RequestFinish", |events| {
            count(events, "B", "request_finish") == 1
        });
        assert_eq!(count(&events, "A", "forward"), 1, "{}", show(&events));
        assert_eq!(count(&events, "B", "forward"), 0, "{}", show(&events));
    }

    /// At every point where A's value is ignored, B's handler does not run, while the
    /// request is served normally.
    #[test]
    fn ignored_values_stop_the_chain_at_every_point() {
        let a = [
            Rule::new("accept", "response"),
            Rule::new("handshake", "finish"),
            Rule::new("forward", "close"),
            Rule::new("read_response", "response"),
            Rule::new("request_finish", "redirect").redirect("/r"),
            Rule::new("finish", "close"),
        ];
        let rig = Rig::tls(&[&a, &[]]);
        let got = https_get(
            rig.proxy.tls_addr(),
            &rig.ca,
            Some(TLS_NAME),
            "/x",
            &["http/1.1"],
        );
        assert_backend_answer(&got.response, "/x");
        let events = rig.wait_connections_done(1);
        for point in [
            "accept",
            "handshake",
            "forward",
            "read_response",
            "request_finish",
            "finish",
        ] {
            assert_eq!(
                count(&events, "A", point),
                1,
                "A {point}:\n{}",
                show(&events)
            );
            assert_eq!(
                count(&events, "B", point),
                0,
                "B {point}:\n{}",
                show(&events)
            );
        }
        for point in ["before_location", "found_product", "after_location"] {
            assert_eq!(
                count(&events, "B", point),
                1,
                "B {point}:\n{}",
                show(&events)
            );
        }
    }
}

// ----------------------------------------------------------------------------------
// Coverage: Finish once per accepted connection; RequestFinish for every request that
// reached BeforeLocation; proxy errors through ReadResponse and RequestFinish.

mod coverage {
    use super::*;

    /// Plain bytes to the TLS port: the handshake fails, Handshake does not run,
    /// Finish runs once.
    #[test]
    fn finish_runs_once_after_a_failed_tls_handshake() {
        let rig = Rig::tls(&[&[]]);
        let reply = raw_exchange(
            rig.proxy.tls_addr(),
            b"GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n",
            CLOSE_WAIT,
        );
        assert!(reply.closed, "the proxy drops a failed handshake");
        let events = rig.wait_connections_done(1);
        assert_eq!(count(&events, "A", "accept"), 1, "{}", show(&events));
        assert_eq!(count(&events, "A", "handshake"), 0, "{}", show(&events));
        assert_finish_once_per_accept(&events, "A");
    }

    /// Connections ended every way: keep-alive then client close, HTTP/2, closed by a
    /// handler, closed after a handler's Finish, TLS, failed TLS, and an idle connect.
    #[test]
    fn finish_runs_exactly_once_per_accepted_connection() {
        let a = [
            Rule::new("before_location", "close").path("/close"),
            Rule::new("before_location", "finish").path("/finish"),
        ];
        let rig = Rig::tls(&[&a]);
        let (plain, tls) = (rig.addr(), rig.proxy.tls_addr());

        let mut conn = http1(&rig);
        assert_backend_answer(&send(&mut conn, "GET", "/one"), "/one");
        assert_backend_answer(&send(&mut conn, "GET", "/two"), "/two");
        drop(conn);
        let h2 = H2c::connect(plain);
        for path in ["/h2-one", "/h2-two"] {
            let response = h2.send(&Req::get("example.com", path));
            assert_backend_answer(&response.expect("an h2c response"), path);
        }
        drop(h2);
        let mut closed = RawConn::connect(plain);
        closed
            .write(b"GET /close HTTP/1.1\r\nHost: example.com\r\n\r\n")
            .expect("write");
        assert_closed_by_proxy(&mut closed);
        let mut finished = RawConn::connect(plain);
        let response = finished.get("example.com", "/finish").expect("a 500");
        assert_eq!(response.status, 500);
        assert_closed_by_proxy(&mut finished);
        let got = https_get(tls, &rig.ca, Some(TLS_NAME), "/tls", &["http/1.1"]);
        assert_backend_answer(&got.response, "/tls");
        let failed = raw_exchange(tls, b"not a ClientHello\r\n\r\n", CLOSE_WAIT);
        assert!(failed.closed);
        let idle = raw_exchange(plain, b"", Duration::from_millis(100));
        assert!(!idle.closed, "an idle connection is left open by the proxy");

        let events = rig.wait_connections_done(7);
        assert_eq!(count(&events, "A", "accept"), 7, "{}", show(&events));
        assert_finish_once_per_accept(&events, "A");
    }

    /// Every request that reached BeforeLocation gets exactly one RequestFinish, with
    /// the status sent, or none after a Close or a Redirect.
    #[test]
    fn request_finish_runs_for_every_request_that_reached_before_location() {
        let a = [
            Rule::new("found_product", "response").path("/respond"),
            Rule::new("after_location", "redirect")
                .path("/redirect")
                .redirect("/r"),
            Rule::new("before_location", "finish")
                .path("/finish")
                .status(403),
            Rule::new("found_product", "close").path("/close"),
            Rule::new("read_response", "redirect")
                .path("/late-redirect")
                .redirect("/r"),
            Rule::new("forward", "finish").path("/no-forward"),
        ];
        let rig = Rig::cli(&[&a]);
        let cases = [
            ("/ok", "200"),
            ("/respond", "200"),
            ("/redirect", "none"),
            ("/finish", "403"),
            ("/close", "none"),
            ("/late-redirect", "none"),
            ("/no-forward", "500"),
        ];
        for (path, _) in cases {
            let mut conn = RawConn::connect(rig.addr());
            conn.write(format!("GET {path} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes())
                .expect("write");
            if path == "/close" {
                assert_closed_by_proxy(&mut conn);
            } else {
                conn.read_response(false).expect("a response");
            }
        }
        let events = rig.wait_events("every RequestFinish", |events| {
            count(events, "A", "request_finish") >= cases.len()
        });
        for (path, status) in cases {
            assert_eq!(
                rig.event("A", "request_finish", path).field("status"),
                Some(status),
                "{path}"
            );
        }
        assert_eq!(
            count(&events, "A", "request_finish"),
            count(&events, "A", "before_location"),
            "{}",
            show(&events)
        );
    }

    /// A proxy error reaches the client through ReadResponse, and both ReadResponse
    /// and RequestFinish see its status and error code.
    fn assert_proxy_error(rig: &Rig, host: &str, status: u16, code: &str) {
        let response = http1_get(rig.addr(), host, "/x", &[]);
        assert_eq!(response.status, status, "{}", response.text());
        assert_eq!(response.header("x-probe-seen"), Some("A"));
        rig.wait_events("RequestFinish", |events| {
            count(events, "A", "request_finish") == 1
        });
        for point in ["read_response", "request_finish"] {
            let event = rig.event("A", point, "/x");
            assert_eq!(event.status(), Some(status), "{point}: {event}");
            assert_eq!(event.error(), Some(code), "{point}: {event}");
        }
        assert_eq!(rig.backend.requests(), 0);
    }

    #[test]
    fn no_product_is_a_404_that_plugins_see() {
        let rig = Rig::config(&[&[]], |backend, _| {
            let shop = "[products.shop]\nhosts = [\"shop.example\"]\n\
                        routes = [{ cluster = \"web\" }]\n";
            config_text("", &(shop.to_owned() + &web_cluster(&item(backend))))
        });
        assert_proxy_error(&rig, "unknown.example", 404, "no_product");
    }

    #[test]
    fn no_route_is_a_404_that_plugins_see() {
        let rig = Rig::config(&[&[]], |backend, _| {
            let api_only =
                "[products.shop]\nroutes = [{ path_prefix = \"/api/\", cluster = \"web\" }]\n";
            let cluster = web_cluster(&item(backend));
            config_text(
                "default_product = \"shop\"",
                &(api_only.to_owned() + &cluster),
            )
        });
        assert_proxy_error(&rig, "example.com", 404, "no_route");
    }

    #[test]
    fn backend_down_is_a_502_that_plugins_see() {
        let mut rig = Rig::cli(&[&[]]);
        rig.backend.stop();
        assert_proxy_error(&rig, "example.com", 502, "connect_failed");
    }
}

// ----------------------------------------------------------------------------------
// Forward runs once per attempt.

mod retries {
    use super::*;

    /// The first attempt goes to a closed port (its weight makes it first), the retry
    /// to the live backend: Forward runs for each, with each backend.
    #[test]
    fn forward_runs_once_per_attempt() {
        let mut dead = Backend::echo("dead");
        let dead_addr = dead.addr_string();
        dead.stop();
        let rig = Rig::config(&[&[]], |backend, _| {
            let backends = format!(
                "{{ addr = \"{dead_addr}\", weight = 100 }}, {{ addr = \"{}\", weight = 1 }}",
                backend.addr()
            );
            let tables = format!(
                "[products.web]\nroutes = [{{ cluster = \"web\" }}]\n\
                 [clusters.web]\nretries = 1\ncross_retry = 0\n{}",
                web_cluster(&backends)
            );
            config_text("default_product = \"web\"", &tables)
        });
        let response = http1_get(rig.addr(), "example.com", "/x", &[]);
        assert_backend_answer(&response, "/x");
        let expected = [
            steps(&["A"], points_before("forward")),
            steps(
                &["A"],
                &["forward", "forward", "read_response", "request_finish"],
            ),
        ]
        .concat();
        rig.assert_trace("/x", &expected);
        let events = rig.events();
        let backends: Vec<&str> = events
            .iter()
            .filter(|e| e.is("A", "forward"))
            .filter_map(Event::backend)
            .collect();
        let live = rig.backend.addr_string();
        assert_eq!(backends, [dead_addr.as_str(), live.as_str()]);
    }
}

// ----------------------------------------------------------------------------------
// Handlers run in the order plugins are listed.

mod order {
    use super::*;

    /// Every point of one TLS connection with one request, as `(probe, point)` in log
    /// order.
    fn one_tls_request(rig: &Rig, last: &str) -> Vec<(String, String)> {
        let got = https_get(
            rig.proxy.tls_addr(),
            &rig.ca,
            Some(TLS_NAME),
            "/x",
            &["http/1.1"],
        );
        assert_backend_answer(&got.response, "/x");
        let events = rig.wait_events("the last Finish", |events| {
            count(events, last, "finish") == 1
        });
        events.into_iter().map(|e| (e.probe, e.point)).collect()
    }

    /// The nine points, at each the probes in `order`.
    fn expected(order: &[&str]) -> Vec<(String, String)> {
        let points = ["accept", "handshake"]
            .into_iter()
            .chain(REQUEST_POINTS)
            .chain(["finish"]);
        points
            .flat_map(|point| {
                order
                    .iter()
                    .map(move |probe| (probe.to_string(), point.to_owned()))
            })
            .collect()
    }

    /// A, C, B on the command line (not alphabetical) run as A, C, B everywhere.
    #[test]
    fn handlers_run_in_command_line_order_at_every_point() {
        let rig = Rig::start(|backend, ca| {
            let mut args = config_args(ca, &tls_config(backend, ca));
            for name in ["A", "C", "B"] {
                args.push("--plugin".to_owned());
                args.push(probe(ca, name, &[]).plugin_arg());
            }
            args
        });
        assert_eq!(one_tls_request(&rig, "B"), expected(&["A", "C", "B"]));
    }

    /// A `[[plugins]]` instance named "config" runs before a `--plugin` instance
    /// named "cli" (which sorts first), at every point.
    #[test]
    fn config_file_plugins_run_before_command_line_plugins() {
        let rig = Rig::start(|backend, ca| {
            let from_file = plugin_table(&probe(ca, "config", &[]), "");
            let mut args = config_args(ca, &(tls_config(backend, ca) + &from_file));
            args.push("--plugin".to_owned());
            args.push(probe(ca, "cli", &[]).plugin_arg());
            args
        });
        assert_eq!(one_tls_request(&rig, "cli"), expected(&["config", "cli"]));
    }
}

// ----------------------------------------------------------------------------------
// Product scoping.

mod scoping {
    use super::*;

    /// An instance scoped to `shop` runs FoundProduct…RequestFinish only for shop's
    /// requests; Accept, BeforeLocation and Finish for every connection.
    #[test]
    fn scoped_request_handlers_run_only_for_their_products() {
        let rig = Rig::start(|backend, ca| {
            let scoped = plugin_table(&probe(ca, "S", &[]), "products = [\"shop\"]");
            let products = "[products.shop]\nhosts = [\"shop.example\"]\n\
                            routes = [{ cluster = \"web\" }]\n\
                            [products.other]\nhosts = [\"other.example\"]\n\
                            routes = [{ cluster = \"web\" }]\n";
            let tables = scoped + products + &web_cluster(&item(backend));
            config_args(ca, &config_text("", &tables))
        });

        let shop = http1_get(rig.addr(), "shop.example", "/s", &[]);
        assert_backend_answer(&shop, "/s");
        assert_eq!(shop.header("x-probe-seen"), Some("S"));
        let other = http1_get(rig.addr(), "other.example", "/o", &[]);
        assert_backend_answer(&other, "/o");
        assert_eq!(other.header("x-probe-seen"), None);

        rig.assert_trace("/s", &steps(&["S"], &REQUEST_POINTS));
        rig.assert_trace("/o", &steps(&["S"], &["before_location"]));
        let events = rig.wait_events("both Finishes", |events| count(events, "S", "finish") == 2);
        assert_eq!(count(&events, "S", "accept"), 2, "{}", show(&events));
    }
}

// ----------------------------------------------------------------------------------
// Panics and plugin errors: fail-closed (500 at request points, close at Accept) or
// fail-open (GoOn); logged with the plugin and the point; the proxy lives on.

mod panics {
    use super::*;

    /// The request points where a panic can still change the response, each rule
    /// for its own path (`/panic-<point>`).
    const RESPONSE_POINTS: [&str; 5] = [
        "before_location",
        "found_product",
        "after_location",
        "forward",
        "read_response",
    ];

    fn panic_rules() -> Vec<Rule> {
        RESPONSE_POINTS
            .iter()
            .chain(&["request_finish"])
            .map(|point| Rule::new(point, "panic").path(&format!("/panic-{point}")))
            .collect()
    }

    /// Asserts that stderr has a line naming the plugin and `point`.
    fn assert_logged(rig: &Rig, point: &str) {
        let stderr = rig.stderr();
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("hookgate-probe") && l.contains(point)),
            "no log line names the plugin and {point}:\n{stderr}"
        );
    }

    #[test]
    fn fail_closed_answers_500_and_the_proxy_serves_on() {
        let mut rig = Rig::cli(&[&panic_rules()]);
        for point in RESPONSE_POINTS {
            let path = format!("/panic-{point}");
            let response = http1_get(rig.addr(), "example.com", &path, &[]);
            assert_eq!(response.status, 500, "{point}: {}", response.text());
            assert_logged(&rig, point);
        }
        assert_eq!(
            rig.backend.requests(),
            1,
            "only the ReadResponse case was sent"
        );
        // RequestFinish: the response is already sent; the panic is logged.
        let path = "/panic-request_finish";
        let response = http1_get(rig.addr(), "example.com", path, &[]);
        assert_backend_answer(&response, path);
        rig.wait_events("the RequestFinish panic", |events| {
            count(events, "A", "request_finish") == RESPONSE_POINTS.len() + 1
        });
        assert_logged(&rig, "request_finish");

        let mut conn = http1(&rig);
        assert_backend_answer(&send(&mut conn, "GET", "/ok"), "/ok");
        assert!(rig.proxy.is_running());
    }

    /// Every panic is treated as GoOn: each request is proxied as usual; even a panic
    /// at Accept lets the connection through.
    #[test]
    fn fail_open_proxies_as_usual() {
        let mut a = panic_rules();
        a.push(Rule::new("accept", "panic"));
        let mut rig = Rig::start(|backend, ca| {
            let failing = plugin_table(&probe(ca, "A", &a), "on_error = \"fail-open\"");
            let text = config_text(
                "default_product = \"web\"",
                &(failing + &web_product(backend)),
            );
            config_args(ca, &text)
        });
        for point in RESPONSE_POINTS.iter().chain(&["request_finish"]) {
            let path = format!("/panic-{point}");
            let response = http1_get(rig.addr(), "example.com", &path, &[]);
            assert_backend_answer(&response, &path);
            assert_logged(&rig, point);
        }
        assert_logged(&rig, "accept");
        assert!(rig.proxy.is_running());
    }

    /// A panic at Accept closes that connection, sending nothing; the proxy keeps
    /// accepting (the next connection is handled the same way) and logs it.
    #[test]
    fn fail_closed_at_accept_closes_the_connection() {
        let mut rig = Rig::cli(&[&[Rule::new("accept", "panic")]]);
        for _ in 0..2 {
            let reply = raw_exchange(
                rig.addr(),
                b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n",
                CLOSE_WAIT,
            );
            assert!(reply.closed_silently(), "got {:?}", reply.text());
        }
        let events = rig.wait_connections_done(2);
        assert_finish_once_per_accept(&events, "A");
        assert_eq!(count(&events, "A", "before_location"), 0);
        assert_logged(&rig, "accept");
        assert!(rig.proxy.is_running());
        assert_eq!(rig.backend.requests(), 0);
    }

    /// Redirect without a URL is a plugin error: 500 under fail-closed.
    #[test]
    fn redirect_without_a_url_is_a_plugin_error() {
        let rig = Rig::cli(&[&[Rule::new("found_product", "redirect").path("/x")]]);
        let response = http1_get(rig.addr(), "example.com", "/x", &[]);
        assert_eq!(response.status, 500, "{}", response.text());
        assert_logged(&rig, "found_product");
        assert_eq!(rig.backend.requests(), 0);
    }

    /// At ReadResponse too, a Redirect without a URL is a plugin error under the
    /// instance's policy (the settlement the fake host shares): 500 under fail-closed,
    /// the backend's response under fail-open; logged with the point either way.
    #[test]
    fn redirect_without_a_url_at_read_response_follows_the_policy() {
        let rules = [Rule::new("read_response", "redirect").path("/x")];
        let rig = Rig::cli(&[&rules]);
        let response = http1_get(rig.addr(), "example.com", "/x", &[]);
        assert_eq!(response.status, 500, "{}", response.text());
        assert_logged(&rig, "read_response");
        drop(rig);
        let rig = Rig::start(|backend, ca| {
            let open = plugin_table(&probe(ca, "A", &rules), "on_error = \"fail-open\"");
            let text = config_text("default_product = \"web\"", &(open + &web_product(backend)));
            config_args(ca, &text)
        });
        let response = http1_get(rig.addr(), "example.com", "/x", &[]);
        assert_backend_answer(&response, "/x");
        assert_logged(&rig, "read_response");
    }
}
