//! Building the workspace once per test binary, and finding what it built: the
//! `hookgate` binary and the plugin libraries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the workspace")
        .to_path_buf()
}

/// `target/<profile>` of this test run, derived from the test executable's own path
/// (`target/<profile>/deps/<test>-<hash>`), so that a custom target dir or profile works.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executables live in target/<profile>/deps")
        .to_path_buf()
}

/// Builds every binary and plugin library of the workspace with the test's profile,
/// once per test process; panics with cargo's output if the build fails.
pub fn build_workspace() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let output = cargo(&["build", "--workspace"], &[])
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "cargo build --workspace failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
}

/// `cargo` as this test run would run it, from the workspace root, without the
/// variables cargo set for the test itself (they would point the build elsewhere).
pub fn cargo_command() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    // The variables cargo sets for this test process describe the test crate; a
    // build script that watches one of them (ring's does) would see it change
    // between this build and the next `cargo test`, and both would rebuild it.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo = ["CARGO_PKG_", "CARGO_BIN_EXE_"]
            .iter()
            .any(|prefix| name.starts_with(prefix))
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&name.as_ref());
        if set_by_cargo {
            command.env_remove(name.as_ref());
        }
    }
    command.current_dir(workspace_root());
    command
}

/// `cargo <subcommand> <args>... --profile P --target-dir D [-- <rustc_args>...]` for
/// this test run's profile and target dir, from the workspace root.
pub fn cargo(args: &[&str], rustc_args: &[&str]) -> Command {
    let profile_dir = profile_dir();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => panic!("cannot tell the profile from {}", profile_dir.display()),
    };
    let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
    let mut command = cargo_command();
    command
        .current_dir(workspace_root())
        .args(args)
        .args(["--profile", &profile, "--target-dir"])
        .arg(target_dir);
    if !rustc_args.is_empty() {
        command.arg("--").args(rustc_args);
    }
    command
}

/// The `hookgate` binary, built.
pub fn hookgate_bin() -> PathBuf {
    build_workspace();
    profile_dir().join(format!("hookgate{}", std::env::consts::EXE_SUFFIX))
}

/// A plugin library of the workspace, built, by package name with `-` as `_` (e.g.
/// `hookgate_plugin_hello`).
pub fn library(crate_name: &str) -> PathBuf {
    build_workspace();
    let file = format!(
        "{}{crate_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = profile_dir().join(file);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// A shared library of the system that is not a hookgate plugin (zlib, else libc).
pub fn system_library() -> PathBuf {
    let arch = std::env::consts::ARCH;
    let dirs = [
        format!("/lib/{arch}-linux-gnu"),
        format!("/usr/lib/{arch}-linux-gnu"),
        "/lib64".to_owned(),
        "/usr/lib64".to_owned(),
        "/usr/lib".to_owned(),
        "/lib".to_owned(),
    ];
    ["libz.so.1", "libc.so.6"]
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| Path::new(dir).join(name)))
        .find(|p| p.is_file())
        .expect("a system libz.so.1 or libc.so.6 exists")
}
