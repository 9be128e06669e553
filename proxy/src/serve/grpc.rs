//! gRPC requests (HTTP/2, `content-type: application/grpc…`): an answer the proxy or
//! a plugin makes for one is a gRPC error in Trailers-Only form, which gRPC clients
//! understand, rather than an HTTP error page, which they report as a protocol error.
//!
//! The conversion happens after ReadResponse and ResponseBody, just before the send:
//! plugins see (and may change) the HTTP status; the client and RequestFinish see
//! HTTP 200 with `grpc-status` and `grpc-message`. The status follows gRPC's mapping
//! of HTTP statuses (as Envoy applies it): 400 → 13 INTERNAL, 401 → 16
//! UNAUTHENTICATED, 403 → 7 PERMISSION_DENIED, 404 → 12 UNIMPLEMENTED, 429, 502,
//! 503 and 504 → 14 UNAVAILABLE, anything else → 2 UNKNOWN. A backend's response is
//! never converted, nor a 2xx answer, nor one that already carries `grpc-status` (a
//! plugin that answers in gRPC itself). gRPC-Web (`application/grpc-web…`) is not
//! gRPC here: it is HTTP/1.1-capable and carries its trailers in the body.

use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode, Version};

use crate::error::ProxyError;

/// Whether a request with this version and headers is a gRPC call.
pub(crate) fn is_grpc(version: Version, headers: &HeaderMap) -> bool {
    if version != Version::HTTP_2 {
        return false;
    }
    let Some(content_type) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    let content_type = content_type.as_bytes();
    hookgate_plugin_api::body::is_grpc(content_type) && !is_grpc_web(content_type)
}

fn is_grpc_web(content_type: &[u8]) -> bool {
    const WEB: &[u8] = b"application/grpc-web";
    content_type.len() >= WEB.len() && content_type[..WEB.len()].eq_ignore_ascii_case(WEB)
}

/// The client's deadline from `grpc-timeout` (1 to 8 digits and a unit: `H`, `M`, `S`,
/// `m`, `u`, `n`); `None` if absent or malformed.
pub(crate) fn timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.as_bytes();
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b"H" => Duration::from_secs(n.checked_mul(3600)?),
        b"M" => Duration::from_secs(n.checked_mul(60)?),
        b"S" => Duration::from_secs(n),
        b"m" => Duration::from_millis(n),
        b"u" => Duration::from_micros(n),
        b"n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The gRPC status for an answer with this HTTP status.
pub(crate) fn status_for(status: StatusCode) -> u8 {
    match status.as_u16() {
        400 => 13,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502 | 503 | 504 => 14,
        _ => 2,
    }
}

/// Whether a local answer with this head is turned into a gRPC error.
pub(crate) fn converts(status: StatusCode, headers: &HeaderMap) -> bool {
    !status.is_success() && !headers.contains_key("grpc-status")
}

/// Turns the head of a local answer into a Trailers-Only gRPC error: status 200,
/// `content-type: application/grpc`, `grpc-status` and `grpc-message` (the HTTP
/// status, its reason and the proxy's error code if any), no `content-length`; the
/// caller sends no body. Other headers (`www-authenticate`, a plugin's) are kept.
pub(crate) fn trailers_only(head: &mut http::response::Parts, error: Option<ProxyError>) {
    let status = head.status;
    let headers = &mut head.headers;
    headers.remove(CONTENT_LENGTH);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    // DEADLINE_EXCEEDED only for the client's own deadline; a backend too slow for
    // the cluster's timeout is UNAVAILABLE (504 → 14).
    let code = if error == Some(ProxyError::DeadlineExceeded) {
        4
    } else {
        status_for(status)
    };
    headers.insert("grpc-status", HeaderValue::from(u16::from(code)));
    let mut message = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    if let Some(error) = error {
        message.push_str(&format!(" ({})", error.code()));
    }
    if let Ok(value) = HeaderValue::from_str(&percent_encode(message.trim_end())) {
        headers.insert("grpc-message", value);
    }
    head.status = StatusCode::OK;
}

/// `grpc-message` encoding: bytes outside printable ASCII, and `%`, as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    #[test]
    fn grpc_is_http2_with_a_grpc_content_type_but_not_grpc_web() {
        for (version, content_type, grpc) in [
            (Version::HTTP_2, "application/grpc", true),
            (Version::HTTP_2, "application/grpc+proto", true),
            (Version::HTTP_2, "Application/GRPC;charset=utf-8", true),
            (Version::HTTP_11, "application/grpc", false),
            (Version::HTTP_2, "application/grpc-web", false),
            (Version::HTTP_2, "application/grpc-web+proto", false),
            (Version::HTTP_2, "application/json", false),
        ] {
            assert_eq!(
                is_grpc(version, &headers(content_type)),
                grpc,
                "{content_type}"
            );
        }
        assert!(!is_grpc(Version::HTTP_2, &HeaderMap::new()));
    }

    #[test]
    fn statuses_follow_grpcs_http_mapping() {
        for (http, grpc) in [
            (400, 13),
            (401, 16),
            (403, 7),
            (404, 12),
            (429, 14),
            (502, 14),
            (503, 14),
            (504, 14),
            (500, 2),
            (301, 2),
        ] {
            assert_eq!(
                status_for(StatusCode::from_u16(http).unwrap()),
                grpc,
                "{http}"
            );
        }
    }

    #[test]
    fn an_error_becomes_trailers_only_and_keeps_other_headers() {
        let (mut head, ()) = http::Response::builder()
            .status(403)
            .header(CONTENT_LENGTH, "10")
            .header(CONTENT_TYPE, "text/plain")
            .header("www-authenticate", "Basic realm=\"x\"")
            .body(())
            .unwrap()
            .into_parts();
        assert!(converts(head.status, &head.headers));
        trailers_only(&mut head, Some(ProxyError::PluginError));
        assert_eq!(head.status, StatusCode::OK);
        assert_eq!(head.headers["grpc-status"], "7");
        assert_eq!(head.headers["grpc-message"], "403 Forbidden (plugin_error)");
        assert_eq!(head.headers[CONTENT_TYPE], "application/grpc");
        assert!(!head.headers.contains_key(CONTENT_LENGTH));
        assert_eq!(head.headers["www-authenticate"], "Basic realm=\"x\"");
    }

    #[test]
    fn success_and_answers_in_grpc_are_left_alone() {
        assert!(!converts(StatusCode::OK, &HeaderMap::new()));
        let mut grpc = HeaderMap::new();
        grpc.insert("grpc-status", HeaderValue::from_static("5"));
        assert!(!converts(StatusCode::NOT_FOUND, &grpc));
    }

    #[test]
    fn grpc_timeout_is_read_in_its_units() {
        let of = |v: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-timeout", HeaderValue::from_str(v).unwrap());
            timeout(&headers)
        };
        assert_eq!(of("200m"), Some(Duration::from_millis(200)));
        assert_eq!(of("10S"), Some(Duration::from_secs(10)));
        assert_eq!(of("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(of("5M"), Some(Duration::from_secs(300)));
        assert_eq!(of("7u"), Some(Duration::from_micros(7)));
        assert_eq!(of("9n"), Some(Duration::from_nanos(9)));
        for bad in ["", "m", "123456789m", "1.5S", "10s", "10"] {
            assert_eq!(of(bad), None, "{bad:?}");
        }
        assert_eq!(timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn the_clients_deadline_is_deadline_exceeded_a_slow_backend_unavailable() {
        let mut head = http::Response::builder()
            .status(504)
            .body(())
            .unwrap()
            .into_parts()
            .0;
        trailers_only(&mut head, Some(ProxyError::DeadlineExceeded));
        assert_eq!(head.headers["grpc-status"], "4");
        let mut head = http::Response::builder()
            .status(504)
            .body(())
            .unwrap()
            .into_parts()
            .0;
        trailers_only(&mut head, Some(ProxyError::Timeout));
        assert_eq!(head.headers["grpc-status"], "14");
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("50% off\n"), "50%25 off%0A");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
