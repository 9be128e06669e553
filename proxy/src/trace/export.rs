//! [`Exporter`]: finished spans batched and sent to an OTLP/HTTP endpoint as protobuf
//! (`ExportTraceServiceRequest`, OpenTelemetry's own message types), by one task on
//! the proxy's runtime. Spans wait in a bounded queue; when it is full they are
//! dropped and counted, never waited for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::Full;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;
use tokio::sync::mpsc;

use super::span::{Attribute, FinishedSpan};
use crate::upstream::Timeouts;

/// Spans waiting to be sent at most.
const QUEUE: usize = 8192;
/// Spans sent in one request at most.
const BATCH: usize = 512;
/// The longest one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where finished spans go.
pub struct Exporter {
    queue: mpsc::Sender<FinishedSpan>,
    /// What became of the spans.
    pub counts: Arc<ExportCounts>,
}

/// What became of the spans.
#[derive(Debug, Default)]
pub struct ExportCounts {
    /// Accepted by the endpoint.
    pub exported: AtomicU64,
    /// Dropped for a full queue.
    pub dropped: AtomicU64,
    /// Refused by the endpoint, or not delivered.
    pub failed: AtomicU64,
}

impl Exporter {
    /// Starts the task sending to `endpoint` every `every` (or sooner when a batch is
    /// full). Runs until the exporter is dropped, then sends what is left.
    pub fn start(endpoint: Uri, service: String, every: Duration) -> Exporter {
        let (queue, spans) = mpsc::channel(QUEUE);
        let counts = Arc::<ExportCounts>::default();
        tokio::spawn(run(spans, endpoint, service, every, Arc::clone(&counts)));
        Exporter { queue, counts }
    }

    /// Queues `spans` (dropping, and counting, those that do not fit).
    pub fn send(&self, spans: Vec<FinishedSpan>) {
        for span in spans {
            if self.queue.try_send(span).is_err() {
                self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn run(
    mut spans: mpsc::Receiver<FinishedSpan>,
    endpoint: Uri,
    service: String,
    every: Duration,
    counts: Arc<ExportCounts>,
) {
    let mut failing = false;
    loop {
        let mut batch = Vec::new();
        let deadline = tokio::time::Instant::now() + every;
        let mut open = true;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, spans.recv()).await {
                Ok(Some(span)) => batch.push(span),
                Ok(None) => {
                    open = false;
                    break;
                }
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let n = batch.len() as u64;
            match export(&endpoint, &service, batch).await {
                Ok(()) => {
                    counts.exported.fetch_add(n, Ordering::Relaxed);
                    if failing {
                        tracing::info!(endpoint = %endpoint, "span export works again");
                    }
                    failing = false;
                }
                Err(error) => {
                    counts.failed.fetch_add(n, Ordering::Relaxed);
                    if !failing {
                        tracing::warn!(endpoint = %endpoint, error, "span export failed");
                    }
                    failing = true;
                }
            }
        }
        if !open {
            return;
        }
    }
}

/// Sends one batch.
async fn export(endpoint: &Uri, service: &str, batch: Vec<FinishedSpan>) -> Result<(), String> {
    // Encoding a batch is some milliseconds of CPU: off the workers that serve requests.
    let service = service.to_owned();
    let body = tokio::task::spawn_blocking(move || encode(&service, batch))
        .await
        .map_err(|e| format!("encoding: {e}"))?;
    let (connections, host) = crate::callout::url_connections(endpoint).await?;
    let path = endpoint
        .path_and_query()
        .map_or("/v1/traces", |p| p.as_str());
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(http::header::HOST, host)
        .header(http::header::CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("bad request: {e}"))?;
    let timeouts = Timeouts {
        connect: EXPORT_TIMEOUT,
        response: EXPORT_TIMEOUT,
        read: EXPORT_TIMEOUT,
        send: EXPORT_TIMEOUT,
    };
    let response = connections
        .send(request, timeouts)
        .await
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the endpoint answered {}", response.status()))
    }
}

/// The OTLP request for `batch`.
pub fn encode(service: &str, batch: Vec<FinishedSpan>) -> Vec<u8> {
    let spans = batch.into_iter().map(span).collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", service.to_owned())],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "hookgate".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    };
    request.encode_to_vec()
}

fn span(finished: FinishedSpan) -> Span {
    let kind = if finished.server {
        span::SpanKind::Server
    } else {
        span::SpanKind::Client
    };
    let events = (finished.events.into_iter())
        .map(|event| span::Event {
            time_unix_nano: nanos(event.at),
            name: "plugin".to_owned(),
            attributes: vec![
                text("hookgate.plugin", event.plugin),
                text("hookgate.point", event.point.to_owned()),
                text("hookgate.outcome", event.outcome.to_owned()),
            ],
            ..span::Event::default()
        })
        .collect();
    let attributes = (finished.attributes.into_iter())
        .map(|(key, value)| match value {
            Attribute::Text(value) => text(key, value),
            Attribute::Int(value) => KeyValue {
                key: key.to_owned(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::IntValue(value)),
                }),
                ..KeyValue::default()
            },
        })
        .collect();
    Span {
        trace_id: finished.trace_id.to_vec(),
        span_id: finished.span_id.to_vec(),
        trace_state: finished.state.unwrap_or_default(),
        parent_span_id: finished.parent_id.map(|p| p.to_vec()).unwrap_or_default(),
        name: finished.name,
        kind: kind as i32,
        start_time_unix_nano: nanos(finished.start),
        end_time_unix_nano: nanos(finished.end),
        attributes,
        events,
        status: finished.error.then(|| Status {
            code: status::StatusCode::Error as i32,
            ..Status::default()
        }),
        ..Span::default()
    }
}

fn text(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..KeyValue::default()
    }
}

fn nanos(at: SystemTime) -> u64 {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}
