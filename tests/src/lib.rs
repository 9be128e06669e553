//! Shared helpers for the end-to-end tests: build the workspace once, find the
//! `hookgate` binary and the plugin libraries, run commands with bounded time.
//!
//! The tests run the real binary with real plugin libraries loaded from disk; they
//! build both themselves (`cargo build --workspace`, once per test binary), so
//! `cargo test --workspace` works on a fresh clone.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// How long one proxy command may run before the test kills it and fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

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
        let profile_dir = profile_dir();
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_owned(),
            Some(other) => other.to_owned(),
            None => panic!("cannot tell the profile from {}", profile_dir.display()),
        };
        let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let output = Command::new(cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "--workspace",
                "--profile",
                &profile,
                "--target-dir",
            ])
            .arg(target_dir)
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "cargo build --workspace failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
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

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Standard error's lines that are not log lines (the error a user reads).
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("hookgate: "))
            .collect()
    }
}

/// Runs `hookgate` with these arguments and waits, at most [`COMMAND_TIMEOUT`].
pub fn hookgate(args: &[&str]) -> Output {
    let mut command = Command::new(hookgate_bin());
    command
        .args(args)
        .current_dir(workspace_root())
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE");
    run(&mut command, COMMAND_TIMEOUT)
}

/// Runs a command to its end, killing it (and failing) after `timeout`.
pub fn run(command: &mut Command, timeout: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    // Readers on their own threads, so a chatty child never blocks on a full pipe.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait(&mut child, timeout);
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

fn wait(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command did not finish within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Turns a path into a `&str` argument (test paths are UTF-8).
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
