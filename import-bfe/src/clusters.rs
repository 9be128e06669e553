//! Clusters, from `cluster_conf.data` (settings), `cluster_table.data` (backends per
//! subcluster) and `gslb.data` (subcluster weights).
//!
//! BFE's defaults are written out where they differ from hookgate's (connect timeout
//! 2 s, no retry in another subcluster, 2 idle connections per backend), so that an
//! imported cluster behaves as it did.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

use crate::json::{Json, Node};
use crate::{Files, InputError, Report};

/// The subcluster name BFE reserves for the share of traffic it drops.
const BLACKHOLE: &str = "GSLB_BLACKHOLE";

/// The clusters converted, by name.
pub struct Clusters(BTreeMap<String, toml::Table>);

impl Clusters {
    /// The names of the clusters converted.
    pub fn names(&self) -> BTreeSet<String> {
        self.0.keys().cloned().collect()
    }

    /// `[clusters]` for the hookgate config.
    pub fn into_table(self) -> toml::Table {
        (self.0.into_iter())
            .map(|(name, table)| (name, toml::Value::Table(table)))
            .collect()
    }
}

/// Reads the cluster files.
pub fn import(root: &Path, files: &Files, report: &mut Report) -> Result<Clusters, InputError> {
    let table = Json::read_required(root, &files.cluster_table)?;
    let gslb = Json::read_required(root, &files.gslb)?;
    let conf = Json::read_required(root, &files.cluster_conf)?;
    let settings: BTreeMap<&str, Node> = conf
        .root()
        .field("Config")?
        .entries()?
        .into_iter()
        .collect();
    let weights: BTreeMap<&str, Node> = gslb
        .root()
        .field("Clusters")?
        .entries()?
        .into_iter()
        .collect();
    let mut clusters = BTreeMap::new();
    for (name, subclusters) in table.root().field("Config")?.entries()? {
        let Some(weights) = weights.get(name) else {
            let reason = "no subcluster weights in gslb.data: BFE cannot balance it either";
            report.skipped(table.file(), format!("Config.{name}"), reason);
            continue;
        };
        let mut cluster = match settings.get(name) {
            Some(settings) => match cluster_settings(settings, report)? {
                Some(cluster) => cluster,
                None => continue,
            },
            None => defaults(),
        };
        let subclusters = subclusters_of(&subclusters, weights, report)?;
        if !subclusters
            .values()
            .any(|s| s.get("weight").and_then(toml::Value::as_integer) > Some(0))
        {
            let reason =
                "no subcluster with a weight above 0 and backends: every request to it would fail";
            report.skipped(table.file(), format!("Config.{name}"), reason);
            continue;
        }
        cluster.insert("subclusters".into(), subclusters.into());
        clusters.insert(name.to_owned(), cluster);
    }
    for name in settings
        .keys()
        .filter(|name| !clusters.contains_key(**name))
    {
        if table.root().field("Config")?.get(name).is_none() {
            let reason = "no backends in cluster_table.data";
            report.skipped(conf.file(), format!("Config.{name}"), reason);
        }
    }
    Ok(Clusters(clusters))
}

/// BFE's defaults where hookgate's differ.
fn defaults() -> toml::Table {
    let mut cluster = toml::Table::new();
    cluster.insert("connect_timeout_ms".into(), 2000.into());
    cluster.insert("retries".into(), 2.into());
    cluster.insert("cross_retry".into(), 0.into());
    cluster.insert("pool_max_idle_per_backend".into(), 2.into());
    cluster.insert("max_fails".into(), 5.into());
    cluster
}

/// A cluster's settings from `cluster_conf.data`; `None` if it cannot be converted.
fn cluster_settings(
    node: &Node<'_>,
    report: &mut Report,
) -> Result<Option<toml::Table>, InputError> {
    let file = node.file();
    let at = node.key();
    let mut cluster = defaults();
    if let Some(backend) = node.get("BackendConf") {
        let protocol = backend.opt_str("Protocol")?.unwrap_or("http");
        if !protocol.eq_ignore_ascii_case("http") && !protocol.eq_ignore_ascii_case("ws") {
            let reason = format!(
                "backends spoken to over {protocol:?}: hookgate talks plain HTTP/1.1 to backends"
            );
            report.skipped(file, at, reason);
            return Ok(None);
        }
        let positive = |key: &str, to: &str, cluster: &mut toml::Table| -> Result<(), InputError> {
            if let Some(ms) = backend.opt_int(key)?.filter(|&ms| ms > 0) {
                cluster.insert(to.into(), ms.into());
            }
            Ok(())
        };
        positive("TimeoutConnSrv", "connect_timeout_ms", &mut cluster)?;
        positive("TimeoutResponseHeader", "response_timeout_ms", &mut cluster)?;
        if let Some(idle) = backend.opt_int("MaxIdleConnsPerHost")?.filter(|&n| n >= 0) {
            cluster.insert("pool_max_idle_per_backend".into(), idle.into());
        }
        if let Some(max) = backend.opt_int("MaxConnsPerHost")?.filter(|&n| n > 0) {
            let reason =
                format!("MaxConnsPerHost = {max}: hookgate does not cap connections per backend");
            report.skipped(file, format!("{at}.BackendConf"), reason);
        }
        if backend.opt_int("RetryLevel")? == Some(1) {
            let reason = "RetryLevel 1 (retry a GET after a failure in the middle of \
                          forwarding): hookgate retries only before a request is sent";
            report.approximated(file, format!("{at}.BackendConf"), reason);
        }
        match backend.opt_str("OutlierDetectionHttpCode")? {
            None | Some("") => {}
            Some("5xx") => {
                cluster.insert("fail_on_5xx".into(), true.into());
            }
            Some(codes) => {
                cluster.insert("fail_on_5xx".into(), codes.contains("5xx").into());
                let reason = format!(
                    "OutlierDetectionHttpCode {codes:?}: hookgate counts either every 5xx \
                     as a backend failure or none"
                );
                report.approximated(file, format!("{at}.BackendConf"), reason);
            }
        }
    }
    if let Some(check) = node.get("CheckConf") {
        health_check(&check, &mut cluster, report)?;
    }
    if let Some(gslb) = node.get("GslbBasic") {
        if let Some(retries) = gslb.opt_int("RetryMax")?.filter(|&n| n >= 0) {
            cluster.insert("retries".into(), retries.into());
        }
        if let Some(cross) = gslb.opt_int("CrossRetry")?.filter(|&n| n >= 0) {
            cluster.insert("cross_retry".into(), cross.into());
        }
        match gslb
            .opt_str("BalanceMode")?
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("WRR") => {}
            Some("WLC") => {
                cluster.insert("balance".into(), "least_conn".into());
            }
            Some(mode) => {
                let reason = format!("BalanceMode {mode}: smooth weighted round-robin instead");
                report.approximated(file, format!("{at}.GslbBasic"), reason);
            }
        }
        if let Some(hash) = gslb.get("HashConf") {
            let strategy = hash.opt_int("HashStrategy")?;
            if strategy.is_some_and(|s| s != 1) {
                let reason = "subclusters are chosen by a hash of the client IP; BFE's \
                              HashStrategy here keys on a header, a cookie or the URI";
                report.approximated(file, format!("{at}.GslbBasic.HashConf"), reason);
            }
            if hash.opt_bool("SessionSticky")? == Some(true) {
                cluster.insert("balance".into(), "hash".into());
                let reason = "SessionSticky: backends by a consistent hash of the client IP";
                report.approximated(file, format!("{at}.GslbBasic.HashConf"), reason);
            }
        }
    }
    if let Some(basic) = node.get("ClusterBasic") {
        if !basic.entries()?.is_empty() {
            let reason = "client timeouts and buffers per cluster: hookgate sets them for \
                          the whole server ([server] header/body/idle/send timeouts)";
            report.approximated(file, format!("{at}.ClusterBasic"), reason);
        }
    }
    Ok(Some(cluster))
}

/// `CheckConf` as an active health check and passive ejection.
fn health_check(
    check: &Node<'_>,
    cluster: &mut toml::Table,
    report: &mut Report,
) -> Result<(), InputError> {
    let (file, at) = (check.file(), check.key().to_owned());
    let scheme = check.opt_str("Schem")?.unwrap_or("http");
    if let Some(fails) = check.opt_int("FailNum")?.filter(|&n| n > 0) {
        cluster.insert("max_fails".into(), fails.into());
    }
    if !scheme.eq_ignore_ascii_case("http") {
        let reason = format!("a {scheme} health check: hookgate checks over HTTP only; left out");
        report.skipped(file, at, reason);
        return Ok(());
    }
    let mut table = toml::Table::new();
    let path = check.opt_str("Uri")?.unwrap_or("/health_check");
    table.insert("path".into(), path.into());
    if let Some(interval) = check.opt_int("CheckInterval")?.filter(|&n| n > 0) {
        table.insert("interval_ms".into(), interval.into());
    } else {
        table.insert("interval_ms".into(), 1000.into());
    }
    if let Some(successes) = check.opt_int("SuccNum")?.filter(|&n| n > 0) {
        table.insert("healthy_after".into(), successes.into());
    } else {
        table.insert("healthy_after".into(), 1.into());
    }
    cluster.insert("health_check".into(), table.into());
    let mut lost = Vec::new();
    for key in ["Host", "StatusCode", "StatusCodeRange", "CheckTimeout"] {
        if check.get(key).is_some() {
            lost.push(key);
        }
    }
    let mut reason = "hookgate checks every backend all the time (BFE starts after FailNum \
                      forwarding failures), and counts FailNum failures within \
                      fail_timeout_ms rather than in a row"
        .to_owned();
    if !lost.is_empty() {
        reason.push_str(&format!(
            "; {} not converted (hookgate sends the backend's address as Host and takes \
             any 2xx or 3xx)",
            lost.join(", ")
        ));
    }
    report.approximated(file, at, reason);
    Ok(())
}

/// The subclusters of one cluster: gslb weights, cluster_table backends.
fn subclusters_of(
    table: &Node<'_>,
    weights: &Node<'_>,
    report: &mut Report,
) -> Result<toml::Table, InputError> {
    let backends: BTreeMap<&str, Node> = table.entries()?.into_iter().collect();
    let mut subclusters = toml::Table::new();
    let mut weighted = BTreeSet::new();
    for (name, weight) in weights.entries()? {
        let weight = weight.int()?;
        weighted.insert(name);
        if name == BLACKHOLE {
            if weight > 0 {
                let reason = format!(
                    "BFE drops a share of {weight} of this cluster's traffic (load \
                     shedding); hookgate has no such subcluster and sends it to the others"
                );
                report.skipped(weights.file(), format!("{}.{name}", weights.key()), reason);
            }
            continue;
        }
        let Some(list) = backends.get(name) else {
            let reason = "a weight but no backends in cluster_table.data";
            report.skipped(weights.file(), format!("{}.{name}", weights.key()), reason);
            continue;
        };
        if let Some(subcluster) = subcluster(list, weight, report)? {
            subclusters.insert(name.to_owned(), subcluster.into());
        }
    }
    for (name, list) in &backends {
        if weighted.contains(name) {
            continue;
        }
        // BFE balances over the subclusters gslb.data weighs, and never uses the rest.
        if let Some(subcluster) = subcluster(list, 0, report)? {
            subclusters.insert((*name).to_owned(), subcluster.into());
            let reason = "not in gslb.data, so never used by BFE: written with weight 0";
            report.note(list.file(), list.key(), reason);
        }
    }
    Ok(subclusters)
}

/// One subcluster; `None` (reported) when none of its backends can be used.
fn subcluster(
    list: &Node<'_>,
    weight: i64,
    report: &mut Report,
) -> Result<Option<toml::Table>, InputError> {
    let mut backends = Vec::new();
    for backend in list.items()? {
        let host = backend.field("Addr")?.str()?;
        let port = backend.field("Port")?.int()?;
        let weight = backend.opt_int("Weight")?.unwrap_or(1);
        let Ok(port) = u16::try_from(port) else {
            return Err(InputError::new(
                backend.file(),
                backend.key(),
                format!("port {port} is out of range"),
            ));
        };
        let addr = match host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(_) => {
                match (host, port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                {
                    Some(addr) => {
                        let reason = format!(
                            "host name {host:?} resolved once, at import, to {}",
                            addr.ip()
                        );
                        report.approximated(backend.file(), backend.key(), reason);
                        addr
                    }
                    None => {
                        let reason = format!("host name {host:?} does not resolve here, and hookgate takes addresses");
                        report.skipped(backend.file(), backend.key(), reason);
                        continue;
                    }
                }
            }
        };
        let mut entry = toml::Table::new();
        entry.insert("addr".into(), addr.to_string().into());
        entry.insert("weight".into(), weight.max(0).into());
        backends.push(toml::Value::Table(entry));
    }
    let usable = backends
        .iter()
        .any(|b| b.get("weight").and_then(toml::Value::as_integer) > Some(0));
    if !usable {
        let reason = "no backend with a weight above 0";
        report.skipped(list.file(), list.key(), reason);
        return Ok(None);
    }
    let mut subcluster = toml::Table::new();
    subcluster.insert("weight".into(), weight.max(0).into());
    subcluster.insert("backends".into(), backends.into());
    Ok(Some(subcluster))
}
