//! gRPC calls end to end through the proxy: a real tonic client (h2c, or TLS with
//! ALPN `h2`) → the proxy → an h2c cluster → a real tonic server. Unary,
//! server-streaming, client-streaming and bidirectional calls; metadata both ways;
//! `grpc-status`, `grpc-message` and custom trailers reaching the client; streams
//! passed on message by message, not buffered.

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use hookgate_tests::grpc::{Note, Streamed, MISSING, STREAM_PAUSE};
use hookgate_tests::{arg, free_addr, CertFiles, GrpcBackend, GrpcClient, Proxy, TestCa};
use tonic::metadata::MetadataValue;
use tonic::{Code, Request};

/// The name the clients call and the TLS listener's certificate covers.
const AUTHORITY: &str = "grpc.test";

/// The proxy: a plain listener, a TLS listener serving `cert` (if any), every request
/// to `backend` over h2c.
fn start(dir: &Path, backend: &GrpcBackend, cert: Option<&CertFiles>) -> (Proxy, SocketAddr) {
    let (listen, admin) = (free_addr(), free_addr());
    let tls = cert.map_or(String::new(), |cert| {
        format!(
            "[[server.tls]]\nlisten = \"{}\"\ncerts = [{}]\n",
            free_addr(),
            cert.toml()
        )
    });
    let file = dir.join("hookgate.toml");
    fs::write(
        &file,
        format!(
            r#"default_product = "web"
[server]
listen = ["{listen}"]
admin = "{admin}"
{tls}
[products.web]
routes = [{{ cluster = "grpc" }}]
[clusters.grpc]
protocol = "h2c"
[clusters.grpc.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
"#,
            backend = backend.addr_string(),
        ),
    )
    .expect("write config");
    (Proxy::start(&["--config", arg(&file)]), listen)
}

fn h2c_client(listen: SocketAddr) -> GrpcClient {
    GrpcClient::h2c(listen, AUTHORITY).expect("h2c connection to the proxy")
}

/// A unary call: its reply, and its request metadata reaching the backend.
fn assert_unary_call(client: &mut GrpcClient, backend: &GrpcBackend) {
    let mut request = Request::new(Note::new("world", 41));
    request
        .metadata_mut()
        .insert("x-test-id", MetadataValue::from_static("call-7"));
    let reply = client.unary(request).expect("unary call").into_inner();
    assert_eq!(reply, Note::new("hello world", 42));
    let seen = backend.seen();
    let last = seen.last().expect("the backend saw the call");
    assert_eq!(last.uri, "/test.Notes/Unary");
    assert_eq!(last.version, "HTTP/2.0");
    assert_eq!(last.header("x-test-id"), Some("call-7"));
    assert_eq!(last.header("te"), Some("trailers"));
    assert_eq!(last.header("content-type"), Some("application/grpc"));
}

#[test]
fn unary_call_over_h2c_reaches_the_grpc_backend_with_its_metadata() {
    let backend = GrpcBackend::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen) = start(dir.path(), &backend, None);
    let mut client = h2c_client(listen);
    assert_unary_call(&mut client, &backend);
    // A second call on the same client connection.
    assert_unary_call(&mut client, &backend);
    assert_eq!(backend.seen().len(), 2);
}

#[test]
fn server_streaming_notes_arrive_as_they_are_sent() {
    let backend = GrpcBackend::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen) = start(dir.path(), &backend, None);
    let Streamed { notes, end } = h2c_client(listen)
        .countdown(Note::new("tick", 5))
        .expect("server-streaming call");
    end.expect("the stream ends with grpc-status 0");
    let texts: Vec<&str> = notes.iter().map(|(n, _)| n.text.as_str()).collect();
    assert_eq!(texts, ["tick 0", "tick 1", "tick 2", "tick 3", "tick 4"]);
    let sent_at = backend.sent_at();
    assert_eq!(sent_at.len(), 5);
    // Causal, not a guess about timing: a proxy that buffered the response could not
    // hand over the first note before the backend produced the last one.
    let (first_received, last_sent) = (notes[0].1, sent_at[4]);
    assert!(
        first_received < last_sent,
        "the first note came {:?} after the last was sent ({:?} apart each)",
        first_received.duration_since(last_sent),
        STREAM_PAUSE
    );
}

#[test]
fn client_streaming_notes_are_all_counted() {
    let backend = GrpcBackend::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen) = start(dir.path(), &backend, None);
    let notes: Vec<Note> = (0..20).map(|i| Note::new(&format!("n{i}"), i)).collect();
    let expected: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
    let reply = h2c_client(listen)
        .count(notes)
        .expect("client-streaming call");
    assert_eq!(reply.seq, 20);
    assert_eq!(reply.text, expected.join(","));
}

#[test]
fn bidirectional_ping_pong_gets_each_reply_before_the_next_note() {
    let backend = GrpcBackend::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen) = start(dir.path(), &backend, None);
    // Each note goes only after the reply to the one before: a proxy buffering either
    // direction leaves the first reply waiting and the call fails at REPLY_TIMEOUT.
    let replies = h2c_client(listen)
        .ping_pong(&["a", "b", "c", "d"])
        .expect("bidirectional call");
    let texts: Vec<&str> = replies.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, ["re: a", "re: b", "re: c", "re: d"]);
}

#[test]
fn a_backends_error_status_and_trailers_reach_the_client() {
    let backend = GrpcBackend::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, listen) = start(dir.path(), &backend, None);
    let mut client = h2c_client(listen);

    // Trailers-Only: the backend fails at once, status in the response head.
    let status = client
        .unary(Request::new(Note::new(MISSING, 0)))
        .expect_err("NOT_FOUND");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(status.message(), "missing");
    assert_eq!(
        status
            .metadata()
            .get("x-reason")
            .and_then(|v| v.to_str().ok()),
        Some("no-such-note"),
        "{status:?}"
    );

    // After a message: the status and the custom metadata in HTTP/2 trailers.
    let Streamed { notes, end } = client
        .countdown(Note::new(MISSING, 3))
        .expect("the call starts");
    assert_eq!(notes.len(), 1);
    let status = end.expect_err("the stream ends with NOT_FOUND");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(status.message(), "missing");
    assert_eq!(
        status
            .metadata()
            .get("x-reason")
            .and_then(|v| v.to_str().ok()),
        Some("no-such-note"),
        "{status:?}"
    );
}

#[test]
fn calls_over_tls_with_alpn_h2_reach_the_h2c_backend() {
    let ca = TestCa::new();
    let cert = ca.issue("proxy", &[AUTHORITY]);
    let backend = GrpcBackend::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let (proxy, _listen) = start(dir.path(), &backend, Some(&cert));
    let mut client =
        GrpcClient::tls(proxy.tls_addr(), AUTHORITY, &ca).expect("TLS connection to the proxy");
    assert_unary_call(&mut client, &backend);
    // Streamed both ways over TLS as over h2c.
    let replies = client.ping_pong(&["x", "y"]).expect("bidirectional call");
    let texts: Vec<&str> = replies.iter().map(|n| n.text.as_str()).collect();
    assert_eq!(texts, ["re: x", "re: y"]);
}
