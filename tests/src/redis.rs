//! [`RedisServer`]: a real `redis-server` (Debian's package) on 127.0.0.1 and a free
//! port, without persistence, stopped when dropped; and [`RedisServer::cli`] to
//! script it with `redis-cli`.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::net::{free_addr, wait_until_accepting};
use crate::process::run;

/// A running `redis-server`.
pub struct RedisServer {
    addr: SocketAddr,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// If `redis-server` is not installed (`apt-get install redis-server`; `.ci/run`
    /// installs it) or does not start within 10 s.
    pub fn start() -> RedisServer {
        let addr = free_addr();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("redis-server does not start ({e}): apt-get install redis-server")
            });
        let server = RedisServer {
            addr,
            child: Some(child),
        };
        assert!(
            wait_until_accepting(addr, Duration::from_secs(10)),
            "redis-server did not accept connections at {addr}"
        );
        server
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, for `[redis.NAME] url`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Runs `redis-cli` with `args` against it; its output, trimmed.
    ///
    /// # Panics
    ///
    /// If `redis-cli` fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command
            .args(["-h", "127.0.0.1", "-p", &self.addr.port().to_string()])
            .args(args);
        let out = run(&mut command, Duration::from_secs(10));
        assert!(out.status.success(), "redis-cli {args:?}: {}", out.stderr);
        out.stdout.trim().to_owned()
    }

    /// Stops it (and waits for it to exit).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
