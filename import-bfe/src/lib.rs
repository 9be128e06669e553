//! `hookgate import-bfe`: a BFE configuration directory (the one holding `bfe.conf`)
//! becomes a hookgate config, one config file per ported module's plugin, and a
//! [`Report`] of everything that could not be converted exactly.
//!
//! What is read, and what each file becomes:
//!
//! | BFE | hookgate |
//! |---|---|
//! | `bfe.conf` `[Server]` `HttpPort`, `MonitorPort`, `Modules` | `server.listen`, `server.admin` (loopback), which plugins |
//! | `server_data_conf/host_rule.data` | `[products.<name>] hosts`, `default_product` |
//! | `server_data_conf/route_rule.data` | `[products.<name>] routes` (basic rules in BFE's precedence, then the advanced ones) |
//! | `server_data_conf/cluster_conf.data` | `[clusters.<name>]` timeouts, retries, balancing, health check |
//! | `cluster_conf/cluster_table.data`, `cluster_conf/gslb.data` | `[clusters.<name>.subclusters.<name>]` weight and backends |
//! | `server_data_conf/vip_rule.data`, `name_conf.data` | reported: no equivalent, or unused by routing |
//! | `mod_block`, `mod_prison`, `mod_auth_basic`, `mod_redirect`, `mod_static`, `mod_rewrite`, `mod_header`, `mod_cors`, `mod_logid`, `mod_access` | the `block`, `rate-limit`, `auth-basic`, `redirect`, `static`, `rewrite`, `header`, `cors`, `request-id` and `access-log` plugins, in BFE's module order |
//!
//! Conditions are copied unchanged: the plugin kit speaks BFE's condition language.
//! Each is compiled at import, so a rule using a primitive the kit lacks is reported
//! and left out rather than failing at start-up.
//!
//! ## Layout
//! - `json`, `ini`: BFE's file formats, read as BFE reads them.
//! - `routing`: products, hosts and routes. `clusters`: clusters and subclusters.
//! - `modules`: one file per ported BFE module.
//! - `report`, `error`: what could not be converted; what could not be read.
//! - `output`: the files written.
//! - `tests.rs`: the end-to-end fixture (`tests/data/bfe/conf`) imported and its
//!   routes evaluated; `tests/plugin_<name>.rs`: each converted module's config
//!   accepted by the real plugin's `init` (one binary per plugin: every plugin library
//!   exports the same loading symbol).

mod clusters;
mod cond;
mod error;
mod ini;
mod json;
mod modules;
mod output;
mod report;
mod routing;

use std::path::{Path, PathBuf};

pub use error::InputError;
pub use report::{Item, Kind, Report};

use ini::Ini;

/// A converted configuration, not yet written.
pub struct Import {
    /// The hookgate config, without its `[[plugins]]` (written from `plugins`).
    pub config: toml::Table,
    /// One plugin instance per converted module, in chain order.
    pub plugins: Vec<Plugin>,
    /// What could not be converted exactly.
    pub report: Report,
}

/// A plugin instance and its config.
pub struct Plugin {
    /// The BFE module it replaces (`mod_block`).
    pub module: &'static str,
    /// The example plugin (`block`); its library is `libhookgate_plugin_<name>.so`.
    pub plugin: &'static str,
    /// Its config file's content.
    pub config: toml::Table,
    /// Directories its config needs that BFE creates at start-up (the access log's):
    /// created when the import is written.
    pub dirs: Vec<PathBuf>,
}

/// Where the import writes, and where the plugin libraries are.
pub struct Target {
    /// The output directory (created if missing).
    pub out_dir: PathBuf,
    /// The directory holding `libhookgate_plugin_*.so`.
    pub plugin_dir: PathBuf,
}

/// The routing and cluster files, as `bfe.conf` names them (relative to the
/// configuration directory), else at BFE's default places.
pub(crate) struct Files {
    host_rule: String,
    vip_rule: String,
    route_rule: String,
    cluster_conf: String,
    name_conf: String,
    cluster_table: String,
    gslb: String,
}

impl Files {
    fn of(bfe: Option<&Ini>) -> Files {
        let file = |key: &str, default: &str| {
            (bfe.and_then(|ini| ini.get("Server", key)))
                .unwrap_or(default)
                .to_owned()
        };
        Files {
            host_rule: file("HostRuleConf", "server_data_conf/host_rule.data"),
            vip_rule: file("VipRuleConf", "server_data_conf/vip_rule.data"),
            route_rule: file("RouteRuleConf", "server_data_conf/route_rule.data"),
            cluster_conf: file("ClusterConf", "server_data_conf/cluster_conf.data"),
            name_conf: file("NameConf", "server_data_conf/name_conf.data"),
            cluster_table: file("ClusterTableConf", "cluster_conf/cluster_table.data"),
            gslb: file("GslbConf", "cluster_conf/gslb.data"),
        }
    }
}

/// Reads the BFE configuration under `conf_dir`.
pub fn import(conf_dir: &Path) -> Result<Import, InputError> {
    let mut report = Report::default();
    let bfe = Ini::read(conf_dir, "bfe.conf")?;
    let files = Files::of(bfe.as_ref());
    let mut config = toml::Table::new();
    config.insert("server".into(), server(bfe.as_ref(), &mut report)?.into());
    let clusters = clusters::import(conf_dir, &files, &mut report)?;
    let products = routing::import(conf_dir, &files, &clusters.names(), &mut report)?;
    products.write(&mut config);
    config.insert("clusters".into(), clusters.into_table().into());
    let plugins = modules::import(conf_dir, bfe.as_ref(), &mut report)?;
    Ok(Import {
        config,
        plugins,
        report,
    })
}

/// `[server]` from `bfe.conf`'s `[Server]` (BFE's defaults when it is absent).
fn server(bfe: Option<&Ini>, report: &mut Report) -> Result<toml::Table, InputError> {
    let mut server = toml::Table::new();
    let Some(bfe) = bfe else {
        report.note(
            "bfe.conf",
            "[Server]",
            "no bfe.conf: listening on BFE's default port 8080",
        );
        server.insert("listen".into(), vec!["0.0.0.0:8080".to_owned()].into());
        return Ok(server);
    };
    let port = |key: &str| -> Result<Option<u16>, InputError> {
        match bfe.get("Server", key) {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| {
                InputError::new(
                    bfe.file(),
                    format!("Server.{key}"),
                    format!("{text:?} is not a port"),
                )
            }),
        }
    };
    let http = port("HttpPort")?.unwrap_or(8080);
    server.insert("listen".into(), vec![format!("0.0.0.0:{http}")].into());
    if let Some(https) = port("HttpsPort")? {
        report.skipped(
            bfe.file(),
            "Server.HttpsPort",
            format!(
                "the TLS listener on port {https} is not converted: add a [[server.tls]] \
                 listener with the certificates of tls_conf"
            ),
        );
    }
    if let Some(monitor) = port("MonitorPort")? {
        server.insert("admin".into(), format!("127.0.0.1:{monitor}").into());
        report.note(
            bfe.file(),
            "Server.MonitorPort",
            "the admin listener (status, metrics, POST /reload) listens on loopback only; \
             elsewhere it needs server.admin_token_file",
        );
    }
    Ok(server)
}

/// Writes `import` under `target` (see [`output`]); returns the config's path.
pub fn write(import: &Import, target: &Target) -> std::io::Result<PathBuf> {
    output::write(import, target)
}

#[cfg(test)]
mod tests;
