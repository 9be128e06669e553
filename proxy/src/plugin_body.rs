//! [`PluginBody`]: a message body as plugins ask for it: whether it is still offered,
//! which instances asked (and what each does over its limit), and the bytes read for
//! the body point. The request and the response each have one.
//!
//! Streaming is the default: a body is read into memory only when an instance asked
//! for it, and only up to the largest `body_limit` of those that did.

use bytes::Bytes;
use hookgate_plugin_api::body::{Asks, BodyDecision};
use hookgate_plugin_api::OverLimit;

use crate::plugin::Instance;

/// What plugins asked of one body, and what was read of it.
#[derive(Debug, Default)]
pub struct PluginBody {
    /// Whether handlers may still ask for it (at the points before its body point,
    /// and never for an upgrade or a gRPC stream).
    offered: bool,
    /// The instances that asked.
    asks: Asks,
    /// The body read for the body point (or put in its place by a handler).
    pub read: Option<Bytes>,
    /// Whether the read body was read whole (`false`: it was longer than every
    /// asking instance's limit).
    pub complete: bool,
}

impl PluginBody {
    /// A body handlers may ask for (`offered`) or not.
    pub fn new(offered: bool) -> Self {
        PluginBody {
            offered,
            ..PluginBody::default()
        }
    }

    /// An instance asks for the body; `false` if it is not offered.
    pub fn want(&mut self, instance: u32, over_limit: OverLimit) -> bool {
        if self.offered {
            self.asks.add(instance, over_limit);
        }
        self.offered
    }

    /// The body read whole, as body handlers see it; `None` where it is streamed.
    pub fn whole(&self) -> Option<&Bytes> {
        self.read.as_ref().filter(|_| self.complete)
    }

    /// No more asks (the body point has come).
    pub fn close_offer(&mut self) {
        self.offered = false;
    }

    /// Whether any instance asked.
    pub fn is_wanted(&self) -> bool {
        !self.asks.is_empty()
    }

    /// How many bytes to read: the largest limit among the `instances` (those with
    /// handlers at the body point) that asked, at most `cap` (the product's
    /// `max_body_bytes`); `None` if none of them asked.
    pub fn read_limit<'i>(
        &self,
        instances: impl Iterator<Item = &'i Instance>,
        cap: u64,
    ) -> Option<u64> {
        instances
            .filter(|i| self.asks.get(i.id).is_some())
            .map(|i| i.body_limit)
            .max()
            .map(|limit| limit.min(cap))
    }

    /// What becomes of `instance`'s body handlers for the body read (the shared rule,
    /// [`decide`](hookgate_plugin_api::body::decide)); `None` if it did not ask.
    pub fn decision(&self, instance: &Instance) -> Option<BodyDecision> {
        let over_limit = self.asks.get(instance.id)?;
        let len = self.read.as_ref().map(|b| b.len() as u64);
        let len = if self.complete { len } else { None };
        Some(hookgate_plugin_api::body::decide(
            len,
            instance.body_limit,
            over_limit,
        ))
    }
}
