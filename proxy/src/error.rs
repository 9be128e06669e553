//! [`ProxyError`]: what the proxy itself answers when it cannot forward a request, with
//! the status code DESIGN §3 gives each and the error code plugins see.

use http::StatusCode;

/// A failure of the proxy (not of the backend's own response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyError {
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
    /// A plugin failed under `fail-closed`.
    PluginError,
    /// A Forward handler returned Finish: no backend call.
    ForwardFinished,
}

impl ProxyError {
    /// Every error, in declaration order.
    pub const ALL: [ProxyError; 9] = [
        ProxyError::NoProduct,
        ProxyError::NoRoute,
        ProxyError::NoBackend,
        ProxyError::ConnectFailed,
        ProxyError::BadResponse,
        ProxyError::UpstreamFailed,
        ProxyError::Timeout,
        ProxyError::PluginError,
        ProxyError::ForwardFinished,
    ];

    /// The status the client gets.
    pub fn status(self) -> StatusCode {
        match self {
            ProxyError::NoProduct | ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::NoBackend => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::ConnectFailed | ProxyError::BadResponse | ProxyError::UpstreamFailed => {
                StatusCode::BAD_GATEWAY
            }
            ProxyError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::PluginError | ProxyError::ForwardFinished => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The error code plugins read from [`Request::error_code`](hookgate_plugin_api::Request::error_code).
    pub fn code(self) -> &'static str {
        match self {
            ProxyError::NoProduct => "no_product",
            ProxyError::NoRoute => "no_route",
            ProxyError::NoBackend => "no_backend",
            ProxyError::ConnectFailed => "connect_failed",
            ProxyError::BadResponse => "bad_response",
            ProxyError::UpstreamFailed => "upstream_failed",
            ProxyError::Timeout => "timeout",
            ProxyError::PluginError => "plugin_error",
            ProxyError::ForwardFinished => "forward_finish",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_design_s() {
        let cases = [
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
}
