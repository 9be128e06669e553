//! [`RouteFacts`]: what a route rule's condition may ask about a request, read from
//! the proxy's own request head and connection (no ABI view in between), for the
//! plugin kit's matcher: the same engine plugins use for their rules.

use std::net::IpAddr;

use hookgate_plugin_kit::Facts;
use http::header::HOST;
use http::request::Parts;

/// A request head and its connection's facts, borrowed for one routing decision.
#[derive(Debug)]
pub struct RouteFacts<'a> {
    /// The admitted head (one `Host`, origin-form target, normalised path).
    pub head: &'a Parts,
    /// The client's address (after trusted `X-Forwarded-For` handling).
    pub client_ip: IpAddr,
    /// Whether the client address came from a trusted proxy's header.
    pub client_ip_trusted: bool,
    /// The socket peer.
    pub peer_ip: IpAddr,
    /// Whether the connection is TLS.
    pub is_secure: bool,
    /// The TLS server name, if any.
    pub sni: Option<&'a str>,
}

impl Facts for RouteFacts<'_> {
    fn method(&self) -> &str {
        self.head.method.as_str()
    }

    fn host(&self) -> &str {
        self.head
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
    }

    fn path(&self) -> &str {
        self.head.uri.path()
    }

    fn query(&self) -> Option<&str> {
        self.head.uri.query()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn header_values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.head
            .headers
            .get_all(name)
            .into_iter()
            .filter_map(|v| v.to_str().ok())
    }

    fn client_ip(&self) -> Option<IpAddr> {
        Some(self.client_ip)
    }

    fn client_ip_trusted(&self) -> bool {
        self.client_ip_trusted
    }

    fn peer_ip(&self) -> Option<IpAddr> {
        Some(self.peer_ip)
    }

    fn is_secure(&self) -> bool {
        self.is_secure
    }

    fn sni(&self) -> Option<&str> {
        self.sni
    }

    fn port(&self) -> Option<u16> {
        let host = self.host();
        let port = match host.rsplit_once(':') {
            Some((name, port)) if !name.ends_with(']') || host.starts_with('[') => {
                port.parse().ok()
            }
            _ => None,
        };
        port.or(Some(if self.is_secure { 443 } else { 80 }))
    }
}
