//! `hookgate check` refuses what cannot work, naming the key (issue 12 §3): today it
//! said "configuration ok" for each of these and the start then failed, or worse, ran
//! (`max_connections = 0` silently meant 1). A config's text is shown escaped in
//! messages, never raw (no terminal escape or bidirectional override gets through).

use std::fs;

use hookgate_tests::{arg, free_addr, hookgate};

/// `check` on `text` (after a minimal product and cluster); exit 1 naming `key`.
fn refused(text: &str, key: &str, fragment: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hookgate.toml");
    fs::write(&file, text).expect("write");
    let out = hookgate(&["check", "--config", arg(&file)]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}\n{}{}",
        out.stdout,
        out.stderr
    );
    let line = out.stderr.trim();
    assert!(line.contains(&format!("`{key}`")), "{text}\n=> {line}");
    assert!(line.contains(fragment), "{text}\n=> {line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    line.to_owned()
}

const CLUSTER: &str =
    "[clusters.c.subclusters.s]\nweight = 1\nbackends = [{ addr = \"127.0.0.1:9\" }]\n";

#[test]
fn check_refuses_what_cannot_work() {
    let listen = format!("[server]\nlisten = [\"{}\"]\n", free_addr());
    let product = "[products.p]\nhosts = [\"p.example\"]\nroutes = [{ cluster = \"c\" }]\n";
    refused(
        &format!("[server]\nlisten = []\n{product}{CLUSTER}"),
        "server.listen",
        "no listener",
    );
    refused(
        &format!("{listen}{product}[clusters.c]\nsubclusters = {{}}\n"),
        "clusters.c.subclusters",
        "no subcluster",
    );
    refused(
        &format!(
            "{listen}{product}[clusters.c.subclusters.s]\nweight = 1\nbackends = [{{ addr = \"127.0.0.1:0\" }}]\n"
        ),
        "clusters.c.subclusters.s.backends[0].addr",
        "port 0",
    );
    for host in ["a b.example", "a/b", "*.a b", "a*b.example", "p.example:80"] {
        refused(
            &format!(
                "{listen}[products.p]\nhosts = [{host:?}]\nroutes = [{{ cluster = \"c\" }}]\n{CLUSTER}"
            ),
            "products.p.hosts[0]",
            "not a host name",
        );
    }
    refused(
        &format!(
            "{listen}{product}[products.q]\nhosts = [\"P.Example.\"]\nroutes = [{{ cluster = \"c\" }}]\n{CLUSTER}"
        ),
        "products.q.hosts[0]",
        "already a host of product `p`",
    );
    let port = free_addr().port();
    refused(
        &format!("[server]\nlisten = [\"127.0.0.1:{port}\"]\nadmin = \"127.0.0.1:{port}\"\n{product}{CLUSTER}"),
        "server.admin",
        "same socket",
    );
    refused(
        &format!(
            "[server]\nlisten = [\"0.0.0.0:{port}\", \"127.0.0.1:{port}\"]\n{product}{CLUSTER}"
        ),
        "server.listen[1]",
        "same socket",
    );
    refused(
        &format!("{listen}max_connections = 0\n{product}{CLUSTER}"),
        "server.max_connections",
        "at least 1",
    );
}

#[test]
fn config_text_in_messages_is_escaped() {
    let listen = format!("[server]\nlisten = [\"{}\"]\n", free_addr());
    let line = refused(
        &format!(
            "{listen}[products.p]\nhosts = [\"a\\u001b[31mred\\u202Eevil\"]\nroutes = [{{ cluster = \"c\" }}]\n{CLUSTER}"
        ),
        "products.p.hosts[0]",
        "not a host name",
    );
    assert!(
        !line.contains('\u{1b}') && !line.contains('\u{202e}'),
        "{line:?}"
    );
    assert!(
        line.contains("\\u{1b}") && line.contains("\\u{202e}"),
        "{line}"
    );
}

/// A route's `cond` that is not valid BFE condition language is refused by `check`
/// with its key and the column.
#[test]
fn check_reports_a_bad_cond_expression_with_its_key_and_column() {
    let listen = format!("[server]\nlisten = [\"{}\"]\n", free_addr());
    refused(
        &format!(
            "{listen}[products.p]\nroutes = [{{ cond = 'req_host_in(\"a.example\") && (req_path_in(\"/x\", false)', cluster = \"c\" }}]\n{CLUSTER}"
        ),
        "products.p.routes[0].cond",
        "column",
    );
}
