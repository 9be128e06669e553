//! Protocols, end to end: TLS with certificates chosen by SNI, HTTP/2 (ALPN and prior
//! knowledge) in front of HTTP/1.1 backends, WebSocket tunnels, gigabyte bodies in
//! bounded memory, graceful shutdown, and hop-by-hop headers (DESIGN §3, §4).

use std::fs;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use hookgate_tests::streams::{
    download, h2_concurrent, peak_rss_kib, rss_kib, upload, Batch, BulkBackend, MemoryWatch,
    Transport, Upload, WebSocket,
};
use hookgate_tests::{
    free_addr, h2c_get, h2c_send, http1_send, pattern, read_events, Backend, Behaviour, CertFiles,
    Conn, Probe, Proxy, Req, TestCa,
};

/// `Sec-WebSocket-Accept` for the key every test client sends (RFC 6455's sample).
const WEBSOCKET_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A proxy config written for one test.
struct Config {
    path: PathBuf,
    plain: SocketAddr,
    tls: SocketAddr,
}

impl Config {
    /// Writes `<dir>/hookgate.toml`: a plain listener, `server` lines added to
    /// `[server]`, a TLS listener serving `certs` (if any), and every host routed to
    /// `backend`.
    fn write(dir: &Path, backend: SocketAddr, server: &str, certs: &[&CertFiles]) -> Config {
        let (plain, tls) = (free_addr(), free_addr());
        let tls_listener = if certs.is_empty() {
            String::new()
        } else {
            let certs: Vec<String> = certs.iter().map(|c| c.toml()).collect();
            format!(
                "[[server.tls]]\nlisten = \"{tls}\"\ncerts = [{}]\n",
                certs.join(", ")
            )
        };
        let text = format!(
            r#"default_product = "web"
[server]
listen = ["{plain}"]
{server}
{tls_listener}
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
"#
        );
        let path = dir.join("hookgate.toml");
        fs::write(&path, text).expect("write config");
        Config { path, plain, tls }
    }

    fn start(&self) -> Proxy {
        Proxy::start(&["--config", self.path.to_str().expect("UTF-8 path")])
    }
}

// ---------------------------------------------------------------------------------
// TLS and HTTP/2

#[test]
fn each_sni_name_gets_its_own_certificate_and_http1_over_tls_is_proxied() {
    let backend = Backend::echo("b1");
    let ca = TestCa::new();
    let alpha = ca.issue("alpha", &["alpha.example.com"]);
    let beta = ca.issue("beta", &["beta.example.com"]);
    let config = Config::write(ca.dir(), backend.addr(), "", &[&alpha, &beta]);
    let _proxy = config.start();

    for cert in [&alpha, &beta] {
        let name = cert.names[0].as_str();
        let mut conn = Conn::tls(config.tls, &ca, Some(name), &["http/1.1"])
            .unwrap_or_else(|e| panic!("TLS to {name}: {e}"));
        assert_eq!(conn.alpn(), Some("http/1.1"));
        assert_eq!(
            conn.peer_certificate(),
            Some(&cert.der),
            "{name} got the certificate for {:?}",
            conn.peer_names()
        );
        // Two requests: keep-alive works over TLS too.
        for path in ["/tls/1", "/tls/2?x=y"] {
            let response = conn
                .get(name, path)
                .unwrap_or_else(|e| panic!("{name}{path}: {e}"));
            assert_eq!(response.status, 200, "{}", response.text());
            assert_eq!(response.version, "HTTP/1.1");
            let echo = response.echo();
            assert_eq!(echo.uri, path);
            assert_eq!(echo.version, "HTTP/1.1");
            assert_eq!(echo.header_all("host"), [name]);
            assert_eq!(echo.header("x-forwarded-proto"), Some("https"));
            assert_eq!(echo.header("x-forwarded-for"), Some("127.0.0.1"));
        }
    }
    assert_eq!(backend.requests(), 4);
}

/// Requests that each keep the backend busy for `delay_ms`: answered concurrently,
/// they take about one delay; one after the other, `count` delays.
fn slow_requests(host: &str, prefix: &str, count: usize, delay_ms: u64) -> Vec<Req> {
    (0..count)
        .map(|i| {
            Req::get(host, &format!("{prefix}/{i}"))
                .header("x-backend-delay-ms", &delay_ms.to_string())
        })
        .collect()
}

const STREAMS: usize = 8;
const STREAM_DELAY_MS: u64 = 500;

/// Every stream answered by the backend, and all of them in much less time than one
/// after the other would take.
fn assert_all_streams_answered(batch: &Batch, prefix: &str) {
    for (i, response) in batch.responses.iter().enumerate() {
        let response = response
            .as_ref()
            .unwrap_or_else(|e| panic!("stream {i} failed: {e}"));
        assert_eq!(response.status, 200, "stream {i}: {}", response.text());
        assert_eq!(response.version, "HTTP/2.0");
        let echo = response.echo();
        assert_eq!(echo.uri, format!("{prefix}/{i}"));
        assert_eq!(echo.version, "HTTP/1.1");
    }
    let serial = Duration::from_millis(STREAM_DELAY_MS * STREAMS as u64);
    assert!(
        batch.elapsed < serial / 2,
        "{STREAMS} streams of {STREAM_DELAY_MS} ms took {:?}: not answered concurrently",
        batch.elapsed
    );
}

#[test]
fn http2_negotiated_by_alpn_reaches_an_http1_backend_with_host_from_authority() {
    let backend = Backend::echo("b1");
    let ca = TestCa::new();
    let cert = ca.issue("shop", &["shop.example.com"]);
    let config = Config::write(ca.dir(), backend.addr(), "", &[&cert]);
    let _proxy = config.start();

    let mut conn = Conn::tls(
        config.tls,
        &ca,
        Some("shop.example.com"),
        &["h2", "http/1.1"],
    )
    .expect("TLS connection");
    assert_eq!(conn.alpn(), Some("h2"));
    // An HTTP/2 request has no Host header, only `:authority`.
    let response = conn
        .send(&Req::get("shop.example.com", "/h2/a?b=c"))
        .expect("HTTP/2 request");
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.version, "HTTP/2.0");
    let echo = response.echo();
    assert_eq!(echo.version, "HTTP/1.1");
    assert_eq!(echo.uri, "/h2/a?b=c");
    assert_eq!(echo.header_all("host"), ["shop.example.com"]);
    assert_eq!(echo.header("x-forwarded-proto"), Some("https"));

    let requests = slow_requests("shop.example.com", "/h2/stream", STREAMS, STREAM_DELAY_MS);
    let transport = Transport::Tls {
        ca: &ca,
        sni: "shop.example.com",
    };
    let batch = h2_concurrent(config.tls, transport, &requests).expect("HTTP/2 connection");
    assert_eq!(batch.alpn.as_deref(), Some("h2"));
    assert_all_streams_answered(&batch, "/h2/stream");
}

#[test]
fn h2c_with_prior_knowledge_on_the_plain_listener_answers_concurrent_streams() {
    let backend = Backend::echo("b1");
    let proxy = Proxy::start(&["--backend", &backend.addr_string()]);

    let response = h2c_get(proxy.addr(), "www.example.com:8080", "/h2c", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.version, "HTTP/2.0");
    let echo = response.echo();
    assert_eq!(echo.version, "HTTP/1.1");
    assert_eq!(echo.header_all("host"), ["www.example.com:8080"]);
    assert_eq!(echo.header("x-forwarded-proto"), Some("http"));

    let requests = slow_requests("www.example.com", "/h2c/stream", STREAMS, STREAM_DELAY_MS);
    let batch = h2_concurrent(proxy.addr(), Transport::H2c, &requests).expect("h2c connection");
    assert_all_streams_answered(&batch, "/h2c/stream");
}

// ---------------------------------------------------------------------------------
// WebSocket

#[test]
fn websocket_is_tunnelled_both_ways_after_the_request_callbacks_ran() {
    let backend = Backend::echo("ws");
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = "[[rule]]\npoint = \"found_product\"\naction = \"response\"\nstatus = 403\n\
                 path = \"/ws/blocked\"\n";
    let probe = Probe::new(dir.path(), "A", rules);
    let proxy = Proxy::start(&[
        "--backend",
        &backend.addr_string(),
        "--plugin",
        &probe.plugin_arg(),
    ]);

    let mut ws = WebSocket::open(proxy.addr(), "chat.example.com", "/ws/open").expect("upgrade");
    assert_eq!(ws.status, 101, "{:?}", ws.headers);
    assert_eq!(
        ws.header("upgrade").map(str::to_ascii_lowercase).as_deref(),
        Some("websocket")
    );
    let connection = ws.header("connection").unwrap_or("").to_ascii_lowercase();
    assert!(connection.contains("upgrade"), "{:?}", ws.headers);
    assert_eq!(ws.header("sec-websocket-accept"), Some(WEBSOCKET_ACCEPT));
    // ReadResponse ran on the 101, and Forward before it, like for any request.
    assert_eq!(ws.header("x-probe-seen"), Some("A"));
    let points: Vec<String> = read_events(probe.log_path())
        .into_iter()
        .filter(|e| e.path() == "/ws/open")
        .map(|e| e.point)
        .collect();
    // RequestFinish may already have run too: the 101 has been sent (DESIGN §2.1 says
    // nothing of tunnels, so its timing is not pinned here).
    let before_upgrade = [
        "before_location",
        "found_product",
        "after_location",
        "forward",
        "read_response",
    ];
    assert!(
        points.starts_with(&before_upgrade.map(String::from))
            && points[before_upgrade.len()..]
                .iter()
                .all(|p| p == "request_finish"),
        "callbacks for the upgrade request: {points:?}"
    );

    let seen = backend.seen();
    let upgrade = seen.last().expect("the backend saw the upgrade request");
    assert_eq!(upgrade.uri, "/ws/open");
    assert_eq!(upgrade.header("upgrade"), Some("websocket"));
    assert_eq!(
        upgrade
            .header("connection")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("upgrade")
    );
    assert_eq!(upgrade.header("host"), Some("chat.example.com"));

    let big = pattern(1024 * 1024);
    let payloads: [&[u8]; 4] = [b"\x81\x05hello", &big[..64 * 1024], &big, b"\x88\x00"];
    for (i, payload) in payloads.iter().enumerate() {
        let echoed = ws
            .roundtrip(payload)
            .unwrap_or_else(|e| panic!("round trip {i}: {e}"));
        assert!(
            echoed == *payload,
            "round trip {i}: {} bytes came back different",
            payload.len()
        );
    }
    // The backend closes its side when the client does: the tunnel passes that on.
    assert!(
        ws.close_and_wait(Duration::from_secs(5)),
        "the proxy kept the client side of the tunnel open after the backend closed"
    );

    let blocked = WebSocket::open(proxy.addr(), "chat.example.com", "/ws/blocked")
        .expect("answer to the blocked upgrade");
    assert_eq!(blocked.status, 403, "{:?}", blocked.headers);
    assert!(
        backend.seen().iter().all(|s| s.uri != "/ws/blocked"),
        "the blocked upgrade reached the backend"
    );
}

// ---------------------------------------------------------------------------------
// Large bodies

const GIB: u64 = 1024 * 1024 * 1024;
/// How far above its idle resident memory the proxy may go while moving a gigabyte.
const RSS_HEADROOM_KIB: u64 = 64 * 1024;
const TRANSFER_LIMIT: Duration = Duration::from_secs(90);
/// How long the receiving end stops reading, halfway through a transfer.
const RECEIVER_PAUSE: Duration = Duration::from_millis(500);

#[test]
fn gigabyte_upload_and_download_stream_through_in_bounded_memory() {
    let backend = BulkBackend::start();
    let admin = free_addr().to_string();
    let proxy = Proxy::start(&["--backend", &backend.addr_string(), "--admin", &admin]);
    let pid = proxy.pid();
    let host = "bulk.example.com";

    // Warm up: connections, pools and buffers exist before the idle reading.
    let small = 4 * 1024 * 1024;
    let warm = upload(proxy.addr(), host, "/warm", small, TRANSFER_LIMIT).expect("warm-up upload");
    assert_eq!(warm.status, 200, "{}", warm.reply);
    let path = format!("/pattern/{small}");
    let warm = download(proxy.addr(), host, &path, Duration::ZERO, TRANSFER_LIMIT)
        .expect("warm-up download");
    assert_eq!((warm.status, warm.bytes), (200, small));
    // The warm-up connections' state is gone from the proxy before the idle reading.
    proxy.wait_connections_closed(Duration::from_secs(5));
    let idle = rss_kib(pid).expect("the proxy's VmRSS");

    // Halfway through each transfer the receiver stops reading for a while: a proxy
    // without backpressure would go on reading from the sender, and hold it all.
    let watch = MemoryWatch::start(pid, Duration::from_millis(10));
    let path = format!("/upload?pause-ms={}", RECEIVER_PAUSE.as_millis());
    let up = upload(proxy.addr(), host, &path, GIB, TRANSFER_LIMIT).expect("1 GiB upload");
    let up_peak = watch.stop();
    assert_eq!(up.status, 200, "{}", up.reply);
    assert_eq!(up.bytes, GIB);
    assert_eq!(up.reply, format!("bytes={GIB} mismatch=none\n"));
    assert_eq!(
        backend.uploads().last(),
        Some(&Upload {
            bytes: GIB,
            first_mismatch: None,
            complete: true
        })
    );

    let watch = MemoryWatch::start(pid, Duration::from_millis(10));
    let path = format!("/pattern/{GIB}");
    let down = download(proxy.addr(), host, &path, RECEIVER_PAUSE, TRANSFER_LIMIT)
        .expect("1 GiB download");
    let down_peak = watch.stop();
    assert_eq!(down.status, 200);
    assert_eq!(down.bytes, GIB);
    assert_eq!(
        down.first_mismatch, None,
        "the download differs from the pattern"
    );

    let lifetime_peak = peak_rss_kib(pid).expect("the proxy's VmHWM");
    eprintln!(
        "1 GiB upload {:?}, download {:?} (each with a {RECEIVER_PAUSE:?} pause); proxy \
         RSS idle {idle} KiB, peak during upload {up_peak} KiB, during download \
         {down_peak} KiB, VmHWM {lifetime_peak} KiB",
        up.elapsed, down.elapsed,
    );
    // VmHWM covers what falls between two samples; the samples cover what VmHWM, kept
    // lazily by the kernel, may not show yet.
    let peak = lifetime_peak.max(up_peak).max(down_peak);
    assert!(
        peak < idle + RSS_HEADROOM_KIB,
        "the proxy's resident memory reached {peak} KiB (idle {idle} KiB; upload peak \
         {up_peak} KiB, download peak {down_peak} KiB, VmHWM {lifetime_peak} KiB): bodies \
         are being buffered"
    );
}

// ---------------------------------------------------------------------------------
// Graceful shutdown

/// A request sent from a thread: its result, and when that came.
type InFlight = thread::JoinHandle<(Result<hookgate_tests::Response, String>, Instant)>;

/// Sends `req` from a thread, over HTTP/1.1 or (`h2c`) HTTP/2 with prior knowledge.
fn send_in_background(addr: SocketAddr, req: Req, h2c: bool) -> InFlight {
    thread::spawn(move || {
        let result = if h2c {
            h2c_send(addr, &req)
        } else {
            http1_send(addr, &req)
        };
        (result, Instant::now())
    })
}

/// Waits until `backend` has received `count` requests, at most 5 s.
fn wait_for_requests(backend: &Backend, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while backend.requests() < count {
        assert!(
            Instant::now() < deadline,
            "the backend got {} requests, not {count}",
            backend.requests()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// How long after `since` connecting to `addr` is refused; panics after `limit`.
fn refused_within(addr: SocketAddr, since: Instant, limit: Duration) -> Duration {
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return since.elapsed(),
            _ => {}
        }
        assert!(
            since.elapsed() < limit,
            "{addr} still accepted connections {limit:?} after SIGTERM"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_refuses_new_connections_and_drains_the_request_in_flight() {
    let backend = Backend::start(Behaviour::echo("slow").delay(Duration::from_secs(1)));
    let dir = tempfile::tempdir().expect("temp dir");
    let drain = Duration::from_secs(5);
    let server = format!("drain_timeout_ms = {}", drain.as_millis());
    let config = Config::write(dir.path(), backend.addr(), &server, &[]);
    let mut proxy = config.start();

    // Idle keep-alive connections must not hold the drain up.
    let mut idle_http1 = Conn::http1(config.plain).expect("HTTP/1.1 connection");
    let mut idle_h2c = Conn::h2c(config.plain).expect("h2c connection");
    for conn in [&mut idle_http1, &mut idle_h2c] {
        let response = conn
            .send(&Req::get("idle.example.com", "/idle").header("x-backend-delay-ms", "0"))
            .expect("a first request on the idle connection");
        assert_eq!(response.status, 200, "{}", response.text());
    }

    let in_flight = [false, true].map(|h2c| {
        let path = if h2c { "/slow/h2c" } else { "/slow/http1" };
        (
            path,
            send_in_background(config.plain, Req::get("slow.example.com", path), h2c),
        )
    });
    // The two on the idle connections, then the two slow ones.
    wait_for_requests(&backend, 4);
    let term = Instant::now();
    proxy.signal("TERM");

    let refused = refused_within(config.plain, term, Duration::from_secs(1));
    assert!(
        proxy.is_running(),
        "the proxy exited at once instead of draining the requests in flight"
    );
    for (conn, what) in [(&idle_http1, "HTTP/1.1"), (&idle_h2c, "h2c")] {
        assert!(
            conn.closed_within(Duration::from_secs(2)),
            "the proxy kept an idle {what} connection open while draining"
        );
    }

    let mut answered = term;
    for (path, request) in in_flight {
        let (result, at) = request.join().expect("client thread");
        let response = result.unwrap_or_else(|e| panic!("{path} in flight got no response: {e}"));
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert_eq!(response.echo().uri, path);
        answered = answered.max(at);
    }

    let status = proxy
        .wait_exit(drain + Duration::from_secs(2))
        .expect("the proxy exits after the drain");
    let exited = term.elapsed();
    assert!(status.success(), "exit status {status}");
    eprintln!(
        "refused new connections {refused:?} after SIGTERM; answered the requests in \
         flight after {:?}; exited after {exited:?}",
        answered.duration_since(term)
    );
    // Once nothing is in flight the proxy has no reason to wait out the drain time.
    assert!(
        exited < drain - Duration::from_secs(1),
        "the proxy took {exited:?} to exit, though its last request ended {:?} after \
         SIGTERM",
        answered.duration_since(term)
    );
}

#[test]
fn drain_timeout_bounds_how_long_a_slow_request_delays_exit() {
    let backend = Backend::start(Behaviour::echo("slower").delay(Duration::from_secs(5)));
    let dir = tempfile::tempdir().expect("temp dir");
    let drain = Duration::from_millis(300);
    let server = format!("drain_timeout_ms = {}", drain.as_millis());
    let config = Config::write(dir.path(), backend.addr(), &server, &[]);
    let mut proxy = config.start();

    let in_flight =
        send_in_background(config.plain, Req::get("slow.example.com", "/slower"), false);
    wait_for_requests(&backend, 1);
    let term = Instant::now();
    proxy.signal("TERM");
    let status = proxy
        .wait_exit(Duration::from_secs(4))
        .expect("the proxy exits within 4 s of SIGTERM despite a 5 s request");
    let exited = term.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(
        exited >= drain - Duration::from_millis(50),
        "the proxy exited after {exited:?}, before its drain time of {drain:?}"
    );
    assert!(
        exited < drain + Duration::from_millis(1500),
        "the proxy exited {exited:?} after SIGTERM; drain time {drain:?}"
    );
    eprintln!("drain {drain:?}: exited {exited:?} after SIGTERM");

    let (result, _) = in_flight.join().expect("client thread");
    assert!(
        result.is_err(),
        "the request cut by the drain timeout got a response: {result:?}"
    );
}

// ---------------------------------------------------------------------------------
// Hop-by-hop headers

/// Headers that only concern one connection (RFC 9110 §7.6.1), as a client sends them.
const CLIENT_HOP_BY_HOP: [(&str, &str); 3] = [
    ("keep-alive", "timeout=5"),
    ("proxy-connection", "keep-alive"),
    ("te", "trailers"),
];

#[test]
fn hop_by_hop_headers_are_not_forwarded_either_way() {
    let backend = Backend::start(
        Behaviour::echo("hop")
            .header("connection", "x-backend-hop")
            .header("x-backend-hop", "1")
            .header("keep-alive", "timeout=5, max=100")
            .header("x-backend-kept", "1"),
    );
    let proxy = Proxy::start(&["--backend", &backend.addr_string()]);

    // Keep-alive client: hyper sets no Connection header of its own on the response.
    let mut conn = Conn::http1(proxy.addr()).expect("connection");
    let req = Req::get("hop.example.com", "/keep")
        .headers(&CLIENT_HOP_BY_HOP)
        .header("x-kept", "yes");
    let response = conn.send(&req).expect("response");
    assert_eq!(response.status, 200, "{}", response.text());
    let echo = response.echo();
    for (name, _) in CLIENT_HOP_BY_HOP {
        assert!(!echo.has_header(name), "{name} was forwarded: {echo:?}");
    }
    assert_eq!(echo.header("x-kept"), Some("yes"));
    for name in ["connection", "keep-alive", "x-backend-hop"] {
        assert_eq!(
            response.header(name),
            None,
            "the backend's {name} reached the client: {:?}",
            response.headers
        );
    }
    assert_eq!(response.header("x-backend-kept"), Some("1"));

    // `Connection: close` naming another header: neither is forwarded, and the only
    // Connection the client sees is the proxy's own `close`.
    let req = Req::get("hop.example.com", "/close")
        .header("connection", "close, x-drop-me")
        .header("x-drop-me", "1")
        .headers(&CLIENT_HOP_BY_HOP)
        .header("x-kept", "yes");
    let response = http1_send(proxy.addr(), &req).expect("response");
    assert_eq!(response.status, 200, "{}", response.text());
    let echo = response.echo();
    for name in [
        "connection",
        "x-drop-me",
        "keep-alive",
        "proxy-connection",
        "te",
    ] {
        assert!(!echo.has_header(name), "{name} was forwarded: {echo:?}");
    }
    assert_eq!(echo.header("x-kept"), Some("yes"));
    let connection: Vec<String> = response
        .header_all("connection")
        .iter()
        .map(|v| v.to_ascii_lowercase())
        .collect();
    assert!(
        connection.iter().all(|v| v == "close"),
        "the client saw Connection: {connection:?}"
    );
    assert_eq!(response.header("keep-alive"), None);
    assert_eq!(response.header("x-backend-hop"), None);

    // An HTTP/2 client: hyper drops `Connection` and `Keep-Alive` on its own, but only
    // the proxy knows that the backend's Connection named `x-backend-hop`.
    let response = h2c_get(proxy.addr(), "hop.example.com", "/h2", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    for name in ["connection", "keep-alive", "x-backend-hop"] {
        assert_eq!(
            response.header(name),
            None,
            "the backend's {name} reached the HTTP/2 client: {:?}",
            response.headers
        );
    }
    assert_eq!(response.header("x-backend-kept"), Some("1"));
}

/// An open WebSocket tunnel is a connection like any other: SIGTERM waits for it
/// (within the drain time), and Finish runs once, when the tunnel closes.
#[test]
fn open_tunnel_delays_shutdown_and_finish_until_it_closes() {
    let backend = Backend::echo("ws");
    let dir = tempfile::tempdir().expect("temp dir");
    let probe = Probe::new(dir.path(), "A", "");
    let config = Config::write(dir.path(), backend.addr(), "drain_timeout_ms = 5000", &[]);
    let plugin = probe.plugin_arg();
    let mut proxy = Proxy::start(&[
        "--config",
        config.path.to_str().expect("utf-8"),
        "--plugin",
        &plugin,
    ]);

    let mut ws = WebSocket::open(config.plain, "chat.example.com", "/ws").expect("upgrade");
    assert_eq!(ws.status, 101, "{:?}", ws.headers);
    assert_eq!(ws.roundtrip(b"ping").expect("echo"), b"ping");
    let finishes = |p: &Probe| p.events().iter().filter(|e| e.point == "finish").count();
    assert_eq!(finishes(&probe), 0, "Finish ran while the tunnel is open");

    proxy.signal("TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !proxy
        .stderr_text()
        .contains("shutting down: no new connections")
    {
        assert!(Instant::now() < deadline, "SIGTERM did not start the drain");
        thread::sleep(Duration::from_millis(10));
    }
    // The drain has begun. That the proxy does not exit is shown by watching it for a
    // while: there is no event for "still waiting for the tunnel".
    assert_eq!(
        proxy.wait_exit(Duration::from_millis(300)),
        None,
        "the proxy exited with a tunnel still open"
    );
    assert_eq!(
        ws.roundtrip(b"still here").expect("echo while draining"),
        b"still here"
    );

    assert!(
        ws.close_and_wait(Duration::from_secs(3)),
        "tunnel did not close"
    );
    let status = proxy
        .wait_exit(Duration::from_secs(3))
        .expect("the proxy exits once the tunnel is gone");
    assert!(status.success(), "{status:?}");
    assert_eq!(finishes(&probe), 1, "{:?}", probe.events());
}

/// A route condition on the TLS server name (`ses_tls_sni_in`, issue 13): the name the
/// client sent in its handshake picks the cluster, whatever the Host header says.
#[test]
fn route_conditions_see_the_tls_server_name() {
    let (alpha_backend, other_backend) = (Backend::echo("alpha"), Backend::echo("other"));
    let ca = TestCa::new();
    let alpha = ca.issue("alpha", &["alpha.example.com"]);
    let beta = ca.issue("beta", &["beta.example.com"]);
    let tls = free_addr();
    let text = format!(
        r#"default_product = "web"
[server]
listen = ["{plain}"]
[[server.tls]]
listen = "{tls}"
certs = [{alpha_cert}, {beta_cert}]
[products.web]
routes = [
  {{ cond = 'ses_tls_sni_in("ALPHA.example.com")', cluster = "alpha" }},
  {{ cluster = "other" }},
]
[clusters.alpha.subclusters.main]
weight = 1
backends = [{{ addr = "{alpha_addr}" }}]
[clusters.other.subclusters.main]
weight = 1
backends = [{{ addr = "{other_addr}" }}]
"#,
        plain = free_addr(),
        alpha_cert = alpha.toml(),
        beta_cert = beta.toml(),
        alpha_addr = alpha_backend.addr(),
        other_addr = other_backend.addr(),
    );
    let path = ca.dir().join("sni-routes.toml");
    fs::write(&path, text).expect("write config");
    let _proxy = Proxy::start(&["--config", path.to_str().expect("UTF-8 path")]);
    for (sni, host, expected) in [
        ("alpha.example.com", "alpha.example.com", "alpha"),
        // The Host header does not matter: the handshake's name does.
        ("alpha.example.com", "beta.example.com", "alpha"),
        ("beta.example.com", "alpha.example.com", "other"),
    ] {
        let mut conn = Conn::tls(tls, &ca, Some(sni), &["http/1.1"])
            .unwrap_or_else(|e| panic!("TLS to {sni}: {e}"));
        let response = conn.get(host, "/").unwrap_or_else(|e| panic!("{sni}: {e}"));
        assert_eq!(response.echo().backend, expected, "SNI {sni}, Host {host}");
    }
}
