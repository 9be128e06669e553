//! [`OtlpReceiver`]: an OTLP/HTTP traces endpoint (`POST /v1/traces`, protobuf) that
//! decodes what it receives with OpenTelemetry's message types and keeps the spans.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use tokio::runtime::Runtime;

/// One span as received.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    /// The resource's `service.name`.
    pub service: String,
    /// Lowercase hex.
    pub trace_id: String,
    /// Lowercase hex.
    pub span_id: String,
    /// Lowercase hex; empty for a root.
    pub parent_id: String,
    pub name: String,
    /// 2: server, 3: client.
    pub kind: i32,
    pub trace_state: String,
    /// Attributes, values as text.
    pub attributes: Vec<(String, String)>,
    /// Events: name and attributes.
    pub events: Vec<(String, Vec<(String, String)>)>,
    /// Whether its status is an error.
    pub error: bool,
}

impl ReceivedSpan {
    /// The value of attribute `key`, as text.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        let found = self.attributes.iter().find(|(k, _)| k == key);
        found.map(|(_, v)| v.as_str())
    }
}

/// A running receiver.
pub struct OtlpReceiver {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    _runtime: Runtime,
}

impl OtlpReceiver {
    /// Starts one on 127.0.0.1 and a free port.
    pub fn start() -> OtlpReceiver {
        let (runtime, listener, addr) = crate::net::server_runtime("otlp");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&spans);
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = Arc::clone(&kept);
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let kept = Arc::clone(&kept);
                        async move {
                            let status = receive(request, &kept).await;
                            let response = hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .expect("a response");
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        OtlpReceiver {
            addr,
            spans,
            _runtime: runtime,
        }
    }

    /// Its traces endpoint, for `[tracing] endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until `done` holds for the spans received, at most `timeout`; them.
    ///
    /// # Panics
    ///
    /// If it does not hold in time.
    pub fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "spans not as expected in {timeout:?}: {spans:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Decodes one export; the status to answer.
async fn receive(request: hyper::Request<Incoming>, kept: &Mutex<Vec<ReceivedSpan>>) -> u16 {
    if request.method() != hyper::Method::POST || request.uri().path() != "/v1/traces" {
        return 404;
    }
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    if content_type != Some("application/x-protobuf") {
        return 415;
    }
    let Ok(body) = request.into_body().collect().await else {
        return 400;
    };
    let Ok(export) = ExportTraceServiceRequest::decode(body.to_bytes()) else {
        return 400;
    };
    let mut spans = kept.lock().unwrap_or_else(|e| e.into_inner());
    for resource in export.resource_spans {
        let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
        let service = text(&attributes, "service.name").unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                spans.push(ReceivedSpan {
                    service: service.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_id: hex(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    trace_state: span.trace_state,
                    attributes: pairs(&span.attributes),
                    events: (span.events.iter())
                        .map(|e| (e.name.clone(), pairs(&e.attributes)))
                        .collect(),
                    error: span.status.is_some_and(|s| s.code == 2),
                });
            }
        }
    }
    200
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    (attributes.iter())
        .filter_map(|kv| Some((kv.key.clone(), value(kv)?)))
        .collect()
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(value)
}

fn value(kv: &KeyValue) -> Option<String> {
    match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::IntValue(n) => Some(n.to_string()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::DoubleValue(d) => Some(d.to_string()),
        _ => None,
    }
}
