//! [`RedisServer`]: a real `redis-server` (Debian's package) on 127.0.0.1 and a free
//! port, without persistence, stopped when dropped; and [`RedisServer::cli`] to
//! script it with `redis-cli`; [`RedisCluster`]: several, as one Redis Cluster.

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
        RedisServer::start_with(&[])
    }

    /// Starts one with more `redis-server` arguments.
    pub fn start_with(args: &[&str]) -> RedisServer {
        let addr = free_addr();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .args(args)
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

/// A Redis Cluster of real `redis-server` nodes on 127.0.0.1 (no replicas), its slots
/// spread over them by `redis-cli --cluster create`; stopped when dropped.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts `n` nodes (at least 3, as `redis-cli` asks) and waits until the cluster
    /// is `ok`.
    ///
    /// # Panics
    ///
    /// If the nodes do not start or the cluster does not form within 20 s.
    pub fn start(n: usize) -> RedisCluster {
        let dir = tempfile::tempdir().expect("a directory for the nodes' files");
        let nodes: Vec<RedisServer> = (0..n)
            .map(|i| {
                let file = format!("nodes-{i}.conf");
                let dir = dir.path().to_str().expect("a UTF-8 temp path");
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &file,
                    "--cluster-node-timeout",
                    "5000",
                    "--dir",
                    dir,
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr().to_string()).collect();
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]).args(&addrs);
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = run(&mut create, Duration::from_secs(30));
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}{}",
            out.stdout,
            out.stderr
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        for node in &nodes {
            while !node.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the cluster did not form"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        RedisCluster { nodes, _dir: dir }
    }

    /// Its nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Its nodes' URLs, for `[redis.NAME] cluster`.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}
