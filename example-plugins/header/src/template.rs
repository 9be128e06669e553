//! [`Template`]: a header value with variables (`%{host}`), parsed once at init.

use std::fmt::Write as _;

use hookgate_plugin_api::Request;

/// The variables a value may use.
const VARIABLES: &str = "client_ip, product, request_id, host, path";

/// A header value: plain text, or text and variables to fill per request.
#[derive(Debug)]
pub enum Template {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug)]
pub enum Part {
    Text(String),
    Var(Var),
}

/// What a `%{name}` stands for; all are read from the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    /// `%{client_ip}`: the proxy's client IP (after trusted `X-Forwarded-For`).
    ClientIp,
    /// `%{product}`.
    Product,
    /// `%{request_id}`: the request context's `request_id` (the request-id plugin's).
    RequestId,
    /// `%{host}`: lowercase, without port.
    Host,
    /// `%{path}`.
    Path,
}

impl Template {
    /// Parses `text`; the error says what is wrong with it (the caller adds the key).
    pub fn parse(text: &str) -> Result<Template, String> {
        if http::HeaderValue::from_str(text).is_err() {
            return Err(format!("{text:?} is not a header value"));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("%{") {
            let Some(len) = rest[start..].find('}') else {
                return Err(format!("{text:?} has a `%{{` without `}}`"));
            };
            let var = match &rest[start + 2..start + len] {
                "client_ip" => Var::ClientIp,
                "product" => Var::Product,
                "request_id" => Var::RequestId,
                "host" => Var::Host,
                "path" => Var::Path,
                other => {
                    return Err(format!(
                        "unknown variable %{{{other}}} (known: {VARIABLES})"
                    ))
                }
            };
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            parts.push(Part::Var(var));
            rest = &rest[start + len + 1..];
        }
        if parts.is_empty() {
            return Ok(Template::Text(text.to_owned()));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template::Parts(parts))
    }

    /// The value for `req`: the text itself, or rendered into `buf`.
    pub fn render<'a>(&'a self, req: &Request<'_>, buf: &'a mut String) -> &'a str {
        let parts = match self {
            Template::Text(text) => return text,
            Template::Parts(parts) => parts,
        };
        buf.clear();
        for part in parts {
            match part {
                Part::Text(text) => buf.push_str(text),
                Part::Var(Var::ClientIp) => {
                    // Writing to a String cannot fail.
                    let _ = write!(buf, "{}", req.client_ip());
                }
                Part::Var(Var::Product) => buf.push_str(req.product()),
                Part::Var(Var::RequestId) => {
                    buf.push_str(req.context("request_id").unwrap_or_default())
                }
                Part::Var(Var::Host) => buf.push_str(req.host()),
                Part::Var(Var::Path) => buf.push_str(req.path()),
            }
        }
        buf
    }
}
