//! The typed shape of the config file (DESIGN §4).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::addr::BackendAddr;
use crate::upstream::BackendTls;

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Product for hosts that match no product.
    pub default_product: Option<String>,
    /// Listeners, admin, workers.
    #[serde(default)]
    pub server: ServerConfig,
    /// Plugin instances, in chain order.
    #[serde(default)]
    pub plugins: Vec<PluginConfig>,
    /// Products by name.
    #[serde(default)]
    pub products: BTreeMap<String, ProductConfig>,
    /// Clusters by name.
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterConfig>,
    /// Redis stores plugins may use (plugin API 0.2.3), by name.
    #[serde(default)]
    pub redis: BTreeMap<String, RedisConfig>,
    /// Distributed tracing; off when absent.
    pub tracing: Option<TracingConfig>,
}

/// `[tracing]`: spans exported by OTLP/HTTP.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TracingConfig {
    /// The OTLP/HTTP traces endpoint, e.g. `http://127.0.0.1:4318/v1/traces`.
    pub endpoint: String,
    /// The share of new traces sampled (0 to 1; a parent's decision stands).
    #[serde(default = "default_trace_ratio")]
    pub ratio: f64,
    /// Whose `traceparent` is a request's parent.
    #[serde(default)]
    pub parent: TraceParent,
    /// `service.name` of the spans.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// How often spans are sent (sooner when 512 are waiting).
    #[serde(default = "default_trace_batch_ms")]
    pub batch_ms: u64,
}

/// Whose `traceparent` a request's span continues.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TraceParent {
    /// A peer in `server.trusted_proxies`'s (others start a trace).
    #[default]
    Trusted,
    /// Anyone's.
    Always,
    /// Nobody's: every request starts a trace.
    Never,
}

fn default_trace_ratio() -> f64 {
    1.0
}
fn default_service_name() -> String {
    "hookgate".to_owned()
}
fn default_trace_batch_ms() -> u64 {
    1000
}

/// `[redis.NAME]`: a Redis server plugins send commands to through the host.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// A standalone server (or a primary): `redis://[user:password@]host:port[/db]`
    /// (`rediss://` is refused: this build has no TLS to Redis).
    pub url: Option<String>,
    /// A Redis Cluster instead: some of its nodes' URLs (the others are discovered).
    pub cluster: Option<Vec<String>>,
    /// The longest a command may take (a command asking for more gets this).
    #[serde(default = "default_redis_timeout_ms")]
    pub timeout_ms: u64,
    /// The longest connecting may take.
    #[serde(default = "default_redis_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

fn default_redis_timeout_ms() -> u64 {
    250
}
fn default_redis_connect_timeout_ms() -> u64 {
    1000
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Plain HTTP/1.1 + h2c listeners.
    #[serde(default = "default_listen")]
    pub listen: Vec<SocketAddr>,
    /// Admin listener (metrics, status, reload). A loopback address, unless
    /// `admin_token_file` protects it.
    pub admin: Option<SocketAddr>,
    /// A file holding the admin listener's bearer token: with one, every admin
    /// request needs `Authorization: Bearer <token>`.
    pub admin_token_file: Option<PathBuf>,
    /// Refused with a message: a token written in the config itself (configs are
    /// shared and logged; the token belongs in `admin_token_file`).
    #[serde(default, rename = "admin_token")]
    pub inline_admin_token: Option<toml::Value>,
    /// The token read from `admin_token_file` by [`Config::load`](super::Config::load).
    #[serde(skip)]
    pub admin_token: Option<AdminToken>,
    /// Worker threads; 0 = one per core.
    #[serde(default)]
    pub workers: usize,
    /// TLS listeners.
    #[serde(default)]
    pub tls: Vec<TlsListenerConfig>,
    /// Peers whose `X-Forwarded-For` is believed (CIDRs); the client IP is then the
    /// rightmost address in it that is not itself trusted.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long in-flight requests may run after SIGTERM/SIGINT.
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
    /// Open client connections at most; further ones wait in the accept queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Where plugin libraries are copied to be loaded (see `plugin::cache`); default
    /// `$XDG_RUNTIME_DIR/hookgate/plugins`, else `/tmp/hookgate-<uid>/plugins`.
    pub plugin_cache_dir: Option<PathBuf>,
    /// The listen backlog of every listener (Linux caps it at `net.core.somaxconn`).
    #[serde(default = "default_backlog")]
    pub backlog: u32,
    /// Request bodies larger than this are refused with 413; 0 = unlimited.
    #[serde(default)]
    pub max_body_bytes: u64,
    /// What a `%2F` in a request path becomes.
    #[serde(default)]
    pub encoded_slashes: EncodedSlashes,
    /// From accept to the first complete request head (TLS handshake and protocol
    /// detection included), and on keep-alive from the first byte of the next
    /// request to its complete head (nginx `client_header_timeout`).
    #[serde(default = "default_60s")]
    pub header_timeout_ms: u64,
    /// From the end of a response to the first byte of the next request; an HTTP/2
    /// connection with no open stream this long gets GOAWAY (nginx
    /// `keepalive_timeout`).
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Between two reads of a request body: 408 if no response has started, else
    /// the connection closes (nginx `client_body_timeout`).
    #[serde(default = "default_60s")]
    pub body_timeout_ms: u64,
    /// Between two writes to a client that stops reading: the request ends and its
    /// backend connection is released (nginx `send_timeout`).
    #[serde(default = "default_60s")]
    pub send_timeout_ms: u64,
    /// Requests per keep-alive connection before it is closed gracefully (nginx
    /// `keepalive_requests`).
    #[serde(default = "default_keepalive_requests")]
    pub keepalive_requests: u64,
    /// A plugin handler seen running this long is logged (with its instance and
    /// point, at most once per 10 s each) and counted; 0 turns the watch off.
    /// Handlers run on the worker threads: a slow one stalls every connection there.
    #[serde(default = "default_slow_handler_ms")]
    pub slow_handler_ms: u64,
    /// How long a WebSocket (or other upgraded) tunnel may carry no byte either way.
    #[serde(default = "default_tunnel_idle_timeout_ms")]
    pub tunnel_idle_timeout_ms: u64,
    /// Concurrent streams per HTTP/2 client connection (so also the backend requests
    /// one connection can have in flight).
    #[serde(default = "default_h2_max_concurrent_streams")]
    pub h2_max_concurrent_streams: u32,
}

/// The admin listener's bearer token; its Debug form does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(pub String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// `server.encoded_slashes`: what a `%2F` in a request path becomes.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum EncodedSlashes {
    /// A `/` like any other (the backend receives the decoded path).
    #[default]
    Decode,
    /// The request is refused with 400.
    Reject,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: default_listen(),
            admin: None,
            admin_token_file: None,
            inline_admin_token: None,
            admin_token: None,
            workers: 0,
            tls: Vec::new(),
            trusted_proxies: Vec::new(),
            drain_timeout_ms: default_drain_timeout_ms(),
            max_connections: default_max_connections(),
            plugin_cache_dir: None,
            backlog: default_backlog(),
            max_body_bytes: 0,
            encoded_slashes: EncodedSlashes::default(),
            h2_max_concurrent_streams: default_h2_max_concurrent_streams(),
            header_timeout_ms: default_60s(),
            idle_timeout_ms: default_idle_timeout_ms(),
            body_timeout_ms: default_60s(),
            send_timeout_ms: default_60s(),
            keepalive_requests: default_keepalive_requests(),
            slow_handler_ms: default_slow_handler_ms(),
            tunnel_idle_timeout_ms: default_tunnel_idle_timeout_ms(),
        }
    }
}

fn default_slow_handler_ms() -> u64 {
    100
}

fn default_drain_timeout_ms() -> u64 {
    10_000
}

fn default_max_connections() -> usize {
    100_000
}

fn default_60s() -> u64 {
    60_000
}

fn default_idle_timeout_ms() -> u64 {
    75_000
}

fn default_keepalive_requests() -> u64 {
    1000
}

fn default_tunnel_idle_timeout_ms() -> u64 {
    3_600_000
}

fn default_backlog() -> u32 {
    4096
}

fn default_h2_max_concurrent_streams() -> u32 {
    128
}

fn default_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([127, 0, 0, 1], 8080))]
}

/// `[[server.tls]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsListenerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Certificates, chosen by SNI from each certificate's names.
    pub certs: Vec<CertConfig>,
    /// CA certificates (PEM) that clients' certificates are verified against: set, the
    /// listener asks clients for a certificate.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: whether a client must present a valid certificate
    /// (`required`, the default) or may come without one (`optional`).
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
}

/// `[[server.tls]] client_auth`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// A handshake without a valid client certificate fails.
    #[default]
    Required,
    /// A client without a certificate proceeds without an identity; one with an
    /// invalid certificate still fails.
    Optional,
}

/// One certificate and its key (PEM files).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertConfig {
    /// Certificate chain, PEM.
    pub cert: PathBuf,
    /// Private key, PEM.
    pub key: PathBuf,
}

/// `[[plugins]]`: one plugin instance.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The plugin library.
    pub path: PathBuf,
    /// Instance name in logs and chains (the plugin's name by default).
    pub name: Option<String>,
    /// The instance's config: a file, or an inline table.
    pub config: Option<PluginSettings>,
    /// Products the request-level handlers are limited to.
    pub products: Option<Vec<String>>,
    /// What a plugin error (a panic) does.
    #[serde(default)]
    pub on_error: ErrorPolicy,
    /// The most body bytes read for the instance's body handlers, when it asks for a
    /// body (64 KiB by default; never above the product's `max_body_bytes`).
    pub body_limit: Option<u64>,
    /// A circuit breaker: stop calling the instance while its handlers fail too often.
    pub breaker: Option<BreakerConfig>,
    /// Callouts (plugin API 0.2.2): the instance's limits.
    #[serde(default)]
    pub callouts: CalloutLimitsConfig,
    /// The SHA-256 the library's content must have (lowercase hex): any other content
    /// is refused, at start and on reload, before it is loaded.
    pub sha256: Option<String>,
    /// A new build of the library is first tried on a share of the traffic (see
    /// [`CanaryConfig`]); without it, a new build serves every new request at once.
    pub canary: Option<CanaryConfig>,
}

/// `[[plugins]] canary`: when a reload finds new content in the entry's library, the
/// new generation of its code runs for `percent` of new requests and connections
/// (chosen by a hash of the client address with `seed`), the old one for the rest,
/// until it is promoted (`POST /plugins/NAME/promote`, or after `promote_after_ms`
/// without trouble) or rolled back (`POST /plugins/NAME/rollback`, or when its error
/// ratio reaches `error_ratio` of at least `min_calls` calls within `window_ms`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// The share of new requests and connections on the new generation (0 to 100;
    /// fractions allowed, 10 by default).
    #[serde(default = "default_canary_percent")]
    pub percent: f64,
    /// Promoted automatically this long after the reload if not rolled back (0: only
    /// by the admin call; 10 minutes by default).
    #[serde(default = "default_promote_after_ms")]
    pub promote_after_ms: u64,
    /// Failed calls over calls of the new generation at which it is rolled back (above
    /// 0, at most 1; 0.2 by default).
    #[serde(default = "default_canary_error_ratio")]
    pub error_ratio: f64,
    /// The sliding window the ratio is taken over (60 s by default).
    #[serde(default = "default_canary_window_ms")]
    pub window_ms: u64,
    /// Fewer calls than this in the window never roll back (20 by default).
    #[serde(default = "default_min_calls")]
    pub min_calls: u64,
    /// Whether responses of 500 and above that the new generation's handlers produce
    /// count as its errors, beside panics and broken verdicts (false by default).
    #[serde(default)]
    pub count_5xx: bool,
    /// Seeds the hash that splits clients (a hash of the entry's name by default, so
    /// that every proxy of a fleet splits them alike).
    pub seed: Option<u64>,
}

impl Default for CanaryConfig {
    fn default() -> Self {
        CanaryConfig {
            percent: default_canary_percent(),
            promote_after_ms: default_promote_after_ms(),
            error_ratio: default_canary_error_ratio(),
            window_ms: default_canary_window_ms(),
            min_calls: default_min_calls(),
            count_5xx: false,
            seed: None,
        }
    }
}

fn default_canary_percent() -> f64 {
    10.0
}
fn default_promote_after_ms() -> u64 {
    600_000
}
fn default_canary_error_ratio() -> f64 {
    0.2
}
fn default_canary_window_ms() -> u64 {
    60_000
}

/// `[[plugins]] callouts = { concurrent, timeout_ms, body_limit }`: what an instance's
/// handlers may ask of the network through the host.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CalloutLimitsConfig {
    /// Callouts of the instance in flight at once (over it, a handler's wait fails).
    #[serde(default = "default_callouts_concurrent")]
    pub concurrent: u32,
    /// The longest a callout may take (a callout asking for more gets this).
    #[serde(default = "default_callouts_timeout_ms")]
    pub timeout_ms: u64,
    /// The most response body bytes a callout keeps.
    #[serde(default = "default_callouts_body_limit")]
    pub body_limit: u64,
}

impl Default for CalloutLimitsConfig {
    fn default() -> Self {
        CalloutLimitsConfig {
            concurrent: default_callouts_concurrent(),
            timeout_ms: default_callouts_timeout_ms(),
            body_limit: default_callouts_body_limit(),
        }
    }
}

fn default_callouts_concurrent() -> u32 {
    1024
}
fn default_callouts_timeout_ms() -> u64 {
    5_000
}
fn default_callouts_body_limit() -> u64 {
    1 << 20
}

/// `[[plugins]] breaker`: when an instance's handlers fail (panics, broken verdicts)
/// for at least `error_ratio` of at least `min_calls` calls within `window_ms`, its
/// handlers are not called for `cooldown_ms` (its `on_error` policy applies in their
/// place); then `probe_calls` calls probe it, and close the breaker if they all
/// succeed. Every key has a default: `breaker = {}` is a breaker.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Failed calls over calls at which it opens (0 to 1, inclusive; 0.5 by default).
    #[serde(default = "default_error_ratio")]
    pub error_ratio: f64,
    /// The sliding window the ratio is taken over (10 s by default).
    #[serde(default = "default_breaker_window_ms")]
    pub window_ms: u64,
    /// Fewer calls than this in the window never open it (20 by default).
    #[serde(default = "default_min_calls")]
    pub min_calls: u64,
    /// How long it stays open before probing (30 s by default).
    #[serde(default = "default_cooldown_ms")]
    pub cooldown_ms: u64,
    /// Calls let through while half-open (3 by default); all must succeed to close it.
    #[serde(default = "default_probe_calls")]
    pub probe_calls: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            error_ratio: default_error_ratio(),
            window_ms: default_breaker_window_ms(),
            min_calls: default_min_calls(),
            cooldown_ms: default_cooldown_ms(),
            probe_calls: default_probe_calls(),
        }
    }
}

fn default_error_ratio() -> f64 {
    0.5
}
fn default_breaker_window_ms() -> u64 {
    10_000
}
fn default_min_calls() -> u64 {
    20
}
fn default_cooldown_ms() -> u64 {
    30_000
}
fn default_probe_calls() -> u32 {
    3
}

/// A plugin's config: a file to read, or an inline table.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged, expecting = "a file path or an inline table")]
pub enum PluginSettings {
    /// The path of a file whose text is the config.
    File(PathBuf),
    /// An inline table, handed to the plugin as TOML text.
    Inline(toml::Table),
}

/// What the host does when a handler fails (panics or returns a broken value).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorPolicy {
    /// 500 at request points, close at Accept/Handshake.
    #[default]
    FailClosed,
    /// Treat as GoOn.
    FailOpen,
}

impl ErrorPolicy {
    /// The name used in the config.
    pub fn name(self) -> &'static str {
        match self {
            ErrorPolicy::FailClosed => "fail-closed",
            ErrorPolicy::FailOpen => "fail-open",
        }
    }
}

/// `[products.NAME]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductConfig {
    /// Exact hosts and `*.suffix` wildcards.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Route rules, first match wins.
    pub routes: Vec<RouteRule>,
    /// Overrides `server.max_body_bytes` for this product (0 = unlimited).
    pub max_body_bytes: Option<u64>,
    /// Response compression, if set.
    pub compress: Option<CompressConfig>,
}

/// `[products.P] compress`: response compression (BFE's mod_compress, nginx's gzip).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CompressConfig {
    /// Media types compressed: `text/html`, or `text/*` for a whole type.
    #[serde(default = "default_compress_types")]
    pub types: Vec<String>,
    /// Bodies known to be shorter are sent as they are (an unknown length is
    /// compressed).
    #[serde(default = "default_compress_min_bytes")]
    pub min_bytes: u64,
    /// The algorithms offered, in order of preference (among those the client takes
    /// with the same q-value).
    #[serde(default = "default_compress_algorithms")]
    pub algorithms: Vec<Algorithm>,
}

/// A compression algorithm (`Content-Encoding` token).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Brotli (`br`).
    Br,
    /// gzip.
    Gzip,
}

impl Algorithm {
    /// Its `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Br => "br",
            Algorithm::Gzip => "gzip",
        }
    }
}

fn default_compress_types() -> Vec<String> {
    [
        "text/html",
        "text/plain",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/xml",
        "image/svg+xml",
    ]
    .map(String::from)
    .to_vec()
}

fn default_compress_min_bytes() -> u64 {
    256
}

fn default_compress_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::Br, Algorithm::Gzip]
}

/// One route rule: conditions (all must hold; none = match all) and a cluster.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// Host equals.
    pub host: Option<String>,
    /// Path equals.
    pub path: Option<String>,
    /// Path starts with.
    pub path_prefix: Option<String>,
    /// Method equals.
    pub method: Option<String>,
    /// Header equals.
    pub header: Option<HeaderCondition>,
    /// An expression in BFE's condition language, e.g.
    /// `req_path_prefix_in("/api/", false) && !req_cip_range("10.0.0.0", "10.255.255.255")`.
    pub cond: Option<String>,
    /// Target cluster.
    pub cluster: String,
}

impl RouteRule {
    /// The rule's conditions compiled into one matcher (the plugin kit's): the table
    /// keys and `cond`, all of which must hold. Errors name the key (`cond`, `method`…)
    /// and, in an expression, the column.
    pub fn condition(
        &self,
    ) -> Result<hookgate_plugin_kit::Condition, hookgate_plugin_kit::ConfigError> {
        let mut table = toml::Table::new();
        let mut put = |key: &str, value: &Option<String>| {
            if let Some(value) = value {
                table.insert(key.to_owned(), toml::Value::String(value.clone()));
            }
        };
        put("host", &self.host);
        put("path", &self.path);
        put("path_prefix", &self.path_prefix);
        put("method", &self.method);
        put("cond", &self.cond);
        if let Some(header) = &self.header {
            let mut h = toml::Table::new();
            h.insert("name".into(), toml::Value::String(header.name.clone()));
            h.insert("value".into(), toml::Value::String(header.value.clone()));
            table.insert("header".into(), toml::Value::Table(h));
        }
        hookgate_plugin_kit::Condition::from_table(table)
    }
}

/// A header condition of a route rule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderCondition {
    /// Header name.
    pub name: String,
    /// Exact value.
    pub value: String,
}

/// `[clusters.NAME]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Backend choice inside a subcluster.
    #[serde(default)]
    pub balance: Balance,
    /// Connect timeout.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// From the end of the request body to the response head (nginx
    /// `proxy_read_timeout` for the head).
    #[serde(default = "default_60s")]
    pub response_timeout_ms: u64,
    /// Between two reads of the response body (nginx `proxy_read_timeout`).
    #[serde(default = "default_60s")]
    pub read_timeout_ms: u64,
    /// Between two writes of the request body (nginx `proxy_send_timeout`).
    #[serde(default = "default_60s")]
    pub send_timeout_ms: u64,
    /// A pooled connection idle longer is closed (shorter than backends' own
    /// keep-alive timeouts, so that the proxy closes first).
    #[serde(default = "default_pool_idle_timeout_ms")]
    pub pool_idle_timeout_ms: u64,
    /// Idle connections kept per backend.
    #[serde(default = "default_pool_max_idle_per_backend")]
    pub pool_max_idle_per_backend: usize,
    /// Retries on other backends.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Retries in other subclusters.
    #[serde(default = "default_cross_retry")]
    pub cross_retry: u32,
    /// Active health check.
    pub health_check: Option<HealthCheckConfig>,
    /// Failures within `fail_timeout_ms` that eject a backend (passive check; 0 = off).
    #[serde(default = "default_max_fails")]
    pub max_fails: u32,
    /// Whether a 5xx response counts as a failure of its backend (passive ejection).
    #[serde(default)]
    pub fail_on_5xx: bool,
    /// The window in which `max_fails` failures eject a backend, and how long an
    /// ejected backend stays out when there is no active health check to bring it
    /// back.
    #[serde(default = "default_fail_timeout_ms")]
    pub fail_timeout_ms: u64,
    /// The protocol spoken to the backends.
    #[serde(default)]
    pub protocol: BackendProtocol,
    /// HTTP/2 (`h2c`, `h2`): streams one backend connection carries at once; more
    /// requests open another connection.
    #[serde(default = "default_h2_max_streams")]
    pub h2_max_streams_per_connection: u32,
    /// How often backends given by name (`addr = "name:port"`) are resolved again.
    #[serde(default = "default_resolve_interval_ms")]
    pub resolve_interval_ms: u64,
    /// TLS to the backends (plain TCP without it; `protocol = "h2"` implies it).
    pub tls: Option<BackendTlsConfig>,
    /// `tls`, built when the config is loaded (its files read, checked).
    #[serde(skip)]
    pub tls_loaded: Option<Arc<BackendTls>>,
    /// Subclusters by name.
    pub subclusters: BTreeMap<String, SubclusterConfig>,
}

/// `[clusters.NAME] protocol`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendProtocol {
    /// HTTP/1.1, one request per connection at a time, pooled keep-alive.
    #[default]
    Http1,
    /// HTTP/2 over plain TCP (prior knowledge), multiplexed.
    H2c,
    /// HTTP/2 over TLS (ALPN `h2`), multiplexed.
    H2,
}

impl BackendProtocol {
    /// Whether it is HTTP/2.
    pub fn is_h2(self) -> bool {
        matches!(self, BackendProtocol::H2c | BackendProtocol::H2)
    }
}

fn default_h2_max_streams() -> u32 {
    100
}

fn default_resolve_interval_ms() -> u64 {
    5_000
}

/// `[clusters.NAME] tls`: TLS to the cluster's backends.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BackendTlsConfig {
    /// The name sent as SNI and that certificates are verified against (else the
    /// backend's IP address, verified against the certificate's IP SANs).
    pub sni: Option<String>,
    /// Whether backend certificates are verified (true unless written `false`).
    #[serde(default = "default_true")]
    pub verify: bool,
    /// A PEM file of the CA certificates trusted for these backends (else the
    /// system's).
    pub ca: Option<PathBuf>,
    /// A certificate chain (PEM) presented to backends that ask for one (mTLS).
    pub client_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub client_key: Option<PathBuf>,
}

fn default_true() -> bool {
    true
}

impl ClusterConfig {
    /// A cluster of these subclusters with every other key at its default, as an
    /// omitted key gets in a file.
    pub fn with_subclusters(subclusters: BTreeMap<String, SubclusterConfig>) -> ClusterConfig {
        ClusterConfig {
            balance: Balance::default(),
            connect_timeout_ms: default_connect_timeout_ms(),
            response_timeout_ms: default_60s(),
            read_timeout_ms: default_60s(),
            send_timeout_ms: default_60s(),
            pool_idle_timeout_ms: default_pool_idle_timeout_ms(),
            pool_max_idle_per_backend: default_pool_max_idle_per_backend(),
            retries: default_retries(),
            cross_retry: default_cross_retry(),
            health_check: None,
            max_fails: default_max_fails(),
            fail_on_5xx: false,
            fail_timeout_ms: default_fail_timeout_ms(),
            protocol: BackendProtocol::default(),
            h2_max_streams_per_connection: default_h2_max_streams(),
            resolve_interval_ms: default_resolve_interval_ms(),
            tls: None,
            tls_loaded: None,
            subclusters,
        }
    }
}

impl BackendConfig {
    /// A backend at `addr` with the default weight.
    pub fn at(addr: SocketAddr) -> BackendConfig {
        BackendConfig {
            addr: BackendAddr::Ip(addr),
            weight: default_backend_weight(),
        }
    }
}

fn default_connect_timeout_ms() -> u64 {
    1000
}
fn default_pool_idle_timeout_ms() -> u64 {
    4_000
}
fn default_pool_max_idle_per_backend() -> usize {
    64
}
fn default_retries() -> u32 {
    2
}
fn default_cross_retry() -> u32 {
    1
}
fn default_max_fails() -> u32 {
    3
}
fn default_fail_timeout_ms() -> u64 {
    10_000
}

/// Backend balancing mode.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// Smooth weighted round-robin.
    #[default]
    Wrr,
    /// Least connections.
    LeastConn,
    /// Consistent hash of the client IP.
    Hash,
}

/// `health_check = { ... }`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// Path to GET.
    pub path: String,
    /// Interval between checks.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    /// Consecutive failures before a backend is marked down.
    #[serde(default = "default_unhealthy_after")]
    pub unhealthy_after: u32,
    /// Consecutive successes before it is marked up again.
    #[serde(default = "default_healthy_after")]
    pub healthy_after: u32,
}

fn default_interval_ms() -> u64 {
    2000
}
fn default_unhealthy_after() -> u32 {
    3
}
fn default_healthy_after() -> u32 {
    2
}

/// `[clusters.C.subclusters.S]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubclusterConfig {
    /// Share of traffic among the cluster's subclusters.
    pub weight: u32,
    /// Backends.
    pub backends: Vec<BackendConfig>,
}

/// One backend.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// `ip:port` or `name:port`.
    pub addr: BackendAddr,
    /// Weight inside the subcluster.
    #[serde(default = "default_backend_weight")]
    pub weight: u32,
}

fn default_backend_weight() -> u32 {
    1
}
