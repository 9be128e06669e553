//! Distributed tracing (issue 20 §3), end to end: a client → proxy A → proxy B →
//! application chain, both proxies exporting by OTLP/HTTP to a receiver started by
//! the test, which decodes the spans with OpenTelemetry's message types. B trusts A
//! (`server.trusted_proxies`) and continues A's trace; A does not trust the client
//! and starts one (unless `parent = "always"`); B's plugin calls are events of its
//! span and its ext-auth callout a child span; the application sees B's span as its
//! parent; at ratio 0 nothing is exported but the context still travels.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hookgate_tests::{
    arg, free_addr, http1_send, library, Backend, OtlpReceiver, Proxy, ReceivedSpan, Req,
};

const BOUND: Duration = Duration::from_secs(10);
const CLIENT_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A proxy named `name` sending every request to `upstream`, exporting to `otlp`
/// with `tracing` (extra `[tracing]` lines) and `extra` (more config).
fn start(
    dir: &Path,
    name: &str,
    upstream: SocketAddr,
    otlp: &str,
    tracing: &str,
    extra: &str,
) -> (Proxy, SocketAddr) {
    let listen = free_addr();
    let text = format!(
        r#"default_product = "web"
{extra}
[server]
listen = ["{listen}"]
admin = "{admin}"
{trusted}
[tracing]
endpoint = "{otlp}"
service_name = "{name}"
batch_ms = 50
{tracing}
[products.web]
routes = [{{ cluster = "next" }}]
[clusters.next.subclusters.main]
weight = 1
backends = [{{ addr = "{upstream}" }}]
"#,
        admin = free_addr(),
        trusted = if name == "b" {
            "trusted_proxies = [\"127.0.0.1/32\"]"
        } else {
            ""
        },
    );
    let path = dir.join(format!("{name}.toml"));
    fs::write(&path, text).expect("write the config");
    (Proxy::start(&["--config", arg(&path)]), listen)
}

/// B's plugins: hello (events at each point) and ext-auth asking `auth`.
fn b_plugins(dir: &Path, auth: SocketAddr) -> String {
    let config = dir.join("ext-auth.toml");
    fs::write(&config, format!("target = \"http://{auth}/check\"\n")).expect("write");
    format!(
        "[[plugins]]\npath = {hello:?}\n[[plugins]]\npath = {ext:?}\nconfig = {config:?}\n",
        hello = arg(&library("hookgate_plugin_hello")),
        ext = arg(&library("hookgate_plugin_ext_auth")),
        config = arg(&config),
    )
}

fn server_span<'s>(spans: &'s [ReceivedSpan], service: &str) -> Option<&'s ReceivedSpan> {
    spans.iter().find(|s| s.service == service && s.kind == 2)
}

#[test]
fn a_request_through_two_proxies_is_one_trace_with_the_right_parents() {
    let otlp = OtlpReceiver::start();
    let app = Backend::echo("app");
    let auth = Backend::echo("auth");
    let dir = tempfile::tempdir().expect("temp dir");
    let plugins = b_plugins(dir.path(), auth.addr());
    let (_b, b_listen) = start(dir.path(), "b", app.addr(), &otlp.endpoint(), "", &plugins);
    let (_a, a_listen) = start(dir.path(), "a", b_listen, &otlp.endpoint(), "", "");

    let request = Req::get("shop.example", "/orders")
        .header("traceparent", CLIENT_PARENT)
        .header("tracestate", "vendor=1");
    let reply = http1_send(a_listen, &request).expect("answered");
    assert_eq!(reply.status, 200, "{}", reply.text());

    let spans = otlp.wait_for(BOUND, |spans| {
        server_span(spans, "a").is_some()
            && server_span(spans, "b").is_some()
            && spans.iter().any(|s| s.kind == 3)
    });
    let (a, b) = (
        server_span(&spans, "a").unwrap(),
        server_span(&spans, "b").unwrap(),
    );
    // A does not trust the client: a new trace, the client's state dropped.
    assert_ne!(a.trace_id, CLIENT_TRACE);
    assert_eq!(a.parent_id, "", "A's span is the root");
    assert_eq!(a.trace_state, "");
    // B trusts A: A's trace, A's span its parent.
    assert_eq!(b.trace_id, a.trace_id);
    assert_eq!(b.parent_id, a.span_id);
    assert_eq!(a.name, "GET web");
    assert_eq!(b.attribute("http.response.status_code"), Some("200"));
    assert_eq!(b.attribute("hookgate.product"), Some("web"));
    assert_eq!(b.attribute("hookgate.cluster"), Some("next"));
    assert_eq!(
        b.attribute("hookgate.backend"),
        Some(app.addr().to_string().as_str())
    );
    assert_eq!(
        a.attribute("hookgate.backend"),
        Some(b_listen.to_string().as_str())
    );
    assert_eq!(b.attribute("url.path"), Some("/orders"));
    // B's plugin calls are events of its span.
    let plugins: Vec<&str> = (b.events.iter())
        .filter(|(name, _)| name == "plugin")
        .filter_map(|(_, attrs)| attrs.iter().find(|(k, _)| k == "hookgate.plugin"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(plugins.contains(&"hookgate-plugin-hello"), "{plugins:?}");
    assert!(plugins.contains(&"hookgate-plugin-ext-auth"), "{plugins:?}");
    // Its callout is a child span.
    let callout = spans.iter().find(|s| s.kind == 3).unwrap();
    assert_eq!(callout.service, "b");
    assert_eq!(callout.parent_id, b.span_id);
    assert_eq!(callout.trace_id, b.trace_id);
    assert_eq!(callout.attribute("http.response.status_code"), Some("200"));
    // The application sees B's span as its parent.
    let sent = app.seen();
    let traceparent = sent[0]
        .header("traceparent")
        .expect("a traceparent upstream");
    assert_eq!(traceparent, format!("00-{}-{}-01", b.trace_id, b.span_id));
}

#[test]
fn parent_always_continues_the_clients_trace_and_ratio_0_exports_nothing() {
    let otlp = OtlpReceiver::start();
    let app = Backend::echo("app");
    let dir = tempfile::tempdir().expect("temp dir");
    let (_always, listen) = start(
        dir.path(),
        "a",
        app.addr(),
        &otlp.endpoint(),
        "parent = \"always\"",
        "",
    );
    let request = Req::get("shop.example", "/")
        .header("traceparent", CLIENT_PARENT)
        .header("tracestate", "vendor=1");
    assert_eq!(http1_send(listen, &request).expect("answered").status, 200);
    let spans = otlp.wait_for(BOUND, |spans| server_span(spans, "a").is_some());
    let span = server_span(&spans, "a").unwrap();
    assert_eq!(span.trace_id, CLIENT_TRACE);
    assert_eq!(span.parent_id, "b7ad6b7169203331");
    assert_eq!(span.trace_state, "vendor=1");
    assert_eq!(app.seen()[0].header("tracestate"), Some("vendor=1"));

    // Ratio 0, no parent: not sampled, but the context still goes upstream.
    let (unsampled, listen) = start(
        dir.path(),
        "z",
        app.addr(),
        &otlp.endpoint(),
        "ratio = 0.0",
        "",
    );
    assert_eq!(
        http1_send(listen, &Req::get("shop.example", "/"))
            .expect("answered")
            .status,
        200
    );
    let traceparent = app.seen()[1]
        .header("traceparent")
        .expect("a traceparent")
        .to_owned();
    assert!(
        traceparent.starts_with("00-") && traceparent.ends_with("-00"),
        "{traceparent}"
    );
    assert_eq!(
        unsampled.metric("hookgate_trace_spans_total{outcome=\"exported\"}"),
        None
    );
    assert!(otlp.spans().iter().all(|s| s.service != "z"));
}
