//! The proxy's configuration: the TOML file of DESIGN §4, or the CLI defaults without
//! one. Every error names the key and says what was expected; unknown keys are errors.
//!
//! Relative paths in the file (plugin libraries, plugin configs, certificates) are
//! resolved against the directory the proxy is started from, like the CLI's.

mod addr;
mod file;
mod load;

pub use addr::{BackendAddr, BackendName};
pub use file::{
    AdminToken, Algorithm, BackendConfig, BackendProtocol, BackendTlsConfig, Balance,
    BreakerConfig, CalloutLimitsConfig, CanaryConfig, CertConfig, ClientAuth, ClusterConfig,
    CompressConfig, Config, EncodedSlashes, ErrorPolicy, HeaderCondition, HealthCheckConfig,
    PluginConfig, PluginSettings, ProductConfig, RedisConfig, RouteRule, ServerConfig,
    SubclusterConfig, TlsListenerConfig, TraceParent, TracingConfig,
};
pub use load::{ConfigError, Overrides};
