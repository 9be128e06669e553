//! [`FakeResponse`]: a response view for tests.

use crate::abi::OverLimitCode;
use crate::abi::{ROption, RSlice, RStr, RVec, ResponseView, Tuple2};
use crate::body::{response_offered, Asks};

use super::{header_methods, HeaderList};

/// A response for ReadResponse and RequestFinish handlers.
///
/// ```
/// use hookgate_plugin_api::testing::FakeResponse;
/// let resp = FakeResponse::new(200).header("content-type", "text/plain").body("hi");
/// assert_eq!(resp.header_value("Content-Type"), Some("text/plain"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct FakeResponse {
    status: u16,
    headers: HeaderList,
    body: Vec<u8>,
    /// Whether the body has been read for ResponseBody.
    body_read: bool,
    /// Whether a handler set the body.
    body_set: bool,
    /// The instances that asked for the body.
    pub(super) body_asks: Asks,
}

impl FakeResponse {
    /// A response with this status, no header and an empty body.
    pub fn new(status: u16) -> FakeResponse {
        FakeResponse {
            status,
            ..FakeResponse::default()
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.add(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of a header.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// All values of a header.
    pub fn header_values<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        self.headers.values(name).collect()
    }

    /// The body.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// Marks the body read, as the proxy does before ResponseBody; its length.
    pub(super) fn read_body(&mut self) -> u64 {
        self.body_read = true;
        self.body.len() as u64
    }

    /// What the proxy sends in place of a response whose body an instance refused
    /// (`OverLimit::Reject`): 502, no body.
    pub(super) fn refuse(&mut self) {
        *self = FakeResponse::new(502);
    }
}

impl ResponseView for FakeResponse {
    fn status(&self) -> u16 {
        self.status
    }
    fn set_status(&mut self, status: u16) -> bool {
        if !(100..=999).contains(&status) {
            return false;
        }
        self.status = status;
        true
    }
    header_methods!(headers);
    fn want_body(&mut self, instance: u32, over_limit: OverLimitCode) -> bool {
        // A choice this version does not know: refused, the plugin keeps streaming.
        let Some(over_limit) = over_limit.over_limit() else {
            return false;
        };
        // The fake does not know the request's method: a HEAD is the caller's to leave
        // out.
        let content_type = self.headers.get("content-type").map(str::as_bytes);
        if self.body_read || !response_offered(false, self.status, content_type) {
            return false;
        }
        self.body_asks.add(instance, over_limit);
        true
    }
    fn body(&self) -> ROption<RSlice<'_, u8>> {
        match self.body_read || self.body_set {
            true => ROption::RSome(RSlice::from_slice(&self.body)),
            false => ROption::RNone,
        }
    }
    fn set_body(&mut self, body: RVec<u8>) {
        self.body_set = true;
        self.body = body.into_vec();
        self.headers
            .set("content-length", &self.body.len().to_string());
    }
}
