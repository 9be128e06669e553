//! Client certificates on TLS listeners (issue 18 §1), end to end with real TLS
//! clients and a test CA: `client_auth = "required"` refuses clients without a valid
//! certificate, `"optional"` lets them in without an identity; the verified
//! certificate reaches plugins through the host module (plugin API 0.2.1), which the
//! tls-policy example plugin uses to require subjectAltNames per SNI name; bad
//! settings are refused naming the key or the file.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use hookgate_tests::{
    arg, free_addr, hookgate, library, Backend, CertFiles, Conn, Proxy, Req, Response, TestCa,
};

/// The proxy with one TLS listener (`tls` keys after `listen` and `certs`), a plain
/// one, every request to `backend`, and `extra` (plugins); with the TLS address.
fn start(
    dir: &Path,
    site: &CertFiles,
    tls: &str,
    backend: &Backend,
    extra: &str,
) -> (Proxy, SocketAddr) {
    let listen = free_addr();
    let text = format!(
        r#"default_product = "web"
[server]
listen = ["{plain}"]
[[server.tls]]
listen = "{listen}"
certs = [{site}]
{tls}
[products.web]
routes = [{{ cluster = "web" }}]
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
{extra}
"#,
        plain = free_addr(),
        site = site.toml(),
        backend = backend.addr(),
    );
    let path = dir.join("hookgate.toml");
    fs::write(&path, text).expect("write the config");
    (Proxy::start(&["--config", arg(&path)]), listen)
}

/// GET / over TLS with SNI `sni`, presenting `identity` if any.
fn get(
    addr: SocketAddr,
    ca: &TestCa,
    sni: &str,
    identity: Option<&CertFiles>,
) -> Result<Response, String> {
    Conn::tls_as(addr, ca, Some(sni), &["http/1.1"], identity)?.send(&Req::get(sni, "/"))
}

fn client_ca(ca: &TestCa) -> String {
    format!("client_ca = {:?}", arg(ca.cert_path()))
}

#[test]
fn required_client_certificates_refuse_clients_without_a_valid_one() {
    let backend = Backend::echo("b");
    let (ca, stranger_ca) = (TestCa::new(), TestCa::new());
    let site = ca.issue("site", &["shop.example.com"]);
    let alice = ca.issue_client("alice", "alice.example.com");
    let mallory = stranger_ca.issue_client("mallory", "alice.example.com");
    let dir = tempfile::tempdir().expect("temp dir");
    let tls = format!("{}\nclient_auth = \"required\"", client_ca(&ca));
    let (_proxy, addr) = start(dir.path(), &site, &tls, &backend, "");

    let ok = get(addr, &ca, "shop.example.com", Some(&alice)).expect("alice is let in");
    assert_eq!(ok.status, 200, "{}", ok.text());
    let without = get(addr, &ca, "shop.example.com", None);
    assert!(without.is_err(), "no certificate: {without:?}");
    let forged = get(addr, &ca, "shop.example.com", Some(&mallory));
    assert!(forged.is_err(), "another CA's certificate: {forged:?}");
    assert_eq!(backend.requests(), 1);
}

#[test]
fn optional_client_certificates_let_clients_without_one_in() {
    let backend = Backend::echo("b");
    let (ca, stranger_ca) = (TestCa::new(), TestCa::new());
    let site = ca.issue("site", &["shop.example.com"]);
    let alice = ca.issue_client("alice", "alice.example.com");
    let mallory = stranger_ca.issue_client("mallory", "alice.example.com");
    let dir = tempfile::tempdir().expect("temp dir");
    let tls = format!("{}\nclient_auth = \"optional\"", client_ca(&ca));
    let (_proxy, addr) = start(dir.path(), &site, &tls, &backend, "");

    for identity in [None, Some(&alice)] {
        let ok = get(addr, &ca, "shop.example.com", identity).expect("let in");
        assert_eq!(ok.status, 200, "{}", ok.text());
    }
    let forged = get(addr, &ca, "shop.example.com", Some(&mallory));
    assert!(
        forged.is_err(),
        "an invalid certificate still fails: {forged:?}"
    );
    assert_eq!(backend.requests(), 2);
}

/// The verified certificate reaches a plugin through the real host module: the
/// tls-policy plugin lets `admin.example.com` in only with a certificate naming
/// `ops.example.com`, and other names without one.
#[test]
fn plugins_see_the_verified_certificate_and_require_subject_alt_names_by_name() {
    let backend = Backend::echo("b");
    let ca = TestCa::new();
    let site = ca.issue("site", &["admin.example.com", "shop.example.com"]);
    let ops = ca.issue_client("ops", "ops.example.com");
    let dev = ca.issue_client("dev", "dev.example.com");
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("tls-policy.toml");
    fs::write(
        &policy,
        "[default]\nclient_san = { \"admin.example.com\" = [\"DNS:ops.example.com\"] }\n",
    )
    .expect("write the plugin config");
    let plugin = format!(
        "[[plugins]]\npath = {:?}\nconfig = {:?}\n",
        arg(&library("hookgate_plugin_tls_policy")),
        arg(&policy)
    );
    let tls = format!("{}\nclient_auth = \"optional\"", client_ca(&ca));
    let (_proxy, addr) = start(dir.path(), &site, &tls, &backend, &plugin);

    let admin = get(addr, &ca, "admin.example.com", Some(&ops)).expect("ops is let in");
    assert_eq!(admin.status, 200, "{}", admin.text());
    for identity in [Some(&dev), None] {
        let refused = get(addr, &ca, "admin.example.com", identity);
        assert!(refused.is_err(), "closed after the handshake: {refused:?}");
    }
    let shop = get(addr, &ca, "shop.example.com", None).expect("no rule for shop");
    assert_eq!(shop.status, 200);
    assert_eq!(backend.requests(), 2);
}

#[test]
fn bad_client_certificate_settings_are_refused_naming_the_key_or_file() {
    let ca = TestCa::new();
    let site = ca.issue("site", &["shop.example.com"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let check = |tls: &str| {
        let path = dir.path().join("check.toml");
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:1\"]\n[[server.tls]]\nlisten = \"127.0.0.1:2\"\ncerts = [{}]\n{tls}\n",
            site.toml()
        );
        fs::write(&path, text).expect("write the config");
        hookgate(&["check", "--config", arg(&path)])
    };
    let lone = check("client_auth = \"optional\"");
    assert!(!lone.status.success());
    assert!(
        lone.stderr.contains("server.tls[0].client_auth")
            && lone.stderr.contains("without `client_ca`"),
        "{}",
        lone.stderr
    );
    let missing = dir.path().join("missing.pem");
    let unreadable = check(&format!("client_ca = {:?}", arg(&missing)));
    assert!(!unreadable.status.success());
    assert!(
        unreadable.stderr.contains("missing.pem"),
        "{}",
        unreadable.stderr
    );
    let wrong = check("client_auth = \"sometimes\"");
    assert!(!wrong.status.success());
    assert!(wrong.stderr.contains("client_auth"), "{}", wrong.stderr);
}
