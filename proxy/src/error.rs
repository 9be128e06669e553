//! [`ProxyError`]: why the proxy answered a request itself instead of with a backend's
//! response: the one list of error codes plugins see, with the status DESIGN §3 gives
//! each and the side that failed.
//!
//! | code | status | side | when |
//! |---|---|---|---|
//! | `bad_request` | 400 | client | invalid head: Host missing, repeated or invalid; a path that escapes the root or has a bad escape |
//! | `method_not_allowed` | 405 | client | `CONNECT` (hookgate is not a forward proxy) |
//! | `expectation_failed` | 417 | client | an `Expect` other than `100-continue` |
//! | `not_implemented` | 501 | client | a transfer coding other than `chunked` |
//! | `uri_too_long` | 414 | client | a request target over 8 KiB |
//! | `headers_too_large` | 431 | client | a header field over 8 KiB, or a header section over 32 KiB |
//! | `body_too_large` | 413 | client | the body is (or grows) larger than `max_body_bytes` |
//! | `body_timeout` | 408 | client | no byte of the request body for `server.body_timeout_ms` |
//! | `bad_body` | 400 | client | a framing error in the request body, or a body that ends before its length |
//! | `client_closed` | (499) | client | the client went away before its response was sent; nothing is sent |
//! | `no_product` | 404 | proxy | no product for the host and no default product |
//! | `no_route` | 404 | proxy | no route rule of the product matches |
//! | `no_backend` | 503 | proxy | the cluster has no healthy backend |
//! | `connect_failed` | 502 | upstream | connecting failed on every attempt |
//! | `bad_response` | 502 | upstream | the backend's response was not valid HTTP |
//! | `upstream_failed` | 502 | upstream | the backend connection broke after the request was sent |
//! | `timeout` | 504 | upstream | no response head within the cluster's response timeout |
//! | `response_too_large` | 502 | upstream | the response body is larger than the `body_limit` of a plugin that asked for it with `OverLimit::Reject` |
//! | `plugin_error` | 500 | plugin | a plugin failed under `fail-closed` |
//! | `forward_finish` | 500 | plugin | a Forward handler returned Finish: no backend call |
//!
//! A client's error is never blamed on a backend: it does not count as a backend
//! failure and is logged as the client's.

use http::StatusCode;

use crate::upstream::TlsFailure;

/// Why the proxy answered a request itself (see the module docs for the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyError {
    /// The request head is invalid (Host, path).
    BadRequest,
    /// `CONNECT`: hookgate is not a forward proxy.
    MethodNotAllowed,
    /// An expectation other than `100-continue`.
    ExpectationFailed,
    /// A transfer coding hookgate does not implement (anything but `chunked`).
    NotImplemented,
    /// The request target is longer than the front door allows.
    UriTooLong,
    /// A header field, or the header section, is larger than the front door allows.
    HeadersTooLarge,
    /// The body is larger than `max_body_bytes`.
    BodyTooLarge,
    /// No byte of the request body for `server.body_timeout_ms`.
    BodyTimeout,
    /// The request body's framing is invalid, or it ended before its length.
    BadBody,
    /// The client went away before its response was sent.
    ClientClosed,
    /// No product matches the host and there is no default product.
    NoProduct,
    /// No route rule of the product matches.
    NoRoute,
    /// The route's cluster has no healthy backend.
    NoBackend,
    /// Connecting to backends failed on every attempt.
    ConnectFailed,
    /// The backend's response was not valid HTTP.
    BadResponse,
    /// The backend connection failed after the request was sent.
    UpstreamFailed,
    /// No response head within the cluster's response timeout.
    Timeout,
    /// The response body is larger than the `body_limit` of a plugin that asked for
    /// it and refuses larger ones.
    ResponseTooLarge,
    /// A plugin failed under `fail-closed`.
    PluginError,
    /// A Forward handler returned Finish: no backend call.
    ForwardFinished,
    /// TLS to the backend: its certificate chain does not lead to a trusted CA.
    TlsUnknownCa,
    /// TLS to the backend: its certificate is not valid for the name it was checked
    /// against (`tls.sni`, else its IP address).
    TlsNameMismatch,
    /// TLS to the backend: its certificate has expired or is not valid yet.
    TlsExpired,
    /// TLS to the backend failed otherwise (an alert: no common version, our client
    /// certificate refused…).
    UpstreamTls,
    /// An `h2` cluster's backend did not agree on HTTP/2 by ALPN (or, for an upgrade,
    /// on HTTP/1.1).
    UpstreamAlpn,
    /// A gRPC request routed to an HTTP/1.1 cluster (gRPC needs HTTP/2 end to end):
    /// nothing is sent.
    GrpcOverHttp1,
    /// A gRPC client's own deadline (`grpc-timeout`) passed before the response head.
    DeadlineExceeded,
}

/// Which side an error is the fault of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The client sent something invalid, or went away.
    Client,
    /// The proxy's own configuration or state (no product, route or backend).
    Proxy,
    /// A backend.
    Upstream,
    /// A plugin.
    Plugin,
}

impl ProxyError {
    /// Every error, in declaration order.
    pub const ALL: [ProxyError; 27] = [
        ProxyError::BadRequest,
        ProxyError::MethodNotAllowed,
        ProxyError::ExpectationFailed,
        ProxyError::NotImplemented,
        ProxyError::UriTooLong,
        ProxyError::HeadersTooLarge,
        ProxyError::BodyTooLarge,
        ProxyError::BodyTimeout,
        ProxyError::BadBody,
        ProxyError::ClientClosed,
        ProxyError::NoProduct,
        ProxyError::NoRoute,
        ProxyError::NoBackend,
        ProxyError::ConnectFailed,
        ProxyError::BadResponse,
        ProxyError::UpstreamFailed,
        ProxyError::Timeout,
        ProxyError::ResponseTooLarge,
        ProxyError::PluginError,
        ProxyError::ForwardFinished,
        ProxyError::TlsUnknownCa,
        ProxyError::TlsNameMismatch,
        ProxyError::TlsExpired,
        ProxyError::UpstreamTls,
        ProxyError::UpstreamAlpn,
        ProxyError::GrpcOverHttp1,
        ProxyError::DeadlineExceeded,
    ];

    /// The status the client gets (`ClientClosed`: nginx's 499, logged, never sent).
    pub fn status(self) -> StatusCode {
        match self {
            ProxyError::BadRequest | ProxyError::BadBody => StatusCode::BAD_REQUEST,
            ProxyError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProxyError::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            ProxyError::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ProxyError::UriTooLong => StatusCode::URI_TOO_LONG,
            ProxyError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProxyError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ProxyError::ClientClosed => CLIENT_CLOSED,
            ProxyError::NoProduct | ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::NoBackend => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::ConnectFailed
            | ProxyError::BadResponse
            | ProxyError::UpstreamFailed
            | ProxyError::ResponseTooLarge
            | ProxyError::TlsUnknownCa
            | ProxyError::TlsNameMismatch
            | ProxyError::TlsExpired
            | ProxyError::UpstreamTls
            | ProxyError::UpstreamAlpn
            | ProxyError::GrpcOverHttp1 => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout | ProxyError::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::PluginError | ProxyError::ForwardFinished => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The error code plugins read from [`Request::error_code`](hookgate_plugin_api::Request::error_code).
    pub fn code(self) -> &'static str {
        match self {
            ProxyError::BadRequest => "bad_request",
            ProxyError::MethodNotAllowed => "method_not_allowed",
            ProxyError::ExpectationFailed => "expectation_failed",
            ProxyError::NotImplemented => "not_implemented",
            ProxyError::UriTooLong => "uri_too_long",
            ProxyError::HeadersTooLarge => "headers_too_large",
            ProxyError::BodyTooLarge => hookgate_plugin_api::body::REQUEST_TOO_LARGE,
            ProxyError::BodyTimeout => "body_timeout",
            ProxyError::BadBody => "bad_body",
            ProxyError::ClientClosed => "client_closed",
            ProxyError::NoProduct => "no_product",
            ProxyError::NoRoute => "no_route",
            ProxyError::NoBackend => "no_backend",
            ProxyError::ConnectFailed => "connect_failed",
            ProxyError::BadResponse => "bad_response",
            ProxyError::UpstreamFailed => "upstream_failed",
            ProxyError::Timeout => "timeout",
            ProxyError::ResponseTooLarge => hookgate_plugin_api::body::RESPONSE_TOO_LARGE,
            ProxyError::PluginError => "plugin_error",
            ProxyError::ForwardFinished => "forward_finish",
            ProxyError::TlsUnknownCa => "upstream_tls_unknown_ca",
            ProxyError::TlsNameMismatch => "upstream_tls_name_mismatch",
            ProxyError::TlsExpired => "upstream_tls_expired",
            ProxyError::UpstreamTls => "upstream_tls",
            ProxyError::UpstreamAlpn => "upstream_alpn",
            ProxyError::GrpcOverHttp1 => "grpc_over_http1",
            ProxyError::DeadlineExceeded => "deadline_exceeded",
        }
    }

    /// Whose fault it is.
    pub fn side(self) -> Side {
        match self {
            ProxyError::BadRequest
            | ProxyError::MethodNotAllowed
            | ProxyError::ExpectationFailed
            | ProxyError::NotImplemented
            | ProxyError::UriTooLong
            | ProxyError::HeadersTooLarge
            | ProxyError::BodyTooLarge
            | ProxyError::BodyTimeout
            | ProxyError::BadBody
            | ProxyError::ClientClosed
            | ProxyError::DeadlineExceeded => Side::Client,
            ProxyError::NoProduct
            | ProxyError::NoRoute
            | ProxyError::NoBackend
            | ProxyError::GrpcOverHttp1 => Side::Proxy,
            ProxyError::ConnectFailed
            | ProxyError::BadResponse
            | ProxyError::UpstreamFailed
            | ProxyError::Timeout
            | ProxyError::ResponseTooLarge
            | ProxyError::TlsUnknownCa
            | ProxyError::TlsNameMismatch
            | ProxyError::TlsExpired
            | ProxyError::UpstreamTls
            | ProxyError::UpstreamAlpn => Side::Upstream,
            ProxyError::PluginError | ProxyError::ForwardFinished => Side::Plugin,
        }
    }

    /// The error of a failed connect: the TLS cause if the handshake failed, else
    /// `ConnectFailed`.
    pub fn of_connect(source: &std::io::Error) -> ProxyError {
        crate::upstream::tls_failure(source).map_or(ProxyError::ConnectFailed, ProxyError::of_tls)
    }

    /// The error of a TLS failure with a backend.
    pub fn of_tls(failure: TlsFailure) -> ProxyError {
        match failure {
            TlsFailure::UnknownCa => ProxyError::TlsUnknownCa,
            TlsFailure::NameMismatch => ProxyError::TlsNameMismatch,
            TlsFailure::Expired => ProxyError::TlsExpired,
            TlsFailure::Other => ProxyError::UpstreamTls,
            TlsFailure::Alpn => ProxyError::UpstreamAlpn,
        }
    }

    /// Its index in [`ProxyError::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// nginx's "client closed request": logged, never sent.
const CLIENT_CLOSED: StatusCode = match StatusCode::from_u16(499) {
    Ok(status) => status,
    Err(_) => StatusCode::BAD_REQUEST,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_design_s() {
        let cases = [
            (ProxyError::BadRequest, 400),
            (ProxyError::MethodNotAllowed, 405),
            (ProxyError::UriTooLong, 414),
            (ProxyError::HeadersTooLarge, 431),
            (ProxyError::BodyTooLarge, 413),
            (ProxyError::BadBody, 400),
            (ProxyError::ClientClosed, 499),
            (ProxyError::NoProduct, 404),
            (ProxyError::NoRoute, 404),
            (ProxyError::NoBackend, 503),
            (ProxyError::ConnectFailed, 502),
            (ProxyError::BadResponse, 502),
            (ProxyError::Timeout, 504),
            (ProxyError::PluginError, 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
        }
    }

    #[test]
    fn all_is_in_declaration_order_with_distinct_codes() {
        for (i, error) in ProxyError::ALL.iter().enumerate() {
            assert_eq!(error.index(), i, "{error:?}");
        }
        let mut codes: Vec<_> = ProxyError::ALL.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ProxyError::ALL.len());
    }

    #[test]
    fn client_errors_are_the_clients() {
        for error in [
            ProxyError::BadBody,
            ProxyError::ClientClosed,
            ProxyError::BodyTooLarge,
        ] {
            assert_eq!(error.side(), Side::Client);
        }
        assert_eq!(ProxyError::UpstreamFailed.side(), Side::Upstream);
    }
}
