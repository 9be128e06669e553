//! `hookgate check`'s dry run: what a reload of the checked configuration would do
//! with each plugin entry of the proxy that runs now, asked over its admin listener
//! (`GET /plugins/generations`) and decided by the rule a reload follows
//! ([`decide`]).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::{AdminToken, Config};
use crate::plugin::generation::{decide, Decision, Facts, Kept};
use crate::plugin::Plugins;

/// How long the running proxy has to answer.
const TIMEOUT: Duration = Duration::from_secs(3);

/// The dry run's report, for `check` to print: what a reload would do with each
/// entry, or why it cannot tell.
pub fn report(config: &Config, plugins: &Plugins) -> String {
    let Some(admin) = config.server.admin else {
        return "reload plan: no `server.admin` in this configuration, so no running proxy \
                to compare with\n"
            .to_owned();
    };
    match running(admin, config.server.admin_token.as_ref()) {
        Ok(running) => plan(admin, plugins, &running),
        Err(why) => {
            format!("reload plan: no running proxy answers at {admin} ({why}): nothing to compare with\n")
        }
    }
}

/// Each entry's facts, as the proxy whose admin listener is `admin` states them.
fn running(
    admin: SocketAddr,
    token: Option<&AdminToken>,
) -> Result<HashMap<String, Facts>, String> {
    let mut stream = TcpStream::connect_timeout(&admin, TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let authorization = token
        .map(|AdminToken(token)| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    // The admin listener wants a loopback Host without a token; the address is one.
    let host = if admin.ip().is_unspecified() {
        format!("127.0.0.1:{}", admin.port())
    } else {
        admin.to_string()
    };
    let request = format!(
        "GET /plugins/generations HTTP/1.1\r\nHost: {host}\r\n{authorization}Connection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("an incomplete response")?;
    let status = head.lines().next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        return Err(format!("it answered `{status}`"));
    }
    Ok(body.lines().filter_map(Facts::parse).collect())
}

/// The report of a reload of `plugins` against the `running` entries.
fn plan(admin: SocketAddr, plugins: &Plugins, running: &HashMap<String, Facts>) -> String {
    let mut out = format!("reload plan (against the proxy at {admin}):\n");
    let mut names: Vec<&str> = plugins.instances.iter().map(|i| i.name.as_str()).collect();
    names.dedup();
    for name in &names {
        let Some(entry) = plugins.entry(name) else {
            continue;
        };
        let Some(loaded) = entry.loaded.first() else {
            continue;
        };
        let sha = &loaded.library.sha256;
        let facts = running.get(*name);
        let settings = match facts {
            Some(facts) if facts.settings != entry.settings => "its settings changed; ",
            _ => "",
        };
        let canary = entry.canary_config;
        let what = match decide(facts, sha, canary.is_some()) {
            Decision::First => format!("added: generation 1 (sha256={sha})"),
            Decision::Same { number, why } => {
                let why = match why {
                    Kept::Unchanged => String::new(),
                    Kept::CanaryAbandoned(new) => format!(
                        "the library has generation {number}'s content again: the canary of \
                         generation {new} is abandoned; "
                    ),
                    Kept::RolledBack => "the library still has the content that was rolled \
                                         back; "
                        .to_owned(),
                };
                format!(
                    "{why}{settings}generation {number} goes on, initialised again (its \
                     state starts fresh)"
                )
            }
            Decision::Continue { old, new } => format!(
                "{settings}the canary of generation {new} beside generation {old} goes on, \
                 both initialised again"
            ),
            Decision::New {
                number, old, known, ..
            } => {
                let which = if known { "known" } else { "new" };
                let then = match canary {
                    Some(c) => format!(
                        "on trial for {}% of new requests beside generation {old} (canary)",
                        c.percent
                    ),
                    None => format!("serves every new request in place of generation {old}"),
                };
                format!("{settings}{which} code (sha256={sha}): generation {number} {then}")
            }
        };
        let _ = writeln!(out, "  {name}: {what}");
    }
    let mut removed: Vec<&String> = (running.keys())
        .filter(|name| !names.contains(&name.as_str()))
        .collect();
    removed.sort();
    for name in removed {
        let _ = writeln!(out, "  {name}: removed");
    }
    out
}
