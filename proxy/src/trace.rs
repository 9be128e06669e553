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
        if let Ok(value) = HeaderValue::from_str(&context.traceparent()) {
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
