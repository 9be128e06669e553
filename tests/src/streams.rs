//! Long-lived and large exchanges, for the protocol tests: bodies too big to hold in
//! memory, several HTTP/2 streams at once on one connection, a WebSocket tunnel kept
//! open for several round trips, and the memory a process uses meanwhile.
//!
//! ## Layout
//!
//! - [`bulk`]: [`BulkBackend`], which checks uploads against [`pattern`](crate::pattern)
//!   as they arrive and serves downloads of it, both without buffering; and the
//!   streaming clients [`upload`] and [`download`].
//! - [`h2`]: [`h2_concurrent`], many requests in flight on one HTTP/2 connection (h2c
//!   or TLS with ALPN `h2`).
//! - [`websocket`]: [`WebSocket`], an upgraded connection for several round trips.
//! - [`memory`]: [`rss_kib`], [`peak_rss_kib`] and [`MemoryWatch`], from
//!   `/proc/<pid>/status`.
//!
//! Like [`client`](crate::client), everything is synchronous and bounded in time; the
//! async work runs on this module's own runtime, so these helpers must not be called
//! from inside an async context.

pub mod bulk;
pub mod h2;
pub mod memory;
pub mod websocket;

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::Runtime;

pub use bulk::{download, upload, BulkBackend, Transfer, Upload};
pub use h2::{h2_concurrent, Batch, Transport};
pub use memory::{peak_rss_kib, rss_kib, MemoryWatch};
pub use websocket::WebSocket;

/// How long a transfer may go without a single byte moving before it counts as stuck.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `future` on this module's runtime, failing after `limit`.
fn block_on<T>(
    what: &str,
    limit: Duration,
    future: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("test-streams")
            .enable_all()
            .build()
            .expect("streams runtime")
    });
    runtime.block_on(async {
        match tokio::time::timeout(limit, future).await {
            Ok(result) => result,
            Err(_) => Err(format!("{what}: timed out after {limit:?}")),
        }
    })
}
