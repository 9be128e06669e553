//! [`Policy`]: what one product allows, and how it answers a preflight and marks a
//! response.

use std::collections::BTreeSet;

use hookgate_plugin_api::{Reply, Response};

/// The origins a policy allows.
#[derive(Debug)]
pub(crate) enum Origins {
    /// `allow_origins = ["*"]`.
    Any,
    /// Serialised origins (`https://shop.example.com`), lowercase. A `BTreeSet`: a few
    /// string comparisons per request, less than hashing the origin with SipHash.
    Listed(BTreeSet<String>),
}

/// One product's CORS policy; the header values are joined once, at init.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) origins: Origins,
    pub(crate) allow_methods: Option<String>,
    pub(crate) allow_headers: Option<String>,
    pub(crate) expose_headers: Option<String>,
    pub(crate) allow_credentials: bool,
    pub(crate) max_age: Option<String>,
}

impl Policy {
    /// Whether `origin` (as the browser sent it) is allowed.
    pub(crate) fn allows(&self, origin: &str) -> bool {
        match &self.origins {
            Origins::Any => true,
            Origins::Listed(origins) => origins.contains(origin),
        }
    }

    /// The answer to a preflight from `origin`: 204 with the `Access-Control-Allow-*`
    /// headers, or 403 for an origin not allowed.
    pub(crate) fn preflight(&self, origin: &str) -> Reply {
        if !self.allows(origin) {
            return Reply::new(403)
                .header("vary", "Origin")
                .header("content-type", "text/plain; charset=utf-8")
                .body("403 Forbidden: origin not allowed\n");
        }
        let mut reply = Reply::new(204)
            .header("access-control-allow-origin", origin)
            .header("vary", "Origin");
        let headers = [
            ("access-control-allow-methods", &self.allow_methods),
            ("access-control-allow-headers", &self.allow_headers),
            ("access-control-max-age", &self.max_age),
        ];
        for (name, value) in headers {
            if let Some(value) = value {
                reply = reply.header(name, value);
            }
        }
        if self.allow_credentials {
            reply = reply.header("access-control-allow-credentials", "true");
        }
        reply
    }

    /// Marks a response to a request from `origin`: `Access-Control-Allow-Origin` and
    /// the rest for an allowed origin, and `Vary: Origin` on every response, so that
    /// a cache does not hand one origin's answer to another.
    pub(crate) fn mark(&self, origin: Option<&str>, resp: &mut Response<'_>) {
        let varies = resp.header_all("vary").any(|value| {
            value
                .split(',')
                .any(|v| v.trim() == "*" || v.trim().eq_ignore_ascii_case("origin"))
        });
        if !varies {
            resp.add_header("vary", "Origin");
        }
        let Some(origin) = origin.filter(|origin| self.allows(origin)) else {
            return;
        };
        resp.set_header("access-control-allow-origin", origin);
        if self.allow_credentials {
            resp.set_header("access-control-allow-credentials", "true");
        }
        if let Some(expose) = &self.expose_headers {
            resp.set_header("access-control-expose-headers", expose);
        }
    }
}
