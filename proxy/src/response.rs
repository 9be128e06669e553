//! [`ResponseState`]: the head of a response on its way to the client, and its view
//! for plugins.

use hookgate_plugin_api::abi::{OverLimitCode, ROption, RSlice, RStr, RVec, ResponseView, Tuple2};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::StatusCode;

use crate::header_view::header_methods;
use crate::plugin_body::PluginBody;

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

    /// A copy of the head (status, version, headers) without the body, for the
    /// handlers that run after the original has been handed to the client.
    pub fn head_copy(&self) -> ResponseState {
        let mut copy = http::Response::new(());
        *copy.status_mut() = self.head.status;
        *copy.version_mut() = self.head.version;
        *copy.headers_mut() = self.head.headers.clone();
        ResponseState::new(copy.into_parts().0)
    }
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
        self.asked.want(instance, over_limit)
    }
    fn body(&self) -> ROption<RSlice<'_, u8>> {
        match &self.body {
            Some(body) => ROption::RSome(RSlice::from_slice(body)),
            None => self.asked.whole().map(|b| RSlice::from_slice(b)).into(),
        }
    }
    fn set_body(&mut self, body: RVec<u8>) {
        let body = body.into_vec();
        self.head.headers.remove(TRANSFER_ENCODING);
        self.head.headers.insert(CONTENT_LENGTH, body.len().into());
        self.body = Some(body);
    }
}

#[cfg(test)]
mod tests {
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
}
