//! Running commands to their end with bounded time: `hookgate check`, `inspect`, or a
//! start-up that must fail.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::build::{hookgate_bin, workspace_root};

/// How long one proxy command may run before the test kills it and fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

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
    match wait_at_most(child, timeout) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command did not finish within {timeout:?}");
        }
    }
}

/// Waits for `child` to exit, at most `timeout`; `None` if it is still running.
pub(crate) fn wait_at_most(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Turns a path into a `&str` argument (test paths are UTF-8).
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// The SHA-256 of a file's content, lowercase hex (by `sha256sum`, not by the code
/// under test).
pub fn sha256_of(file: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(file), COMMAND_TIMEOUT);
    assert!(out.status.success(), "sha256sum: {}", out.stderr);
    out.stdout
        .split_whitespace()
        .next()
        .expect("a hash")
        .to_owned()
}
