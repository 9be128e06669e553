//! Support for pinning the callback contract (DESIGN §2.3) from the outside: probe
//! rules written in Rust, and clients that show what the other HTTP clients hide
//! (whether a single byte came back, who closed the connection, what happened to the
//! other streams of an HTTP/2 connection).
//!
//! - [`Rule`]: one `[[rule]]` of a probe's config.
//! - [`RawConn`]: HTTP/1.1 over a bare socket: exact bytes and closes.
//! - [`H2c`]: HTTP/2 with prior knowledge, several streams in flight at once.
//! - [`H2Exact`]: HTTP/2 with the pseudo-headers as given (no `:authority`, one that
//!   differs from `host`, CONNECT), stream resets by reason, the server's SETTINGS.
//! - [`tls_exchange`]: a TLS connection's plaintext, byte for byte.
//! - [`start_proxy`]: starting the proxy again when a free port was taken meanwhile.

mod h2;
mod h2_exact;
mod raw;
mod rule;
mod start;
mod tls;

pub use h2::{H2c, InFlight};
pub use h2_exact::{H2Exact, H2Failure, H2Request};
pub use raw::{RawConn, RawResponse, RAW_TIMEOUT};
pub use rule::{rules, Rule};
pub use start::start_proxy;
pub use tls::{tls_exchange, tls_exchange_alpn, TlsExchange};
