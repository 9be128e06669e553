//! [`Proxy`]: the real `hookgate` binary, running as a server for one test.

use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::build::{hookgate_bin, workspace_root};
use crate::net::{accepts, free_addr};
use crate::process::wait_at_most;

/// How long the proxy may take to bind its listeners.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long Drop waits after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running `hookgate` process, started from the workspace root.
///
/// Its stderr and stdout go to files in a temp dir ([`stderr_text`](Proxy::stderr_text));
/// they are printed when the test panics while the proxy runs. Drop sends SIGTERM,
/// waits up to 5 s, then SIGKILLs.
///
/// Readiness is seen in the kernel's socket table (`/proc/net/tcp*`), not by
/// connecting: a probing connection would run Accept and Finish in the plugins and
/// spoil tests that count them.
#[derive(Debug)]
pub struct Proxy {
    child: Option<Child>,
    exit: Option<ExitStatus>,
    /// Plain HTTP listeners (from `--listen`, else the config's `server.listen`).
    plain: Vec<SocketAddr>,
    /// TLS listeners from the config file.
    tls: Vec<SocketAddr>,
    /// Admin listener, if any.
    admin: Option<SocketAddr>,
    logs: tempfile::TempDir,
}

impl Proxy {
    /// Starts `hookgate` with `args`, adding `--listen 127.0.0.1:<free port>` unless
    /// the args have a `--listen` or the `--config` file sets `server.listen`; waits
    /// until every listener it was told about (plain, TLS, admin) is bound. Panics with
    /// the proxy's stderr if it exits or is not ready within [`START_TIMEOUT`].
    pub fn start(args: &[&str]) -> Proxy {
        Proxy::start_with(args, &[])
    }

    /// [`start`](Proxy::start), also waiting for the `extra` addresses.
    pub fn start_with(args: &[&str], extra: &[SocketAddr]) -> Proxy {
        Proxy::start_under(&[], args, extra)
    }

    /// [`start_with`](Proxy::start_with), the binary run by `wrapper` (a command that
    /// execs the rest of its arguments, such as `prlimit --nofile=256:4096`).
    pub fn start_under(wrapper: &[&str], args: &[&str], extra: &[SocketAddr]) -> Proxy {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let mut seen = Listeners::from_args(&args);
        if seen.plain.is_empty() && !seen.config_sets_listen {
            let addr = free_addr();
            args.push("--listen".to_owned());
            args.push(addr.to_string());
            seen.plain.push(addr);
        }
        let logs = tempfile::tempdir().expect("temp dir for proxy logs");
        let stderr = File::create(logs.path().join("stderr.log")).expect("stderr file");
        let stdout = File::create(logs.path().join("stdout.log")).expect("stdout file");
        let log_filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned());
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(hookgate_bin());
                command
            }
            None => Command::new(hookgate_bin()),
        };
        let child = command
            .args(&args)
            .current_dir(workspace_root())
            .env("RUST_LOG", log_filter)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("hookgate starts");
        let mut proxy = Proxy {
            child: Some(child),
            exit: None,
            plain: seen.plain,
            tls: seen.tls,
            admin: seen.admin,
            logs,
        };
        let mut wanted: Vec<SocketAddr> = proxy.plain.clone();
        wanted.extend(&proxy.tls);
        wanted.extend(proxy.admin);
        wanted.extend(extra);
        proxy.wait_ready(&wanted, &args);
        proxy
    }

    fn wait_ready(&mut self, wanted: &[SocketAddr], args: &[String]) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.try_exit() {
                panic!(
                    "hookgate {args:?} exited with {status} before listening\nstderr:\n{}",
                    self.stderr_text()
                );
            }
            if wanted.iter().all(|a| listening(*a)) {
                return;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "hookgate {args:?} did not listen on {wanted:?} within {START_TIMEOUT:?}\nstderr:\n{}",
                    self.stderr_text()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first plain HTTP listener.
    pub fn addr(&self) -> SocketAddr {
        *self.plain.first().expect("the proxy has a plain listener")
    }

    /// Every plain HTTP listener, in order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.plain
    }

    /// The first TLS listener of the config file.
    pub fn tls_addr(&self) -> SocketAddr {
        *self.tls.first().expect("the config has a TLS listener")
    }

    /// Every TLS listener of the config file, in order.
    pub fn tls_addrs(&self) -> &[SocketAddr] {
        &self.tls
    }

    /// The admin listener, if one was given.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The body of `GET <path>` on the admin listener, with a loopback Host (which
    /// needs no token). Panics if the proxy has no admin listener or does not answer.
    pub fn admin_text(&self, path: &str) -> String {
        let admin = self
            .admin
            .expect("the proxy was started with an admin listener");
        crate::client::http1_get(admin, "localhost", path, &[]).text()
    }

    /// The value of one series on `/metrics` (`series` written as it appears before
    /// the value, labels included: `hookgate_plugin_errors_total{plugin="p"}`).
    pub fn metric(&self, series: &str) -> Option<f64> {
        metric(&self.admin_text("/metrics"), series)
    }

    /// Polls `/metrics` until `series` has a value `done` accepts, at most `timeout`;
    /// returns it, or panics with the series' last value.
    pub fn wait_metric(&self, series: &str, timeout: Duration, done: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.metric(series);
            if let Some(value) = value.filter(|v| done(*v)) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{series} is {value:?} after {timeout:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until no client connection is open in the proxy, as its admin
    /// `/metrics` says, at most `timeout`: every connection task has then ended, and
    /// with it every connection's Finish (the proxy runs Finish when a connection's
    /// state drops, before it gives the connection's slot back).
    pub fn wait_connections_closed(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let metrics = self.admin_text("/metrics");
            let open = metrics
                .lines()
                .find_map(|line| line.strip_prefix("hookgate_open_connections "))
                .and_then(|value| value.trim().parse::<u64>().ok());
            if open == Some(0) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "connections still open after {timeout:?}:\n{metrics}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What the proxy wrote to stderr so far (its logs).
    pub fn stderr_text(&self) -> String {
        fs::read_to_string(self.logs.path().join("stderr.log")).unwrap_or_default()
    }

    /// What the proxy wrote to stdout so far.
    pub fn stdout_text(&self) -> String {
        fs::read_to_string(self.logs.path().join("stdout.log")).unwrap_or_default()
    }

    /// The directory holding the log files (stays until the `Proxy` is dropped).
    pub fn log_dir(&self) -> &Path {
        self.logs.path()
    }

    /// Sends a signal by name (`TERM`, `INT`, `HUP`…) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        if self.child.is_none() || self.exit.is_some() {
            return;
        }
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("kill(1) runs");
        // The process may have exited meanwhile; that is not the test's failure.
        let _ = status;
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.try_exit().is_none()
    }

    /// The exit status, if the process has exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Some(child) = &mut self.child {
                self.exit = child.try_wait().expect("try_wait");
            }
        }
        self.exit
    }

    /// Waits for the process to exit on its own, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exit.is_none() {
            if let Some(child) = &mut self.child {
                self.exit = wait_at_most(child, timeout);
            }
        }
        self.exit
    }

    /// Sends SIGTERM and waits for the exit, at most `timeout`; panics (after SIGKILL)
    /// if the proxy is still running then.
    pub fn terminate_and_wait(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("TERM");
        match self.wait_exit(timeout) {
            Some(status) => status,
            None => {
                self.kill();
                panic!(
                    "hookgate did not exit within {timeout:?} of SIGTERM\nstderr:\n{}",
                    self.stderr_text()
                );
            }
        }
    }

    fn kill(&mut self) {
        if let Some(child) = &mut self.child {
            if self.exit.is_none() {
                let _ = child.kill();
                self.exit = child.wait().ok();
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            self.signal("TERM");
            if self.wait_exit(STOP_TIMEOUT).is_none() {
                self.kill();
            }
        }
        if thread::panicking() {
            eprintln!(
                "--- hookgate stderr ({}) ---\n{}--- end of hookgate stderr ---",
                self.logs.path().display(),
                self.stderr_text()
            );
        }
    }
}

/// The listeners a command line names, directly or through its config file.
#[derive(Default)]
struct Listeners {
    plain: Vec<SocketAddr>,
    tls: Vec<SocketAddr>,
    admin: Option<SocketAddr>,
    config_sets_listen: bool,
}

impl Listeners {
    fn from_args(args: &[String]) -> Listeners {
        let mut found = Listeners::default();
        let mut config = None;
        let mut cli_admin = None;
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            if !matches!(flag, "--listen" | "--admin" | "--config") {
                continue;
            }
            let Some(value) = inline.or_else(|| iter.next().cloned()) else {
                continue;
            };
            match flag {
                "--listen" => found.plain.extend(value.parse::<SocketAddr>().ok()),
                "--admin" => cli_admin = value.parse::<SocketAddr>().ok(),
                _ => config = Some(PathBuf::from(value)),
            }
        }
        if let Some(path) = config {
            found.read_config(&path);
        }
        if cli_admin.is_some() {
            found.admin = cli_admin;
        }
        found
    }

    /// Reads listener addresses from the config file; a file that does not parse is
    /// left for the proxy to report.
    fn read_config(&mut self, path: &Path) {
        let path = workspace_root().join(path);
        let Ok(text) = fs::read_to_string(path) else {
            return;
        };
        let Ok(table) = text.parse::<toml::Table>() else {
            return;
        };
        let Some(server) = table.get("server").and_then(|s| s.as_table()) else {
            return;
        };
        let addr = |v: &toml::Value| v.as_str().and_then(|s| s.parse::<SocketAddr>().ok());
        if let Some(listen) = server.get("listen").and_then(|l| l.as_array()) {
            self.config_sets_listen = true;
            if self.plain.is_empty() {
                self.plain = listen.iter().filter_map(addr).collect();
            }
        }
        if let Some(tls) = server.get("tls").and_then(|t| t.as_array()) {
            self.tls = tls
                .iter()
                .filter_map(|t| t.get("listen"))
                .filter_map(addr)
                .collect();
        }
        self.admin = server.get("admin").and_then(addr);
    }
}

/// Whether a socket is listening on `addr`: from the kernel's table where there is
/// one (Linux), else by connecting.
fn listening(addr: SocketAddr) -> bool {
    let tables = ["/proc/net/tcp", "/proc/net/tcp6"].map(fs::read_to_string);
    if tables.iter().all(Result::is_err) {
        return accepts(addr);
    }
    tables
        .iter()
        .flatten()
        .flat_map(|table| table.lines().skip(1))
        .filter_map(listen_entry)
        .any(|(ip, port)| port == addr.port() && (ip == addr.ip() || ip.is_unspecified()))
}

/// The local address of a `/proc/net/tcp*` line in state LISTEN (`0A`).
fn listen_entry(line: &str) -> Option<(IpAddr, u16)> {
    let mut fields = line.split_whitespace();
    let local = fields.nth(1)?;
    let state = fields.nth(1)?;
    if state != "0A" {
        return None;
    }
    let (ip, port) = local.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The kernel prints each 32-bit word of the address in host byte order.
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::to_ne_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(ip.get(i * 8..i * 8 + 8)?)?);
            }
            let v6 = Ipv6Addr::from(bytes);
            v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
        }
        _ => return None,
    };
    Some((ip, port))
}

/// The value of `series` in a Prometheus text exposition.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn listeners_from_the_command_line() {
        let found = Listeners::from_args(&args(&[
            "--backend",
            "127.0.0.1:1",
            "--listen",
            "127.0.0.1:2",
            "--listen=127.0.0.1:3",
            "--admin",
            "127.0.0.1:4",
        ]));
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(found.plain, [addr("127.0.0.1:2"), addr("127.0.0.1:3")]);
        assert_eq!(found.admin, Some(addr("127.0.0.1:4")));
        assert!(!found.config_sets_listen);
    }

    #[test]
    fn listeners_from_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("hookgate.toml");
        fs::write(
            &config,
            "[server]\nlisten = [\"127.0.0.1:5\"]\nadmin = \"127.0.0.1:6\"\n\
             [[server.tls]]\nlisten = \"127.0.0.1:7\"\ncerts = []\n",
        )
        .unwrap();
        let path = config.to_str().unwrap();
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let found = Listeners::from_args(&args(&["--config", path]));
        assert_eq!(found.plain, [addr("127.0.0.1:5")]);
        assert_eq!(found.tls, [addr("127.0.0.1:7")]);
        assert_eq!(found.admin, Some(addr("127.0.0.1:6")));
        assert!(found.config_sets_listen);
        // `--listen` replaces the file's plain listeners.
        let found = Listeners::from_args(&args(&["--config", path, "--listen", "127.0.0.1:8"]));
        assert_eq!(found.plain, [addr("127.0.0.1:8")]);
    }

    #[test]
    fn kernel_socket_table_lines() {
        let v4 = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1570 1";
        assert_eq!(listen_entry(v4), Some((IpAddr::from([127, 0, 0, 1]), 8080)));
        let established = "   1: 0100007F:8841 0100007F:C8A0 01 00000000:00000000 00:00000000 00000000     0        0 0 3";
        assert_eq!(listen_entry(established), None);
        let v6_any = "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 0";
        assert_eq!(
            listen_entry(v6_any),
            Some((IpAddr::V6(Ipv6Addr::UNSPECIFIED), 8080))
        );
        let bound = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(listening(bound.local_addr().unwrap()));
        let free = bound.local_addr().unwrap();
        drop(bound);
        assert!(!listening(free));
    }
}
