//! `mod_block` → the `block` plugin: `ip_blocklist.data` becomes `global.deny`, and
//! `block_rules.data` rules become `action = "close"` rules.
//!
//! BFE's `ALLOW` ends the evaluation for a request its condition matches; the plugin
//! has no allow action, so every later rule (and, for a global `ALLOW`, every
//! product's rules) gets `!(<condition>)` instead: the same requests are blocked.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};

use super::{products, Module, Sections};
use crate::cond;
use crate::InputError;

pub fn convert(module: &mut Module<'_>) -> Result<Option<toml::Table>, InputError> {
    let mut sections = Sections::default();
    let list = module.data_file("Basic", "IPBlocklistPath", "mod_block/ip_blocklist.data");
    let deny = blocklist(module, &list)?;
    if !deny.is_empty() {
        let deny: Vec<String> = deny.iter().map(ToString::to_string).collect();
        sections
            .section("global", true)
            .insert("deny".into(), deny.into());
    }
    let rules = module.data("Basic", "ProductRulePath", "mod_block/block_rules.data")?;
    let mut lists = products(&rules)?;
    // The global list first: its ALLOWs hold for every product.
    lists.sort_by_key(|(product, _)| *product != "global");
    let mut global_allows: Vec<String> = Vec::new();
    for (product, list) in lists {
        let mut allows = if product == "global" {
            Vec::new()
        } else {
            global_allows.clone()
        };
        for rule in list.items()? {
            let action = rule.field("Action")?;
            let cmd = action.field("Cmd")?.str()?;
            let Some(when) = cond::of_rule(&rule, "the rule", module.report)? else {
                continue;
            };
            match cmd {
                "ALLOW" => allows.push(format!("!({when})")),
                "CLOSE" => {
                    let mut parts = allows.clone();
                    parts.push(format!("({when})"));
                    let mut entry = toml::Table::new();
                    entry.insert("cond".into(), parts.join(" && ").into());
                    entry.insert("action".into(), "close".into());
                    sections.push(product, true, "rules", entry);
                }
                other => {
                    let reason = format!("unknown action {other:?} (BFE has CLOSE and ALLOW)");
                    module.report.skipped(rule.file(), rule.key(), reason);
                }
            }
        }
        if product == "global" {
            global_allows = allows;
        }
    }
    Ok((!sections.is_empty()).then(|| sections.into_table()))
}

/// `ip_blocklist.data`: one address, `start end` range or CIDR per line; `#` comments.
fn blocklist(module: &mut Module<'_>, file: &str) -> Result<Vec<IpNet>, InputError> {
    let Some(text) = module.text(file)? else {
        return Ok(Vec::new());
    };
    let mut nets = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = match line.split_whitespace().collect::<Vec<_>>()[..] {
            [one] => one
                .parse::<IpNet>()
                .ok()
                .or_else(|| one.parse::<IpAddr>().ok().map(IpNet::from))
                .map(|net| vec![net]),
            [start, end] => range(start, end),
            _ => None,
        };
        match parsed {
            Some(found) => nets.extend(found),
            None => {
                let reason = format!("{line:?} is not an address, a range or a CIDR block");
                module
                    .report
                    .skipped(file, format!("line {}", n + 1), reason);
            }
        }
    }
    Ok(IpNet::aggregate(&nets))
}

/// The fewest CIDR blocks covering `start` to `end`, inclusive.
fn range(start: &str, end: &str) -> Option<Vec<IpNet>> {
    match (start.parse().ok()?, end.parse().ok()?) {
        (IpAddr::V4(start), IpAddr::V4(end)) if start <= end => {
            Some(Ipv4Subnets::new(start, end, 0).map(IpNet::V4).collect())
        }
        (IpAddr::V6(start), IpAddr::V6(end)) if start <= end => {
            Some(Ipv6Subnets::new(start, end, 0).map(IpNet::V6).collect())
        }
        _ => None,
    }
}
