//! Upstream resilience (issue 12 §1): a request that meets a reused backend
//! connection closed under it, before any response byte (the backend closed it while
//! it idled: the keep-alive race every proxy meets), goes again on a fresh connection
//! when it is idempotent and has no body, whatever `retries` says.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use hookgate_tests::{arg, free_addr, http1_get, Proxy};

/// A backend that answers the first request of each connection (keep-alive, as
/// HTTP/1.1 says) and closes the connection when the second one arrives, without a
/// byte of answer: what a backend closing idle connections does at the worst moment,
/// made to happen every time.
struct OneShotBackend {
    addr: SocketAddr,
    answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

impl OneShotBackend {
    fn start() -> OneShotBackend {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let answered = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (answered, stop) = (Arc::clone(&answered), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let answered = Arc::clone(&answered);
                            thread::spawn(move || serve_one(stream, &answered));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
            })
        };
        OneShotBackend {
            addr,
            answered,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for OneShotBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn read_head(stream: &mut TcpStream) -> bool {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return false,
        }
    }
    true
}

fn serve_one(mut stream: TcpStream, answered: &AtomicUsize) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    if !read_head(&mut stream) {
        return;
    }
    // Counted before the answer is written: the client may hold the proxied answer
    // before this thread runs again.
    answered.fetch_add(1, Ordering::Relaxed);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    // The next request on this connection finds it closing.
    let _ = read_head(&mut stream);
}

#[test]
fn a_request_on_a_connection_closed_under_it_goes_again_on_a_fresh_one() {
    let backend = OneShotBackend::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hookgate.toml");
    fs::write(
        &file,
        format!(
            r#"default_product = "p"
[server]
listen = ["{listen}"]
[products.p]
routes = [{{ cluster = "c" }}]
[clusters.c]
retries = 0
cross_retry = 0
[clusters.c.subclusters.s]
weight = 1
backends = [{{ addr = "{backend}" }}]
"#,
            listen = free_addr(),
            backend = backend.addr,
        ),
    )
    .expect("write config");
    let proxy = Proxy::start(&["--config", arg(&file)]);
    for i in 0..20 {
        let response = http1_get(proxy.addr(), "p.example", &format!("/get/{i}"), &[]);
        assert_eq!(response.status, 200, "GET {i}: {}", response.text());
    }
    assert_eq!(backend.answered.load(Ordering::Relaxed), 20);
}

/// The pool keys: a connection idle longer than `pool_idle_timeout_ms` is not reused
/// (the proxy closes it before the backend's own keep-alive timeout would), and
/// `pool_max_idle_per_backend = 0` keeps none.
#[test]
fn pool_idle_timeout_and_max_idle_bound_the_pool() {
    use hookgate_tests::Backend;
    let reused = Backend::echo("reused");
    let expiring = Backend::echo("expiring");
    let unpooled = Backend::echo("unpooled");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hookgate.toml");
    let cluster = |name: &str, extra: &str, backend: &Backend| {
        format!(
            "[clusters.{name}]\n{extra}\n[clusters.{name}.subclusters.s]\nweight = 1\nbackends = [{{ addr = \"{}\" }}]\n",
            backend.addr_string()
        )
    };
    fs::write(
        &file,
        format!(
            r#"default_product = "p"
[server]
listen = ["{listen}"]
[products.p]
routes = [
  {{ path_prefix = "/reused/", cluster = "reused" }},
  {{ path_prefix = "/expiring/", cluster = "expiring" }},
  {{ cluster = "unpooled" }},
]
{a}{b}{c}"#,
            listen = free_addr(),
            a = cluster("reused", "", &reused),
            b = cluster("expiring", "pool_idle_timeout_ms = 100", &expiring),
            c = cluster("unpooled", "pool_max_idle_per_backend = 0", &unpooled),
        ),
    )
    .expect("write config");
    let proxy = Proxy::start(&["--config", arg(&file)]);
    let get = |path: &str| {
        let response = http1_get(proxy.addr(), "p.example", path, &[]);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
    };
    for i in 0..3 {
        get(&format!("/reused/{i}"));
        get(&format!("/other/{i}"));
    }
    assert_eq!(
        reused.connections(),
        1,
        "the default pool reuses one connection"
    );
    assert_eq!(
        unpooled.connections(),
        3,
        "max idle 0: a connection per request"
    );
    get("/expiring/1");
    // The wait is the point: idle past the 100 ms idle timeout.
    thread::sleep(Duration::from_millis(300));
    get("/expiring/2");
    assert_eq!(
        expiring.connections(),
        2,
        "the idle connection was not reused"
    );
}

/// Passive ejection counts every failure that is the backend's, not only failed
/// connects: a backend that accepts and then drops every request is ejected after
/// `max_fails` within `fail_timeout_ms` (today it took traffic forever), while a
/// client's broken uploads never count against a backend.
#[test]
fn a_backend_dropping_every_request_is_ejected_and_client_errors_never_count() {
    use hookgate_tests::{Backend, Behaviour};
    let dropping = Backend::start(Behaviour::echo("drop").close_without_answer());
    let healthy = Backend::echo("ok");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hookgate.toml");
    let cluster = |name: &str, backend: &Backend| {
        format!(
            "[clusters.{name}]\nmax_fails = 2\nfail_timeout_ms = 60000\nretries = 0\ncross_retry = 0\n\
             [clusters.{name}.subclusters.s]\nweight = 1\nbackends = [{{ addr = \"{}\" }}]\n",
            backend.addr_string()
        )
    };
    fs::write(
        &file,
        format!(
            r#"default_product = "p"
[server]
listen = ["{listen}"]
[products.p]
routes = [{{ path_prefix = "/drop/", cluster = "drop" }}, {{ cluster = "ok" }}]
{a}{b}"#,
            listen = free_addr(),
            a = cluster("drop", &dropping),
            b = cluster("ok", &healthy),
        ),
    )
    .expect("write config");
    let proxy = Proxy::start(&["--config", arg(&file)]);
    // POST: not retried after sending, so each request is one failure.
    let post = |path: &str| {
        hookgate_tests::http1_send(
            proxy.addr(),
            &hookgate_tests::Req::new("POST", "p.example", path).body("x"),
        )
        .expect("an answer")
        .status
    };
    assert_eq!(post("/drop/1"), 502);
    assert_eq!(post("/drop/2"), 502);
    assert_eq!(post("/drop/3"), 503, "ejected after max_fails failures");

    // Broken chunked uploads to the healthy backend: the client's fault, three times.
    for i in 0..3 {
        let mut stream = TcpStream::connect(proxy.addr()).expect("connect");
        let _ = stream.write_all(
            format!("POST /bad/{i} HTTP/1.1\r\nHost: p.example\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
                .as_bytes(),
        );
        let mut reply = Vec::new();
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.read_to_end(&mut reply);
        assert!(
            String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 400"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
    }
    let response = http1_get(proxy.addr(), "p.example", "/after", &[]);
    assert_eq!(response.status, 200, "the healthy backend was not ejected");
}

/// At start the proxy raises its soft open-file limit to the hard one and logs it,
/// and warns when `max_connections` needs more descriptors than that (today a
/// 1024-file soft limit silently capped it with EMFILE).
#[test]
fn the_open_file_limit_is_raised_and_logged() {
    let backend = hookgate_tests::Backend::echo("b");
    let proxy = Proxy::start_under(
        &["prlimit", "--nofile=256:4096"],
        &["--backend", &backend.addr_string()],
        &[],
    );
    let limits = fs::read_to_string(format!("/proc/{}/limits", proxy.pid())).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["4096", "4096"], "{line}");
    let log = proxy.stderr_text();
    assert!(
        log.contains("open-file limit") && log.contains("4096"),
        "{log}"
    );
    assert!(
        log.contains("needs more open files"),
        "max_connections 100000: {log}"
    );
}

/// Out of file descriptors (EMFILE), the accept loop backs off and logs "accept
/// failed" at most once a second, with how many failed (it logged every 50 ms).
#[test]
fn accept_failures_are_logged_once_a_second_with_a_count() {
    let backend = hookgate_tests::Backend::echo("b");
    let proxy = Proxy::start_under(
        &["prlimit", "--nofile=48:48"],
        &["--backend", &backend.addr_string()],
        &[],
    );
    // More connections than descriptors left: the kernel queues them, accept fails.
    let held: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(proxy.addr()).ok())
        .collect();
    // A rate is seen over a window: 2.5 s, in which the old loop logged ~50 lines.
    let started = std::time::Instant::now();
    let lines = loop {
        let log = proxy.stderr_text();
        let lines: Vec<String> = log
            .lines()
            .filter(|l| l.contains("accept failed"))
            .map(str::to_owned)
            .collect();
        if started.elapsed() >= Duration::from_millis(2500) {
            break lines;
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert!(!lines.is_empty(), "EMFILE was hit: {}", proxy.stderr_text());
    assert!(
        lines.len() <= 4,
        "at most about one line a second, got {}: {lines:#?}",
        lines.len()
    );
    assert!(lines.iter().all(|l| l.contains("failures=")), "{lines:#?}");
    drop(held);
}
