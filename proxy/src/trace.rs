//! Distributed tracing (`[tracing]`, off unless configured): W3C Trace Context in and
//! out, a span per request with its plugin calls as events and its callouts as child
//! spans, exported by OTLP/HTTP.
//!
//! - **In**: a request's `traceparent` is its parent when `parent` allows it
//!   (`trusted`, the default: the connection's peer is in `server.trusted_proxies`;
//!   `always`; `never`), with its `tracestate`; otherwise the request starts a trace
//!   (and an incoming `tracestate` is dropped).
//! - **Sampling**: parent-based: a parent's sampled flag decides; a new trace is
//!   sampled at `ratio` (by its id, as OpenTelemetry's ratio sampler).
//! - **Out**: the upstream request carries `traceparent` naming the request's span,
//!   sampled or not, and the `tracestate` kept.
//! - **Span**: `<METHOD> <product>`, server kind, from the request's arrival to the
//!   end of its response (RequestFinish), with the method, path, product, cluster,
//!   subcluster, backend, status, client address and the proxy's error code.
//!
//! When `[tracing]` is absent no request pays more than a branch on an `Option`.

mod context;
mod export;
mod span;

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Uri;
use ipnet::IpNet;

pub use context::TraceContext;
pub use export::{encode, ExportCounts, Exporter};
pub use span::{Attribute, FinishedSpan, PluginEvent, RequestTrace};

use crate::config::{TraceParent, TracingConfig};
use crate::request::RequestState;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// A configuration's tracing: its settings, and its exporter once a span is done.
pub struct Tracer {
    endpoint: Uri,
    ratio: f64,
    parent: TraceParent,
    service: String,
    every: Duration,
    exporter: OnceLock<Exporter>,
}

impl Tracer {
    /// The tracer `config` describes (checked by config validation: the endpoint is a
    /// URL).
    pub fn new(config: &TracingConfig) -> Option<Tracer> {
        Some(Tracer {
            endpoint: config.endpoint.parse().ok()?,
            ratio: config.ratio,
            parent: config.parent,
            service: config.service_name.clone(),
            every: Duration::from_millis(config.batch_ms.max(1)),
            exporter: OnceLock::new(),
        })
    }

    /// A request arriving from `peer` with `headers`: its trace, and `traceparent`
    /// (and `tracestate`) set for what goes upstream.
    pub fn begin(&self, headers: &mut HeaderMap, peer: IpAddr, trusted: &[IpNet]) -> RequestTrace {
        let accept = match self.parent {
            TraceParent::Always => true,
            TraceParent::Never => false,
            TraceParent::Trusted => trusted.iter().any(|net| net.contains(&peer)),
        };
        let parent = accept
            .then(|| {
                headers
                    .get(TRACEPARENT)?
                    .to_str()
                    .ok()
                    .and_then(context::parse)
            })
            .flatten();
        let state = match parent {
            Some(_) => {
                let values: Vec<&str> = (headers.get_all(TRACESTATE).iter())
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                (!values.is_empty()).then(|| values.join(","))
            }
            None => None,
        };
        if parent.is_none() {
            headers.remove(TRACESTATE);
        }
        let context = TraceContext::new(parent, state, self.ratio);
        if let Ok(value) = HeaderValue::from_bytes(&context.traceparent()) {
            headers.insert(TRACEPARENT, value);
        }
        RequestTrace::new(context)
    }

    /// Ends a request's span (if it records) and queues it for export.
    pub fn end(&self, trace: &mut RequestTrace, request: &RequestState, status: Option<u16>) {
        if !trace.recording() {
            return;
        }
        let route = &request.route;
        let product = route.product.as_deref().unwrap_or("-");
        let name = format!("{} {product}", request.head.method);
        let mut attributes = vec![
            (
                "http.request.method",
                Attribute::Text(request.head.method.to_string()),
            ),
            (
                "url.path",
                Attribute::Text(request.head.uri.path().to_owned()),
            ),
            (
                "client.address",
                Attribute::Text(request.client_ip.to_string()),
            ),
            ("hookgate.product", Attribute::Text(product.to_owned())),
        ];
        let named = [
            ("hookgate.cluster", &route.cluster),
            ("hookgate.subcluster", &route.subcluster),
            ("hookgate.backend", &route.backend),
        ];
        for (key, value) in named {
            if let Some(value) = value {
                attributes.push((key, Attribute::Text(value.to_string())));
            }
        }
        if let Some(status) = status {
            attributes.push(("http.response.status_code", Attribute::Int(status.into())));
        }
        if let Some(error) = request.error {
            attributes.push(("hookgate.error", Attribute::Text(error.code().to_owned())));
        }
        let failed = status.is_none_or(|s| s >= 500);
        let spans = trace.finish(name, attributes, failed);
        let exporter = self.exporter.get_or_init(|| {
            Exporter::start(self.endpoint.clone(), self.service.clone(), self.every)
        });
        exporter.send(spans);
    }

    /// What became of the spans so far (none before the first).
    pub fn counts(&self) -> Option<&ExportCounts> {
        self.exporter.get().map(|e| &*e.counts)
    }
}

/// Notes callouts that started at `start` and are done now on `trace`, if it records.
pub fn callouts_done<'a>(
    trace: Option<&mut RequestTrace>,
    start: Option<SystemTime>,
    done: impl Iterator<Item = (String, u16, Option<String>)> + 'a,
) {
    if let (Some(trace), Some(start)) = (trace, start) {
        trace.callouts(start, done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TracingConfig;
    use crate::hex;

    fn tracer(parent: TraceParent, ratio: f64) -> Tracer {
        let config = TracingConfig {
            endpoint: "http://127.0.0.1:4318/v1/traces".into(),
            ratio,
            parent,
            service_name: "test".into(),
            batch_ms: 1000,
        };
        Tracer::new(&config).unwrap()
    }

    fn headers(traceparent: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_str(traceparent).unwrap());
        headers.insert(TRACESTATE, HeaderValue::from_static("v=1"));
        headers
    }

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_trusted_peers_parent_is_continued_and_others_start_a_trace() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let tracer = tracer(TraceParent::Trusted, 0.0);
        let mut from_trusted = headers(PARENT);
        let trace = tracer.begin(&mut from_trusted, "10.1.2.3".parse().unwrap(), &trusted);
        assert_eq!(
            hex::lower(&trace.context.trace_id),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(trace.recording(), "the parent sampled it");
        assert_eq!(from_trusted[TRACESTATE], "v=1");
        let sent = from_trusted[TRACEPARENT].as_bytes();
        assert_eq!(sent, trace.context.traceparent());

        let mut from_other = headers(PARENT);
        let trace = tracer.begin(&mut from_other, "192.0.2.1".parse().unwrap(), &trusted);
        assert_ne!(
            hex::lower(&trace.context.trace_id),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(!trace.recording(), "a new trace at ratio 0");
        assert!(from_other.get(TRACESTATE).is_none());
        assert!(from_other[TRACEPARENT].to_str().unwrap().ends_with("-00"));

        let always = tracer_with(TraceParent::Always);
        let mut anyone = headers(PARENT);
        let trace = always.begin(&mut anyone, "192.0.2.1".parse().unwrap(), &[]);
        assert_eq!(
            trace.context.parent_id.map(|p| hex::lower(&p)).as_deref(),
            Some("00f067aa0ba902b7")
        );
        let never = tracer_with(TraceParent::Never);
        let trace = never.begin(&mut headers(PARENT), "10.1.2.3".parse().unwrap(), &trusted);
        assert_eq!(trace.context.parent_id, None);
    }

    fn tracer_with(parent: TraceParent) -> Tracer {
        tracer(parent, 1.0)
    }

    #[test]
    fn spans_encode_as_otlp_with_their_ids_parents_and_events() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use prost::Message;

        let tracer = tracer_with(TraceParent::Always);
        let mut trace = tracer.begin(&mut headers(PARENT), "10.1.2.3".parse().unwrap(), &[]);
        if let Some(recording) = &mut trace.recording {
            recording.events.push(PluginEvent {
                at: SystemTime::now(),
                plugin: "auth".into(),
                point: "found_product",
                outcome: "go_on",
            });
        }
        trace.callouts(
            SystemTime::now(),
            [("cluster:auth".to_owned(), 200, None)].into_iter(),
        );
        let spans = trace.finish(
            "GET web".into(),
            vec![("http.response.status_code", Attribute::Int(200))],
            false,
        );
        let decoded = ExportTraceServiceRequest::decode(&encode("svc", spans)[..]).unwrap();
        let spans = &decoded.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 2);
        let (callout, server) = (&spans[0], &spans[1]);
        assert_eq!(
            server.parent_span_id,
            trace.context.parent_id.unwrap().to_vec()
        );
        assert_eq!(callout.parent_span_id, server.span_id);
        assert_eq!(callout.trace_id, server.trace_id);
        assert_eq!(server.events.len(), 1);
        assert_eq!(server.trace_state, "v=1");
        assert_eq!(server.kind, 2);
        assert_eq!(callout.kind, 3);
        assert!(server.end_time_unix_nano >= server.start_time_unix_nano);
    }
}
