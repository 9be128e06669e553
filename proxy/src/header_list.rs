//! The items of a comma-separated header field (RFC 9110 §5.6.1), across all its
//! lines: `Connection`, `Upgrade`, `Vary`, `Cache-Control`, …

use http::header::{AsHeaderName, HeaderValue};
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

/// Whether one field line lists `token` (any case).
pub(crate) fn value_has(value: &HeaderValue, token: &str) -> bool {
    value.to_str().is_ok_and(|value| {
        value
            .split(',')
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    })
}

/// Whether one field line's last item is `token` (any case): `chunked` as the final
/// transfer coding.
pub(crate) fn last_is(value: &HeaderValue, token: &str) -> bool {
    value.to_str().is_ok_and(|value| {
        value
            .rsplit(',')
            .next()
            .is_some_and(|item| item.trim().eq_ignore_ascii_case(token))
    })
}

#[cfg(test)]
mod tests {
    use http::header::CONNECTION;

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
        assert!(value_has(&headers[CONNECTION], "Upgrade"));
        assert!(last_is(
            &HeaderValue::from_static("gzip, Chunked"),
            "chunked"
        ));
        assert!(!last_is(
            &HeaderValue::from_static("chunked, gzip"),
            "chunked"
        ));
    }
}
