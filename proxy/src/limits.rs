//! Process limits: the open-file limit raised to what the system allows, before the
//! proxy serves (nginx's `worker_rlimit_nofile`, done for the operator).

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// File descriptors one client connection may use at once: its socket and one
/// backend connection (more while a retry or a pooled connection overlaps).
const FDS_PER_CONNECTION: u64 = 2;
/// Descriptors kept for everything else: listeners, the admin listener, plugin files,
/// logs, health checks.
const FDS_RESERVED: u64 = 64;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, logs the result, and warns when
/// `max_connections` needs more descriptors than it allows. Returns the soft limit
/// now in force (`None`: unlimited).
pub fn raise_open_files(max_connections: usize) -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current;
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => soft = limit.maximum,
            Err(error) => tracing::warn!(
                %error,
                soft = ?limit.current,
                hard = ?limit.maximum,
                "cannot raise the open-file limit to its hard limit"
            ),
        }
    }
    tracing::info!(open_files = ?soft, "open-file limit");
    if let Some(soft) = soft {
        let needed = (max_connections as u64)
            .saturating_mul(FDS_PER_CONNECTION)
            .saturating_add(FDS_RESERVED);
        if needed > soft {
            tracing::warn!(
                max_connections,
                open_files = soft,
                allows = soft.saturating_sub(FDS_RESERVED) / FDS_PER_CONNECTION,
                "server.max_connections needs more open files than the limit allows; \
                 accepts will fail (EMFILE) before it is reached"
            );
        }
    }
    soft
}
