//! Bodies through the proxy (Plugin API 0.2): the body-check example plugin and the
//! probe asking for request and response bodies, against real echo backends, over
//! HTTP/1.1 (with and without chunked framing) and HTTP/2. Streaming stays the
//! default: a body is read only for a plugin that asks.

use std::fs;
use std::path::Path;
use std::time::Duration;

use hookgate_tests::backend::checksum;
use hookgate_tests::scripted::RawBackend;
use hookgate_tests::{
    arg, free_addr, h2c_send, http1_send, library, raw_exchange, wait_for_events,
    websocket_roundtrip, Backend, Behaviour, Echo, Event, Probe, Proxy, Req, Response,
};

const WAIT: Duration = Duration::from_secs(10);

const BODY_CHECK: &str = r#"
[[global.rules]]
method = "POST"
path_prefix = "/forms/"
deny = ["<script"]

[[global.rules]]
method = "POST"
path_prefix = "/uploads/"
deny = ["EICAR"]
over_limit = "skip"

[[global.rules]]
method = "PUT"
path_prefix = "/put/"
json = true
"#;

/// A proxy on one product and one cluster of `backends` (`retries` more attempts
/// in the subcluster), with `plugins` (TOML `[[plugins]]` entries), an admin listener.
fn start(dir: &Path, backends: &[&Backend], retries: u32, plugins: &str) -> Proxy {
    let addrs: Vec<String> = backends.iter().map(|b| b.addr_string()).collect();
    start_at(dir, &addrs, retries, plugins)
}

/// [`start`], with backends at these addresses.
fn start_at(dir: &Path, addrs: &[String], retries: u32, plugins: &str) -> Proxy {
    let backends: Vec<String> = addrs
        .iter()
        .map(|addr| format!("{{ addr = \"{addr}\" }}"))
        .collect();
    let config = dir.join("hookgate.toml");
    let text = format!(
        r#"default_product = "p"
[server]
listen = ["{listen}"]
admin = "{admin}"
{plugins}
[products.p]
routes = [{{ path_prefix = "/grpc", cluster = "grpc" }}, {{ cluster = "c" }}]
[clusters.c]
retries = {retries}
max_fails = 100
[clusters.c.subclusters.s]
weight = 1
backends = [{backends}]
[clusters.grpc]
protocol = "h2c"
[clusters.grpc.subclusters.s]
weight = 1
backends = [{backends}]
"#,
        listen = free_addr(),
        admin = free_addr(),
        backends = backends.join(", "),
    );
    fs::write(&config, text).expect("write config");
    Proxy::start(&["--config", arg(&config)])
}

fn body_check(dir: &Path, body_limit: u64) -> String {
    let file = dir.join("body-check.toml");
    fs::write(&file, BODY_CHECK).expect("write plugin config");
    format!(
        "[[plugins]]\npath = {:?}\nconfig = {:?}\nbody_limit = {body_limit}\n",
        arg(&library("hookgate_plugin_body_check")),
        arg(&file)
    )
}

fn post(proxy: &Proxy, path: &str, body: &[u8]) -> Response {
    let req = Req::new("POST", "p.example", path).body(body.to_vec());
    http1_send(proxy.addr(), &req).expect("an answer")
}

fn echo(response: &Response) -> Echo {
    assert_eq!(response.status, 200, "{}", response.text());
    Echo::parse(&response.text()).expect("an echo body")
}

fn refused(proxy: &Proxy, reason: &str) -> Option<f64> {
    let series = format!(
        "hookgate_plugin_body_check_refused_total{{plugin=\"hookgate-plugin-body-check\",reason=\"{reason}\"}} "
    );
    let metrics = proxy.admin_text("/metrics");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .and_then(|v| v.parse().ok())
}

/// Probe `A`, asking for the body at `point` (`want_body = "reject"`).
fn asking_at(dir: &Path, point: &str) -> Probe {
    let rule = format!("[[rule]]\npoint = {point:?}\naction = \"go_on\"\nwant_body = \"reject\"\n");
    Probe::new(dir, "A", &rule)
}

/// The `[[plugins]]` entry of `probe`.
fn entry(probe: &Probe) -> String {
    format!(
        "[[plugins]]\npath = {:?}\nconfig = {:?}\n",
        arg(&Probe::library()),
        arg(probe.config_path())
    )
}

/// The events so far, once RequestFinish has run for `path`.
fn finished(probe: &Probe, path: &str) -> Vec<Event> {
    wait_for_events(probe.log_path(), WAIT, |e| {
        e.iter()
            .any(|e| e.point == "request_finish" && e.target == path)
    })
}

/// The error code RequestFinish saw for `path`.
fn finish_error<'e>(events: &'e [Event], path: &str) -> Option<&'e str> {
    let finish = events
        .iter()
        .find(|e| e.point == "request_finish" && e.target == path);
    finish.and_then(|e| e.field("error"))
}

#[test]
fn body_check_inspects_request_bodies_over_http1_chunked_and_h2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Backend::echo("b");
    let proxy = start(dir.path(), &[&backend], 0, &body_check(dir.path(), 1024));

    // A clean body reaches the backend whole; a denied one never does.
    let echoed = echo(&post(&proxy, "/forms/a", b"name=alice"));
    assert_eq!(echoed.body_length, 10);
    assert_eq!(echoed.body_checksum, checksum(b"name=alice"));
    assert_eq!(post(&proxy, "/forms/a", b"x=<SCRIPT>").status, 403);
    assert_eq!(backend.requests(), 1);

    // Chunked: read whole, checked, and sent on with a Content-Length.
    let chunked = |body: &str| {
        let head = "POST /forms/c HTTP/1.1\r\nHost: p.example\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let (a, b) = body.split_at(body.len() / 2);
        let wire = format!(
            "{head}{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        );
        raw_exchange(proxy.addr(), wire.as_bytes(), WAIT)
    };
    let reply = chunked("name=bob&city=paris");
    let text = reply.text();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let echoed = Echo::parse(text.split("\r\n\r\n").nth(1).unwrap_or("")).expect("echo");
    assert_eq!(echoed.header("content-length"), Some("19"));
    assert!(!echoed.has_header("transfer-encoding"), "{echoed:?}");
    assert!(chunked("a=1&b=<script>").text().starts_with("HTTP/1.1 403"));

    // HTTP/2 bodies the same way.
    let h2 = |body: &[u8]| {
        let req = Req::new("POST", "p.example", "/forms/h2").body(body.to_vec());
        h2c_send(proxy.addr(), &req).expect("an h2 answer")
    };
    assert_eq!(h2(b"<script>").status, 403);
    assert_eq!(echo(&h2(b"fine")).body_length, 4);
    // A client cannot skip the check with a header that makes the body unreadable.
    let grpc = Req::new("POST", "p.example", "/forms/g")
        .headers(&[("content-type", "application/grpc")])
        .body(b"<script>".to_vec());
    // (A gRPC client gets the refusal as a gRPC error: PERMISSION_DENIED.)
    let refused_grpc = h2c_send(proxy.addr(), &grpc).expect("an h2 answer");
    assert_eq!(
        (refused_grpc.status, refused_grpc.header("grpc-status")),
        (200, Some("7"))
    );
    assert_eq!(refused(&proxy, "unreadable"), Some(1.0));

    // Over the instance's body_limit: the rule's choice. Reject (the default) is 413,
    // skip sends the whole body on unchecked.
    let big = vec![b'x'; 3000];
    assert_eq!(post(&proxy, "/forms/big", &big).status, 413);
    let mut upload = big.clone();
    upload.extend_from_slice(b"EICAR");
    let echoed = echo(&post(&proxy, "/uploads/big", &upload));
    assert_eq!(echoed.body_length, upload.len());
    assert_eq!(echoed.body_checksum, checksum(&upload));
    assert_eq!(post(&proxy, "/uploads/small", b"EICAR").status, 403);

    // Each refusal was counted and logged through the host.
    assert_eq!(refused(&proxy, "pattern"), Some(4.0));
    let log = proxy.stderr_text();
    assert!(
        log.contains("refused POST /forms/a: pattern"),
        "no plugin log line in:\n{log}"
    );
}

/// A body read for a plugin makes the request retryable after it was sent: a PUT
/// whose first attempt meets a backend that drops it goes to the next backend with
/// the whole body. Streamed (no plugin asked), the same PUT cannot be sent again.
#[test]
fn a_body_read_for_plugins_makes_the_request_retryable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dropping = Backend::start(Behaviour::echo("drop").close_without_answer());
    let ok = Backend::echo("ok");
    let proxy = start(
        dir.path(),
        &[&dropping, &ok],
        1,
        &body_check(dir.path(), 1024),
    );
    let put = |path: &str| {
        let body = br#"{"id":1}"#.to_vec();
        let req = Req::new("PUT", "p.example", path).body(body);
        http1_send(proxy.addr(), &req).expect("an answer")
    };
    // Only PUTs that a plugin reads first: round-robin sends half of them to the
    // dropping backend first, and each must still reach `ok` whole.
    for i in 0..4 {
        let echoed = echo(&put(&format!("/put/{i}")));
        assert_eq!(echoed.backend, "ok");
        assert_eq!(echoed.body_checksum, checksum(br#"{"id":1}"#));
    }
    assert!(
        dropping.requests() >= 1,
        "no read PUT met the dropping backend: the retry was not tested"
    );
    let mut streamed_failures = 0;
    for i in 0..4 {
        if put(&format!("/streamed/{i}")).status == 502 {
            streamed_failures += 1;
        }
    }
    assert!(streamed_failures >= 1, "a streamed PUT was resent");
}

/// The probe pins the body points' place and contract: RequestBody after
/// AfterLocation and before Forward, ResponseBody after ReadResponse and before the
/// response is sent, each only for the instances that asked; a replaced body reaches
/// its side whole; over the limit, Reject is 413 (request) or 502
/// `response_too_large` (response), Skip streams on; an upgrade is not offered.
#[test]
fn body_points_run_in_order_for_the_plugins_that_asked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Backend::start(Behaviour::echo("b"));
    let asking = Probe::new(
        dir.path(),
        "A",
        r#"
[[rule]]
point = "after_location"
action = "go_on"
want_body = "reject"
path = "/ws"
[[rule]]
point = "read_response"
action = "go_on"
want_body = "reject"
path = "/ws"
[[rule]]
point = "after_location"
action = "go_on"
want_body = "reject"
path = "/grpc"
[[rule]]
point = "after_location"
action = "go_on"
want_body = "reject"
header = { name = "x-want" }
[[rule]]
point = "request_body"
action = "go_on"
path = "/replace"
body = "replaced by A"
[[rule]]
point = "request_body"
action = "response"
path = "/deny"
status = 451
[[rule]]
point = "forward"
action = "go_on"
path = "/late"
body = "too late"
[[rule]]
point = "read_response"
action = "go_on"
want_body = "skip"
header = { name = "x-want-response" }
[[rule]]
point = "read_response"
action = "go_on"
want_body = "reject"
header = { name = "x-want-response-reject" }
[[rule]]
point = "response_body"
action = "go_on"
path = "/replace-response"
body = "short"
[[rule]]
point = "response_body"
action = "finish"
path = "/finish"
"#,
    );
    let bystander = Probe::new(dir.path(), "B", "");
    let plugins = format!(
        "[[plugins]]\npath = {lib:?}\nconfig = {a:?}\nbody_limit = 2048\n\
         [[plugins]]\npath = {lib:?}\nconfig = {b:?}\n",
        lib = arg(&Probe::library()),
        a = arg(asking.config_path()),
        b = arg(bystander.config_path()),
    );
    let proxy = start(dir.path(), &[&backend], 0, &plugins);
    let send = |path: &str, headers: &[(&str, &str)], body: &[u8]| {
        let req = Req::new("POST", "p.example", path)
            .headers(headers)
            .body(body.to_vec());
        http1_send(proxy.addr(), &req).expect("an answer")
    };

    // Asked for: A's RequestBody sees the body after AfterLocation, before Forward;
    // B, which did not ask, never runs there.
    let response = send("/read", &[("x-want", "1")], b"hello body");
    assert_eq!(echo(&response).body_length, 10);
    let events = wait_for_events(asking.log_path(), WAIT, |e| {
        e.iter()
            .any(|e| e.point == "request_finish" && e.target == "/read" && e.probe == "B")
    });
    let points: Vec<String> = events
        .iter()
        .filter(|e| e.target == "/read" && !matches!(e.point.as_str(), "accept" | "finish"))
        .map(|e| format!("{} {}", e.probe, e.point))
        .collect();
    assert_eq!(
        points,
        [
            "A before_location",
            "B before_location",
            "A found_product",
            "B found_product",
            "A after_location",
            "B after_location",
            "A request_body",
            "A forward",
            "B forward",
            "A read_response",
            "B read_response",
            "A request_finish",
            "B request_finish",
        ]
    );
    let body_event = events
        .iter()
        .find(|e| e.point == "request_body")
        .expect("request_body");
    assert_eq!(body_event.field("body"), Some("10"));
    assert_eq!(
        events
            .iter()
            .find(|e| e.point == "after_location")
            .and_then(|e| e.field("offered")),
        Some("true")
    );

    // Not asked for: no RequestBody at all.
    let response = send("/plain", &[], b"hello");
    assert_eq!(echo(&response).body_length, 5);

    // A RequestBody handler's replacement is what the backend gets; its Response
    // ends the request before any backend call.
    let echoed = echo(&send("/replace", &[("x-want", "1")], b"original"));
    assert_eq!(echoed.body_checksum, checksum(b"replaced by A"));
    assert_eq!(echoed.header("content-length"), Some("13"));
    let before = backend.requests();
    assert_eq!(send("/deny", &[("x-want", "1")], b"x").status, 451);
    assert_eq!(backend.requests(), before);

    // Over A's 2048-byte limit with Reject: 413 and no backend call.
    assert_eq!(
        send("/huge", &[("x-want", "1")], &vec![b'z'; 5000]).status,
        413
    );
    assert_eq!(backend.requests(), before);

    // The response body: read for ResponseBody after ReadResponse, replaced whole
    // (Content-Length fixed), or the response finished (closing the connection).
    let response = send("/replace-response", &[("x-want-response", "1")], b"abc");
    assert_eq!(response.text(), "short");
    assert_eq!(response.header("content-length"), Some("5"));
    assert_eq!(response.header("x-probe-body-seen"), Some("A"));
    let response = send("/finish", &[("x-want-response", "1")], b"abc");
    assert_eq!(response.header("connection"), Some("close"));
    assert_eq!(echo(&response).body_length, 3);

    // Never offered: an upgrade (its request or its 101), a gRPC request.
    let upgraded = websocket_roundtrip(proxy.addr(), "p.example", "/ws", b"ping").expect("ws");
    assert_eq!(
        (upgraded.status, upgraded.echoed.as_slice()),
        (101, &b"ping"[..])
    );
    let grpc = Req::new("POST", "p.example", "/grpc")
        .headers(&[("content-type", "application/grpc"), ("te", "trailers")])
        .body(b"\0\0\0\0\x01x".to_vec());
    let response = h2c_send(proxy.addr(), &grpc).expect("an h2 answer");
    assert_eq!(echo(&response).body_length, 6);
    let events = wait_for_events(asking.log_path(), WAIT, |e| {
        let done = |path: &str| {
            e.iter()
                .any(|e| e.point == "request_finish" && e.target == path && e.probe == "B")
        };
        done("/ws") && done("/grpc")
    });
    let offered: Vec<(String, String, Option<&str>)> = events
        .iter()
        .filter(|e| e.probe == "A" && (e.target == "/ws" || e.target == "/grpc"))
        .filter(|e| matches!(e.point.as_str(), "after_location" | "read_response"))
        .map(|e| (e.target.clone(), e.point.clone(), e.field("offered")))
        .collect();
    let expected = [
        ("/ws", "after_location", Some("false")),
        ("/ws", "read_response", Some("false")),
        ("/grpc", "after_location", Some("false")),
        ("/grpc", "read_response", None),
    ];
    let expected: Vec<(String, String, Option<&str>)> = expected
        .iter()
        .map(|(t, p, o)| (t.to_string(), p.to_string(), *o))
        .collect();
    assert_eq!(offered, expected);
    assert!(
        !events.iter().any(|e| e.point == "request_body"
            && e.target != "/read"
            && e.target != "/replace"
            && e.target != "/deny"),
        "a body point ran for a body not offered"
    );

    // A response over the limit: Skip streams it on untouched; Reject is a 502.
    let big = Backend::start(Behaviour::echo("big").stream(100_000));
    let big_proxy = start(dir.path(), &[&big], 0, &plugins);
    let req = |header: &str| {
        let req = Req::new("GET", "p.example", "/big").headers(&[(header, "1")]);
        http1_send(big_proxy.addr(), &req).expect("an answer")
    };
    let skipped = req("x-want-response");
    assert_eq!(skipped.status, 200);
    assert_eq!(skipped.body.len(), 100_000);
    assert_eq!(skipped.header("x-probe-body-seen"), None);
    let rejected = req("x-want-response-reject");
    assert_eq!(rejected.status, 502, "{}", rejected.text());
    let events = wait_for_events(asking.log_path(), WAIT, |e| {
        e.iter()
            .filter(|e| e.point == "request_finish" && e.target == "/big" && e.probe == "B")
            .count()
            == 2
    });
    let codes: Vec<Option<&str>> = events
        .iter()
        .filter(|e| e.point == "request_finish" && e.target == "/big" && e.probe == "B")
        .map(|e| e.field("error"))
        .collect();
    assert_eq!(codes, [Some("-"), Some("response_too_large")]);

    // After RequestBody the body can no longer be replaced (Forward: refused, and
    // the backend gets the body as read).
    let echoed = echo(&send("/late", &[("x-want", "1")], b"as sent"));
    assert_eq!(echoed.body_checksum, checksum(b"as sent"));
    let events = wait_for_events(asking.log_path(), WAIT, |e| {
        e.iter()
            .any(|e| e.point == "forward" && e.target == "/late")
    });
    let forward = events
        .iter()
        .find(|e| e.point == "forward" && e.target == "/late");
    assert_eq!(forward.and_then(|e| e.field("set_body")), Some("false"));

    // An empty body read for a plugin adds no `Content-Length: 0` to a GET.
    let get = Req::get("p.example", "/empty").headers(&[("x-want", "1")]);
    let echoed = echo(&http1_send(proxy.addr(), &get).expect("an answer"));
    assert!(!echoed.has_header("content-length"), "{echoed:?}");

    // A declared length over every Reject limit: 413 before the body is asked for,
    // not a `100 Continue`.
    let expect = "POST /expect HTTP/1.1\r\nHost: p.example\r\nx-want: 1\r\n\
        Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n";
    let reply = raw_exchange(proxy.addr(), expect.as_bytes(), WAIT);
    assert!(reply.text().starts_with("HTTP/1.1 413"), "{reply:?}");
}

/// While a body is read for a plugin, the client's failures stay the client's, as for
/// a streamed body: a stalled body gets 408 (`body_timeout`), a client that goes away
/// before its `Content-Length` leaves a cut body (`bad_body`; RequestFinish still
/// runs), and neither reaches the backend.
#[test]
fn client_failures_while_a_body_is_read_are_the_clients() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Backend::echo("b");
    let asking = asking_at(dir.path(), "after_location");
    let plugins = format!("body_timeout_ms = 300\n{}", entry(&asking));
    let proxy = start(dir.path(), &[&backend], 0, &plugins);
    let head = |path: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: p.example\r\nContent-Length: 10\r\n\r\nabc")
    };
    let stalled = raw_exchange(proxy.addr(), head("/stalled").as_bytes(), WAIT);
    assert!(stalled.text().starts_with("HTTP/1.1 408"), "{stalled:?}");

    let mut gone = std::net::TcpStream::connect(proxy.addr()).expect("connect");
    std::io::Write::write_all(&mut gone, head("/gone").as_bytes()).expect("send");
    wait_for_events(asking.log_path(), WAIT, |e| {
        e.iter()
            .any(|e| e.point == "after_location" && e.target == "/gone")
    });
    drop(gone);
    let events = finished(&asking, "/gone");
    assert_eq!(finish_error(&events, "/stalled"), Some("body_timeout"));
    assert_eq!(finish_error(&events, "/gone"), Some("bad_body"));
    assert!(
        !events.iter().any(|e| e.point == "request_body"),
        "{events:?}"
    );
    assert_eq!(backend.requests(), 0);
}

/// A backend's body that fails while it is read for a ResponseBody handler is the
/// backend's failure: 502 `upstream_failed`, never a cut body sent as whole.
#[test]
fn a_response_body_failing_while_read_is_a_502() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cut = RawBackend::start(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
    let asking = asking_at(dir.path(), "read_response");
    let plugins = entry(&asking);
    let proxy = start_at(dir.path(), &[cut.addr().to_string()], 0, &plugins);
    let response = http1_send(proxy.addr(), &Req::get("p.example", "/cut")).expect("an answer");
    assert_eq!(response.status, 502, "{}", response.text());
    let events = finished(&asking, "/cut");
    assert_eq!(finish_error(&events, "/cut"), Some("upstream_failed"));
    assert!(
        !events.iter().any(|e| e.point == "response_body"),
        "{events:?}"
    );
}

/// HTTP/2: a client that resets its stream while its body is read for a plugin ends
/// that request only (`client_closed`, RequestFinish runs); the connection and its
/// other streams stay up. (Before, the proxy closed the whole connection.)
#[test]
fn over_http2_a_reset_upload_ends_that_stream_only() {
    use hookgate_tests::contract::{H2Exact, H2Request};
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Backend::echo("b");
    let asking = asking_at(dir.path(), "after_location");
    let plugins = entry(&asking);
    let proxy = start(dir.path(), &[&backend], 0, &plugins);
    let h2 = H2Exact::h2c(proxy.addr()).expect("h2c");
    let upload = H2Request::new("POST", "http://p.example/gone").header("content-length", "100");
    h2.send_partial_then_reset(&upload, b"part", Duration::from_millis(300))
        .expect("sent and reset");
    let events = finished(&asking, "/gone");
    assert_eq!(finish_error(&events, "/gone"), Some("client_closed"));
    let fine = h2.send(&H2Request::new("GET", "http://p.example/fine"));
    assert_eq!(
        fine.map(|r| r.status),
        Ok(200),
        "the other stream was not served"
    );
    assert!(!h2.is_closed(), "the connection stays up");
    // Closed by the client, so that the proxy stops without waiting for it to drain.
    drop(h2);
}

/// A response without a body is not offered: a HEAD request's, a 204, a 304
/// (`Response::want_body` returns `false` there and ResponseBody never runs); an
/// HTTP/1.0 client gets a body read for a plugin whole, with its length.
#[test]
fn responses_without_a_body_are_not_offered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = Backend::echo("b");
    let asking = asking_at(dir.path(), "read_response");
    let plugins = entry(&asking);
    let proxy = start(dir.path(), &[&backend], 0, &plugins);
    let head = http1_send(proxy.addr(), &Req::new("HEAD", "p.example", "/head")).expect("HEAD");
    assert_eq!(head.status, 200);
    for status in ["204", "304"] {
        let req = Req::get("p.example", &format!("/status/{status}"))
            .headers(&[("x-backend-status", status)]);
        let response = http1_send(proxy.addr(), &req).expect("an answer");
        assert_eq!(response.status.to_string(), status);
    }
    let old = raw_exchange(
        proxy.addr(),
        b"GET /old HTTP/1.0\r\nHost: p.example\r\n\r\n",
        WAIT,
    );
    let text = old.text();
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    let events = wait_for_events(asking.log_path(), WAIT, |e| {
        e.iter().filter(|e| e.point == "request_finish").count() == 4
    });
    let offered = |path: &str| {
        events
            .iter()
            .find(|e| e.point == "read_response" && e.target == path)
            .and_then(|e| e.field("offered"))
    };
    assert_eq!(offered("/head"), Some("false"));
    assert_eq!(offered("/status/204"), Some("false"));
    assert_eq!(offered("/status/304"), Some("false"));
    assert_eq!(offered("/old"), Some("true"));
    let bodies: Vec<&str> = events
        .iter()
        .filter(|e| e.point == "response_body")
        .map(|e| e.target.as_str())
        .collect();
    assert_eq!(bodies, ["/old"]);
    let length = text.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length: ")
            .map(str::to_owned)
    });
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert_eq!(length, Some(body.len().to_string()), "{text}");
}
