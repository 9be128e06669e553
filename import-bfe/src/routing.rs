//! Products, their hosts and their routes, from `host_rule.data`, `vip_rule.data` and
//! `route_rule.data`.
//!
//! BFE picks a cluster in two steps: its basic rules by specificity (exact host, then
//! the deepest `*.` wildcard, then `*`; within the chosen host, exact path, then the
//! longest `/prefix*`, then `*`), then, when no basic rule matched or the one that
//! matched says `ADVANCED_MODE`, its advanced rules in order. hookgate has one ordered
//! list, so the basic rules are written first in BFE's order of precedence, each
//! carrying the negation of what BFE would have chosen before it: a host group excludes
//! the more specific host groups, and a path excludes the `ADVANCED_MODE` paths before
//! it. The advanced rules follow unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::cond;
use crate::json::{Json, Node};
use crate::{Files, InputError, Report};

/// The products found, with their hosts and routes.
pub struct Products {
    default_product: Option<String>,
    products: BTreeMap<String, Product>,
}

#[derive(Default)]
struct Product {
    hosts: Vec<String>,
    routes: Vec<toml::Table>,
}

impl Products {
    /// Adds `default_product` and `[products]` to the hookgate config.
    pub fn write(self, config: &mut toml::Table) {
        if let Some(product) = self.default_product {
            config.insert("default_product".into(), product.into());
        }
        let products: toml::Table = (self.products.into_iter())
            .map(|(name, product)| {
                let mut table = toml::Table::new();
                table.insert("hosts".into(), product.hosts.into());
                let routes: Vec<toml::Value> =
                    product.routes.into_iter().map(toml::Value::Table).collect();
                table.insert("routes".into(), routes.into());
                (name, toml::Value::Table(table))
            })
            .collect();
        config.insert("products".into(), products.into());
    }
}

/// Reads the routing files; `clusters` are the clusters converted, which routes may
/// name.
pub fn import(
    root: &Path,
    files: &Files,
    clusters: &BTreeSet<String>,
    report: &mut Report,
) -> Result<Products, InputError> {
    let host_rule = Json::read_required(root, &files.host_rule)?;
    let mut products = Products {
        default_product: None,
        products: BTreeMap::new(),
    };
    hosts(&host_rule, &mut products, report)?;
    if let Some(vip_rule) = Json::read(root, &files.vip_rule)? {
        vips(&vip_rule, report)?;
    }
    let route_rule = Json::read_required(root, &files.route_rule)?;
    routes(&route_rule, &mut products, clusters, report)?;
    if let Some(name_conf) = Json::read(root, &files.name_conf)? {
        report.note(
            name_conf.file(),
            "Config",
            "service names serve BFE modules that call out to other services, not routing",
        );
    }
    Ok(products)
}

/// `Hosts` (tag → hosts) and `HostTags` (product → tags) become each product's hosts.
fn hosts(file: &Json, products: &mut Products, report: &mut Report) -> Result<(), InputError> {
    let doc = file.root();
    let mut tags: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (tag, hosts) in doc.field("Hosts")?.entries()? {
        tags.insert(tag, hosts.strings()?);
    }
    let mut used = BTreeSet::new();
    for (product, product_tags) in doc.field("HostTags")?.entries()? {
        let entry = products.products.entry(product.to_owned()).or_default();
        for (i, tag) in product_tags.strings()?.into_iter().enumerate() {
            let Some(hosts) = tags.get(tag) else {
                let key = format!("{}[{i}]", product_tags.key());
                report.note(file.file(), key, format!("host tag {tag:?} has no hosts"));
                continue;
            };
            used.insert(tag);
            for host in hosts {
                let host = host.to_ascii_lowercase();
                if valid_host(&host) {
                    entry.hosts.push(host);
                } else {
                    let key = format!("Hosts.{tag}");
                    let reason = format!("{host:?} is not a host name or `*.` wildcard");
                    report.skipped(file.file(), key, reason);
                }
            }
        }
    }
    for tag in tags.keys().filter(|tag| !used.contains(*tag)) {
        let reason = "no product has this tag: its hosts stay unrouted";
        report.note(file.file(), format!("Hosts.{tag}"), reason);
    }
    if let Some(product) = doc.opt_str("DefaultProduct")? {
        products.products.entry(product.to_owned()).or_default();
        products.default_product = Some(product.to_owned());
    }
    Ok(())
}

fn valid_host(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Products chosen by the address a client connected to: hookgate has no such step.
fn vips(file: &Json, report: &mut Report) -> Result<(), InputError> {
    let Some(vips) = file.root().get("Vips") else {
        return Ok(());
    };
    for (product, addresses) in vips.entries()? {
        if !addresses.strings()?.is_empty() {
            let reason = "hookgate picks a product by host (or default_product), never by \
                          the address a client connected to";
            report.skipped(file.file(), format!("Vips.{product}"), reason);
        }
    }
    Ok(())
}

/// One basic rule's (host, path) pair.
struct Entry<'a> {
    host: String,
    path: &'a str,
    cluster: &'a str,
    key: String,
}

fn routes(
    file: &Json,
    products: &mut Products,
    clusters: &BTreeSet<String>,
    report: &mut Report,
) -> Result<(), InputError> {
    let doc = file.root();
    let mut lists: BTreeMap<&str, (Vec<toml::Table>, Vec<toml::Table>)> = BTreeMap::new();
    if let Some(basic) = doc.get("BasicRule") {
        for (product, rules) in basic.entries()? {
            lists.entry(product).or_default().0 = basic_routes(&rules, report)?;
        }
    }
    if let Some(advanced) = doc.get("ProductRule") {
        for (product, rules) in advanced.entries()? {
            let mut routes = Vec::new();
            for rule in rules.items()? {
                let cluster = rule.field("ClusterName")?.str()?;
                if let Some(cond) = cond::of_rule(&rule, "the route", report)? {
                    routes.push(route(Some(cond.to_owned()), cluster));
                }
            }
            lists.entry(product).or_default().1 = routes;
        }
    }
    for (product, (basic, advanced)) in lists {
        let entry = products.products.entry(product.to_owned()).or_default();
        for route in basic.into_iter().chain(advanced) {
            let cluster = route
                .get("cluster")
                .and_then(toml::Value::as_str)
                .unwrap_or("");
            if clusters.contains(cluster) {
                entry.routes.push(route);
            } else {
                let reason = format!(
                    "a route of product {product:?} to cluster {cluster:?}, which has no \
                     backends here; requests it would take find the next route"
                );
                report.skipped(file.file(), product, reason);
            }
        }
    }
    Ok(())
}

fn route(cond: Option<String>, cluster: &str) -> toml::Table {
    let mut table = toml::Table::new();
    if let Some(cond) = cond {
        table.insert("cond".into(), cond.into());
    }
    table.insert("cluster".into(), cluster.into());
    table
}

/// A product's basic rules, as routes in BFE's order of precedence.
fn basic_routes(rules: &Node<'_>, report: &mut Report) -> Result<Vec<toml::Table>, InputError> {
    let mut entries = Vec::new();
    for rule in rules.items()? {
        let hosts = rule.opt_strings("Hostname")?;
        let paths = rule.opt_strings("Path")?;
        let cluster = rule.field("ClusterName")?.str()?;
        let hosts = if hosts.is_empty() { vec!["*"] } else { hosts };
        let paths = if paths.is_empty() { vec!["*"] } else { paths };
        for host in &hosts {
            for path in &paths {
                let host = host.to_ascii_lowercase();
                if let Some(star) = path.find('*').filter(|&at| at + 1 != path.len()) {
                    let reason =
                        format!("path {path:?} has a `*` at {star} that is not its last character");
                    report.skipped(rules.file(), rule.key(), reason);
                    continue;
                }
                entries.push(Entry {
                    host,
                    path,
                    cluster,
                    key: rule.key().to_owned(),
                });
            }
        }
    }
    // Host groups in BFE's order: exact hosts, wildcards deepest first, then `*`.
    let exact: BTreeSet<&str> = (entries.iter())
        .filter(|e| e.host != "*" && !e.host.starts_with("*."))
        .map(|e| e.host.as_str())
        .collect();
    let mut wildcards: Vec<&str> = (entries.iter())
        .filter_map(|e| e.host.strip_prefix('*'))
        .filter(|suffix| suffix.starts_with('.'))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    wildcards.sort_by_key(|suffix| std::cmp::Reverse(suffix.len()));
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for host in &exact {
        groups.push((
            host.to_string(),
            vec![format!("req_host_in({})", cond::literal(host))],
        ));
    }
    let not_exact = (!exact.is_empty()).then(|| {
        let hosts: Vec<&str> = exact.iter().copied().collect();
        format!("!req_host_in({})", cond::list(&hosts))
    });
    for (i, suffix) in wildcards.iter().enumerate() {
        let mut parts = vec![format!("req_host_suffix_in({})", cond::literal(suffix))];
        parts.extend(not_exact.clone());
        if i > 0 {
            parts.push(format!(
                "!req_host_suffix_in({})",
                cond::list(&wildcards[..i])
            ));
        }
        groups.push((format!("*{suffix}"), parts));
    }
    let mut any = Vec::new();
    any.extend(not_exact);
    if !wildcards.is_empty() {
        any.push(format!("!req_host_suffix_in({})", cond::list(&wildcards)));
    }
    groups.push(("*".to_owned(), any));

    let mut routes = Vec::new();
    for (host, host_parts) in groups {
        let mut group: Vec<&Entry> = entries.iter().filter(|e| e.host == host).collect();
        // Exact paths, then prefixes longest first, then `*`.
        group.sort_by_key(|e| match e.path.strip_suffix('*') {
            None => (0, 0),
            Some("") => (2, 0),
            Some(prefix) => (1, usize::MAX - prefix.len()),
        });
        if host.starts_with("*.") && !group.is_empty() {
            report.approximated(
                rules.file(),
                &group[0].key,
                format!(
                    "{host:?} matches hosts with any number of labels in front of {:?} in \
                     hookgate; BFE's basic rules match exactly one",
                    &host[2..]
                ),
            );
        }
        let mut advanced_paths: Vec<String> = Vec::new();
        for entry in group {
            let path = path_cond(entry.path);
            if entry.cluster == "ADVANCED_MODE" {
                match path {
                    Some(path) => advanced_paths.push(format!("!{path}")),
                    None => break,
                }
                continue;
            }
            let mut parts = host_parts.clone();
            parts.extend(path);
            parts.extend(advanced_paths.iter().cloned());
            let cond = (!parts.is_empty()).then(|| parts.join(" && "));
            routes.push(route(cond, entry.cluster));
        }
    }
    Ok(routes)
}

/// A basic rule's path as a condition: exact, `/prefix*` (BFE compares whole path
/// elements: `/a*` matches `/a` and `/a/b`, not `/ab`), or `*` (none).
fn path_cond(path: &str) -> Option<String> {
    match path.strip_suffix('*') {
        Some("") => None,
        Some(prefix) => Some(format!(
            "req_path_element_prefix_in({}, false)",
            cond::literal(prefix)
        )),
        None => Some(format!("req_path_in({}, false)", cond::literal(path))),
    }
}
