//! Room to grow (issue 15 §7): a plugin built against 0.2.0 survives a host whose host
//! module (`HostMod`) appended a field after its last 0.2.0 field, and refuses one that
//! inserted a field before it. The host is `tests/growth-host`, built against a
//! changed copy of `plugin-api/` (see its README).

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

/// Builds the growth host against a copy of `plugin-api/` whose `abi/host.rs` `change`
/// edits; returns the binary and the directory that must outlive its use.
fn build_host(change: impl FnOnce(&Path)) -> (PathBuf, tempfile::TempDir) {
    let root = workspace_root();
    let dir = tempfile::tempdir().expect("temp dir");
    let api = dir.path().join("plugin-api");
    copy_dir(&root.join("plugin-api/src"), &api.join("src"));
    let manifest = fs::read_to_string(root.join("plugin-api/Cargo.toml")).expect("manifest");
    let manifest = manifest
        .replace("edition.workspace = true", "edition = \"2021\"")
        .replace("license.workspace = true", "license = \"Apache-2.0\"")
        .replace("rust-version.workspace = true", "rust-version = \"1.95\"")
        .replace("abi_stable.workspace = true", "abi_stable = \"0.11\"");
    fs::write(api.join("Cargo.toml"), manifest).expect("write manifest");
    change(&api.join("src/abi/host.rs"));
    let host = dir.path().join("host");
    copy_dir(&root.join("tests/growth-host/src"), &host.join("src"));
    fs::copy(
        root.join("tests/growth-host/Cargo.toml.in"),
        host.join("Cargo.toml"),
    )
    .expect("host manifest");
    // The workspace's versions of abi_stable and the rest, built offline.
    fs::copy(root.join("Cargo.lock"), host.join("Cargo.lock")).expect("lock file");
    let target = (profile_dir().parent())
        .expect("target/<profile> has a parent")
        .join("abi-growth");
    let mut command = cargo_command();
    command
        .args(["build", "--offline", "--manifest-path"])
        .arg(host.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target);
    let built = run(&mut command, Duration::from_secs(600));
    assert!(
        built.status.success(),
        "the growth host did not build:\n{}",
        built.stderr
    );
    (target.join("debug/hookgate-growth-host"), dir)
}

/// Runs the host on the hello plugin, built against the real 0.2.0.
fn load_hello(host: &Path) -> Output {
    let hello = library("hookgate_plugin_hello");
    run(
        std::process::Command::new(host).arg(hello),
        Duration::from_secs(60),
    )
}

#[test]
fn a_0_2_0_plugin_survives_a_grown_host_module_and_refuses_a_reordered_one() {
    let (host, _dir) = build_host(|file| {
        insert_after(
            file,
            "pub api_version: RStr<'static>,",
            "    /// Appended after 0.2.0.\n    pub timer: Option<extern \"C\" fn(u64) -> u32>,\n    \
             /// Appended after 0.2.0.\n    pub max_body_bytes: u64,",
        );
        insert_after(
            file,
            "api_version: RStr::from_str(API_VERSION),",
            "            timer: None,\n            max_body_bytes: 1 << 20,",
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
            "    /// Inserted before 0.2.0's field.\n    pub early: u32,",
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
