//! [`start_proxy`]: [`Proxy::start`] that survives the free-port race.

use std::panic::{self, AssertUnwindSafe};

use crate::proxy::Proxy;

/// How many times a start that lost a port is tried in all.
const ATTEMPTS: usize = 5;

/// Starts the proxy with the arguments `args` makes. A port picked by
/// [`free_addr`](crate::free_addr) can be taken by another process (or by a client
/// socket of a parallel test) before the proxy binds it; then `args` is called again,
/// so that it can pick fresh ports (and rewrite a config file), and the start is
/// retried. Any other failure panics as [`Proxy::start`] does.
pub fn start_proxy(mut args: impl FnMut() -> Vec<String>) -> Proxy {
    let mut attempt = 1;
    loop {
        let owned = args();
        let args: Vec<&str> = owned.iter().map(String::as_str).collect();
        let payload = match panic::catch_unwind(AssertUnwindSafe(|| Proxy::start(&args))) {
            Ok(proxy) => return proxy,
            Err(payload) => payload,
        };
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if attempt == ATTEMPTS || !message.contains("Address already in use") {
            panic::resume_unwind(payload);
        }
        attempt += 1;
    }
}
