//! Swapping plugin code without a restart (issue 21): two builds of one fixture plugin
//! (`tests/generation-fixture`, built here as generation 1 and 2, which answer with
//! their number in `x-generation`) swapped under load, shared by a canary, rolled back
//! from a build that panics, and the reload's dry run by `hookgate check`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hookgate_tests::{
    arg, cargo_command, free_addr, hookgate, http1_get, http1_send, profile_dir, sha256_of,
    wait_until, workspace_root, Backend, Proxy, Req,
};

/// The plugin's name (its package's).
const NAME: &str = "hookgate-fixture-generation";

/// The fixture built as generation `n` (package version 0.1.n): a copy of the library
/// that stays while the test process runs.
fn build(n: u32) -> PathBuf {
    static BUILDS: OnceLock<Mutex<Vec<(u32, PathBuf)>>> = OnceLock::new();
    // One build at a time: both write the same library file of the target dir.
    let mut builds = BUILDS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, built)) = builds.iter().find(|(m, _)| *m == n) {
        return built.clone();
    }
    let root = workspace_root();
    let template = root.join("tests/generation-fixture");
    let target = profile_dir()
        .parent()
        .expect("target/<profile> has a parent")
        .to_path_buf();
    let dir = target.join("generation-fixture");
    let krate = dir.join(format!("generation-{n}"));
    fs::create_dir_all(krate.join("src")).expect("crate dir");
    fs::copy(template.join("src/lib.rs"), krate.join("src/lib.rs")).expect("copy source");
    let manifest = fs::read_to_string(template.join("Cargo.toml.in")).expect("template");
    let api = root.join("plugin-api");
    let manifest = manifest
        .replace("@VERSION@", &format!("0.1.{n}"))
        .replace("@GENERATION@", &n.to_string())
        .replace("@API@", api.to_str().expect("UTF-8 path"));
    fs::write(krate.join("Cargo.toml"), manifest).expect("write manifest");
    // The workspace's versions of abi_stable and the rest, built offline; the target
    // dir is the tests' own, so that the dependencies are built already.
    fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).expect("lock file");
    let output = cargo_command()
        .args(["build", "--offline", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env("HOOKGATE_FIXTURE_GENERATION", n.to_string())
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the generation {n} fixture did not build:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let file = format!(
        "{}hookgate_fixture_generation_{n}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let built = dir.join(format!("generation-{n}{}", std::env::consts::DLL_SUFFIX));
    fs::copy(target.join("debug").join(file), &built).expect("keep the build");
    builds.push((n, built.clone()));
    built
}

/// Puts `build` where the config says the plugin is, as a deploy would: a new file
/// renamed over the old.
fn deploy(build: &Path, to: &Path) {
    let staging = to.with_extension("new");
    fs::copy(build, &staging).expect("copy the build");
    fs::rename(&staging, to).expect("rename over the plugin");
}

/// A proxy running the fixture from a file in its own directory.
struct Setup {
    dir: tempfile::TempDir,
    plugin: PathBuf,
    config: PathBuf,
    admin: std::net::SocketAddr,
    backend: Backend,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let plugin = dir.path().join("libgeneration.so");
        let config = dir.path().join("hookgate.toml");
        Setup {
            plugin,
            config,
            admin: free_addr(),
            backend: Backend::echo("b"),
            dir,
        }
    }

    /// Writes the config with `entry` (TOML lines) in the plugin's entry.
    fn write(&self, entry: &str) {
        let text = format!(
            "default_product = \"web\"\n[server]\nadmin = \"{admin}\"\n\
             plugin_cache_dir = {cache:?}\ntrusted_proxies = [\"127.0.0.1/32\"]\n\
             [[plugins]]\npath = {plugin:?}\non_error = \"fail-closed\"\n{entry}\n\
             [products.web]\nroutes = [{{ cluster = \"web\" }}]\n\
             [clusters.web.subclusters.main]\nweight = 1\nbackends = [{{ addr = \"{backend}\" }}]\n",
            admin = self.admin,
            cache = arg(&self.dir.path().join("cache")),
            plugin = arg(&self.plugin),
            backend = self.backend.addr_string(),
        );
        fs::write(&self.config, text).expect("write config");
    }

    fn start(&self) -> Proxy {
        Proxy::start(&["--config", arg(&self.config)])
    }

    fn reload(&self) {
        let reload =
            http1_send(self.admin, &Req::new("POST", "localhost", "/reload")).expect("reload");
        assert_eq!(reload.status, 200, "{}", reload.text());
    }

    fn post(&self, path: &str) -> (u16, String) {
        let answer = http1_send(self.admin, &Req::new("POST", "localhost", path)).expect("post");
        (answer.status, answer.text())
    }

    fn status(&self) -> String {
        http1_get(self.admin, "localhost", "/status", &[]).text()
    }

    fn check(&self) -> String {
        let out = hookgate(&["check", "--config", arg(&self.config)]);
        assert!(out.status.success(), "{}", out.stderr);
        out.stdout
    }
}

/// A request from the client `client` (a trusted `X-Forwarded-For`): its status and
/// the generation that answered.
fn request(proxy: &Proxy, client: &str) -> (u16, String) {
    let req = Req::get("www.example.com", "/").header("x-forwarded-for", client);
    match http1_send(proxy.addr(), &req) {
        Ok(response) => (
            response.status,
            response.header("x-generation").unwrap_or("-").to_owned(),
        ),
        Err(e) => (0, e),
    }
}

/// The `n`th of many client addresses.
fn client(n: u32) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
}

/// Connections finished, by the generations that ran Accept and Finish.
fn finished(proxy: &Proxy, accepted: &str, finished: &str) -> f64 {
    let series = format!(
        "hookgate_plugin_generation_finish_total{{plugin=\"{NAME}\",accepted_by=\"{accepted}\",finished_by=\"{finished}\"}}"
    );
    proxy.metric(&series).unwrap_or(0.0)
}

#[test]
fn a_new_build_swapped_under_load_serves_new_requests_without_a_failed_one() {
    let (one, two) = (build(1), build(2));
    let setup = Setup::new();
    fs::copy(&one, &setup.plugin).expect("copy generation 1");
    setup.write("");
    let proxy = Arc::new(setup.start());
    assert_eq!(request(&proxy, "10.0.0.1"), (200, "1".to_owned()));

    // Constant load: two clients, each a request after the other, each on a new
    // connection (so Accept and Finish run for each).
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..2)
        .map(|t| {
            let (proxy, stop) = (Arc::clone(&proxy), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    seen.push(request(&proxy, &client(t * 100_000 + n)));
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    deploy(&two, &setup.plugin);
    setup.reload();
    // Requests that start after the reload run on generation 2.
    wait_until("requests on generation 2", Duration::from_secs(10), || {
        request(&proxy, "10.0.0.2").1 == "2"
    });
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        let seen = loader.join().expect("load thread");
        let failed: Vec<_> = seen.iter().filter(|(status, _)| *status != 200).collect();
        assert!(failed.is_empty(), "failed requests: {failed:?}");
        // Each client sees 1 until the swap, then 2 only: never back.
        let first_two = seen.iter().position(|(_, g)| g == "2");
        let first_two = first_two.expect("this client reached generation 2");
        assert!(seen[..first_two].iter().all(|(_, g)| g == "1"));
        assert!(seen[first_two..].iter().all(|(_, g)| g == "2"), "{seen:?}");
        assert!(first_two > 0, "the load ran before the swap");
    }

    // Finish ran on the generation that ran Accept, for every connection.
    proxy.wait_connections_closed(Duration::from_secs(10));
    assert!(finished(&proxy, "1", "1") > 0.0);
    assert!(finished(&proxy, "2", "2") > 0.0);
    for (a, f) in [("1", "2"), ("2", "1"), ("none", "1"), ("none", "2")] {
        assert_eq!(
            finished(&proxy, a, f),
            0.0,
            "accepted by {a}, finished by {f}"
        );
    }

    let (sha1, sha2) = (sha256_of(&one), sha256_of(&two));
    let status = setup.status();
    assert!(
        status.contains(&format!("{NAME}: serving 2, 2 loaded since start")),
        "{status}"
    );
    assert!(
        status.contains(&format!("1 0.1.1 sha256={sha1} share=0.0%")),
        "{status}"
    );
    assert!(
        status.contains(&format!("2 0.1.2 sha256={sha2} share=100.0% calls=")),
        "{status}"
    );
    let series = format!("hookgate_plugin_generation{{plugin=\"{NAME}\"}}");
    assert_eq!(proxy.metric(&series), Some(2.0));

    // A change of settings alone: the same generation, initialised again.
    setup.write("config = { note = \"settings changed\" }");
    let plan = setup.check();
    assert!(
        plan.contains(&format!(
            "{NAME}: its settings changed; generation 2 goes on, initialised again"
        )),
        "{plan}"
    );
    setup.reload();
    let status = setup.status();
    assert!(
        status.contains(&format!("{NAME}: serving 2, 2 loaded since start")),
        "{status}"
    );
    assert_eq!(request(&proxy, "10.0.0.3"), (200, "2".to_owned()));
}

#[test]
fn a_canary_runs_the_new_build_for_its_share_of_clients_until_promoted() {
    let (one, two) = (build(1), build(2));
    let setup = Setup::new();
    fs::copy(&one, &setup.plugin).expect("copy generation 1");
    let canary = "canary = { percent = 30, promote_after_ms = 0 }";
    setup.write(canary);
    let proxy = setup.start();
    assert_eq!(request(&proxy, "10.0.0.1"), (200, "1".to_owned()));

    deploy(&two, &setup.plugin);
    let plan = setup.check();
    assert!(
        plan.contains(&format!(
            "{NAME}: new code (sha256={}): generation 2 on trial for 30% of new requests \
             beside generation 1 (canary)",
            sha256_of(&two)
        )),
        "{plan}"
    );
    setup.reload();

    // 1,000 requests from 1,000 client addresses: 30% ± 5 on the new build.
    let answers: Vec<_> = (1..=1000).map(|n| request(&proxy, &client(n))).collect();
    assert!(answers.iter().all(|(status, _)| *status == 200));
    let on_two = answers.iter().filter(|(_, g)| g == "2").count();
    let on_one = answers.iter().filter(|(_, g)| g == "1").count();
    assert_eq!(on_one + on_two, 1000);
    assert!(
        (250..=350).contains(&on_two),
        "{on_two} of 1000 on the canary"
    );
    // A client stays on its generation.
    for n in 1..=50 {
        assert_eq!(request(&proxy, &client(n)).1, answers[n as usize - 1].1);
    }

    let status = setup.status();
    assert!(
        status.contains("share=70.0%") && status.contains("share=30.0%"),
        "{status}"
    );
    assert!(status.contains("canary 2 beside 1: trial"), "{status}");
    assert!(
        status.contains("canary: generation 2 beside generation 1 for 30% of new requests (trial)"),
        "{status}"
    );
    let plan = setup.check();
    assert!(
        plan.contains(&format!(
            "{NAME}: the canary of generation 2 beside generation 1 goes on"
        )),
        "{plan}"
    );

    // Not by a web page (DESIGN: browsers cannot trigger the admin's mutations).
    let from_a_page = Req::new("POST", "localhost", &format!("/plugins/{NAME}/promote"))
        .header("origin", "https://evil.example");
    let refused = http1_send(setup.admin, &from_a_page).expect("post");
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(setup.status().contains("canary 2 beside 1: trial"));
    // Promoted by hand: every new request on generation 2.
    let (code, text) = setup.post(&format!("/plugins/{NAME}/promote"));
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("promoted after"), "{text}");
    assert!((1..=200).all(|n| request(&proxy, &client(n)) == (200, "2".to_owned())));
    let (code, text) = setup.post(&format!("/plugins/{NAME}/promote"));
    assert_eq!(code, 409, "{text}");
    let (code, _) = setup.post("/plugins/no-such-plugin/promote");
    assert_eq!(code, 404);
    let series = format!("hookgate_plugin_canary_promotions_total{{plugin=\"{NAME}\"}}");
    assert_eq!(proxy.metric(&series), Some(1.0));
    assert!(setup.status().contains(&format!("{NAME}: serving 2")));

    // Connections (all from 127.0.0.1) ran Finish where they ran Accept.
    proxy.wait_connections_closed(Duration::from_secs(10));
    for (a, f) in [("1", "2"), ("2", "1"), ("none", "1"), ("none", "2")] {
        assert_eq!(
            finished(&proxy, a, f),
            0.0,
            "accepted by {a}, finished by {f}"
        );
    }

    // The next reload runs generation 2 alone.
    setup.reload();
    let status = setup.status();
    assert!(!status.contains("canary 2 beside 1"), "{status}");
    assert!(status.contains("share=100.0%"), "{status}");
    assert!((1..=100).all(|n| request(&proxy, &client(n)) == (200, "2".to_owned())));
    // Counters never go back across a reload.
    assert_eq!(proxy.metric(&series), Some(1.0));
}

#[test]
fn a_canary_whose_build_panics_is_rolled_back_automatically() {
    let (one, two) = (build(1), build(2));
    let setup = Setup::new();
    fs::copy(&one, &setup.plugin).expect("copy generation 1");
    // Generation 2 panics on every request; generation 1 does not.
    let entry = "config = { panic_in = 2 }\n\
                 canary = { percent = 50, error_ratio = 0.3, min_calls = 10, window_ms = 60000 }";
    setup.write(entry);
    let proxy = setup.start();
    assert_eq!(request(&proxy, "10.0.0.1"), (200, "1".to_owned()));
    deploy(&two, &setup.plugin);
    setup.reload();

    // The canary's share fails (fail-closed: 500) until the rollback.
    let mut n = 0;
    let mut failed = 0;
    wait_until("the rollback", Duration::from_secs(20), || {
        n += 1;
        if request(&proxy, &client(n)).0 == 500 {
            failed += 1;
        }
        setup.status().contains("canary 2 beside 1: rolled back")
    });
    assert!(failed >= 3, "{failed} requests failed on generation 2");
    // From then on, generation 1 answers everyone.
    assert!((1..=200).all(|n| request(&proxy, &client(n)) == (200, "1".to_owned())));
    let status = setup.status();
    assert!(status.contains(&format!("{NAME}: serving 1")), "{status}");
    assert!(
        status.contains("canary 2 beside 1: rolled back"),
        "{status}"
    );
    assert!(status.contains("errors in"), "{status}");
    let series = format!("hookgate_plugin_canary_rollbacks_total{{plugin=\"{NAME}\"}}");
    assert_eq!(proxy.metric(&series), Some(1.0));
    let share = format!("hookgate_plugin_canary_share_percent{{plugin=\"{NAME}\"}}");
    assert_eq!(proxy.metric(&share), Some(0.0));
    assert!(
        proxy.stderr_text().contains("canary rolled back"),
        "{}",
        proxy.stderr_text()
    );

    // A reload with the same file does not try that content again.
    let plan = setup.check();
    assert!(
        plan.contains("still has the content that was rolled back; generation 1 goes on"),
        "{plan}"
    );
    setup.reload();
    assert!((1..=50).all(|n| request(&proxy, &client(n)) == (200, "1".to_owned())));
    assert!(setup.status().contains(&format!("{NAME}: serving 1")));
    assert_eq!(proxy.metric(&series), Some(1.0), "counters never go back");
}

#[test]
fn a_canary_share_is_refused_outside_0_to_100_naming_the_key() {
    let setup = Setup::new();
    fs::copy(build(1), &setup.plugin).expect("copy generation 1");
    setup.write("canary = { percent = 120 }");
    let out = hookgate(&["check", "--config", arg(&setup.config)]);
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("`plugins[0].canary.percent`"),
        "{}",
        out.stderr
    );
    // Without a running proxy, check says it has nothing to compare with.
    setup.write("canary = {}");
    let out = setup.check();
    assert!(out.contains("no running proxy answers at"), "{out}");
}
