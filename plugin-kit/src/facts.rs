//! [`Facts`]: what a condition may ask about a request and its session, and
//! [`FactsBuf`], a plain value that answers from its fields (for tests and examples).

use std::net::IpAddr;

/// The request and session facts a [`Condition`](crate::Condition) reads.
///
/// The host implements this over its own request type; every method borrows, so a
/// condition is evaluated without allocating (except where noted on the primitive).
pub trait Facts {
    /// The request method as sent (`GET`, `POST`, ...).
    fn method(&self) -> &str;
    /// The request's host as sent (the `Host` header or the URI authority), with its
    /// port if it has one; conditions strip the port themselves, as BFE does.
    fn host(&self) -> &str;
    /// The request path, without the query.
    fn path(&self) -> &str;
    /// The raw query string, without the `?`; `None` when the URI has no `?`.
    fn query(&self) -> Option<&str>;
    /// The first value of the header `name` (given in lowercase).
    fn header(&self, name: &str) -> Option<&str>;
    /// Every value of the header `name` (given in lowercase), in order. The default
    /// yields [`header`](Facts::header)'s value only; hosts that keep repeated headers
    /// should override it (cookies are read from every `cookie` header).
    fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.header(name).into_iter()
    }
    /// The client's address: the peer, or the address a trusted front proxy reported.
    fn client_ip(&self) -> Option<IpAddr>;
    /// Whether the client address comes from a trusted source (BFE's `TrustSource`).
    fn client_ip_trusted(&self) -> bool;
    /// The session's peer address (the socket's remote end), whatever a header says.
    fn peer_ip(&self) -> Option<IpAddr>;
    /// Whether the session runs over TLS.
    fn is_secure(&self) -> bool;
    /// The TLS server name the client sent, if any.
    fn sni(&self) -> Option<&str>;
    /// The port the request is addressed to: the host's port, or the default one of
    /// the listener's scheme when the host names none (BFE assumes 80).
    fn port(&self) -> Option<u16>;
}

/// Request facts held in plain fields; header names are matched in lowercase.
#[derive(Clone, Debug, Default)]
pub struct FactsBuf {
    /// See [`Facts::method`].
    pub method: String,
    /// See [`Facts::host`].
    pub host: String,
    /// See [`Facts::path`].
    pub path: String,
    /// See [`Facts::query`].
    pub query: Option<String>,
    /// `(lowercase name, value)` pairs, in order; a name may repeat.
    pub headers: Vec<(String, String)>,
    /// See [`Facts::client_ip`].
    pub client_ip: Option<IpAddr>,
    /// See [`Facts::client_ip_trusted`].
    pub client_ip_trusted: bool,
    /// See [`Facts::peer_ip`].
    pub peer_ip: Option<IpAddr>,
    /// See [`Facts::is_secure`].
    pub secure: bool,
    /// See [`Facts::sni`].
    pub sni: Option<String>,
    /// See [`Facts::port`].
    pub port: Option<u16>,
}

impl FactsBuf {
    /// A `method` request for `uri` (a path with an optional `?query`) to `host`.
    pub fn new(method: &str, host: &str, uri: &str) -> FactsBuf {
        let (path, query) = match uri.split_once('?') {
            Some((path, query)) => (path, Some(query.to_owned())),
            None => (uri, None),
        };
        FactsBuf {
            method: method.to_owned(),
            host: host.to_owned(),
            path: path.to_owned(),
            query,
            ..FactsBuf::default()
        }
    }

    /// Adds a header; the name is lowercased.
    pub fn with_header(mut self, name: &str, value: &str) -> FactsBuf {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }
}

impl Facts for FactsBuf {
    fn method(&self) -> &str {
        &self.method
    }
    fn host(&self) -> &str {
        &self.host
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.header_values(name).next()
    }
    fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }
    fn client_ip_trusted(&self) -> bool {
        self.client_ip_trusted
    }
    fn peer_ip(&self) -> Option<IpAddr> {
        self.peer_ip
    }
    fn is_secure(&self) -> bool {
        self.secure
    }
    fn sni(&self) -> Option<&str> {
        self.sni.as_deref()
    }
    fn port(&self) -> Option<u16> {
        self.port
    }
}
