//! [`ResponseState`]: the head of a response on its way to the client, and its view
//! for plugins; [`SentResponse`]: what RequestFinish handlers read of it once it has
//! been handed to the client.

use hookgate_plugin_api::abi::{OverLimitCode, ROption, RSlice, RStr, RVec, ResponseView, Tuple2};
use http::StatusCode;

use crate::header_view::header_methods;
use crate::plugin_body::{frame_by_length, PluginBody};

/// A response's head, plus the body a plugin put in place of the original.
pub struct ResponseState {
    /// Status, version, headers.
    pub head: http::response::Parts,
    /// A replacement body, if a plugin set one.
    pub body: Option<Vec<u8>>,
    /// The original body as plugins ask for it (offered at ReadResponse: set by the
    /// server).
    pub asked: PluginBody,
}

impl ResponseState {
    /// A response with this head and its original body.
    pub fn new(head: http::response::Parts) -> Self {
        ResponseState {
            head,
            body: None,
            asked: PluginBody::default(),
        }
    }

    /// What RequestFinish handlers will read of this response once the head has been
    /// handed to the client.
    pub fn sent(&self) -> SentResponse {
        SentResponse::of(&self.head)
    }
}

/// A response's status and headers, kept for the RequestFinish handlers that run after
/// the head itself has been handed to the client (hyper drains its header map while
/// writing it). Read-only: its setters change nothing and return `false`.
///
/// Internal: a `HeaderMap` clone costs two allocations, a reference count per value
/// and, for every value made from a copy (a plugin's), one more allocation on its
/// first clone; dropping it later costs as much again. Here every name and value is
/// copied back to back into one buffer (names are ASCII, values any octets) with one
/// span per header, so a copy is two allocations and a `memcpy`, and a look-up is a
/// walk over a dozen spans.
#[derive(Debug)]
pub struct SentResponse {
    status: StatusCode,
    /// Names and values, back to back, in the map's order.
    text: Vec<u8>,
    /// Per header value: where its name ends and where its value ends in `text` (it
    /// starts where the previous value ended).
    spans: Vec<(u32, u32)>,
}

/// Room for the text of a typical head, so that copying one rarely reallocates.
const SENT_TEXT: usize = 512;

impl SentResponse {
    /// A copy of `head`'s status and headers.
    pub fn of(head: &http::response::Parts) -> SentResponse {
        let headers = &head.headers;
        let mut text = Vec::with_capacity(SENT_TEXT);
        let mut spans = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            text.extend_from_slice(name.as_str().as_bytes());
            let name_end = text.len();
            text.extend_from_slice(value.as_bytes());
            // A head is far below 4 GiB (hyper caps it at its read buffer): no
            // truncation.
            spans.push((name_end as u32, text.len() as u32));
        }
        SentResponse {
            status: head.status,
            text,
            spans,
        }
    }

    /// The `index`th header as (name, value).
    fn at(&self, index: usize) -> Option<(&[u8], &[u8])> {
        let &(name_end, value_end) = self.spans.get(index)?;
        let start = index
            .checked_sub(1)
            .and_then(|previous| self.spans.get(previous))
            .map_or(0, |&(_, previous_end)| previous_end);
        let name = self.text.get(start as usize..name_end as usize)?;
        let value = self.text.get(name_end as usize..value_end as usize)?;
        Some((name, value))
    }

    /// The `index`th value of the header `name` (any case).
    fn value_at(&self, name: &str, index: usize) -> Option<&[u8]> {
        (0..self.spans.len())
            .filter_map(|at| self.at(at))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .nth(index)
            .map(|(_, value)| value)
    }
}

impl ResponseView for SentResponse {
    fn status(&self) -> u16 {
        self.status.as_u16()
    }
    fn set_status(&mut self, _status: u16) -> bool {
        false
    }
    fn header(&self, name: RStr<'_>) -> ROption<RSlice<'_, u8>> {
        self.value_at(name.as_str(), 0).map(RSlice::from).into()
    }
    fn header_value_at(&self, name: RStr<'_>, index: usize) -> ROption<RSlice<'_, u8>> {
        self.value_at(name.as_str(), index).map(RSlice::from).into()
    }
    fn header_count(&self) -> usize {
        self.spans.len()
    }
    fn header_at(&self, index: usize) -> ROption<Tuple2<RStr<'_>, RSlice<'_, u8>>> {
        self.at(index)
            .and_then(|(name, value)| Some((std::str::from_utf8(name).ok()?, value)))
            .map(|(name, value)| Tuple2(RStr::from(name), RSlice::from(value)))
            .into()
    }
    fn set_header(&mut self, _name: RStr<'_>, _value: RStr<'_>) -> bool {
        false
    }
    fn add_header(&mut self, _name: RStr<'_>, _value: RStr<'_>) -> bool {
        false
    }
    fn remove_header(&mut self, _name: RStr<'_>) -> bool {
        false
    }
    fn want_body(&mut self, _instance: u32, _over_limit: OverLimitCode) -> bool {
        false
    }
    fn body(&self) -> ROption<RSlice<'_, u8>> {
        ROption::RNone
    }
    fn set_body(&mut self, _body: RVec<u8>) {}
}

impl ResponseView for ResponseState {
    fn status(&self) -> u16 {
        self.head.status.as_u16()
    }
    fn set_status(&mut self, status: u16) -> bool {
        match StatusCode::from_u16(status) {
            Ok(status) => {
                self.head.status = status;
                true
            }
            Err(_) => false,
        }
    }
    header_methods!(head.headers);
    fn want_body(&mut self, instance: u32, over_limit: OverLimitCode) -> bool {
        // A choice this version does not know: refused, the body keeps streaming.
        let Some(over_limit) = over_limit.over_limit() else {
            return false;
        };
        // Never for a HEAD request (not offered from the start), a response without a
        // body or a gRPC stream.
        let content_type = self.head.headers.get(http::header::CONTENT_TYPE);
        let content_type = content_type.map(http::HeaderValue::as_bytes);
        hookgate_plugin_api::body::response_offered(false, self.head.status.as_u16(), content_type)
            && self.asked.want(instance, over_limit)
    }
    fn body(&self) -> ROption<RSlice<'_, u8>> {
        match &self.body {
            Some(body) => ROption::RSome(RSlice::from_slice(body)),
            None => self.asked.whole().map(|b| RSlice::from_slice(b)).into(),
        }
    }
    fn set_body(&mut self, body: RVec<u8>) {
        let body = body.into_vec();
        frame_by_length(&mut self.head.headers, body.len());
        self.body = Some(body);
    }
}

#[cfg(test)]
mod tests {
    use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};

    use super::*;

    #[test]
    fn set_body_fixes_length() {
        let (head, ()) = http::Response::builder()
            .header("transfer-encoding", "chunked")
            .body(())
            .unwrap()
            .into_parts();
        let mut r = ResponseState::new(head);
        r.set_body(RVec::from(b"hello".to_vec()));
        assert_eq!(r.head.headers[CONTENT_LENGTH], "5");
        assert!(r.head.headers.get(TRANSFER_ENCODING).is_none());
        assert!(!r.set_status(42));
        assert!(r.set_status(404));
        assert_eq!(r.status(), 404);
    }

    #[test]
    fn a_sent_response_reads_like_the_original() {
        let (head, ()) = http::Response::builder()
            .status(404)
            .header("content-length", "5")
            .header("x-a", "1")
            .header("X-A", &b"\xff2"[..])
            .header("server", "")
            .body(())
            .unwrap()
            .into_parts();
        let original = ResponseState::new(head);
        let mut sent = original.sent();
        assert_eq!(ResponseView::status(&sent), 404);
        assert_eq!(sent.header_count(), original.header_count());
        for index in 0..=sent.header_count() {
            assert_eq!(sent.header_at(index), original.header_at(index), "{index}");
        }
        for name in ["content-length", "X-a", "server", "missing"] {
            assert_eq!(
                sent.header(name.into()),
                original.header(name.into()),
                "{name}"
            );
            for index in 0..3 {
                assert_eq!(
                    sent.header_value_at(name.into(), index),
                    original.header_value_at(name.into(), index),
                    "{name} {index}"
                );
            }
        }
        assert!(!sent.set_header("x-b".into(), "1".into()));
        assert!(!sent.set_status(200));
        assert!(!sent.remove_header("x-a".into()));
        assert_eq!(sent.header_count(), 4);
    }
}
