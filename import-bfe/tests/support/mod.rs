//! Shared by the plugin checks: a whole BFE configuration directory (minimal routing
//! and clusters, plus one module's files) imported through the public API.
//!
//! Each check is its own test binary (`tests/plugin_<name>.rs`) because every plugin
//! library exports the same plugin-loading symbol, so two cannot be linked into one.

use std::path::Path;

use hookgate_import_bfe::Report;
use tempfile::TempDir;

const ROUTING: [(&str, &str); 5] = [
    (
        "server_data_conf/host_rule.data",
        r#"{"Version": "1", "Hosts": {"t": ["a.example"]}, "HostTags": {"shop": ["t"]}}"#,
    ),
    (
        "server_data_conf/route_rule.data",
        r#"{"Version": "1", "ProductRule": {"shop": [{"Cond": "default_t()", "ClusterName": "c"}]}}"#,
    ),
    (
        "server_data_conf/cluster_conf.data",
        r#"{"Version": "1", "Config": {"c": {}}}"#,
    ),
    (
        "cluster_conf/cluster_table.data",
        r#"{"Version": "1", "Config": {"c": {"s": [{"Addr": "127.0.0.1", "Port": 8000, "Weight": 1, "Name": "b"}]}}}"#,
    ),
    (
        "cluster_conf/gslb.data",
        r#"{"Clusters": {"c": {"s": 100}}, "Hostname": "h", "Ts": "1"}"#,
    ),
];

/// `conf/` and `bin/` in a temporary directory.
pub fn dir() -> TempDir {
    let dir = TempDir::new().unwrap();
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    dir
}

/// Writes `text` at `rel` under `base`.
pub fn write(base: &Path, rel: &str, text: &str) {
    let path = base.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Imports `conf/` under `dir` (with `files` and the minimal routing) enabling only
/// `module`; its plugin config as TOML text, and the report.
pub fn import(dir: &TempDir, module: &str, files: &[(&str, &str)]) -> (String, Report) {
    let conf = dir.path().join("conf");
    write(
        &conf,
        "bfe.conf",
        &format!("[Server]\nHttpPort = 8080\nModules = {module}\n"),
    );
    for (rel, text) in ROUTING.iter().chain(files) {
        write(&conf, rel, text);
    }
    let import = hookgate_import_bfe::import(&conf).unwrap();
    let plugin = import.plugins.iter().find(|p| p.module == module).unwrap();
    (toml::to_string(&plugin.config).unwrap(), import.report)
}
