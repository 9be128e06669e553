//! Redirect responses (DESIGN §2.3): URL and code from the request's redirect info,
//! relative URLs resolved against the request path, `Location` set, extra headers
//! added, a short HTML body for GET only.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, Response, StatusCode};

use crate::request::RequestState;

/// The redirect response for `request`, or `None` if no redirect URL was set or it is
/// not a valid header value.
pub(crate) fn response(request: &RequestState) -> Option<Response<Bytes>> {
    let url = request.redirect.url.as_deref()?;
    let location = resolve(url, request.head.uri.path());
    let location_value = HeaderValue::from_str(&location).ok()?;
    let status = StatusCode::from_u16(request.redirect.code)
        .ok()
        .filter(StatusCode::is_redirection)
        .unwrap_or(StatusCode::FOUND);
    let body = if request.head.method == Method::GET {
        let escaped = escape_html(&location);
        Bytes::from(format!(
            "<html><head><title>{code}</title></head><body><a href=\"{escaped}\">{escaped}</a></body></html>\n",
            code = status.as_u16()
        ))
    } else {
        Bytes::new()
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in &request.redirect.headers {
        headers.append(name.clone(), value.clone());
    }
    headers.insert(LOCATION, location_value);
    if request.head.method == Method::GET {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    let length = response.body().len();
    response.headers_mut().insert(CONTENT_LENGTH, length.into());
    Some(response)
}

/// Resolves `url` against the request path: absolute URLs (`scheme://`, `//host`) and
/// absolute paths stay; a relative path replaces the last segment of the request path.
fn resolve(url: &str, request_path: &str) -> String {
    let has_scheme = url.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    if has_scheme || url.starts_with('/') {
        return url.to_owned();
    }
    let base = request_path.rsplit_once('/').map_or("", |(dir, _)| dir);
    format!("{base}/{url}")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_urls_resolve_against_the_path() {
        assert_eq!(
            resolve("https://a.example/x", "/p/q"),
            "https://a.example/x"
        );
        assert_eq!(resolve("//cdn.example/x", "/p/q"), "//cdn.example/x");
        assert_eq!(resolve("/abs", "/p/q"), "/abs");
        assert_eq!(resolve("sibling", "/p/q"), "/p/sibling");
        assert_eq!(resolve("sibling", "/"), "/sibling");
        assert_eq!(resolve("../up", "/a/b/c"), "/a/b/../up");
    }

    fn request(method: &str, url: &str, code: u16) -> RequestState {
        let (head, ()) = http::Request::builder()
            .method(method)
            .uri("/shop/item")
            .body(())
            .unwrap()
            .into_parts();
        let mut r = RequestState::new(head, [127, 0, 0, 1].into());
        r.redirect.url = Some(url.to_owned());
        r.redirect.code = code;
        r
    }

    #[test]
    fn get_has_a_body_and_others_do_not() {
        let get = response(&request("GET", "new", 301)).unwrap();
        assert_eq!(get.status(), 301);
        assert_eq!(get.headers()[LOCATION], "/shop/new");
        assert!(!get.body().is_empty());
        let mut with_headers = request("GET", "https://a.example/", 308);
        with_headers
            .redirect
            .headers
            .append("x-why", http::HeaderValue::from_static("moved"));
        let moved = response(&with_headers).unwrap();
        assert_eq!(moved.status(), 308);
        assert_eq!(moved.headers()["x-why"], "moved", "extra headers are added");
        assert_eq!(moved.headers()[LOCATION], "https://a.example/");
        let post = response(&request("POST", "/x", 0)).unwrap();
        assert_eq!(post.status(), 302);
        assert!(post.body().is_empty());
        assert_eq!(post.headers()[CONTENT_LENGTH], "0");
    }
}
