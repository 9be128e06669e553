//! Reading, validating and completing a [`Config`]: from a file, or from the CLI alone.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::file::{
    AdminToken, BackendConfig, BackendProtocol, BackendTlsConfig, ClusterConfig, Config,
    PluginConfig, PluginSettings, ProductConfig, RouteRule, ServerConfig, SubclusterConfig,
};
use crate::upstream::BackendTls;

/// A config that cannot be used; each names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("{file}: not valid TOML: {message}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A key has a value it cannot have. Control and bidirectional characters from
    /// the config are shown escaped.
    #[error(
        "{file}: `{}`: {}",
        crate::message::escaped(key),
        crate::message::escaped(message)
    )]
    Invalid {
        /// The file (`command line` without one).
        file: PathBuf,
        /// The dotted path of the key, e.g. `products.shop.routes[1].cluster`.
        key: String,
        /// What was wrong and what was expected.
        message: String,
    },
}

/// What the command line adds to (or, for listeners, replaces in) the config.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`: replaces `server.listen`.
    pub listen: Vec<SocketAddr>,
    /// `--backend`: the one cluster, when there is no config file.
    pub backends: Vec<SocketAddr>,
    /// `--plugin PATH[=CONFIG_FILE]`: appended after the file's plugins.
    pub plugins: Vec<(PathBuf, Option<PathBuf>)>,
    /// `--admin`.
    pub admin: Option<SocketAddr>,
    /// `--workers`.
    pub workers: Option<usize>,
}

const COMMAND_LINE: &str = "command line";

impl Config {
    /// Loads `file` (or builds the CLI default without one) and applies the overrides.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let (mut config, origin) = match file {
            Some(file) => (Config::from_file(file)?, file.to_path_buf()),
            None => (
                Config::cli_default(&overrides.backends),
                PathBuf::from(COMMAND_LINE),
            ),
        };
        if file.is_some() && !overrides.backends.is_empty() {
            return Err(ConfigError::Invalid {
                file: origin,
                key: "--backend".into(),
                message: "--backend builds the default cluster when there is no --config; \
                          put backends in the file's clusters instead"
                    .into(),
            });
        }
        if !overrides.listen.is_empty() {
            config.server.listen.clone_from(&overrides.listen);
        }
        if overrides.admin.is_some() {
            config.server.admin = overrides.admin;
        }
        if let Some(workers) = overrides.workers {
            config.server.workers = workers;
        }
        config.plugins.extend(
            overrides
                .plugins
                .iter()
                .map(|(path, settings)| PluginConfig {
                    config: settings.clone().map(PluginSettings::File),
                    ..PluginConfig::of_path(path.clone())
                }),
        );
        config.validate(&origin)?;
        config.server.admin_token = config.server.read_admin_token(&origin)?;
        config.load_backend_tls(&origin)?;
        Ok(config)
    }

    /// Builds each cluster's `tls` (reading its files): errors name the key. An `h2`
    /// cluster without a `tls` table has TLS with the defaults.
    fn load_backend_tls(&mut self, file: &Path) -> Result<(), ConfigError> {
        let defaults = BackendTlsConfig {
            sni: None,
            verify: true,
            ca: None,
            client_cert: None,
            client_key: None,
        };
        for (name, cluster) in &mut self.clusters {
            let invalid = |key: &str, message: String| ConfigError::Invalid {
                file: file.to_path_buf(),
                key: format!("clusters.{name}.{key}"),
                message,
            };
            if cluster.resolve_interval_ms < 100 {
                return Err(invalid(
                    "resolve_interval_ms",
                    format!("{}; expected at least 100", cluster.resolve_interval_ms),
                ));
            }
            if cluster.h2_max_streams_per_connection == 0 {
                return Err(invalid(
                    "h2_max_streams_per_connection",
                    "0; expected at least 1".into(),
                ));
            }
            let tls = match (&cluster.tls, cluster.protocol) {
                (Some(_), BackendProtocol::H2c) => {
                    return Err(invalid(
                        "tls",
                        "h2c is HTTP/2 without TLS; for HTTP/2 over TLS set protocol = \"h2\""
                            .into(),
                    ))
                }
                (Some(tls), _) => tls,
                (None, BackendProtocol::H2) => &defaults,
                (None, _) => continue,
            };
            let loaded = BackendTls::load(name, tls, cluster.protocol).map_err(|e| {
                ConfigError::Invalid {
                    file: file.to_path_buf(),
                    key: format!("clusters.{name}.tls.{}", e.key),
                    message: e.message,
                }
            })?;
            cluster.tls_loaded = Some(Arc::new(loaded));
        }
        Ok(())
    }

    /// Parses a config file.
    pub fn from_file(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Config::parse(&text, file)
    }

    /// Parses config text; `file` is only for messages.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ConfigError::Syntax {
            file: file.to_path_buf(),
            message: crate::message::one_line(&e.to_string()),
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Invalid {
                file: file.to_path_buf(),
                key: if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                message: crate::message::one_line(&e.into_inner().to_string()),
            }
        })
    }

    /// Without a config file: one product for every host, one cluster of the backends.
    fn cli_default(backends: &[SocketAddr]) -> Config {
        let subcluster = SubclusterConfig {
            weight: 100,
            backends: backends.iter().copied().map(BackendConfig::at).collect(),
        };
        let cluster =
            ClusterConfig::with_subclusters(BTreeMap::from([("default".to_owned(), subcluster)]));
        let product = ProductConfig {
            hosts: Vec::new(),
            routes: vec![RouteRule {
                host: None,
                path: None,
                path_prefix: None,
                method: None,
                header: None,
                cond: None,
                cluster: "default".into(),
            }],
            max_body_bytes: None,
            compress: None,
        };
        Config {
            default_product: Some("default".into()),
            server: ServerConfig::default(),
            plugins: Vec::new(),
            products: BTreeMap::from([("default".to_owned(), product)]),
            clusters: BTreeMap::from([("default".to_owned(), cluster)]),
            redis: BTreeMap::new(),
            tracing: None,
        }
    }

    /// Checks what types alone cannot: references between sections, non-empty lists.
    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            key,
            message,
        };
        self.server.validate(&invalid)?;
        self.validate_addresses(&invalid)?;
        if let Some(tracing) = &self.tracing {
            let endpoint = tracing.endpoint.as_str();
            let parsed = endpoint.parse::<http::Uri>().ok();
            let http = parsed.as_ref().is_some_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
            });
            if !http {
                return Err(invalid(
                    "tracing.endpoint".into(),
                    format!("{endpoint:?}: expected an http:// or https:// URL"),
                ));
            }
            if !(0.0..=1.0).contains(&tracing.ratio) {
                return Err(invalid(
                    "tracing.ratio".into(),
                    format!("{}; expected 0 to 1", tracing.ratio),
                ));
            }
        }
        for (i, plugin) in self.plugins.iter().enumerate() {
            if let Some(sha256) = &plugin.sha256 {
                let hex = sha256.len() == 64
                    && sha256
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                if !hex {
                    return Err(invalid(
                        format!("plugins[{i}].sha256"),
                        format!("{sha256:?}: expected 64 lowercase hex digits (`sha256sum FILE`)"),
                    ));
                }
            }
        }
        for (name, store) in &self.redis {
            let urls = match (&store.url, &store.cluster) {
                (Some(url), None) => std::slice::from_ref(url),
                (None, Some(nodes)) if !nodes.is_empty() => nodes.as_slice(),
                (None, Some(_)) => {
                    return Err(invalid(
                        format!("redis.{name}.cluster"),
                        "empty; list at least one node".into(),
                    ))
                }
                _ => {
                    return Err(invalid(
                        format!("redis.{name}"),
                        "set either `url` (one server) or `cluster` (a Redis Cluster's nodes)"
                            .into(),
                    ))
                }
            };
            let key = if store.url.is_some() {
                "url"
            } else {
                "cluster"
            };
            for url in urls {
                if !(url.starts_with("redis://") || url.starts_with("redis+unix://")) {
                    return Err(invalid(
                        format!("redis.{name}.{key}"),
                        format!(
                            "{url:?}: expected redis://host:port (TLS to Redis is not built in)"
                        ),
                    ));
                }
                if let Err(e) = redis::Client::open(url.as_str()) {
                    return Err(invalid(
                        format!("redis.{name}.{key}"),
                        format!("{url:?}: {e}"),
                    ));
                }
            }
        }
        for (i, listener) in self.server.tls.iter().enumerate() {
            if listener.client_auth.is_some() && listener.client_ca.is_none() {
                return Err(invalid(
                    format!("server.tls[{i}].client_auth"),
                    "set without `client_ca`, the CA certificates that client \
                     certificates are verified against"
                        .into(),
                ));
            }
        }
        if let Some(default) = &self.default_product {
            if !self.products.contains_key(default) {
                return Err(invalid(
                    "default_product".into(),
                    format!("unknown product `{default}`; expected one of the [products] tables"),
                ));
            }
        }
        // Host (lowercase, no trailing dot) → the product that claimed it first.
        let mut claimed: BTreeMap<String, String> = BTreeMap::new();
        for (name, product) in &self.products {
            if let Some(compress) = &product.compress {
                validate_compress(name, compress, &invalid)?;
            }
            for (i, route) in product.routes.iter().enumerate() {
                if let Some(header) = &route.header {
                    if http::HeaderName::from_bytes(header.name.as_bytes()).is_err() {
                        return Err(invalid(
                            format!("products.{name}.routes[{i}].header.name"),
                            format!("`{}` is not a header name", header.name),
                        ));
                    }
                }
                if let Some(method) = &route.method {
                    if http::Method::from_bytes(method.as_bytes()).is_err() {
                        return Err(invalid(
                            format!("products.{name}.routes[{i}].method"),
                            format!("`{method}` is not an HTTP method"),
                        ));
                    }
                }
                if let Err(error) = route.condition() {
                    let key = match error.key() {
                        "" => format!("products.{name}.routes[{i}]"),
                        key => format!("products.{name}.routes[{i}].{key}"),
                    };
                    return Err(invalid(key, error.message().to_owned()));
                }
                if !self.clusters.contains_key(&route.cluster) {
                    return Err(invalid(
                        format!("products.{name}.routes[{i}].cluster"),
                        format!("unknown cluster `{}`", route.cluster),
                    ));
                }
            }
            for (i, host) in product.hosts.iter().enumerate() {
                let name_part = host.strip_prefix("*.").unwrap_or(host);
                if name_part.contains(':') || !crate::edge::is_valid_authority(name_part) {
                    return Err(invalid(
                        format!("products.{name}.hosts[{i}]"),
                        format!(
                            "`{host}` is not a host name or a `*.suffix` wildcard \
                             (letters, digits, `-`, `_`, `.`; no port, space or `*` inside)"
                        ),
                    ));
                }
                let routed = crate::edge::route_host(host);
                if let Some(first) = claimed.insert(routed.clone(), name.clone()) {
                    if first != *name {
                        return Err(invalid(
                            format!("products.{name}.hosts[{i}]"),
                            format!("`{host}` is already a host of product `{first}`"),
                        ));
                    }
                }
            }
        }
        for (name, cluster) in &self.clusters {
            for (key, value) in [
                ("connect_timeout_ms", cluster.connect_timeout_ms),
                ("response_timeout_ms", cluster.response_timeout_ms),
                ("read_timeout_ms", cluster.read_timeout_ms),
                ("send_timeout_ms", cluster.send_timeout_ms),
            ] {
                if value == 0 {
                    return Err(invalid(
                        format!("clusters.{name}.{key}"),
                        "0; expected at least 1 (every wait is bounded)".into(),
                    ));
                }
            }
            if let Some(check) = &cluster.health_check {
                if !check.path.starts_with('/')
                    || check.path.parse::<http::uri::PathAndQuery>().is_err()
                {
                    return Err(invalid(
                        format!("clusters.{name}.health_check.path"),
                        format!(
                            "`{}` is not a request path; expected one starting with `/`",
                            check.path
                        ),
                    ));
                }
            }
            if cluster.subclusters.is_empty() && file != Path::new(COMMAND_LINE) {
                return Err(invalid(
                    format!("clusters.{name}.subclusters"),
                    "no subcluster; expected at least one with backends".into(),
                ));
            }
            if !cluster.subclusters.is_empty()
                && cluster.subclusters.values().all(|s| s.weight == 0)
            {
                return Err(invalid(
                    format!("clusters.{name}.subclusters"),
                    "every subcluster has weight 0; expected at least one above 0".into(),
                ));
            }
            for (sub, subcluster) in &cluster.subclusters {
                for (i, backend) in subcluster.backends.iter().enumerate() {
                    if backend.addr.port() == 0 {
                        return Err(invalid(
                            format!("clusters.{name}.subclusters.{sub}.backends[{i}].addr"),
                            format!("{}: port 0 cannot be connected to", backend.addr),
                        ));
                    }
                }
                if !subcluster.backends.is_empty()
                    && subcluster.backends.iter().all(|b| b.weight == 0)
                {
                    return Err(invalid(
                        format!("clusters.{name}.subclusters.{sub}.backends"),
                        "every backend has weight 0; expected at least one above 0".into(),
                    ));
                }
                if subcluster.backends.is_empty() && file != Path::new(COMMAND_LINE) {
                    return Err(invalid(
                        format!("clusters.{name}.subclusters.{sub}.backends"),
                        "expected at least one backend".into(),
                    ));
                }
            }
        }
        for (i, plugin) in self.plugins.iter().enumerate() {
            for product in plugin.products.iter().flatten() {
                if !self.products.contains_key(product) {
                    return Err(invalid(
                        format!("plugins[{i}].products"),
                        format!("unknown product `{product}`"),
                    ));
                }
            }
            if plugin.body_limit == Some(0) {
                return Err(invalid(
                    format!("plugins[{i}].body_limit"),
                    "expected at least 1 byte".into(),
                ));
            }
            if let Some(breaker) = &plugin.breaker {
                let window =
                    error_window_checks(breaker.error_ratio, breaker.window_ms, breaker.min_calls);
                let checks = window.into_iter().chain([
                    (
                        "cooldown_ms",
                        breaker.cooldown_ms >= 1,
                        "0; expected at least 1".to_owned(),
                    ),
                    (
                        "probe_calls",
                        breaker.probe_calls >= 1,
                        "0; expected at least 1".to_owned(),
                    ),
                ]);
                if let Some((key, _, why)) = checks.into_iter().find(|(_, ok, _)| !ok) {
                    return Err(invalid(format!("plugins[{i}].breaker.{key}"), why));
                }
            }
            if let Some(canary) = &plugin.canary {
                let percent = canary.percent;
                let window =
                    error_window_checks(canary.error_ratio, canary.window_ms, canary.min_calls);
                let checks = window.into_iter().chain([(
                    "percent",
                    (0.0..=100.0).contains(&percent),
                    format!("{percent}; expected 0 to 100"),
                )]);
                if let Some((key, _, why)) = checks.into_iter().find(|(_, ok, _)| !ok) {
                    return Err(invalid(format!("plugins[{i}].canary.{key}"), why));
                }
            }
        }
        Ok(())
    }
}

/// The checks of an error-rate window's settings (a breaker's, a canary's): each key,
/// whether its value is in range, and what is wrong with it.
fn error_window_checks(
    ratio: f64,
    window_ms: u64,
    min_calls: u64,
) -> [(&'static str, bool, String); 3] {
    [
        (
            "error_ratio",
            ratio > 0.0 && ratio <= 1.0,
            format!("{ratio}; expected above 0 and at most 1"),
        ),
        (
            "window_ms",
            window_ms >= 10,
            format!("{window_ms}; expected at least 10 (ten steps of 1 ms)"),
        ),
        (
            "min_calls",
            min_calls >= 1,
            "0; expected at least 1".to_owned(),
        ),
    ]
}

impl ServerConfig {
    /// The ranges types alone do not enforce.
    fn validate(
        &self,
        invalid: &impl Fn(String, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        if self.workers > MAX_WORKERS {
            return Err(invalid(
                "server.workers".into(),
                format!(
                    "{} workers; expected 0 (one per core) or 1 to {MAX_WORKERS}",
                    self.workers
                ),
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid(
                "server.max_connections".into(),
                "0; expected at least 1".into(),
            ));
        }
        if !(1..=65_535).contains(&self.backlog) {
            return Err(invalid(
                "server.backlog".into(),
                format!("{}; expected 1 to 65535", self.backlog),
            ));
        }
        if self.inline_admin_token.is_some() {
            return Err(invalid(
                "server.admin_token".into(),
                "a token written in the config is refused; put it in a file readable by \
                 hookgate only and set `server.admin_token_file`"
                    .into(),
            ));
        }
        if let Some(admin) = self.admin {
            if !admin.ip().is_loopback() && self.admin_token_file.is_none() {
                return Err(invalid(
                    "server.admin".into(),
                    format!(
                        "{admin} is not a loopback address; the admin listener can reload \
                         the proxy, so anywhere else it needs `server.admin_token_file`"
                    ),
                ));
            }
        }
        for (key, value) in [
            ("header_timeout_ms", self.header_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("body_timeout_ms", self.body_timeout_ms),
            ("send_timeout_ms", self.send_timeout_ms),
            ("tunnel_idle_timeout_ms", self.tunnel_idle_timeout_ms),
            ("keepalive_requests", self.keepalive_requests),
        ] {
            if value == 0 {
                return Err(invalid(
                    format!("server.{key}"),
                    "0; expected at least 1 (every wait is bounded)".into(),
                ));
            }
        }
        if self.h2_max_concurrent_streams == 0 {
            return Err(invalid(
                "server.h2_max_concurrent_streams".into(),
                "0; expected at least 1".into(),
            ));
        }
        Ok(())
    }
}

impl ServerConfig {
    /// The token in `admin_token_file` (trimmed; it must not be empty).
    fn read_admin_token(&self, file: &Path) -> Result<Option<AdminToken>, ConfigError> {
        let Some(path) = &self.admin_token_file else {
            return Ok(None);
        };
        let invalid = |message: String| ConfigError::Invalid {
            file: file.to_path_buf(),
            key: "server.admin_token_file".into(),
            message,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
        let token = text.trim();
        if token.is_empty() || token.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(invalid(format!(
                "{} must hold one token of visible ASCII characters",
                path.display()
            )));
        }
        Ok(Some(AdminToken(token.to_owned())))
    }
}

impl Config {
    /// Listeners: at least one, and no two that would take the same socket (the
    /// same address, or a port on the unspecified address and the same port on
    /// another).
    fn validate_addresses(
        &self,
        invalid: &impl Fn(String, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let server = &self.server;
        if server.listen.is_empty() && server.tls.is_empty() {
            return Err(invalid(
                "server.listen".into(),
                "no listener; expected at least one address in `server.listen` or a \
                 `[[server.tls]]` listener"
                    .into(),
            ));
        }
        let mut taken: Vec<(String, SocketAddr)> = Vec::new();
        let addresses = server
            .listen
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("server.listen[{i}]"), *a))
            .chain(
                server
                    .tls
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (format!("server.tls[{i}].listen"), t.listen)),
            )
            .chain(server.admin.map(|a| ("server.admin".to_owned(), a)));
        for (key, addr) in addresses {
            let clash = taken.iter().find(|(_, other)| {
                other.port() == addr.port()
                    && addr.port() != 0
                    && (other.ip() == addr.ip()
                        || other.ip().is_unspecified()
                        || addr.ip().is_unspecified())
            });
            if let Some((other_key, other)) = clash {
                return Err(invalid(
                    key,
                    format!("{addr} takes the same socket as `{other_key}` ({other})"),
                ));
            }
            taken.push((key, addr));
        }
        Ok(())
    }
}

/// `server.workers` at most: more threads than this is a typo, not a machine.
const MAX_WORKERS: usize = 1024;

impl PluginConfig {
    /// An entry for the library at `path` with every other key at its default (as
    /// `--plugin PATH` gives).
    pub fn of_path(path: PathBuf) -> PluginConfig {
        PluginConfig {
            path,
            name: None,
            config: None,
            products: None,
            on_error: Default::default(),
            body_limit: None,
            breaker: None,
            callouts: Default::default(),
            sha256: None,
            canary: None,
        }
    }

    /// The text handed to the plugin's init: the file's text, the inline table as TOML,
    /// or empty.
    pub fn settings_text(&self) -> Result<String, std::io::Error> {
        match &self.config {
            None => Ok(String::new()),
            Some(PluginSettings::File(path)) => std::fs::read_to_string(path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("config file {}: {e}", path.display()))
            }),
            Some(PluginSettings::Inline(table)) => {
                toml::to_string(table).map_err(|e| std::io::Error::other(e.to_string()))
            }
        }
    }
}

/// `products.NAME.compress`: at least one algorithm, each once; types `type/subtype`
/// or `type/*`.
fn validate_compress(
    product: &str,
    compress: &super::CompressConfig,
    invalid: &impl Fn(String, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let key = |rest: &str| format!("products.{product}.compress.{rest}");
    if compress.algorithms.is_empty() {
        return Err(invalid(
            key("algorithms"),
            "empty; expected one or more of \"br\", \"gzip\"".into(),
        ));
    }
    for (i, algorithm) in compress.algorithms.iter().enumerate() {
        if compress.algorithms[..i].contains(algorithm) {
            return Err(invalid(
                key(&format!("algorithms[{i}]")),
                format!("\"{}\" is listed twice", algorithm.token()),
            ));
        }
    }
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    for (i, media) in compress.types.iter().enumerate() {
        let valid = media
            .split_once('/')
            .is_some_and(|(kind, sub)| token(kind) && (sub == "*" || token(sub)));
        if !valid {
            return Err(invalid(
                key(&format!("types[{i}]")),
                format!("{media:?} is not a media type like \"text/html\" or \"text/*\""),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESIGN_EXAMPLE: &str = r#"
default_product = "web"

[server]
listen = ["127.0.0.1:8080"]
admin = "127.0.0.1:9901"
workers = 0

[[server.tls]]
listen = "127.0.0.1:8443"
certs = [{ cert = "certs/shop.pem", key = "certs/shop.key" }]

[[plugins]]
path = "target/release/libhookgate_plugin_block.so"
config = "examples/block.toml"
products = ["shop"]
on_error = "fail-closed"

[[plugins]]
path = "target/release/libhookgate_plugin_block.so"
config = { deny = ["10.0.0.0/8"] }

[products.shop]
hosts = ["shop.example.com", "*.shop.example.com"]
routes = [
  { path_prefix = "/api/", method = "GET", cluster = "api" },
  { header = { name = "x-canary", value = "1" }, cluster = "api" },
  { cluster = "web" },
]

[products.web]
hosts = ["www.example.com"]
routes = [{ cluster = "web" }]

[clusters.api]
balance = "wrr"
connect_timeout_ms = 1000
response_timeout_ms = 30000
retries = 2
cross_retry = 1
health_check = { path = "/healthz", interval_ms = 2000, unhealthy_after = 3, healthy_after = 2 }

[clusters.api.subclusters.bj]
weight = 70
backends = [{ addr = "10.0.0.1:8080", weight = 10 }, { addr = "10.0.0.2:8080", weight = 10 }]

[clusters.api.subclusters.sh]
weight = 30
backends = [{ addr = "10.0.1.1:8080", weight = 10 }]

[clusters.web.subclusters.main]
weight = 100
backends = [{ addr = "10.0.0.3:8080", weight = 1 }]
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let config = Config::parse(text, Path::new("test.toml"))?;
        config.validate(Path::new("test.toml"))?;
        Ok(config)
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn design_example_parses() {
        let config = parse(DESIGN_EXAMPLE).unwrap();
        assert_eq!(config.plugins.len(), 2);
        assert_eq!(config.clusters["api"].subclusters["bj"].backends.len(), 2);
        assert_eq!(
            config.plugins[1].settings_text().unwrap(),
            "deny = [\"10.0.0.0/8\"]\n"
        );
    }

    #[test]
    fn redis_stores_and_tracing_are_checked_naming_the_key() {
        let base = "[products.p]\nroutes = [{ cluster = \"c\" }]\n[clusters.c.subclusters.s]\nweight = 1\nbackends = [{ addr = \"127.0.0.1:1\" }]\n";
        let ok = parse(&format!("{base}[redis.a]\nurl = \"redis://127.0.0.1:6379\"\n[redis.b]\ncluster = [\"redis://127.0.0.1:7000\"]\n[tracing]\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\nratio = 0.5\n"));
        let config = ok.unwrap();
        assert_eq!(config.redis["a"].timeout_ms, 250);
        assert_eq!(
            config.tracing.unwrap().parent,
            crate::config::TraceParent::Trusted
        );
        let cases = [
            ("[redis.m]\ntimeout_ms = 5", "`redis.m`: set either `url`"),
            (
                "[redis.m]\nurl = \"redis://a:1\"\ncluster = [\"redis://b:1\"]",
                "`redis.m`: set either",
            ),
            ("[redis.m]\ncluster = []", "`redis.m.cluster`: empty"),
            (
                "[redis.m]\nurl = \"rediss://a:1\"",
                "`redis.m.url`: \"rediss://a:1\": expected redis://",
            ),
            ("[redis.m]\ncluster = [\"http://a:1\"]", "`redis.m.cluster`"),
            (
                "[tracing]\nendpoint = \"collector:4318\"",
                "`tracing.endpoint`",
            ),
            (
                "[tracing]\nendpoint = \"http://a/v1/traces\"\nratio = 2.0",
                "`tracing.ratio`: 2; expected 0 to 1",
            ),
            (
                "[tracing]\nendpoint = \"http://a/\"\nparent = \"maybe\"",
                "tracing.parent",
            ),
        ];
        for (text, expected) in cases {
            let e = error(&format!("{base}{text}\n"));
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let e = error("[server]\nlisten = [\"127.0.0.1:1\"]\nlistne = 3\n");
        assert!(e.contains("`server.listne`") || e.contains("listne"), "{e}");
        assert!(e.starts_with("test.toml: "), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = error("[clusters.c]\nretries = \"two\"\nsubclusters = {}\n");
        assert!(e.contains("`clusters.c.retries`"), "{e}");
        let e = error("[server]\nlisten = [\"nope\"]\n");
        assert!(e.contains("`server.listen[0]`"), "{e}");
        let e = error("[[plugins]]\npath = \"x.so\"\non_error = \"explode\"\n");
        assert!(
            e.contains("`plugins[0].on_error`") && e.contains("fail-open"),
            "{e}"
        );
        let e = error("[[plugins]]\npath = \"x.so\"\nbody_limit = 0\n");
        assert!(e.contains("`plugins[0].body_limit`"), "{e}");
        let e = error("[[plugins]]\npath = \"x.so\"\nbody_limit = \"1m\"\n");
        assert!(e.contains("`plugins[0].body_limit`"), "{e}");
        for (breaker, key) in [
            ("{ error_ratio = 0 }", "error_ratio"),
            ("{ error_ratio = 1.5 }", "error_ratio"),
            ("{ window_ms = 5 }", "window_ms"),
            ("{ min_calls = 0 }", "min_calls"),
            ("{ cooldown_ms = 0 }", "cooldown_ms"),
            ("{ probe_calls = 0 }", "probe_calls"),
            ("{ window_ms = \"10s\" }", "window_ms"),
            ("{ cool_down = 1 }", "breaker"),
        ] {
            let e = error(&format!(
                "[[plugins]]\npath = \"x.so\"\nbreaker = {breaker}\n"
            ));
            assert!(
                e.contains("plugins[0].breaker") && e.contains(key),
                "{breaker}: {e}"
            );
        }
        for (canary, key) in [
            ("{ percent = 101 }", "percent"),
            ("{ percent = -1 }", "percent"),
            ("{ error_ratio = 0 }", "error_ratio"),
            ("{ window_ms = 5 }", "window_ms"),
            ("{ min_calls = 0 }", "min_calls"),
            ("{ promote_after = 1 }", "promote_after"),
        ] {
            let e = error(&format!(
                "[[plugins]]\npath = \"x.so\"\ncanary = {canary}\n"
            ));
            assert!(
                e.contains("plugins[0].canary") && e.contains(key),
                "{canary}: {e}"
            );
        }
    }

    #[test]
    fn references_are_checked() {
        let e = error("[products.p]\nroutes = [{ cluster = \"missing\" }]\n");
        assert!(
            e.contains("`products.p.routes[0].cluster`") && e.contains("missing"),
            "{e}"
        );
        let e = error("default_product = \"nope\"\n");
        assert!(e.contains("`default_product`"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let cluster =
            "[clusters.c.subclusters.s]\nweight = 1\nbackends = [{ addr = \"127.0.0.1:1\" }]\n";
        let e = error(&format!(
            "[clusters.c]\nhealth_check = {{ path = \"healthz\" }}\n{cluster}"
        ));
        assert!(e.contains("`clusters.c.health_check.path`"), "{e}");
        let e = error(
            "[clusters.c.subclusters.s]\nweight = 0\nbackends = [{ addr = \"127.0.0.1:1\" }]\n",
        );
        assert!(e.contains("`clusters.c.subclusters`"), "{e}");
        let e = error("[clusters.c.subclusters.s]\nweight = 1\nbackends = [{ addr = \"127.0.0.1:1\", weight = 0 }]\n");
        assert!(e.contains("`clusters.c.subclusters.s.backends`"), "{e}");
        let e = error(&format!("[products.p]\nroutes = [{{ header = {{ name = \"bad name\", value = \"1\" }}, cluster = \"c\" }}]\n{cluster}"));
        assert!(e.contains("`products.p.routes[0].header.name`"), "{e}");
    }

    #[test]
    fn server_ranges_name_the_key() {
        for text in [
            "[server]\nworkers = 9223372036854775807\n",
            "[server]\nworkers = 1025\n",
        ] {
            let e = error(text);
            assert!(e.contains("`server.workers`") && e.contains("1024"), "{e}");
        }
        assert!(parse("[server]\nworkers = 1024\n").is_ok());
        let e = error("[server]\nbacklog = 0\n");
        assert!(e.contains("`server.backlog`"), "{e}");
        let e = error("[server]\nh2_max_concurrent_streams = 0\n");
        assert!(e.contains("`server.h2_max_concurrent_streams`"), "{e}");
        let e = error("[server]\nadmin = \"0.0.0.0:9901\"\n");
        assert!(
            e.contains("`server.admin`") && e.contains("admin_token_file"),
            "{e}"
        );
        assert!(parse("[server]\nadmin = \"127.0.0.1:9901\"\n").is_ok());
        assert!(parse("[server]\nadmin = \"[::1]:9901\"\n").is_ok());
        let e = error("[server]\nadmin_token = \"s3cret\"\n");
        assert!(
            e.contains("`server.admin_token`") && e.contains("admin_token_file"),
            "{e}"
        );
        let e = error("[server]\nencoded_slashes = \"keep\"\n");
        assert!(e.contains("`server.encoded_slashes`"), "{e}");
        let config =
            parse("[server]\nmax_body_bytes = 10\nencoded_slashes = \"reject\"\n").unwrap();
        assert_eq!(config.server.max_body_bytes, 10);
        assert_eq!(config.server.backlog, 4096);
        assert_eq!(config.server.h2_max_concurrent_streams, 128);
    }

    #[test]
    fn a_bad_cond_expression_names_the_key_and_the_column() {
        let cluster =
            "[clusters.c.subclusters.s]\nweight = 1\nbackends = [{ addr = \"127.0.0.1:1\" }]\n";
        let e = error(&format!(
            "[products.p]\nroutes = [{{ cond = 'req_path_in(\"/x\" false)', cluster = \"c\" }}]\n{cluster}"
        ));
        assert!(e.contains("`products.p.routes[0].cond`"), "{e}");
        assert!(e.contains("column 18: expected ')' or ','"), "{e}");
        let e = error(&format!(
            "[products.p]\nroutes = [{{ cond = 'req_nope()', cluster = \"c\" }}]\n{cluster}"
        ));
        assert!(e.contains("`products.p.routes[0].cond`"), "{e}");
    }

    #[test]
    fn syntax_error_is_one_line() {
        let e = error("[server\n");
        assert!(e.starts_with("test.toml: not valid TOML"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn cli_default_routes_everything_to_the_backends() {
        let overrides = Overrides {
            backends: vec!["127.0.0.1:9000".parse().unwrap()],
            plugins: vec![("a.so".into(), Some("a.toml".into()))],
            ..Overrides::default()
        };
        let config = Config::load(None, &overrides).unwrap();
        assert_eq!(config.default_product.as_deref(), Some("default"));
        assert_eq!(
            config.clusters["default"].subclusters["default"]
                .backends
                .len(),
            1
        );
        assert_eq!(config.plugins[0].path, PathBuf::from("a.so"));
    }
}
