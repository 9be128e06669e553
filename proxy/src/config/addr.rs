//! [`BackendAddr`]: where a backend is, an IP address or a DNS name with a port.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

/// A backend's `addr`: `ip:port` (`[v6]:port` for IPv6), or `name:port`, which is
/// resolved at start and again every `resolve_interval_ms` of its cluster
/// ([`crate::resolve`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BackendAddr {
    /// An address, used as it is.
    Ip(SocketAddr),
    /// A name, resolved.
    Name(BackendName),
}

/// A DNS name and a port: lowercase, without a trailing dot.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendName {
    /// The host name.
    pub host: Arc<str>,
    /// The port.
    pub port: u16,
}

impl BackendAddr {
    /// The port, for either form.
    pub fn port(&self) -> u16 {
        match self {
            BackendAddr::Ip(addr) => addr.port(),
            BackendAddr::Name(name) => name.port,
        }
    }

    /// The name, if the backend is given by one.
    pub fn name(&self) -> Option<&BackendName> {
        match self {
            BackendAddr::Ip(_) => None,
            BackendAddr::Name(name) => Some(name),
        }
    }
}

impl From<SocketAddr> for BackendAddr {
    fn from(addr: SocketAddr) -> BackendAddr {
        BackendAddr::Ip(addr)
    }
}

impl FromStr for BackendAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<BackendAddr, String> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(BackendAddr::Ip(addr));
        }
        let expected = || {
            format!("`{text}` is not host:port (an IP address or a DNS name, and a port 0-65535)")
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(expected)?;
        let port: u16 = port.parse().map_err(|_| expected())?;
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        // All digits and dots would be a malformed IPv4 address, not a name.
        let numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if host.is_empty() || host.len() > 253 || numeric || !host.split('.').all(label_ok) {
            return Err(expected());
        }
        Ok(BackendAddr::Name(BackendName {
            host: Arc::from(host),
            port,
        }))
    }
}

impl<'de> Deserialize<'de> for BackendAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<BackendAddr, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for BackendAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendAddr::Ip(addr) => addr.fmt(f),
            BackendAddr::Name(name) => name.fmt(f),
        }
    }
}

impl fmt::Display for BackendName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(host: &str, port: u16) -> BackendAddr {
        BackendAddr::Name(BackendName {
            host: Arc::from(host),
            port,
        })
    }

    #[test]
    fn addresses_and_names_parse() {
        let ip = |s: &str| BackendAddr::Ip(s.parse().unwrap());
        assert_eq!("10.0.0.1:80".parse(), Ok(ip("10.0.0.1:80")));
        assert_eq!("[::1]:8443".parse(), Ok(ip("[::1]:8443")));
        assert_eq!("localhost:80".parse(), Ok(name("localhost", 80)));
        assert_eq!("API.Internal.:8443".parse(), Ok(name("api.internal", 8443)));
        assert_eq!(
            "svc-1.ns_2.local:1".parse(),
            Ok(name("svc-1.ns_2.local", 1))
        );
        assert_eq!(
            "api.internal:8443"
                .parse::<BackendAddr>()
                .unwrap()
                .to_string(),
            "api.internal:8443"
        );
    }

    #[test]
    fn malformed_addresses_are_refused_with_the_text() {
        for bad in [
            "localhost",
            "localhost:",
            "localhost:http",
            "localhost:65536",
            ":80",
            "10.0.0.300:80",
            "1.2.3:80",
            "-bad.example:80",
            "a..b:80",
            "has space:80",
            "::1:80",
            "http://x:80",
        ] {
            let error = bad.parse::<BackendAddr>().unwrap_err();
            assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
        }
    }
}
