//! The front door: what a request head must be before any plugin or routing sees it
//! (DESIGN §6), and the host and path every later step sees.
//!
//! [`admit`] takes the head the codec parsed (ours for HTTP/1.x, hyper's for HTTP/2)
//! and either refuses it or leaves it in the one
//! shape the rest of the proxy relies on:
//!
//! - **Host** (`host`): exactly one authority, valid `host[:port]`. HTTP/1.1: the
//!   absolute-form target's authority wins over `Host` (RFC 9112 §3.2.2); without
//!   one, exactly one valid `Host` header (no Host, two Host headers or an invalid one
//!   → 400). HTTP/1.0 may have no Host: it is routed to the default product and the
//!   backend receives its own address as Host. HTTP/2: `:authority`, or `host`
//!   without it; both and different → malformed (stream error `PROTOCOL_ERROR`, RFC
//!   9113 §8.3.1); neither → 400. The chosen authority is then the request's only
//!   `Host` header, so routing, plugins and the backend see the same host; routing
//!   ignores case, the port and a trailing dot.
//! - **Sizes**: a request target over [`MAX_TARGET_BYTES`] → 414; a header field over
//!   [`MAX_FIELD_BYTES`] or a header section over [`MAX_HEADER_BYTES`] → 431 (nginx's
//!   `large_client_header_buffers 4 8k`). More than 100 header fields, or a head over
//!   64 KiB, are refused by the HTTP/1 codec itself (431) before a request exists.
//! - **Method**: `CONNECT` → 405 with `Allow` (hookgate is not a forward proxy).
//! - **Framing and expectations**: a `Transfer-Encoding` with any coding but
//!   `chunked` → 501 (RFC 9112 §6.1; the codec only checks the last one, and the codings
//!   would be dropped with the hop-by-hop header); an `Expect` other than
//!   `100-continue` → 417 (RFC 9110 §10.1.1).
//! - **Path** (`path`): normalised once, and the normalised path is what route rules,
//!   plugins and the backend see (Envoy's `normalize_path` and `merge_slashes`, rather
//!   than nginx's "match the normalised path, forward the raw one", so that what is
//!   checked is what is sent).
//!
//! The target is left in origin form (`/path?query`), or `*` for `OPTIONS *`; `*`
//! with any other method → 400 (RFC 9112 §3.2.4). (An `OPTIONS http://h` should go on
//! as `OPTIONS *`, but the parsed target (`http::Uri`) already has `/` for its empty path, so it
//! goes on as `OPTIONS /`, as nginx forwards it.)

mod host;
mod path;

use std::time::Duration;

use http::header::{HeaderValue, EXPECT, HOST, TRANSFER_ENCODING};
use http::request::Parts;
use http::uri::{PathAndQuery, Uri};
use http::{Method, Version};

use crate::config::{EncodedSlashes, ServerConfig};
use crate::error::ProxyError;

pub use host::{is_valid_authority, route_host};
pub use path::{normalize as normalize_path, PathError};

/// The front-door settings of one configuration (from `[server]`).
#[derive(Clone, Copy, Debug)]
pub struct Edge {
    /// `server.max_body_bytes`; 0 = unlimited.
    pub max_body_bytes: u64,
    /// `server.encoded_slashes`.
    pub encoded_slashes: EncodedSlashes,
    /// `server.h2_max_concurrent_streams`.
    pub h2_max_concurrent_streams: u32,
    /// The client-side timeouts.
    pub timeouts: ClientTimeouts,
    /// `server.keepalive_requests`.
    pub keepalive_requests: u64,
}

/// The waits on a client, each bounded (DESIGN §6; nginx's names and defaults).
#[derive(Clone, Copy, Debug)]
pub struct ClientTimeouts {
    /// `server.header_timeout_ms`.
    pub header: Duration,
    /// `server.idle_timeout_ms`.
    pub idle: Duration,
    /// `server.body_timeout_ms`.
    pub body: Duration,
    /// `server.send_timeout_ms`.
    pub send: Duration,
    /// `server.tunnel_idle_timeout_ms`.
    pub tunnel_idle: Duration,
}

impl ClientTimeouts {
    /// The shorter of the header and idle timeouts (at least 1 ms): no wait on an idle
    /// or reading connection starts shorter than this from the moment it starts.
    pub fn shortest(&self) -> Duration {
        self.header.min(self.idle).max(Duration::from_millis(1))
    }
}

impl Edge {
    /// The settings of `server`.
    pub fn new(server: &ServerConfig) -> Edge {
        Edge {
            max_body_bytes: server.max_body_bytes,
            encoded_slashes: server.encoded_slashes,
            h2_max_concurrent_streams: server.h2_max_concurrent_streams,
            timeouts: ClientTimeouts {
                header: Duration::from_millis(server.header_timeout_ms),
                idle: Duration::from_millis(server.idle_timeout_ms),
                body: Duration::from_millis(server.body_timeout_ms),
                send: Duration::from_millis(server.send_timeout_ms),
                tunnel_idle: Duration::from_millis(server.tunnel_idle_timeout_ms),
            },
            keepalive_requests: server.keepalive_requests,
        }
    }
}

/// Why a head is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Answer with this error's status (400, 405).
    Answer(ProxyError),
    /// HTTP/2: a malformed request, refused with a stream error (RFC 9113 §8.1.1).
    Malformed,
}

/// The longest request target accepted (bytes).
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// The largest header field accepted (name, value and separators, in bytes).
pub const MAX_FIELD_BYTES: usize = 8 * 1024;
/// The largest header section accepted (bytes).
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// The methods hookgate forwards, for a 405's `Allow`.
pub const ALLOW: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE";

/// Checks `head` and brings it into shape (see the module docs): afterwards its one
/// `Host` header (none only for HTTP/1.0 without one) is the request's authority and
/// its target is in origin form with a normalised path.
pub fn admit(head: &mut Parts, edge: &Edge) -> Result<(), Refusal> {
    sizes(head)?;
    let authority = authority(head)?;
    if head.method == Method::CONNECT {
        return Err(Refusal::Answer(ProxyError::MethodNotAllowed));
    }
    framing(head)?;
    // The one Host header is the authority already, unless the target's won.
    if let Some(authority) = authority {
        let value = HeaderValue::from_str(&authority)
            .map_err(|_| Refusal::Answer(ProxyError::BadRequest))?;
        head.headers.insert(HOST, value);
    }
    head.uri = origin_form(&head.uri, &head.method, edge.encoded_slashes)?;
    Ok(())
}

/// 501 for a transfer coding other than `chunked`, 417 for an unknown expectation.
fn framing(head: &Parts) -> Result<(), Refusal> {
    let tokens = |name| {
        head.headers
            .get_all(name)
            .into_iter()
            .flat_map(|v| v.to_str().unwrap_or("?").split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    if tokens(TRANSFER_ENCODING).any(|coding| !coding.eq_ignore_ascii_case("chunked")) {
        return Err(Refusal::Answer(ProxyError::NotImplemented));
    }
    if tokens(EXPECT).any(|e| !e.eq_ignore_ascii_case("100-continue")) {
        return Err(Refusal::Answer(ProxyError::ExpectationFailed));
    }
    Ok(())
}

/// 414 or 431 for a head larger than the limits.
fn sizes(head: &Parts) -> Result<(), Refusal> {
    let target = head.uri.path_and_query().map_or(0, |p| p.as_str().len())
        + head.uri.authority().map_or(0, |a| a.as_str().len());
    if target > MAX_TARGET_BYTES {
        return Err(Refusal::Answer(ProxyError::UriTooLong));
    }
    let mut total = 0;
    for (name, value) in &head.headers {
        // `name: value\r\n`, as on the wire.
        let field = name.as_str().len() + value.len() + 4;
        total += field;
        if field > MAX_FIELD_BYTES || total > MAX_HEADER_BYTES {
            return Err(Refusal::Answer(ProxyError::HeadersTooLarge));
        }
    }
    Ok(())
}

/// The request's one authority, by the rules of its HTTP version, if it must become
/// the Host header: `None` when the request's one Host header is it already (or,
/// HTTP/1.0, there is none).
fn authority(head: &Parts) -> Result<Option<String>, Refusal> {
    let bad = Refusal::Answer(ProxyError::BadRequest);
    let mut hosts = head.headers.get_all(HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err(if head.version == Version::HTTP_2 {
            Refusal::Malformed
        } else {
            bad
        });
    }
    let header = match header {
        Some(value) => {
            let text = value.to_str().map_err(|_| bad)?;
            if !is_valid_authority(text) {
                return Err(bad);
            }
            Some(text)
        }
        None => None,
    };
    let target = head.uri.authority().map(|a| a.as_str());
    if let Some(target) = target {
        if !is_valid_authority(target) {
            return Err(bad);
        }
    }
    match (head.version, target, header) {
        // RFC 9113 §8.3.1: a `host` that names another entity than `:authority`.
        (Version::HTTP_2, Some(target), Some(header)) if !same_authority(target, header) => {
            Err(Refusal::Malformed)
        }
        // RFC 9112 §3.2.2: the target's authority wins over Host.
        (_, Some(target), _) => Ok(Some(target.to_owned())),
        (_, None, Some(_)) => Ok(None),
        // RFC 9112 §3.2: HTTP/1.0 may omit Host.
        (Version::HTTP_10 | Version::HTTP_09, None, None) => Ok(None),
        (_, None, None) => Err(bad),
    }
}

/// Whether two authorities name the same host and port (case-insensitive host).
fn same_authority(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The target in origin form with its path normalised.
fn origin_form(uri: &Uri, method: &Method, slashes: EncodedSlashes) -> Result<Uri, Refusal> {
    let bad = Refusal::Answer(ProxyError::BadRequest);
    let Some(path_and_query) = uri.path_and_query() else {
        return Ok(Uri::from_static("/"));
    };
    let path = path_and_query.path();
    if path == "*" {
        // The asterisk-form is for OPTIONS only (RFC 9112 §3.2.4).
        return if *method == Method::OPTIONS {
            Ok(Uri::from_static("*"))
        } else {
            Err(bad)
        };
    }
    if !path.starts_with('/') {
        return Err(bad);
    }
    let normalized = normalize_path(path, slashes).map_err(|_| bad)?;
    let unchanged = matches!(normalized, std::borrow::Cow::Borrowed(_));
    if unchanged && uri.scheme().is_none() && uri.authority().is_none() {
        return Ok(uri.clone());
    }
    if unchanged {
        return Ok(Uri::from(path_and_query.clone()));
    }
    let text = match path_and_query.query() {
        Some(query) => format!("{normalized}?{query}"),
        None => normalized.into_owned(),
    };
    PathAndQuery::from_maybe_shared(text)
        .map(Uri::from)
        .map_err(|_| bad)
}

#[cfg(test)]
mod tests;
