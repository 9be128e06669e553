//! The plugin's config: TOML, checked once at init by the kit into what the request
//! path needs (a lowercase header name, merged networks); errors name the key.

use std::net::IpAddr;

use hookgate_plugin_kit::{from_toml, HeaderName, Networks};
use serde::Deserialize;

/// The config, ready for the request path.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The header that carries the id, lowercase.
    #[serde(default = "default_header")]
    pub header: HeaderName,
    /// Clients whose own id is kept.
    #[serde(default)]
    trusted: Networks,
}

fn default_header() -> HeaderName {
    HeaderName::from_static("x-request-id")
}

impl Config {
    /// Parses and checks the config; the error names the bad key.
    pub fn parse(text: &str) -> Result<Config, String> {
        from_toml(text).map_err(|e| format!("request-id plugin config: {e}"))
    }

    /// Whether a client at `ip` may supply its own id.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.contains(ip)
    }
}
