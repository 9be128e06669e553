//! The cost of a callback chain (DESIGN §5: ≤ 10 ns per handler through the ABI).
//!
//! A chain of N no-op BeforeLocation handlers, loaded N times from the real `noop`
//! plugin library and called through the ABI exactly as the proxy calls them
//! (`abi/N`), beside the same chain written as plain Rust closures (`closures/N`).
//! Throughput is one element per handler, so criterion reports the time per handler.
//!
//! Run with `cargo bench -p hookgate --bench chain`; the figures are kept in
//! `BENCHMARKS.md`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hookgate::config::PluginConfig;
use hookgate::plugin::Plugins;
use hookgate::request::{PluginRequest, RequestState};
use hookgate::session::SessionState;
use hookgate_plugin_api::{Outcome, Point};

/// Chain lengths measured.
const LENGTHS: [usize; 3] = [1, 8, 32];

/// A request handler as plain Rust, given what the ABI handlers are given: what a
/// chain costs without the ABI.
type Closure = Box<dyn Fn(&mut PluginRequest<'_>) -> Outcome + Send + Sync>;

fn before_location_chain(c: &mut Criterion) {
    let library = noop_library();
    let mut session = SessionState::new(
        1,
        SocketAddr::from((Ipv4Addr::new(192, 0, 2, 10), 51_234)),
        SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), 8080)),
        "0.0.0.0:8080".into(),
    );
    let (head, ()) = http::Request::get("/api/items?id=7")
        .header("host", "shop.example.com")
        .header("user-agent", "bench")
        .header("accept", "application/json")
        .header("x-request-id", "5f0c2a9e")
        .body(())
        .expect("a valid request head")
        .into_parts();
    let client_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let mut request = RequestState::new(head, client_ip);

    let mut group = c.benchmark_group("before_location_chain");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in LENGTHS {
        group.throughput(Throughput::Elements(n as u64));

        let configs = vec![noop_config(&library); n];
        let cache = hookgate::plugin::PluginCache::open(&hookgate::plugin::cache::default_dir())
            .expect("the plugin cache");
        let plugins = Plugins::load(&configs, &cache).expect("the noop plugin loads N times");
        let chain = plugins
            .chains
            .request(hookgate_plugin_api::RequestPoint::BeforeLocation);
        assert_eq!(chain.len(), n, "one BeforeLocation handler per instance");
        group.bench_function(BenchmarkId::new("abi", n), |b| {
            b.iter(|| {
                // As in the proxy: a view of request and session per chain call.
                let mut view = PluginRequest {
                    request: &mut request,
                    session: &mut session,
                };
                black_box(chain.run(Point::BeforeLocation, black_box(&mut view)))
            })
        });

        // black_box: keep the compiler from seeing through the boxes and inlining the
        // closures, which the ABI chain cannot do either.
        let closures: Vec<Closure> = black_box(
            (0..n)
                .map(|_| Box::new(|_: &mut PluginRequest<'_>| Outcome::GoOn) as Closure)
                .collect(),
        );
        group.bench_function(BenchmarkId::new("closures", n), |b| {
            b.iter(|| {
                let mut view = PluginRequest {
                    request: &mut request,
                    session: &mut session,
                };
                black_box(run_closures(&closures, black_box(&mut view)))
            })
        });
    }
    group.finish();
}

/// The chain's contract in plain Rust: in order, stop at the first value other than
/// GoOn.
fn run_closures(chain: &[Closure], request: &mut PluginRequest<'_>) -> Outcome {
    for handler in chain {
        match handler(request) {
            Outcome::GoOn => {}
            other => return other,
        }
    }
    Outcome::GoOn
}

fn noop_config(library: &Path) -> PluginConfig {
    PluginConfig::of_path(library.to_path_buf())
}

/// Builds the noop plugin with the profile this bench runs under (`bench` inherits
/// `release`) into this bench's target directory, and returns the library's path.
fn noop_library() -> PathBuf {
    // Internal: the bench runs as <target>/release/deps/chain-<hash>.
    let exe = std::env::current_exe().expect("the bench binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench binary lives in <target>/release/deps");
    let target_dir = profile_dir
        .parent()
        .expect("the profile directory lives in the target directory");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the proxy crate lives in the workspace");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args(["build", "--release", "-p", "hookgate-plugin-noop"])
        .arg("--target-dir")
        .arg(target_dir)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the noop plugin failed");
    let name = format!(
        "{}hookgate_plugin_noop{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let library = profile_dir.join(name);
    assert!(library.is_file(), "{} was not built", library.display());
    library
}

criterion_group!(benches, before_location_chain);
criterion_main!(benches);
