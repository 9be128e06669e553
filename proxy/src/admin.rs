//! The admin listener (loopback by default): `GET /healthz`, `GET /status` (plugins,
//! manifests, each point's chain, backend health: like BFE's `module_handlers`),
//! `GET /metrics` (Prometheus text), `POST /reload` (re-read the config file and the
//! plugins, and swap the snapshot whole; on failure the running config stays),
//! `POST /plugins/NAME/promote` and `POST /plugins/NAME/rollback` (end an entry's
//! canary, [`crate::plugin::canary`]), and `GET /plugins/generations` (each entry's
//! generations as `hookgate check` reads them for its dry run).
//!
//! Who may ask ([`Guard`]): with `server.admin_token_file`, every request needs
//! `Authorization: Bearer <token>` (compared in constant time; the listener may then
//! bind anywhere). Without a token the listener is loopback-only (the config refuses
//! anything else), and two browser attacks are shut out: a request whose `Host` is not
//! a loopback name or address is refused (DNS rebinding: a page on `evil.example`
//! that resolves to 127.0.0.1 cannot read `/status`), and `POST /reload` carrying an
//! `Origin` header or a content type a form can send (`text/plain`,
//! `application/x-www-form-urlencoded`, `multipart/form-data`) is refused, so no web
//! page can trigger a reload. `curl -X POST http://127.0.0.1:9901/reload` sends
//! neither and works.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use hookgate_plugin_api::{Action, Point};

use crate::config::{AdminToken, ErrorPolicy};
use crate::plugin::accounting::{outcome_name, InstanceTotals};
use crate::plugin::Plugins;
use crate::server::Server;

/// Serves the admin endpoints until `shutdown` changes; `token`, if any, is required
/// of every request.
pub async fn serve(
    listener: TcpListener,
    server: Arc<Server>,
    token: Option<AdminToken>,
    mut shutdown: watch::Receiver<bool>,
) {
    let guard = Arc::new(Guard { token });
    let header_timeout = server.snapshot().edge.timeouts.header;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let server = Arc::clone(&server);
        let guard = Arc::clone(&guard);
        tokio::spawn(async move {
            // A socket that never sends a byte is not held: the header timeout runs
            // from accept (hyper's own timer starts only once it knows the protocol).
            let mut first = [0u8; 1];
            if tokio::time::timeout(header_timeout, tcp.peek(&mut first))
                .await
                .is_err()
            {
                return;
            }
            let service = service_fn(move |request| {
                let server = Arc::clone(&server);
                let guard = Arc::clone(&guard);
                async move {
                    let response = match guard.refusal(&request) {
                        None => route(request, &server).await,
                        Some(refused) => refused,
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            // `server.header_timeout_ms` here too (hyper's header timer, which also runs
            // while a keep-alive connection idles: an admin client has no business
            // idling).
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            builder.http2().timer(TokioTimer::new());
            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}

/// Who may use the admin listener (see the module docs).
struct Guard {
    token: Option<AdminToken>,
}

impl Guard {
    /// The refusal to send instead of serving `request`, if it is refused.
    fn refusal<B>(&self, request: &Request<B>) -> Option<Response<Full<Bytes>>> {
        let headers = request.headers();
        if let Some(AdminToken(token)) = &self.token {
            let given = headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if constant_time_eq(given.trim().as_bytes(), token.as_bytes()) {
                return None;
            }
            let mut refused = text(
                StatusCode::UNAUTHORIZED,
                "admin: missing or wrong bearer token\n".into(),
            );
            refused.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Bearer realm=\"hookgate admin\""),
            );
            return Some(refused);
        }
        let host = headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        if !host.is_some_and(is_loopback_host) {
            return Some(text(
                StatusCode::FORBIDDEN,
                "admin: Host must be a loopback name or address (localhost, 127.0.0.1, [::1])\n"
                    .into(),
            ));
        }
        if request.method() == Method::POST && is_from_a_browser(headers) {
            return Some(text(
                StatusCode::FORBIDDEN,
                "admin: a POST with an Origin header or a form content type is refused \
                 (no web page may trigger it); use curl -X POST\n"
                    .into(),
            ));
        }
        None
    }
}

/// Whether `a` equals `b`, in time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let longest = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..longest {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Whether `host` (`name[:port]`) names this machine's loopback: `localhost` (and
/// `*.localhost`, RFC 6761), `127.0.0.0/8`, `[::1]`.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a request carries what only a browser (a web page) would send: an
/// `Origin`, or a content type an HTML form or a "simple" `fetch` may use without a
/// preflight.
fn is_from_a_browser(headers: &http::HeaderMap) -> bool {
    if headers.contains_key(http::header::ORIGIN) {
        return true;
    }
    headers
        .get_all(http::header::CONTENT_TYPE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|value| {
            let essence = value.split(';').next().unwrap_or("").trim();
            [
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ]
            .iter()
            .any(|simple| essence.eq_ignore_ascii_case(simple))
        })
}

async fn route(request: Request<Incoming>, server: &Arc<Server>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if let Some((name, verb)) = canary_call(path) {
        return match *request.method() {
            Method::POST => canary(server, name, verb),
            _ => text(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed\n".into(),
            ),
        };
    }
    match (request.method(), path) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n".into()),
        (&Method::GET, "/status") => text(StatusCode::OK, status(server)),
        (&Method::GET, "/metrics") => {
            let snapshot = server.snapshot();
            let body = snapshot.metrics.render(
                &snapshot.plugins,
                snapshot.clusters.values(),
                crate::metrics::Services {
                    redis: &snapshot.redis,
                    tracing: snapshot.tracing.as_ref(),
                },
                server.connections_total(),
                server.connections_open(),
            );
            let mut response = text(StatusCode::OK, body);
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        (&Method::POST, "/reload") => match Arc::clone(server).reload().await {
            Ok(()) => text(StatusCode::OK, "reloaded\n".into()),
            Err(error) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reload failed, running config kept: {error}\n"),
            ),
        },
        (&Method::GET, "/plugins/generations") => {
            let snapshot = server.snapshot();
            let mut out = String::new();
            for (name, history) in snapshot.plugins.generations.histories() {
                out.push_str(&history.facts().line(&name));
                out.push('\n');
            }
            text(StatusCode::OK, out)
        }
        (_, "/healthz" | "/status" | "/metrics" | "/reload") => text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".into(),
        ),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /healthz, /status, /metrics, POST /reload, \
             POST /plugins/NAME/promote, POST /plugins/NAME/rollback\n"
                .into(),
        ),
    }
}

/// `/plugins/NAME/promote` or `/plugins/NAME/rollback`: the entry's name and which.
fn canary_call(path: &str) -> Option<(&str, &str)> {
    let (name, verb) = path.strip_prefix("/plugins/")?.rsplit_once('/')?;
    (matches!(verb, "promote" | "rollback") && !name.is_empty()).then_some((name, verb))
}

/// Promotes or rolls back the canary of the entry `name` that is in trial.
fn canary(server: &Server, name: &str, verb: &str) -> Response<Full<Bytes>> {
    let snapshot = server.snapshot();
    let on_trial = (snapshot.plugins.instances.iter())
        .filter(|i| i.name == name)
        .find_map(|i| i.canary.as_ref())
        .map(|side| Arc::clone(&side.canary));
    let Some(canary) = on_trial else {
        let known = snapshot.plugins.instances.iter().any(|i| i.name == name);
        let why = if known {
            format!("plugin `{name}` has no canary in this configuration\n")
        } else {
            format!("no plugin entry named `{name}`\n")
        };
        return text(StatusCode::NOT_FOUND, why);
    };
    let why = format!("by POST /plugins/{name}/{verb}");
    let done = match verb {
        "promote" => canary.promote(&why),
        _ => canary.roll_back(&why),
    };
    if done {
        let outcome = canary.outcome().unwrap_or_default();
        text(StatusCode::OK, format!("{name}: {outcome}\n"))
    } else {
        let stage = canary.stage().name();
        text(
            StatusCode::CONFLICT,
            format!(
                "{name}: the canary of generation {} is already {stage}\n",
                canary.new
            ),
        )
    }
}

fn status(server: &Server) -> String {
    let snapshot = server.snapshot();
    let mut out = snapshot.plugins.describe();
    handlers(
        &mut out,
        &snapshot.plugins,
        &snapshot.metrics.plugin_totals(&snapshot.plugins),
    );
    generations(&mut out, &snapshot.plugins);
    out.push_str("clusters:\n");
    let mut clusters: Vec<_> = snapshot.clusters.values().collect();
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    for cluster in clusters {
        let _ = writeln!(out, "  {}:", cluster.name);
        for subcluster in &cluster.subclusters {
            for backend in &subcluster.members().backends {
                let state = if backend.is_healthy() { "up" } else { "down" };
                let _ = write!(
                    out,
                    "    {}/{} {state} active={}",
                    subcluster.name,
                    backend.name,
                    backend.active()
                );
                let _ = match &backend.host {
                    Some(host) => writeln!(out, " name={host}"),
                    None => writeln!(out),
                };
            }
        }
    }
    let _ = writeln!(
        out,
        "connections: open={} total={}",
        server.connections_open(),
        server.connections_total()
    );
    out
}

/// The `handlers:` and `breakers:` sections of `/status`: each current instance's
/// figures at each point where it has a handler, and its breaker's state.
fn handlers(out: &mut String, plugins: &Plugins, totals: &BTreeMap<String, InstanceTotals>) {
    out.push_str("handlers:\n");
    for point in Point::ALL {
        for name in plugins.chains.names(point) {
            let at = totals
                .get(name)
                .map(|t| *t.handlers.at(point))
                .unwrap_or_default();
            let _ = write!(out, "  {name} {}: calls={}", point.name(), at.calls());
            for action in Action::ALL {
                let _ = write!(out, " {}={}", outcome_name(action), at.outcome(action));
            }
            let _ = write!(
                out,
                " failures={} bypassed={} slow={}",
                at.failure_count(),
                at.bypassed,
                at.slow
            );
            match at.mean() {
                Some(mean) => {
                    let _ = writeln!(out, " mean={mean:.1?} ({} timed)", at.timed);
                }
                None => out.push_str(" mean=- (0 timed)\n"),
            }
        }
    }
    let with_breakers: Vec<_> = plugins
        .instances
        .iter()
        .filter(|i| i.breaker.is_some())
        .collect();
    if with_breakers.is_empty() {
        return;
    }
    out.push_str("breakers:\n");
    for instance in with_breakers {
        let Some(breaker) = &instance.breaker else {
            continue;
        };
        let state = breaker.state();
        let _ = write!(out, "  {}: {}", instance.name, state.name());
        if let Some(open_for) = breaker.open_for() {
            let _ = write!(out, " for {:.1?}", open_for);
            if instance.policy == ErrorPolicy::FailOpen {
                out.push_str(" (fail-open: its handlers are skipped)");
            } else {
                out.push_str(" (FAIL-CLOSED: every request it would see is rejected with 500)");
            }
        }
        let _ = writeln!(out, ", opened {} times", breaker.opened_count());
    }
}

/// The `generations:` section of `/status`: each entry's kept generations with hash,
/// version, share of new traffic now, and the counts of its instance in this
/// configuration; a canary's stage and window.
fn generations(out: &mut String, plugins: &Plugins) {
    out.push_str("generations:\n");
    for (name, history) in plugins.generations.histories() {
        let _ = writeln!(
            out,
            "  {name}: serving {}, {} loaded since start",
            history.serving_now(),
            history.total
        );
        for generation in &history.loaded {
            let number = generation.number;
            let running =
                (plugins.instances.iter()).filter(|i| i.name == name && i.generation == number);
            let (mut calls, mut failures) = (0, 0);
            for instance in running {
                let totals = instance.totals();
                calls += totals.calls();
                failures += totals.errors();
            }
            let _ = writeln!(
                out,
                "    {number} {} sha256={} share={:.1}% calls={calls} failures={failures}",
                generation.library.manifest().version,
                generation.library.sha256,
                history.share(number),
            );
        }
        if let Some(canary) = &history.canary {
            let window = canary.window();
            let _ = write!(
                out,
                "    canary {} beside {}: {} for {:.1?}, window calls={} errors={}",
                canary.new,
                canary.old,
                canary.stage().name(),
                canary.elapsed(),
                window.calls,
                window.errors
            );
            match canary.outcome() {
                Some(outcome) => {
                    let _ = writeln!(out, " ({outcome})");
                }
                None => out.push('\n'),
            }
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().method(method).uri("/reload");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn allowed(guard: &Guard, method: &str, headers: &[(&str, &str)]) -> Option<u16> {
        guard
            .refusal(&request(method, headers))
            .map(|refused| refused.status().as_u16())
    }

    #[test]
    fn without_a_token_only_loopback_hosts_and_no_browser_posts() {
        let guard = Guard { token: None };
        for host in [
            "127.0.0.1:9901",
            "localhost",
            "LOCALHOST:1",
            "[::1]:9901",
            "127.1.2.3",
        ] {
            assert_eq!(allowed(&guard, "GET", &[("host", host)]), None, "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:9901",
            "10.0.0.1",
            "localhost.evil.example",
        ] {
            assert_eq!(
                allowed(&guard, "GET", &[("host", host)]),
                Some(403),
                "{host}"
            );
        }
        assert_eq!(allowed(&guard, "GET", &[]), Some(403), "no Host");
        let local = ("host", "127.0.0.1:9901");
        assert_eq!(allowed(&guard, "POST", &[local]), None, "curl -X POST");
        assert_eq!(
            allowed(
                &guard,
                "POST",
                &[local, ("content-type", "application/json")]
            ),
            None
        );
        for refused in [
            [local, ("origin", "https://evil.example")],
            [local, ("content-type", "text/plain;charset=UTF-8")],
            [local, ("content-type", "application/x-www-form-urlencoded")],
            [local, ("content-type", "Multipart/Form-Data; boundary=x")],
        ] {
            assert_eq!(allowed(&guard, "POST", &refused), Some(403), "{refused:?}");
        }
    }

    #[test]
    fn with_a_token_every_request_needs_it() {
        let guard = Guard {
            token: Some(AdminToken("s3cret".into())),
        };
        assert_eq!(allowed(&guard, "GET", &[("host", "127.0.0.1")]), Some(401));
        let wrong = ("authorization", "Bearer s3cre");
        assert_eq!(allowed(&guard, "GET", &[wrong]), Some(401));
        let right = ("authorization", "Bearer s3cret");
        assert_eq!(
            allowed(&guard, "GET", &[right, ("host", "admin.internal")]),
            None
        );
        assert_eq!(allowed(&guard, "POST", &[right]), None);
    }

    #[test]
    fn equal_means_equal() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
