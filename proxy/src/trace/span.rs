//! [`RequestTrace`]: a request's place in a trace and, when sampled, what its span
//! records on the way (plugin calls as events, callouts as child spans) until
//! RequestFinish ends it.

use std::time::SystemTime;

use super::context::{new_span_id, TraceContext};

/// A request's trace: its context always (the proxy propagates it even unsampled),
/// and a recording when sampled.
#[derive(Debug)]
pub struct RequestTrace {
    pub context: TraceContext,
    pub recording: Option<Recording>,
}

/// What a sampled request's span has recorded so far.
#[derive(Debug)]
pub struct Recording {
    pub start: SystemTime,
    pub events: Vec<PluginEvent>,
    pub callouts: Vec<CalloutSpan>,
}

/// One plugin handler call.
#[derive(Clone, Debug)]
pub struct PluginEvent {
    pub at: SystemTime,
    pub plugin: String,
    pub point: &'static str,
    /// What it returned (`go_on`, `respond`…), or how it failed.
    pub outcome: &'static str,
}

/// One callout a handler waited on: a child span of the request's.
#[derive(Clone, Debug)]
pub struct CalloutSpan {
    pub span_id: [u8; 8],
    pub start: SystemTime,
    pub end: SystemTime,
    pub target: String,
    /// The status, 0 without a response.
    pub status: u16,
    pub error: Option<String>,
}

/// A finished span, ready to export.
#[derive(Clone, Debug)]
pub struct FinishedSpan {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_id: Option<[u8; 8]>,
    pub state: Option<String>,
    pub name: String,
    /// Server (a request), or client (a callout).
    pub server: bool,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, Attribute)>,
    pub events: Vec<PluginEvent>,
    pub error: bool,
}

/// An attribute's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attribute {
    Text(String),
    Int(i64),
}

impl RequestTrace {
    /// A trace for a request in `context`, recording if it is sampled.
    pub fn new(context: TraceContext) -> RequestTrace {
        let recording = context.sampled.then(|| Recording {
            start: SystemTime::now(),
            events: Vec::new(),
            callouts: Vec::new(),
        });
        RequestTrace { context, recording }
    }

    /// Whether the request's span records.
    #[inline]
    pub fn recording(&self) -> bool {
        self.recording.is_some()
    }

    /// Records callouts that started at `start` and ended now.
    pub fn callouts(
        &mut self,
        start: SystemTime,
        done: impl Iterator<Item = (String, u16, Option<String>)>,
    ) {
        let Some(recording) = &mut self.recording else {
            return;
        };
        let end = SystemTime::now();
        for (target, status, error) in done {
            recording.callouts.push(CalloutSpan {
                span_id: new_span_id(),
                start,
                end,
                target,
                status,
                error,
            });
        }
    }

    /// The request's span and its callouts' spans, ended now; none if unsampled.
    pub fn finish(
        &mut self,
        name: String,
        attributes: Vec<(&'static str, Attribute)>,
        error: bool,
    ) -> Vec<FinishedSpan> {
        let Some(recording) = self.recording.take() else {
            return Vec::new();
        };
        let context = &self.context;
        let end = SystemTime::now();
        let mut spans = Vec::with_capacity(1 + recording.callouts.len());
        for callout in recording.callouts {
            let mut attributes = vec![(
                "hookgate.callout.target",
                Attribute::Text(callout.target.clone()),
            )];
            if callout.status != 0 {
                attributes.push((
                    "http.response.status_code",
                    Attribute::Int(callout.status.into()),
                ));
            }
            if let Some(error) = &callout.error {
                attributes.push(("error.type", Attribute::Text(error.clone())));
            }
            spans.push(FinishedSpan {
                trace_id: context.trace_id,
                span_id: callout.span_id,
                parent_id: Some(context.span_id),
                state: context.state.clone(),
                name: format!("callout {}", callout.target),
                server: false,
                start: callout.start,
                end: callout.end,
                attributes,
                events: Vec::new(),
                error: callout.error.is_some(),
            });
        }
        spans.push(FinishedSpan {
            trace_id: context.trace_id,
            span_id: context.span_id,
            parent_id: context.parent_id,
            state: context.state.clone(),
            name,
            server: true,
            start: recording.start,
            end,
            attributes,
            events: recording.events,
            error,
        });
        spans
    }
}
