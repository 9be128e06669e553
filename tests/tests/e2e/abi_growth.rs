//! Room to grow (issue 15 §7, issue 18): a plugin survives a host whose host module
//! (`HostMod`) appended a field after its last field, and refuses one that inserted a
//! field before it (the host is `tests/growth-host`, built against a changed copy of
//! `plugin-api/`: see its README); and a plugin built against 0.2.0 (a copy without
//! what came after 0.2.0: `tests/plugin-0.2.0`) loads in today's proxy and answers.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hookgate_tests::{cargo_command, library, profile_dir, run, workspace_root, Output};

/// Copies the files under `from` to `to`.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Inserts `text` after the first line that contains `anchor`.
fn insert_after(file: &Path, anchor: &str, text: &str) {
    let source = fs::read_to_string(file).expect("read source");
    let mut lines: Vec<String> = source.lines().map(str::to_owned).collect();
    let at = (lines.iter())
        .position(|line| line.contains(anchor))
        .unwrap_or_else(|| panic!("{anchor:?} not in {}", file.display()));
    lines.insert(at + 1, text.to_owned());
    fs::write(file, lines.join("\n") + "\n").expect("write source");
}

/// Copies `plugin-api/` into `dir` as a crate of its own, `change` then editing the
/// copy (given its root); returns the copy's root.
fn copy_api(dir: &Path, change: impl FnOnce(&Path)) -> PathBuf {
    let root = workspace_root();
    let api = dir.join("plugin-api");
    copy_dir(&root.join("plugin-api/src"), &api.join("src"));
    let manifest = fs::read_to_string(root.join("plugin-api/Cargo.toml")).expect("manifest");
    let manifest = manifest
        .replace("edition.workspace = true", "edition = \"2021\"")
        .replace("license.workspace = true", "license = \"Apache-2.0\"")
        .replace("rust-version.workspace = true", "rust-version = \"1.95\"")
        .replace("abi_stable.workspace = true", "abi_stable = \"0.11\"");
    fs::write(api.join("Cargo.toml"), manifest).expect("write manifest");
    change(&api);
    api
}

/// Builds the crate whose template is `template` (`src/` and `Cargo.toml.in`, under
/// `tests/`) beside a copy of `plugin-api/` in `dir`, offline with the workspace's
/// lock file; returns the target directory.
fn build_beside(dir: &Path, template: &str, what: &str) -> PathBuf {
    let root = workspace_root();
    let krate = dir.join(template);
    copy_dir(
        &root.join("tests").join(template).join("src"),
        &krate.join("src"),
    );
    fs::copy(
        root.join("tests").join(template).join("Cargo.toml.in"),
        krate.join("Cargo.toml"),
    )
    .expect("crate manifest");
    // The workspace's versions of abi_stable and the rest, built offline.
    fs::copy(root.join("Cargo.lock"), krate.join("Cargo.lock")).expect("lock file");
    let target = (profile_dir().parent())
        .expect("target/<profile> has a parent")
        .join("abi-growth");
    let mut command = cargo_command();
    command
        .args(["build", "--offline", "--manifest-path"])
        .arg(krate.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target);
    let built = run(&mut command, Duration::from_secs(600));
    assert!(
        built.status.success(),
        "{what} did not build:\n{}",
        built.stderr
    );
    target
}

/// Builds the growth host against a copy of `plugin-api/` whose `abi/host.rs` `change`
/// edits; returns the binary and the directory that must outlive its use.
fn build_host(change: impl FnOnce(&Path)) -> (PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_api(dir.path(), |api| change(&api.join("src/abi/host.rs")));
    let target = build_beside(dir.path(), "growth-host", "the growth host");
    (target.join("debug/hookgate-growth-host"), dir)
}

/// Runs the host on the hello plugin, built against this workspace's plugin API.
fn load_hello(host: &Path) -> Output {
    let hello = library("hookgate_plugin_hello");
    run(
        std::process::Command::new(host).arg(hello),
        Duration::from_secs(60),
    )
}

#[test]
fn a_plugin_survives_a_grown_host_module_and_refuses_a_reordered_one() {
    let (host, _dir) = build_host(|file| {
        insert_after(
            file,
            "pub redis: extern",
            "    /// Appended later.\n    pub later: Option<extern \"C\" fn(u64) -> u32>,\n    \
             /// Appended later.\n    pub max_body_bytes: u64,",
        );
        insert_after(
            file,
            "redis: services.redis,",
            "            later: None,\n            max_body_bytes: 1 << 20,",
        );
    });
    let grown = load_hello(&host);
    assert!(grown.status.success(), "{}\n{}", grown.stdout, grown.stderr);
    assert!(
        grown.stdout.contains("loaded hookgate-plugin-hello"),
        "{}",
        grown.stdout
    );
    assert!(
        grown.stdout.contains("before_location: Ok(Respond("),
        "the plugin answered /hello:\n{}",
        grown.stdout
    );

    // The negative control: a field before the one 0.2.0 plugins know.
    let (host, _dir) = build_host(|file| {
        insert_after(
            file,
            "pub struct HostMod {",
            "    /// Inserted before the fields plugins know.\n    pub early: u32,",
        );
        insert_after(file, "let module = HostMod {", "            early: 0,");
    });
    let reordered = load_hello(&host);
    assert_eq!(
        reordered.status.code(),
        Some(1),
        "{}\n{}",
        reordered.stdout,
        reordered.stderr
    );
    assert!(
        reordered
            .stderr
            .contains("init failed: this hookgate's host module does not fit the plugin"),
        "{}",
        reordered.stderr
    );
}

/// The plugin API's version today (what the 0.2.0 copy is set back from).
const CURRENT: &str = "0.2.3";

/// Makes `file` what it was in 0.2.0: every line from a `// 0.2.N begin` to the next
/// `// 0.2.N end` (N above 0, both lines included) removed, and each `// 0.2.0: ` line
/// made code.
fn strip_after_0_2_0(file: &Path) {
    let source = fs::read_to_string(file).expect("read source");
    let mut kept = Vec::new();
    let mut inside = false;
    for line in source.lines() {
        let code = line.trim_start();
        let added = code.starts_with("// 0.2.") && !code.starts_with("// 0.2.0");
        if added && (code.ends_with(" begin") || code.contains(" begin (")) {
            inside = true;
        } else if added && code.ends_with(" end") {
            inside = false;
        } else if let Some(old) = code.strip_prefix("// 0.2.0: ") {
            kept.push(old.to_owned());
        } else if !inside {
            kept.push(line.to_owned());
        }
    }
    fs::write(file, kept.join("\n") + "\n").expect("write source");
}

/// Issue 18: "appended so that 0.2.0 plugins still load". The plugin is built against
/// a copy of the plugin API without what came after 0.2.0, its versions set back to
/// 0.2.0: the host module the plugin checks has only 0.2.0's fields, and its root
/// module says 0.2.0. Today's proxy loads it and it answers.
#[test]
fn a_plugin_built_against_0_2_0_loads_and_answers_in_todays_proxy() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_api(dir.path(), |api| {
        for file in ["src/abi/host.rs", "src/session.rs", "src/callout.rs"] {
            strip_after_0_2_0(&api.join(file));
        }
        let module = api.join("src/abi/module.rs");
        let text = fs::read_to_string(&module).expect("read module.rs");
        let current = format!("API_VERSION: &str = \"{CURRENT}\"");
        assert!(text.contains(&current), "the version to set back moved");
        let text = text.replace(&current, "API_VERSION: &str = \"0.2.0\"");
        fs::write(&module, text).expect("write module.rs");
        let manifest = api.join("Cargo.toml");
        let text = fs::read_to_string(&manifest).expect("read manifest");
        let current = format!("version = \"{CURRENT}\"");
        fs::write(&manifest, text.replace(&current, "version = \"0.2.0\""))
            .expect("write manifest");
    });
    let stripped = fs::read_to_string(dir.path().join("plugin-api/src/abi/host.rs")).unwrap();
    let host_mod = stripped
        .split("pub struct HostMod {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("HostMod in the copy");
    assert_eq!(
        host_mod.matches("pub ").count(),
        1,
        "only 0.2.0's api_version left:\n{host_mod}"
    );
    let target = build_beside(dir.path(), "plugin-0.2.0", "the 0.2.0 plugin");
    let plugin = target.join(format!(
        "debug/{}hookgate_plugin_v020{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let plugin = plugin.to_str().expect("UTF-8 path");

    let inspected = hookgate_tests::hookgate(&["inspect", plugin]);
    assert!(inspected.status.success(), "{}", inspected.stderr);
    assert!(
        inspected.stdout.contains("api version: 0.2.0"),
        "{}",
        inspected.stdout
    );

    let backend = hookgate_tests::Backend::echo("b");
    let listen = hookgate_tests::free_addr();
    let proxy = hookgate_tests::Proxy::start(&[
        "--listen",
        &listen.to_string(),
        "--backend",
        &backend.addr_string(),
        "--plugin",
        plugin,
    ]);
    let answered = hookgate_tests::http1_get(listen, "x", "/v020", &[]);
    assert_eq!(answered.status, 200);
    assert_eq!(answered.text(), "built against 0.2.0");
    let passed = hookgate_tests::http1_get(listen, "x", "/other", &[]);
    assert_eq!(passed.status, 200);
    assert_eq!(backend.requests(), 1);
    drop(proxy);
}
