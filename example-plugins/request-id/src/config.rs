//! The plugin's config: TOML, checked once at init and turned into what the request
//! path needs (a lowercase header name, parsed networks).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

/// The config as written.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct File {
    header: String,
    trusted: Vec<String>,
}

impl Default for File {
    fn default() -> Self {
        File {
            header: "x-request-id".to_owned(),
            trusted: Vec::new(),
        }
    }
}

/// The config, ready for the request path.
#[derive(Debug)]
pub struct Config {
    /// The header that carries the id, lowercase.
    pub header: String,
    /// Clients whose own id is kept.
    trusted: Vec<IpNet>,
}

impl Config {
    /// Parses and checks the config; the error names the bad key.
    pub fn parse(text: &str) -> Result<Config, String> {
        let error = |detail: &str| format!("request-id plugin config: {detail}");
        let file: File = toml::from_str(text).map_err(|e| error(e.to_string().trim_end()))?;
        let header = http::HeaderName::from_bytes(file.header.as_bytes())
            .map_err(|_| error(&format!("header: {:?} is not a header name", file.header)))?;
        let trusted = file
            .trusted
            .iter()
            .enumerate()
            .map(|(i, text)| {
                network(text).ok_or_else(|| {
                    error(&format!(
                        "trusted[{i}]: {text:?} is not an IP address or CIDR block"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Config {
            header: header.as_str().to_owned(),
            trusted,
        })
    }

    /// Whether a client at `ip` may supply its own id.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        // A dual-stack listener sees IPv4 clients as `::ffff:a.b.c.d`.
        let ip = ip.to_canonical();
        self.trusted.iter().any(|net| net.contains(&ip))
    }
}

/// A CIDR block, or one address as a block of its own.
fn network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}
