//! W3C Trace Context (`traceparent`, `tracestate`): reading a parent, writing ours,
//! and the ids and sampling decision of a new trace.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

use crate::hex;

/// Where a request is in a trace: its trace, its own span, the span it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// This proxy's span for the request (the parent of what it sends upstream).
    pub span_id: [u8; 8],
    /// The caller's span, if a parent was accepted.
    pub parent_id: Option<[u8; 8]>,
    pub sampled: bool,
    /// The caller's `tracestate`, kept with its parent.
    pub state: Option<String>,
}

/// A parent read from a request's `traceparent`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
}

/// Reads a `traceparent` value (version 00, and later versions by their first four
/// fields, as the spec asks); `None` if it is not one.
pub fn parse(value: &str) -> Option<Parent> {
    let mut fields = value.trim().split('-');
    let version = fields.next()?;
    let (trace, span, flags) = (fields.next()?, fields.next()?, fields.next()?);
    let later = fields.next();
    if version == "ff" || hex::decode_lower::<1>(version).is_none() {
        return None;
    }
    if version == "00" && later.is_some() {
        return None;
    }
    let trace_id: [u8; 16] = hex::decode_lower(trace)?;
    let span_id: [u8; 8] = hex::decode_lower(span)?;
    let [flags]: [u8; 1] = hex::decode_lower(flags)?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(Parent {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
    })
}

impl TraceContext {
    /// A child of `parent` (same trace and sampling), or a new trace sampled at `ratio`.
    pub fn new(parent: Option<Parent>, state: Option<String>, ratio: f64) -> TraceContext {
        let span_id = new_span_id();
        match parent {
            Some(parent) => TraceContext {
                trace_id: parent.trace_id,
                span_id,
                parent_id: Some(parent.span_id),
                sampled: parent.sampled,
                state,
            },
            None => {
                let trace_id = new_trace_id();
                TraceContext {
                    trace_id,
                    span_id,
                    parent_id: None,
                    sampled: sampled_at(&trace_id, ratio),
                    state: None,
                }
            }
        }
    }

    /// The `traceparent` that makes this request's span the parent of what the proxy
    /// sends upstream.
    pub fn traceparent(&self) -> [u8; 55] {
        let mut out = *b"00-00000000000000000000000000000000-0000000000000000-00";
        hex::write_lower(&self.trace_id, &mut out[3..35]);
        hex::write_lower(&self.span_id, &mut out[36..52]);
        if self.sampled {
            out[54] = b'1';
        }
        out
    }
}

/// Whether a new trace is sampled at `ratio`: by its id's last eight bytes, so every
/// proxy that sees the id alone decides the same (OpenTelemetry's ratio sampler).
pub fn sampled_at(trace_id: &[u8; 16], ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id[8..]);
    let value = u64::from_be_bytes(low) >> 1;
    (value as f64) < ratio * (1u64 << 63) as f64
}

thread_local! {
    /// xorshift64* state, seeded from the process's random hasher keys.
    static RNG: Cell<u64> = Cell::new({
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(std::process::id().into());
        hasher.finish() | 1
    });
}

fn next_u64() -> u64 {
    RNG.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    })
}

fn new_trace_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&next_u64().to_be_bytes());
    id[8..].copy_from_slice(&next_u64().to_be_bytes());
    if id == [0; 16] {
        id[15] = 1;
    }
    id
}

/// A fresh span id (never all zeros).
pub fn new_span_id() -> [u8; 8] {
    let id = next_u64().max(1);
    id.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_read_as_the_spec_says() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parent = parse(good).unwrap();
        assert!(parent.sampled);
        assert_eq!(hex::lower(&parent.span_id), "00f067aa0ba902b7");
        assert!(
            !parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
                .unwrap()
                .sampled
        );
        // A later version: its first four fields, whatever follows.
        assert!(parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what").is_some());
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_child_keeps_the_trace_and_sampling_and_writes_itself_as_parent() {
        let parent = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let child = TraceContext::new(parent, Some("a=1".into()), 0.0);
        assert!(child.sampled, "the parent's decision, not the ratio");
        let written = String::from_utf8(child.traceparent().to_vec()).unwrap();
        assert!(
            written.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{written}"
        );
        assert!(written.ends_with("-01"));
        assert_eq!(parse(&written).unwrap().span_id, child.span_id);
        assert_ne!(child.span_id, parse(&written[..]).map(|_| [0; 8]).unwrap());
    }

    #[test]
    fn new_traces_are_sampled_at_the_ratio() {
        let sampled = (0..20_000)
            .filter(|_| TraceContext::new(None, None, 0.25).sampled)
            .count();
        assert!((4_500..5_500).contains(&sampled), "{sampled}");
        assert!(TraceContext::new(None, None, 1.0).sampled);
        assert!(!TraceContext::new(None, None, 0.0).sampled);
        let a = TraceContext::new(None, None, 1.0);
        let b = TraceContext::new(None, None, 1.0);
        assert_ne!(a.trace_id, b.trace_id);
    }
}
