//! [`PluginBody`]: a message body as plugins ask for it: whether it is still offered,
//! which instances asked (and what each does over its limit), and the bytes read for
//! the body point. The request and the response each have one.
//!
//! Streaming is the default: a body is read into memory only when an instance asked
//! for it, and only up to the largest `body_limit` of those that did.

use bytes::Bytes;
use hookgate_plugin_api::body::{chosen, Asks, TooLarge};
use hookgate_plugin_api::OverLimit;

use crate::plugin::Instance;

/// Frames a body now held whole in memory, `len` bytes, by its length: a
/// `Content-Length`, and no `Transfer-Encoding` (whatever framing it came with).
pub fn frame_by_length(headers: &mut http::HeaderMap, len: usize) {
    headers.remove(http::header::TRANSFER_ENCODING);
    headers.insert(http::header::CONTENT_LENGTH, len.into());
}

/// What plugins asked of one body, and what was read of it.
//
// Internal: the request and the response each carry one and are moved often, so what
// only asking instances need is boxed, made on the first ask.
#[derive(Debug, Default)]
pub struct PluginBody {
    /// Whether handlers may still ask for it (at the points before its body point,
    /// and never for an upgrade; the views check the rest when a handler asks).
    offered: bool,
    /// Whether handlers may replace it (while the RequestBody chain runs).
    pub writable: bool,
    /// The asks and the bytes read, once an instance asked.
    asked: Option<Box<Asked>>,
}

#[derive(Debug, Default)]
struct Asked {
    /// The instances that asked.
    asks: Asks,
    /// The body read for the body point (or put in its place by a handler).
    read: Option<Bytes>,
    /// Whether the read body was read whole (`false`: it was longer than every
    /// asking instance's limit).
    complete: bool,
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
            let asked = self.asked.get_or_insert_with(Box::default);
            asked.asks.add(instance, over_limit);
        }
        self.offered
    }

    /// The body read whole, as body handlers see it; `None` where it is streamed.
    pub fn whole(&self) -> Option<&Bytes> {
        let asked = self.asked.as_ref().filter(|a| a.complete)?;
        asked.read.as_ref()
    }

    /// Notes what was read: `bytes`, the whole body or (`complete` false) its start.
    pub fn set_read(&mut self, bytes: Bytes, complete: bool) {
        let asked = self.asked.get_or_insert_with(Box::default);
        asked.read = Some(bytes);
        asked.complete = complete;
    }

    /// Replaces the body read whole (a handler's new body).
    pub fn replace(&mut self, bytes: Bytes) {
        self.set_read(bytes, true);
    }

    /// Takes what was read out (whole or not), leaving none.
    pub fn take_read(&mut self) -> Option<Bytes> {
        self.asked.as_mut()?.read.take()
    }

    /// No more asks (the body point has come).
    pub fn close_offer(&mut self) {
        self.offered = false;
    }

    /// Whether any instance asked.
    pub fn is_wanted(&self) -> bool {
        self.asked.as_ref().is_some_and(|a| !a.asks.is_empty())
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
            .filter(|i| self.asks().get(i.id).is_some())
            .map(|i| i.body_limit)
            .max()
            .map(|limit| limit.min(cap))
    }

    /// Of `instances` (those with handlers at the body point), the ids of those whose
    /// handlers run on a body of `len` bytes (`None`: longer than what was read), by
    /// the rule the fake host shares ([`chosen`]); `Err` if one refuses it.
    pub fn chosen<'i>(
        &self,
        instances: impl Iterator<Item = &'i Instance>,
        len: Option<u64>,
    ) -> Result<Vec<u32>, TooLarge> {
        chosen(self.asks(), instances.map(|i| (i.id, i.body_limit)), len)
    }

    fn asks(&self) -> &Asks {
        static NONE: Asks = Asks::new();
        self.asked.as_ref().map_or(&NONE, |a| &a.asks)
    }

    /// The length of the body read whole; `None` if none was, or it was longer.
    pub fn read_len(&self) -> Option<u64> {
        self.whole().map(|b| b.len() as u64)
    }
}
