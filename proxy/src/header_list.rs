//! The items of a comma-separated header field (RFC 9110 §5.6.1), across all its
//! lines: `Connection`, `Upgrade`, `Vary`, `Cache-Control`, …

use http::header::AsHeaderName;
use http::HeaderMap;

/// Every item of header `name`, trimmed, in order (lines that are not visible ASCII
/// are skipped).
pub(crate) fn items(headers: &HeaderMap, name: impl AsHeaderName) -> impl Iterator<Item = &str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
}

/// Whether header `name` lists `token` (any case).
pub(crate) fn has(headers: &HeaderMap, name: impl AsHeaderName, token: &str) -> bool {
    items(headers, name).any(|item| item.eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use http::header::{HeaderValue, CONNECTION};

    use super::*;

    #[test]
    fn items_span_every_line_trimmed() {
        let mut headers = HeaderMap::new();
        headers.append(CONNECTION, HeaderValue::from_static("keep-alive , Upgrade"));
        headers.append(CONNECTION, HeaderValue::from_static("close"));
        let all: Vec<_> = items(&headers, CONNECTION).collect();
        assert_eq!(all, ["keep-alive", "Upgrade", "close"]);
        assert!(has(&headers, CONNECTION, "upgrade"));
        assert!(!has(&headers, CONNECTION, "te"));
    }
}
