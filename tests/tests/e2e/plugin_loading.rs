//! Loading plugins, end to end with the real binary (DESIGN §2.6, §4): `inspect`,
//! `check`, chain order, and every start-up error, each one line naming the file and
//! the cause, with a non-zero exit, before any socket is bound.

use std::fs;
use std::net::TcpListener;

use hookgate_tests::{arg, hookgate, library, system_library, Output};

/// Asserts a start-up failure: exit 1, exactly one error line, naming `file` and
/// containing every `expected` fragment.
fn assert_fails(out: &Output, file: &str, expected: &[&str]) {
    assert_eq!(out.status.code(), Some(1), "stderr: {}", out.stderr);
    let lines = out.error_lines();
    assert_eq!(lines.len(), 1, "want one error line, got: {}", out.stderr);
    let line = lines[0];
    assert!(line.contains(file), "error does not name {file}: {line}");
    for fragment in expected {
        assert!(line.contains(fragment), "error lacks `{fragment}`: {line}");
    }
}

/// Runs both `check` and the server start with one `--plugin`, expecting the same
/// failure from each.
fn assert_plugin_fails(plugin: &str, file: &str, expected: &[&str]) {
    assert_fails(&hookgate(&["check", "--plugin", plugin]), file, expected);
    assert_fails(&hookgate(&["--plugin", plugin]), file, expected);
}

fn faulty_with(config_text: &str) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("faulty.toml");
    fs::write(&config, config_text).expect("write config");
    let lib = library("hookgate_fixture_faulty");
    let spec = format!("{}={}", arg(&lib), arg(&config));
    (dir, spec, arg(&lib).to_owned())
}

#[test]
fn inspect_prints_the_manifest() {
    let lib = library("hookgate_plugin_hello");
    let out = hookgate(&["inspect", arg(&lib)]);
    assert!(out.status.success(), "{}", out.stderr);
    for line in [
        "name:        hookgate-plugin-hello",
        "version:     0.1.0",
        "api version: 0.2.3",
        "points:      accept, before_location, read_response, request_finish, finish",
    ] {
        assert!(
            out.stdout.contains(line),
            "missing `{line}` in:\n{}",
            out.stdout
        );
    }
}

#[test]
fn inspect_does_not_run_init() {
    // The faulty plugin's init panics or refuses for most configs; inspect never calls
    // it, so it succeeds and shows the manifest.
    let lib = library("hookgate_fixture_faulty");
    let out = hookgate(&["inspect", arg(&lib)]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains("points:      before_location"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_prints_each_chain_in_plugin_order() {
    let hello = library("hookgate_plugin_hello");
    let noop = library("hookgate_plugin_noop");
    let out = hookgate(&[
        "check",
        "--plugin",
        arg(&hello),
        "--plugin",
        arg(&noop),
        "--plugin",
        arg(&hello),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    let hello1 = "hookgate-plugin-hello";
    let hello2 = "hookgate-plugin-hello#2";
    let noop = "hookgate-plugin-noop";
    let expected = [
        format!("  accept:          {hello1} -> {hello2}"),
        "  handshake:       (empty)".to_owned(),
        format!("  before_location: {hello1} -> {noop} -> {hello2}"),
        "  found_product:   (empty)".to_owned(),
        "  after_location:  (empty)".to_owned(),
        "  request_body:    (empty)".to_owned(),
        "  forward:         (empty)".to_owned(),
        format!("  read_response:   {hello1} -> {hello2}"),
        "  response_body:   (empty)".to_owned(),
        format!("  request_finish:  {hello1} -> {hello2}"),
        format!("  finish:          {hello1} -> {hello2}"),
    ];
    let chains: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| *l != "chains:")
        .skip(1)
        .take(11)
        .collect();
    assert_eq!(chains, expected, "stdout:\n{}", out.stdout);
    assert!(out.stdout.ends_with("configuration ok\n"), "{}", out.stdout);
}

#[test]
fn config_file_plugins_run_before_cli_plugins() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookgate.toml");
    let text = format!(
        r#"
default_product = "web"
[[plugins]]
path = "{noop}"
name = "first"
[[plugins]]
path = "{hello}"
name = "scoped-hello"
config = {{ greeting = "hi" }}
products = ["web"]
on_error = "fail-open"
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "127.0.0.1:9" }}]
"#,
        noop = arg(&library("hookgate_plugin_noop")),
        hello = arg(&library("hookgate_plugin_hello")),
    );
    fs::write(&config, text).expect("write config");
    let cli_hello = library("hookgate_plugin_hello");
    let out = hookgate(&[
        "check",
        "--config",
        arg(&config),
        "--plugin",
        arg(&cli_hello),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("  before_location: first -> scoped-hello -> hookgate-plugin-hello\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[fail-open, products: web]"),
        "{}",
        out.stdout
    );
}

#[test]
fn missing_file() {
    let path = "/nonexistent/libnothing.so";
    assert_plugin_fails(path, path, &["file not found"]);
}

#[test]
fn file_that_is_not_a_shared_library() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("libtext.so");
    fs::write(&path, "this is text, not ELF\n".repeat(100)).expect("write");
    assert_plugin_fails(arg(&path), arg(&path), &["not a shared library"]);
}

#[test]
fn shared_library_that_is_not_a_plugin() {
    let lib = system_library();
    assert_plugin_fails(
        arg(&lib),
        arg(&lib),
        &["not a hookgate plugin", "root module"],
    );
}

#[test]
fn plugin_built_against_an_incompatible_api_version() {
    let lib = library("hookgate_fixture_bad_version");
    assert_plugin_fails(
        arg(&lib),
        arg(&lib),
        &["built against hookgate-plugin-api 0.9.0", "provides 0.2.3"],
    );
}

#[test]
fn plugin_with_an_incompatible_abi_layout() {
    let lib = library("hookgate_fixture_bad_layout");
    assert_plugin_fails(arg(&lib), arg(&lib), &["incompatible ABI layout"]);
}

#[test]
fn init_returning_an_error() {
    let (_dir, spec, lib) = faulty_with("error");
    assert_plugin_fails(
        &spec,
        &lib,
        &[
            "init of `hookgate-fixture-faulty` failed",
            "init refused its config",
        ],
    );
}

#[test]
fn init_panicking() {
    let (_dir, spec, lib) = faulty_with("panic");
    assert_plugin_fails(
        &spec,
        &lib,
        &[
            "init of `hookgate-fixture-faulty` failed",
            "panicked at",
            "init panicked on purpose",
        ],
    );
    // The panic is reported once, by the host; the plugin prints no backtrace of its own.
    let out = hookgate(&["check", "--plugin", &spec]);
    assert!(!out.stderr.contains("stack backtrace"), "{}", out.stderr);
    assert!(!out.stderr.contains("thread '"), "{}", out.stderr);
}

#[test]
fn handler_at_an_undeclared_point() {
    let (_dir, spec, lib) = faulty_with("undeclared");
    assert_plugin_fails(
        &spec,
        &lib,
        &[
            "registered a handler at forward",
            "declared: before_location",
        ],
    );
}

#[test]
fn missing_plugin_config_file() {
    let lib = library("hookgate_plugin_hello");
    let spec = format!("{}=/nonexistent/hello.toml", arg(&lib));
    assert_plugin_fails(&spec, arg(&lib), &["/nonexistent/hello.toml"]);
}

#[test]
fn bad_plugin_config_names_the_key() {
    let lib = library("hookgate_plugin_hello");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hello.toml");
    fs::write(&config, "greting = \"typo\"\n").expect("write");
    let spec = format!("{}={}", arg(&lib), arg(&config));
    assert_plugin_fails(
        &spec,
        arg(&lib),
        &["init of `hookgate-plugin-hello` failed", "greting"],
    );
}

#[test]
fn bad_config_file_names_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookgate.toml");
    fs::write(
        &config,
        "[server]\nlisten = [\"127.0.0.1:1\"]\nworkerz = 2\n",
    )
    .expect("write");
    let out = hookgate(&["check", "--config", arg(&config)]);
    assert_fails(&out, arg(&config), &["workerz"]);
}

#[test]
fn plugin_errors_come_before_binding_any_socket() {
    // Hold the port the proxy is told to listen on: if it bound before loading plugins,
    // it would fail with "address in use" instead of the plugin's error.
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = held.local_addr().expect("addr").to_string();
    let path = "/nonexistent/libnothing.so";
    let out = hookgate(&["--listen", &addr, "--plugin", path]);
    assert_fails(&out, path, &["file not found"]);
}

#[test]
fn every_example_config_passes_check() {
    let examples = hookgate_tests::workspace_root().join("examples");
    let mut checked = 0;
    for entry in fs::read_dir(&examples).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = hookgate(&["check", "--config", arg(&path)]);
            assert!(out.status.success(), "{}: {}", path.display(), out.stderr);
            assert!(out.stdout.ends_with("configuration ok\n"), "{}", out.stdout);
            checked += 1;
        }
    }
    assert!(checked >= 2, "found only {checked} example configs");
}

#[test]
fn check_validates_tls_certificates() {
    let root = hookgate_tests::workspace_root();
    let text = fs::read_to_string(root.join("examples/routing.toml")).expect("example");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("bad-tls.toml");
    fs::write(
        &config,
        text.replace("examples/certs/www.pem", "examples/certs/missing.pem"),
    )
    .expect("write");
    let out = hookgate(&["check", "--config", arg(&config)]);
    assert_fails(
        &out,
        "examples/certs/missing.pem",
        &["TLS listener 127.0.0.1:8443", "cannot read"],
    );
}

/// A plugin built with `panic = "abort"` would take the whole proxy down at its first
/// panic: `export_plugin!` refuses to compile it, saying how to fix the profile.
#[test]
fn a_plugin_built_with_panic_abort_does_not_compile() {
    hookgate_tests::build_workspace();
    let out = hookgate_tests::run(
        &mut hookgate_tests::cargo(
            &["rustc", "-p", "hookgate-fixture-abort", "--lib"],
            &["-C", "panic=abort"],
        ),
        std::time::Duration::from_secs(300),
    );
    assert!(!out.status.success(), "it compiled: {}", out.stderr);
    assert!(
        out.stderr
            .contains("hookgate plugins must be built with panic = \"unwind\"")
            && out.stderr.contains("[profile.*]"),
        "{}",
        out.stderr
    );
    // The same crate with the workspace's profile (unwind) is a plugin that loads.
    let lib = library("hookgate_fixture_abort");
    let out = hookgate(&["inspect", arg(&lib)]);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
}

/// Logs written to a file or a pipe carry no ANSI colour codes (they did: the
/// demo's log file and `hookgate … 2>&1 | …` were full of them).
#[test]
fn logs_to_a_file_have_no_colour_codes() {
    let lib = library("hookgate_plugin_hello");
    let proxy = hookgate_tests::Proxy::start(&["--plugin", arg(&lib)]);
    let log = proxy.stderr_text();
    assert!(log.contains("listening"), "the proxy logs: {log}");
    assert!(!log.contains('\u{1b}'), "{log:?}");
}

/// Copying a new build over a loaded plugin file (`cp` keeps the inode) used to crash
/// the proxy at the next request, and a reload after it kept the old code while
/// reporting success. The proxy loads a private copy named by content: the running
/// code is untouched by the overwrite, and a reload loads the new file.
#[test]
fn a_plugin_file_overwritten_in_place_changes_nothing_until_a_reload_loads_it() {
    use hookgate_tests::{free_addr, http1_get, http1_send, Backend, Proxy, Req};
    let backend = Backend::echo("b1");
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin = dir.path().join("libmine.so");
    let (hello, noop) = (
        library("hookgate_plugin_hello"),
        library("hookgate_plugin_noop"),
    );
    fs::copy(&hello, &plugin).expect("copy hello");
    let admin = free_addr();
    let file = dir.path().join("hookgate.toml");
    fs::write(
        &file,
        format!(
            "default_product = \"web\"\n[server]\nadmin = \"{admin}\"\n\
             plugin_cache_dir = {cache:?}\n\
             [[plugins]]\npath = {plugin:?}\n\
             [products.web]\nroutes = [{{ cluster = \"web\" }}]\n\
             [clusters.web.subclusters.main]\nweight = 1\nbackends = [{{ addr = \"{backend}\" }}]\n",
            cache = arg(&dir.path().join("cache")),
            plugin = arg(&plugin),
            backend = backend.addr_string(),
        ),
    )
    .expect("write config");
    let proxy = Proxy::start(&["--config", arg(&file)]);
    let status = || http1_get(admin, "localhost", "/status", &[]).text();
    let hello_sha = hookgate_tests::sha256_of(&hello);
    assert!(
        status().contains(&format!("sha256={hello_sha}")),
        "{}",
        status()
    );
    assert_eq!(
        http1_get(proxy.addr(), "www.example.com", "/hello", &[]).text(),
        "hello from hookgate\n"
    );

    // `fs::copy` writes into the existing file, as `cp` does: same inode, new bytes.
    let inode =
        |p: &std::path::Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
    let before = inode(&plugin);
    fs::copy(&noop, &plugin).expect("overwrite in place");
    assert_eq!(inode(&plugin), before, "the overwrite kept the inode");
    for _ in 0..3 {
        let answer = http1_get(proxy.addr(), "www.example.com", "/hello", &[]);
        assert_eq!(
            answer.text(),
            "hello from hookgate\n",
            "the old code runs on"
        );
    }

    let reload = http1_send(admin, &Req::new("POST", "localhost", "/reload")).expect("reload");
    assert_eq!(reload.status, 200, "{}", reload.text());
    let answer = http1_get(proxy.addr(), "www.example.com", "/hello", &[]);
    assert_eq!(
        answer.header("x-backend"),
        Some("b1"),
        "noop does not answer /hello"
    );
    let noop_sha = hookgate_tests::sha256_of(&noop);
    let after = status();
    assert!(after.contains(&format!("sha256={noop_sha}")), "{after}");
    assert!(after.contains("hookgate-plugin-noop"), "{after}");
    assert!(dir
        .path()
        .join("cache")
        .join(format!("{noop_sha}.so"))
        .is_file());
    assert!(dir
        .path()
        .join("cache")
        .join(format!("{hello_sha}.so"))
        .is_file());
}

/// `inspect` and `check` show each plugin's SHA-256.
#[test]
fn inspect_and_check_show_the_sha256() {
    let lib = library("hookgate_plugin_hello");
    let sha = hookgate_tests::sha256_of(&lib);
    let out = hookgate(&["inspect", arg(&lib)]);
    assert!(
        out.stdout.contains(&format!("sha256:      {sha}")),
        "{}",
        out.stdout
    );
    let out = hookgate(&["check", "--plugin", arg(&lib)]);
    assert!(
        out.stdout.contains(&format!("sha256={sha}")),
        "{}",
        out.stdout
    );
}

/// A cache directory others could write to would let them swap a library between
/// its copy and its load: refused, naming the key.
#[test]
fn a_cache_dir_writable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    fs::create_dir(&cache).expect("mkdir");
    fs::set_permissions(&cache, fs::Permissions::from_mode(0o777)).expect("chmod");
    let file = dir.path().join("hookgate.toml");
    fs::write(
        &file,
        format!("[server]\nplugin_cache_dir = {:?}\n", arg(&cache)),
    )
    .expect("write");
    let lib = library("hookgate_plugin_hello");
    let out = hookgate(&["check", "--config", arg(&file), "--plugin", arg(&lib)]);
    assert_fails(
        &out,
        "server.plugin_cache_dir",
        &["writable by group or others"],
    );
}

/// Issue 21 §4: `sha256` on a plugin entry pins the library's content. Another
/// content is refused before it is loaded, by `check`, at start and on reload (which
/// keeps the running configuration), naming the file, the pinned and the actual hash.
#[test]
fn a_pinned_plugin_with_other_content_is_refused_at_start_and_on_reload() {
    use hookgate_tests::{free_addr, http1_get, http1_send, Backend, Proxy, Req};
    let backend = Backend::echo("b1");
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin = dir.path().join("libpinned.so");
    let (hello, noop) = (
        library("hookgate_plugin_hello"),
        library("hookgate_plugin_noop"),
    );
    fs::copy(&hello, &plugin).expect("copy hello");
    let (hello_sha, noop_sha) = (
        hookgate_tests::sha256_of(&hello),
        hookgate_tests::sha256_of(&noop),
    );
    let admin = free_addr();
    let file = dir.path().join("hookgate.toml");
    let write = |pin: &str| {
        let text = format!(
            "default_product = \"web\"\n[server]\nadmin = \"{admin}\"\n\
             plugin_cache_dir = {cache:?}\n\
             [[plugins]]\npath = {plugin:?}\nsha256 = \"{pin}\"\n\
             [products.web]\nroutes = [{{ cluster = \"web\" }}]\n\
             [clusters.web.subclusters.main]\nweight = 1\nbackends = [{{ addr = \"{backend}\" }}]\n",
            cache = arg(&dir.path().join("cache")),
            plugin = arg(&plugin),
            backend = backend.addr_string(),
        );
        fs::write(&file, text).expect("write config");
    };

    // The wrong pin: refused by check and at start.
    write(&noop_sha);
    let expected = [noop_sha.as_str(), hello_sha.as_str(), "pins (`sha256`)"];
    assert_fails(
        &hookgate(&["check", "--config", arg(&file)]),
        arg(&plugin),
        &expected,
    );
    assert_fails(
        &hookgate(&["--config", arg(&file)]),
        arg(&plugin),
        &expected,
    );
    // Not a hash at all: the key is named.
    write("abc");
    let out = hookgate(&["check", "--config", arg(&file)]);
    assert!(out.stderr.contains("`plugins[0].sha256`"), "{}", out.stderr);

    // The right pin: it runs. Then the file is replaced: a reload refuses it and the
    // running configuration stays.
    write(&hello_sha);
    let _proxy = Proxy::start(&["--config", arg(&file)]);
    let hello_answer = || http1_get(_proxy.addr(), "www.example.com", "/hello", &[]).text();
    assert_eq!(hello_answer(), "hello from hookgate\n");
    let status = http1_get(admin, "localhost", "/status", &[]).text();
    assert!(
        status.contains(&format!("sha256={hello_sha} (pinned)")),
        "{status}"
    );
    fs::copy(&noop, &plugin).expect("replace the file");
    let reload = http1_send(admin, &Req::new("POST", "localhost", "/reload")).expect("reload");
    assert_ne!(reload.status, 200, "{}", reload.text());
    assert!(reload.text().contains(&noop_sha), "{}", reload.text());
    assert_eq!(
        hello_answer(),
        "hello from hookgate\n",
        "the pinned code runs on"
    );
}
