//! Config values that several plugins take, checked as they are deserialised so that
//! an error names the key: [`HeaderName`], [`Networks`], [`AtLeastOne`].

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

/// A header name, kept lowercase (as HTTP/2 writes it and as the host compares it).
///
/// ```
/// use hookgate_plugin_kit::{from_toml, HeaderName};
///
/// #[derive(serde::Deserialize)]
/// struct Config {
///     names: Vec<HeaderName>,
/// }
/// let config: Config = from_toml(r#"names = ["X-Token", "content-type"]"#)?;
/// assert_eq!(config.names[0].as_str(), "x-token");
/// let err = from_toml::<Config>(r#"names = ["ok", "no:colon"]"#).err().unwrap();
/// assert_eq!(err.to_string(), r#"names[1]: "no:colon" is not a header name"#);
/// # Ok::<(), hookgate_plugin_kit::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct HeaderName(String);

impl HeaderName {
    /// A name known when the plugin is written, for a default.
    ///
    /// # Panics
    ///
    /// When `name` is not a header name, as `http::HeaderName::from_static` does.
    ///
    /// ```
    /// use hookgate_plugin_kit::HeaderName;
    ///
    /// assert_eq!(HeaderName::from_static("X-Request-Id").as_str(), "x-request-id");
    /// ```
    pub fn from_static(name: &'static str) -> HeaderName {
        match HeaderName::try_from(name.to_owned()) {
            Ok(name) => name,
            Err(e) => panic!("{e}"),
        }
    }

    /// The name, lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HeaderName {
    type Error = String;

    fn try_from(name: String) -> Result<HeaderName, String> {
        // RFC 9110 `token`: visible ASCII but delimiters.
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!("{name:?} is not a header name"));
        }
        Ok(HeaderName(name.to_ascii_lowercase()))
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A list of IP addresses and CIDR blocks (`["10.0.0.0/8", "192.0.2.1"]`), merged
/// into the fewest networks. An IPv4 client seen as `::ffff:a.b.c.d` (a dual-stack
/// listener) is matched as IPv4.
///
/// ```
/// use hookgate_plugin_kit::{from_toml, Networks};
///
/// #[derive(serde::Deserialize)]
/// struct Config {
///     trusted: Networks,
/// }
/// let config: Config = from_toml(r#"trusted = ["10.0.0.0/8", "192.0.2.1"]"#)?;
/// assert!(config.trusted.contains("10.1.2.3".parse()?));
/// assert!(config.trusted.contains("::ffff:192.0.2.1".parse()?));
/// assert!(!config.trusted.contains("192.0.2.2".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "Vec<Network>")]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// Whether `ip` lies in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The merged networks.
    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }
}

impl From<Vec<Network>> for Networks {
    fn from(list: Vec<Network>) -> Networks {
        let nets: Vec<IpNet> = list.into_iter().map(|Network(net)| net).collect();
        Networks(IpNet::aggregate(&nets))
    }
}

/// One item of [`Networks`]: a CIDR block, or an address as a block of its own.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Network(IpNet);

impl TryFrom<String> for Network {
    type Error = String;

    fn try_from(item: String) -> Result<Network, String> {
        let text = item.trim();
        (text.parse::<IpNet>())
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map(Network)
            .map_err(|_| format!("{item:?} is not an IP address or CIDR block"))
    }
}

/// A number that must be at least 1 (a limit, a window, an interval).
///
/// ```
/// use hookgate_plugin_kit::{from_toml, AtLeastOne};
///
/// #[derive(serde::Deserialize)]
/// struct Config {
///     limit: AtLeastOne<u32>,
/// }
/// assert_eq!(from_toml::<Config>("limit = 5")?.limit.get(), 5);
/// let err = from_toml::<Config>("limit = 0").err().unwrap();
/// assert_eq!(err.to_string(), "limit: must be at least 1");
/// # Ok::<(), hookgate_plugin_kit::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u64", bound(deserialize = "T: TryFrom<u64>"))]
pub struct AtLeastOne<T>(T);

impl<T: Copy> AtLeastOne<T> {
    /// The number.
    pub fn get(self) -> T {
        self.0
    }
}

impl<T: TryFrom<u64>> TryFrom<u64> for AtLeastOne<T> {
    type Error = String;

    fn try_from(n: u64) -> Result<AtLeastOne<T>, String> {
        match T::try_from(n) {
            _ if n == 0 => Err("must be at least 1".to_owned()),
            Ok(n) => Ok(AtLeastOne(n)),
            Err(_) => Err(format!("{n} is too large")),
        }
    }
}
