//! Every wait is bounded (DESIGN §6, issue 11): the client-side timeouts
//! (`server.header_timeout_ms`, `idle_timeout_ms`, `body_timeout_ms`,
//! `send_timeout_ms`, `keepalive_requests`) and the backend-side ones per cluster
//! (`response_timeout_ms` from the end of the upload, `read_timeout_ms`), end to end
//! with the real binary, short timeouts, raw sockets and real backends.
//!
//! Each test measures that something happens within a bound several times the
//! configured timeout (a slow CI machine must not fail them), and, where the point is
//! that a wait is not cut short, that it is not.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hookgate_tests::contract::H2c;
use hookgate_tests::{
    arg, free_addr, http1_get, Backend, Behaviour, Conn, Probe, Proxy, Req, TestCa,
};

/// The bound on any one wait of these tests.
const BOUND: Duration = Duration::from_secs(10);

/// A proxy with `server` lines added to `[server]` and `cluster` lines to the one
/// cluster, in front of `backend`; a TLS listener too; the probe plugin records
/// RequestFinish.
struct Rig {
    proxy: Proxy,
    probe: Probe,
    ca: TestCa,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn start(server: &str, cluster: &str, backend: SocketAddr) -> Rig {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = TestCa::new();
        let cert = ca.issue("timeouts", &["t.example"]);
        let probe = Probe::new(dir.path(), "P", "");
        let config = dir.path().join("hookgate.toml");
        fs::write(
            &config,
            format!(
                r#"default_product = "t"
[server]
listen = ["{plain}"]
admin = "{admin}"
{server}
[[server.tls]]
listen = "{tls}"
certs = [{cert}]

[products.t]
routes = [{{ cluster = "c" }}]

[clusters.c]
{cluster}
[clusters.c.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
"#,
                plain = free_addr(),
                admin = free_addr(),
                tls = free_addr(),
                cert = cert.toml(),
            ),
        )
        .expect("write config");
        let proxy = Proxy::start(&["--config", arg(&config), "--plugin", &probe.plugin_arg()]);
        Rig {
            proxy,
            probe,
            ca,
            _dir: dir,
        }
    }

    fn plain(&self) -> SocketAddr {
        self.proxy.addr()
    }

    /// The error code of the RequestFinish of `path`, waiting for it.
    fn finish_error(&self, path: &str) -> Option<String> {
        let events = hookgate_tests::wait_for_events(self.probe.log_path(), BOUND, |events| {
            events
                .iter()
                .any(|e| e.is("P", "request_finish") && e.path() == path)
        });
        events
            .into_iter()
            .find(|e| e.is("P", "request_finish") && e.path() == path)
            .and_then(|e| e.error().map(str::to_owned))
    }
}

/// Reads until the peer closes (EOF or reset) or `BOUND` passes; returns the bytes
/// and whether it closed.
fn read_to_close(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + BOUND;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    while Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match stream.read(&mut buf) {
            Ok(0) => return (bytes, true),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return (bytes, true),
        }
    }
    (bytes, false)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    let _ = stream.set_nodelay(true);
    stream
}

/// Today's bug, pinned: 50 silent sockets under `max_connections = 50` locked every
/// client out for as long as they stayed. With the header timeout they are closed,
/// and a real client is served within it.
#[test]
fn silent_sockets_cannot_lock_out_a_real_client() {
    let backend = Backend::echo("b");
    let rig = Rig::start(
        "max_connections = 50\nheader_timeout_ms = 1000\n",
        "",
        backend.addr(),
    );
    let silent: Vec<TcpStream> = (0..50).map(|_| connect(rig.plain())).collect();
    let started = Instant::now();
    let response = http1_get(rig.plain(), "t.example", "/real", &[]);
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        started.elapsed() < BOUND,
        "served after {:?}",
        started.elapsed()
    );
    for mut socket in silent {
        let (bytes, closed) = read_to_close(&mut socket);
        assert!(
            closed && bytes.is_empty(),
            "a silent socket is closed, sent nothing"
        );
    }
}

/// A partial HTTP/2 preface, and a TLS connection silent after its handshake, are
/// closed by the header timeout (both were held forever).
#[test]
fn a_partial_preface_and_a_silent_tls_connection_are_closed() {
    let backend = Backend::echo("b");
    let rig = Rig::start("header_timeout_ms = 500\n", "", backend.addr());
    let mut partial = connect(rig.plain());
    partial.write_all(b"PRI * HTTP/2.0\r\n").expect("write");
    let started = Instant::now();
    let (_, closed) = read_to_close(&mut partial);
    assert!(closed, "a partial preface is closed");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "not before the timeout"
    );

    let tls = Conn::tls(
        rig.proxy.tls_addr(),
        &rig.ca,
        Some("t.example"),
        &["http/1.1"],
    )
    .expect("TLS handshake");
    assert!(
        tls.closed_within(BOUND),
        "a silent TLS connection is closed"
    );

    // A silent socket on the admin listener too.
    let admin = rig.proxy.admin_addr().expect("admin");
    let mut silent_admin = connect(admin);
    let (_, closed) = read_to_close(&mut silent_admin);
    assert!(closed, "a silent admin socket is closed");
}

/// Keep-alive: the idle timeout runs from the end of a response; a connection that
/// then sends nothing is closed. One that sends a request in time is served.
#[test]
fn idle_keep_alive_connections_close_after_the_idle_timeout() {
    let backend = Backend::echo("b");
    let rig = Rig::start(
        "idle_timeout_ms = 600\nheader_timeout_ms = 5000\n",
        "",
        backend.addr(),
    );
    let mut conn = Conn::http1(rig.plain()).expect("connect");
    let response = conn.get("t.example", "/one").expect("first");
    assert_eq!(response.status, 200);
    let response = conn.get("t.example", "/two").expect("second, in time");
    assert_eq!(response.status, 200);
    let idle = Instant::now();
    assert!(conn.closed_within(BOUND), "the idle connection is closed");
    assert!(
        idle.elapsed() >= Duration::from_millis(500),
        "{:?}",
        idle.elapsed()
    );

    // HTTP/2: no open stream for the idle timeout → GOAWAY and close.
    let h2 = H2c::connect(rig.plain());
    let response = h2.send(&Req::get("t.example", "/h2")).expect("h2 request");
    assert_eq!(response.status, 200);
    assert!(
        h2.closed_within(BOUND),
        "the idle HTTP/2 connection is closed"
    );
}

/// A client that stops sending its body gets 408 (`body_timeout`), not a 504 that
/// blames a healthy backend.
#[test]
fn a_stalled_upload_is_408_not_504() {
    let backend = Backend::echo("b");
    let rig = Rig::start("body_timeout_ms = 500\n", "", backend.addr());
    let mut stream = connect(rig.plain());
    stream
        .write_all(
            b"POST /stalled HTTP/1.1\r\nHost: t.example\r\nContent-Length: 100\r\n\r\n0123456789",
        )
        .expect("write");
    let (bytes, _) = read_to_close(&mut stream);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert_eq!(
        rig.finish_error("/stalled").as_deref(),
        Some("body_timeout")
    );
}

/// The response timeout runs from the end of the request body: an upload slower than
/// it, to a backend that answers as soon as it has the body, succeeds (it was a 504).
#[test]
fn the_response_timeout_starts_after_the_upload() {
    let backend = Backend::echo("b");
    let rig = Rig::start("", "response_timeout_ms = 600\n", backend.addr());
    let mut stream = connect(rig.plain());
    stream
        .write_all(b"POST /slow-upload HTTP/1.1\r\nHost: t.example\r\nContent-Length: 6\r\n\r\n")
        .expect("write head");
    for part in [b"ab", b"cd", b"ef"] {
        std::thread::sleep(Duration::from_millis(400));
        stream.write_all(part).expect("write body part");
    }
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = stream.set_read_timeout(Some(BOUND));
    while !String::from_utf8_lossy(&response).contains("body-length: 6") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

/// A backend that stalls in the middle of its body: after the read timeout the
/// client sees the truncation (HTTP/1.1 closes without the last chunk).
#[test]
fn a_backend_stalling_mid_body_is_cut_after_the_read_timeout() {
    let backend =
        Backend::start(Behaviour::echo("slow").stream_slowly(3000, 1000, Duration::from_secs(30)));
    let rig = Rig::start("", "read_timeout_ms = 500\n", backend.addr());
    let mut stream = connect(rig.plain());
    stream
        .write_all(b"GET /stall HTTP/1.1\r\nHost: t.example\r\n\r\n")
        .expect("write");
    let started = Instant::now();
    let (bytes, closed) = read_to_close(&mut stream);
    let text = String::from_utf8_lossy(&bytes);
    assert!(closed, "the connection is closed: {text}");
    assert!(started.elapsed() < BOUND);
    // Chunked: no last chunk; with a length: fewer bytes than it says.
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(
        !body.contains("0\r\n\r\n"),
        "no last chunk: the truncation shows: {text}"
    );
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse::<usize>().ok());
    assert!(
        length.is_none_or(|length| body.len() < length),
        "fewer bytes than the length: {text}"
    );
}

/// `keepalive_requests`: the connection's last request says `Connection: close` and
/// the connection closes after it.
#[test]
fn keepalive_requests_bounds_the_requests_per_connection() {
    let backend = Backend::echo("b");
    let rig = Rig::start("keepalive_requests = 3\n", "", backend.addr());
    let mut conn = Conn::http1(rig.plain()).expect("connect");
    for path in ["/1", "/2"] {
        let response = conn.get("t.example", path).expect("served");
        assert_eq!(response.header("connection"), None, "{path}");
    }
    let third = conn.get("t.example", "/3").expect("served");
    assert_eq!(third.header("connection"), Some("close"));
    assert!(conn.closed_within(BOUND));
}

/// A client that stops reading a large response: after the send timeout the proxy
/// gives up on it (closes), instead of holding it and its backend forever.
#[test]
fn a_client_that_stops_reading_is_dropped_after_the_send_timeout() {
    let backend = Backend::start(Behaviour::echo("big").stream(256 * 1024 * 1024));
    let rig = Rig::start("send_timeout_ms = 500\n", "", backend.addr());
    let mut stream = connect(rig.plain());
    stream
        .write_all(b"GET /big HTTP/1.1\r\nHost: t.example\r\n\r\n")
        .expect("write");
    // Read nothing for a while: the socket buffers fill, the proxy's writes stall.
    std::thread::sleep(Duration::from_secs(2));
    let (bytes, closed) = read_to_close(&mut stream);
    assert!(closed, "the proxy closed the connection");
    assert!(
        bytes.len() < 256 * 1024 * 1024,
        "the response was not sent whole: {} bytes",
        bytes.len()
    );
}

/// A backend that takes the request head and then stops reading (its window full):
/// after the cluster's send timeout the exchange fails (502), instead of holding the
/// client, the proxy and the backend until the response timeout or forever.
#[test]
fn a_backend_that_stops_reading_the_body_fails_after_the_send_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let backend_addr = listener.local_addr().expect("addr");
    let (done, wait_done) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        // Accept and hold the connection without reading a byte, until the test ends.
        let held = listener.accept().map(|(stream, _)| stream);
        let _ = wait_done.recv_timeout(BOUND);
        drop(held);
    });
    let rig = Rig::start(
        "",
        "send_timeout_ms = 500\nresponse_timeout_ms = 60000\nretries = 0\ncross_retry = 0\n",
        backend_addr,
    );
    let body_len = 64 * 1024 * 1024;
    let mut stream = connect(rig.plain());
    let mut writer = stream.try_clone().expect("clone");
    let upload = std::thread::spawn(move || {
        let head = format!(
            "POST /upload HTTP/1.1\r\nHost: t.example\r\nContent-Length: {body_len}\r\n\r\n"
        );
        let _ = writer.write_all(head.as_bytes());
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..(body_len / chunk.len()) {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let (bytes, _) = read_to_close(&mut stream);
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 502"), "{text}");
    assert!(started.elapsed() < BOUND, "{:?}", started.elapsed());
    assert_eq!(
        rig.finish_error("/upload").as_deref(),
        Some("upstream_failed")
    );
    drop(stream);
    let _ = done.send(());
    let _ = upload.join();
    let _ = holder.join();
}

/// HTTP/2: a backend stalling mid-body resets that stream only (`INTERNAL_ERROR`)
/// after the read timeout; another stream on the same connection is served.
#[test]
fn over_http2_a_read_timeout_resets_that_stream_only() {
    use hookgate_tests::contract::{H2Exact, H2Failure, H2Request};
    let backend =
        Backend::start(Behaviour::echo("slow").stream_slowly(3000, 1000, Duration::from_secs(30)));
    let other = Backend::echo("other");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookgate.toml");
    fs::write(
        &config,
        format!(
            r#"default_product = "t"
[server]
listen = ["{plain}"]
[products.t]
routes = [{{ path_prefix = "/stall", cluster = "slow" }}, {{ cluster = "other" }}]
[clusters.slow]
read_timeout_ms = 500
[clusters.slow.subclusters.main]
weight = 1
backends = [{{ addr = "{slow}" }}]
[clusters.other.subclusters.main]
weight = 1
backends = [{{ addr = "{other}" }}]
"#,
            plain = free_addr(),
            slow = backend.addr(),
            other = other.addr(),
        ),
    )
    .expect("write config");
    let proxy = Proxy::start(&["--config", arg(&config)]);
    let h2 = H2Exact::h2c(proxy.addr()).expect("h2c");
    let results = h2.send_all(&[
        H2Request::new("GET", "http://t.example/stall"),
        H2Request::new("GET", "http://t.example/fine"),
    ]);
    assert_eq!(
        results[0].as_ref().err(),
        Some(&H2Failure::Reset("INTERNAL_ERROR".to_owned())),
        "{:?}",
        results[0]
    );
    let fine = results[1].as_ref().expect("the other stream is served");
    assert_eq!(fine.status, 200);
    assert!(!h2.is_closed(), "the connection stays up");
}
