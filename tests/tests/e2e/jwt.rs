//! Timers through the host (issue 19 §2, §4), end to end: the jwt example plugin's
//! timer fetches a real JWKS server's keys (a test backend whose document the test
//! rotates), tokens signed by the published key reach the application with their
//! claims in headers, others get 401 with `WWW-Authenticate`; a rotation is picked up
//! by the next tick, a JWKS server that goes down leaves the keys in place, and a
//! reload that drops the instance stops its timer.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hookgate_plugin_jwt::testing::Issuer;
use hookgate_tests::{
    arg, free_addr, http1_send, library, wait_until, Backend, Behaviour, BodyCell, Proxy, Req,
};
use serde_json::json;

/// How long a rotation may take to show: many refresh periods.
const BOUND: Duration = Duration::from_secs(10);
/// The plugin's refresh period.
const REFRESH_MS: u64 = 200;

/// Writes the proxy's config (every request to `app`; the jwt plugin with its keys
/// at `jwks`, if `with_jwt`) and returns its path and the listen address.
fn write_config(
    dir: &Path,
    app: &Backend,
    jwks: SocketAddr,
    with_jwt: bool,
    listen: SocketAddr,
    admin: SocketAddr,
) -> std::path::PathBuf {
    let plugin_config = dir.join("jwt.toml");
    let settings = format!(
        "[global]\njwks = \"http://{jwks}/jwks.json\"\nrefresh_ms = {REFRESH_MS}\n\
         issuer = \"https://idp.test/\"\naudience = [\"api\"]\nrealm = \"shop\"\n\
         claims_to_headers = {{ sub = \"x-user\" }}\n"
    );
    fs::write(&plugin_config, settings).expect("write the plugin config");
    let plugins = if with_jwt {
        format!(
            "[[plugins]]\npath = {plugin:?}\nconfig = {config:?}\n",
            plugin = arg(&library("hookgate_plugin_jwt")),
            config = arg(&plugin_config),
        )
    } else {
        String::new()
    };
    let text = format!(
        r#"default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
{plugins}
[products.web]
routes = [{{ cluster = "app" }}]
[clusters.app.subclusters.main]
weight = 1
backends = [{{ addr = "{app}" }}]
"#,
        app = app.addr(),
    );
    let path = dir.join("hookgate.toml");
    fs::write(&path, text).expect("write the config");
    path
}

fn start(dir: &Path, app: &Backend, jwks: SocketAddr) -> (Proxy, SocketAddr, SocketAddr) {
    let (listen, admin) = (free_addr(), free_addr());
    let path = write_config(dir, app, jwks, true, listen, admin);
    (Proxy::start(&["--config", arg(&path)]), listen, admin)
}

fn claims(sub: &str) -> serde_json::Value {
    json!({"sub": sub, "iss": "https://idp.test/", "aud": "api", "exp": Issuer::now() + 600})
}

fn with_token(token: &str) -> Req {
    Req::get("shop.example", "/orders")
        .header("authorization", &format!("Bearer {token}"))
        .header("x-user", "forged")
}

fn status(listen: SocketAddr, req: &Req) -> u16 {
    http1_send(listen, req).expect("answered").status
}

#[test]
fn tokens_are_checked_against_the_jwks_and_a_rotation_is_picked_up_by_the_timer() {
    let (first, second) = (Issuer::new(&["k1"]), Issuer::new(&["k2"]));
    let document = BodyCell::new(first.jwks());
    let mut jwks = Backend::start(
        Behaviour::echo("jwks")
            .header("content-type", "application/json")
            .body_cell(&document),
    );
    let app = Backend::echo("app");
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, listen, _) = start(dir.path(), &app, jwks.addr());

    let missing = http1_send(listen, &Req::get("shop.example", "/orders")).expect("answered");
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"shop\"")
    );

    let accepted =
        http1_send(listen, &with_token(&first.token("k1", &claims("ada")))).expect("answered");
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    assert_eq!(
        accepted.echo().header("x-user"),
        Some("ada"),
        "the token's, not the client's"
    );
    let asked = jwks.seen();
    assert_eq!(asked[0].uri, "/jwks.json");

    let expired = json!({"sub": "ada", "iss": "https://idp.test/", "aud": "api", "exp": Issuer::now() - 3600});
    let refused = http1_send(listen, &with_token(&first.token("k1", &expired))).expect("answered");
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Bearer realm=\"shop\", error=\"invalid_token\", error_description=\"token expired\"")
    );
    assert_eq!(
        app.requests(),
        1,
        "refused requests never reach the application"
    );

    // The identity provider rotates its key: the next tick takes the new document.
    let new_token = second.token("k2", &claims("bob"));
    assert_eq!(
        status(listen, &with_token(&new_token)),
        401,
        "not published yet"
    );
    document.set(second.jwks());
    wait_until("the rotated key accepted", BOUND, || {
        status(listen, &with_token(&new_token)) == 200
    });
    let old_token = first.token("k1", &claims("ada"));
    assert_eq!(
        status(listen, &with_token(&old_token)),
        401,
        "the retired key"
    );

    // The JWKS server goes down: ticks fail, the keys stay.
    let ticks = |outcome: &str| {
        let series = format!(
            "hookgate_plugin_timer_ticks_total{{plugin=\"hookgate-plugin-jwt\",outcome=\"{outcome}\"}}"
        );
        proxy.metric(&series).unwrap_or(0.0)
    };
    assert!(ticks("ok") >= 2.0, "{}", ticks("ok"));
    jwks.stop();
    let failed_callouts = |proxy: &Proxy| {
        let series =
            "hookgate_plugin_callouts_total{plugin=\"hookgate-plugin-jwt\",outcome=\"failed\"}";
        proxy.metric(series).unwrap_or(0.0)
    };
    proxy.wait_metric(
        "hookgate_plugin_callouts_total{plugin=\"hookgate-plugin-jwt\",outcome=\"failed\"}",
        BOUND,
        |failed| failed >= 2.0,
    );
    assert!(failed_callouts(&proxy) >= 2.0);
    assert_eq!(
        status(listen, &with_token(&new_token)),
        200,
        "the keys it had"
    );
    assert!(
        proxy.stderr_text().contains("keeping the keys I had"),
        "{}",
        proxy.stderr_text()
    );
}

#[test]
fn without_keys_ever_fetched_a_request_fails_under_the_error_policy() {
    let app = Backend::echo("app");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen, _) = start(dir.path(), &app, free_addr());
    let token = Issuer::new(&["k1"]).token("k1", &claims("ada"));
    let reply = http1_send(listen, &with_token(&token)).expect("answered");
    assert_eq!(reply.status, 500, "fail-closed: {}", reply.text());
    assert_eq!(app.requests(), 0);
}

#[test]
fn a_reload_that_drops_the_instance_stops_its_timer() {
    let issuer = Issuer::new(&["k1"]);
    let jwks = Backend::start(Behaviour::echo("jwks").body(issuer.jwks()));
    let app = Backend::echo("app");
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, listen, admin) = start(dir.path(), &app, jwks.addr());
    wait_until("the timer ticked twice", BOUND, || jwks.requests() >= 2);
    assert!(proxy.admin_text("/status").contains("timers: every 200 ms"));

    write_config(dir.path(), &app, jwks.addr(), false, listen, admin);
    let reply = http1_send(admin, &Req::new("POST", "localhost", "/reload")).expect("reload");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        status(listen, &Req::get("shop.example", "/")),
        200,
        "no plugin now"
    );
    let after = jwks.requests();
    // Ten periods: a timer still running would have fetched about ten times.
    std::thread::sleep(Duration::from_millis(10 * REFRESH_MS));
    assert!(
        jwks.requests() <= after + 1,
        "{} fetches after the reload",
        jwks.requests() - after
    );
}

/// A timer whose tick panics (the faulty fixture with `ticking`): each failed tick is
/// logged and counted, the timer goes on, and the proxy serves on.
#[test]
fn a_panicking_tick_is_logged_and_counted_and_the_proxy_serves_on() {
    let app = Backend::echo("app");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("faulty.toml");
    fs::write(&config, "ticking").expect("write the fixture's config");
    let listen = free_addr();
    let text = format!(
        "default_product = \"web\"\n[server]\nlisten = [\"{listen}\"]\nadmin = \"{admin}\"\n\
         [[plugins]]\npath = {plugin:?}\nconfig = {config:?}\n\
         [products.web]\nroutes = [{{ cluster = \"app\" }}]\n\
         [clusters.app.subclusters.main]\nweight = 1\nbackends = [{{ addr = \"{app}\" }}]\n",
        admin = free_addr(),
        plugin = arg(&library("hookgate_fixture_faulty")),
        config = arg(&config),
        app = app.addr(),
    );
    let path = dir.path().join("hookgate.toml");
    fs::write(&path, text).expect("write the config");
    let proxy = Proxy::start(&["--config", arg(&path)]);
    let failed =
        "hookgate_plugin_timer_ticks_total{plugin=\"hookgate-fixture-faulty\",outcome=\"failed\"}";
    proxy.wait_metric(failed, BOUND, |ticks| ticks >= 3.0);
    assert_eq!(status(listen, &Req::get("shop.example", "/")), 200);
    let log = proxy.stderr_text();
    assert!(
        log.contains("plugin timer failed") && log.contains("tick panicked"),
        "{log}"
    );
}
