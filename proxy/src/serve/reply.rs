//! Responses the proxy makes itself: a plugin's reply, and the short page of a status
//! it answers on its own (errors).

use bytes::Bytes;
use hookgate_plugin_api::abi::ResponseData;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Response, StatusCode};

use super::body::BodyKind;
use crate::error::ProxyError;
use crate::response::ResponseState;

/// A handler's reply as a response; `None` if its status or a header is invalid.
/// `Content-Length` is the body's, except that a reply to HEAD with no body keeps the
/// length its handler gave (the size the GET would have).
pub(crate) fn reply(data: ResponseData, method: &http::Method) -> Option<Response<BodyKind>> {
    let status = StatusCode::from_u16(data.status).ok()?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for header in data.headers.iter() {
        let name = http::header::HeaderName::from_bytes(header.0.as_bytes()).ok()?;
        let value = HeaderValue::from_str(header.1.as_str()).ok()?;
        headers.append(name, value);
    }
    let body = Bytes::from(data.body.into_vec());
    let keep_length =
        *method == http::Method::HEAD && body.is_empty() && headers.contains_key(CONTENT_LENGTH);
    if !keep_length {
        headers.insert(CONTENT_LENGTH, body.len().into());
    }
    Some(response.map(|()| BodyKind::full(body)))
}

/// A short plain-text page for a status the proxy answers itself.
pub(crate) fn error_page(status: StatusCode) -> Response<BodyKind> {
    let text = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut response = Response::new(());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CONTENT_LENGTH, text.len().into());
    response.map(|()| BodyKind::full(text))
}

/// The error page of `error` as a response state and body (replacing a response).
pub(crate) fn plain_error(error: ProxyError) -> (ResponseState, BodyKind) {
    let (head, body) = error_page(error.status()).into_parts();
    (ResponseState::new(head), body)
}
