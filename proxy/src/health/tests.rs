use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::balance::{Backend, Cluster};
use crate::config::{BackendConfig, ClusterConfig, HealthCheckConfig, SubclusterConfig};

/// What the test backend answers and what it saw.
#[derive(Default)]
struct Server {
    status: AtomicU16,
    hits: AtomicUsize,
    /// `(path, host, user-agent)` of the last request.
    last: Mutex<Option<(String, String, String)>>,
}

/// A real hyper HTTP/1.1 server on 127.0.0.1:0 answering `server.status`.
async fn start(server: Arc<Server>) -> SocketAddr {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("local_addr: {e}"),
    };
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let server = Arc::clone(&server);
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let server = Arc::clone(&server);
                async move {
                    let header = |name| {
                        request
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let seen = (
                        request.uri().path().to_owned(),
                        header(http::header::HOST),
                        header(http::header::USER_AGENT),
                    );
                    if let Ok(mut last) = server.last.lock() {
                        *last = Some(seen);
                    }
                    server.hits.fetch_add(1, Ordering::SeqCst);
                    let mut response = Response::new(Empty::<Bytes>::new());
                    *response.status_mut() =
                        StatusCode::from_u16(server.status.load(Ordering::SeqCst))
                            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

/// The tests run on tokio's paused clock (`start_paused`): it stands still while a task
/// is busy and jumps to the next timer when all wait, so the checker's interval passes
/// without real waiting. It may also jump while a probe waits on its socket; the
/// timeouts are long enough (in that virtual time) never to expire on a local exchange.
fn config(addr: SocketAddr, path: &str) -> ClusterConfig {
    ClusterConfig {
        balance: Default::default(),
        connect_timeout_ms: 600_000,
        response_timeout_ms: 600_000,
        read_timeout_ms: 600_000,
        send_timeout_ms: 600_000,
        pool_idle_timeout_ms: 4000,
        pool_max_idle_per_backend: 64,
        fail_on_5xx: false,
        retries: 0,
        cross_retry: 0,
        health_check: Some(HealthCheckConfig {
            path: path.into(),
            interval_ms: 1000,
            unhealthy_after: 2,
            healthy_after: 2,
        }),
        max_fails: 1,
        fail_timeout_ms: 10,
        protocol: Default::default(),
        h2_max_streams_per_connection: 100,
        resolve_interval_ms: 5000,
        tls: None,
        tls_loaded: None,
        subclusters: BTreeMap::from([(
            "s".to_owned(),
            SubclusterConfig {
                weight: 1,
                backends: vec![BackendConfig::at(addr)],
            },
        )]),
    }
}

fn cluster(addr: SocketAddr, path: &str) -> Arc<Cluster> {
    Arc::new(Cluster::new("c", &config(addr, path)))
}

fn backend(cluster: &Cluster) -> Arc<Backend> {
    Arc::clone(&cluster.subclusters[0].members().backends[0])
}

/// Polls `done` every (virtual) 10 ms for up to an hour of virtual time, hundreds of
/// check intervals.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let wait = async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(3600), wait)
        .await
        .is_err()
    {
        panic!("timed out waiting until {what}");
    }
}

/// Bounds a whole test, in virtual time.
async fn bounded<F: Future>(future: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(4 * 3600), future).await {
        Ok(output) => output,
        Err(_) => panic!("test took too long"),
    }
}

#[tokio::test(start_paused = true)]
async fn checker_marks_down_and_up() {
    bounded(async {
        let server = Arc::new(Server::default());
        server.status.store(200, Ordering::SeqCst);
        let addr = start(Arc::clone(&server)).await;
        let cluster = cluster(addr, "/healthz?full=1");
        let (shutdown, watch) = watch::channel(false);
        let handles = super::spawn(&[Arc::clone(&cluster)], watch);
        assert_eq!(handles.len(), 1);
        let b = backend(&cluster);

        wait_until("3 checks", || server.hits.load(Ordering::SeqCst) >= 3).await;
        assert!(b.is_healthy());
        let last = server.last.lock().ok().and_then(|l| l.clone());
        assert_eq!(
            last,
            Some((
                "/healthz".into(),
                addr.to_string(),
                "hookgate-health-check".into()
            ))
        );

        server.status.store(500, Ordering::SeqCst);
        let hits = server.hits.load(Ordering::SeqCst);
        wait_until("down", || !b.is_healthy()).await;
        // unhealthy_after = 2: two failed checks, at most one of them already counted
        // in `hits` (its handler may have read the status after the store).
        assert!(server.hits.load(Ordering::SeqCst) > hits);

        server.status.store(302, Ordering::SeqCst);
        let hits = server.hits.load(Ordering::SeqCst);
        wait_until("back up", || b.is_healthy()).await;
        assert!(server.hits.load(Ordering::SeqCst) > hits);

        assert!(shutdown.send(true).is_ok());
        for handle in handles {
            assert!(handle.await.is_ok());
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn refused_connections_and_bad_paths_fail() {
    bounded(async {
        // A port nobody listens on any more.
        let addr = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l.local_addr().ok(),
            Err(_) => None,
        };
        let Some(addr) = addr else { panic!("bind") };
        let refused = cluster(addr, "/healthz");
        let server = Arc::new(Server::default());
        server.status.store(200, Ordering::SeqCst);
        let bad_path = cluster(start(Arc::clone(&server)).await, "healthz");
        let (shutdown, watch) = watch::channel(false);
        let handles = super::spawn(&[Arc::clone(&refused), Arc::clone(&bad_path)], watch);
        wait_until("refused backend down", || !backend(&refused).is_healthy()).await;
        wait_until("bad path down", || !backend(&bad_path).is_healthy()).await;
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);
        // Dropping the sender stops the tasks too.
        drop(shutdown);
        for handle in handles {
            assert!(handle.await.is_ok());
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn no_checks_without_health_check_or_after_shutdown() {
    let server = Arc::new(Server::default());
    let addr = start(Arc::clone(&server)).await;
    let mut unchecked = config(addr, "/");
    unchecked.health_check = None;
    let unchecked = Arc::new(Cluster::new("u", &unchecked));
    let (_shutdown, watch) = watch::channel(false);
    assert!(super::spawn(&[unchecked], watch).is_empty());

    // Already shut down: the task ends without probing.
    let (_shutdown, watch) = watch::channel(true);
    let handles = super::spawn(&[cluster(addr, "/")], watch);
    assert_eq!(handles.len(), 1);
    for handle in handles {
        assert!(bounded(handle).await.is_ok());
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
}
