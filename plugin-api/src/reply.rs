//! [`Reply`]: a response built by a handler at a request point.

use abi_stable::std_types::{RString, RVec, Tuple2};

use crate::abi::ResponseData;

/// A response a request-point handler sends instead of forwarding, carried by
/// [`Outcome::Respond`](crate::Outcome::Respond) or
/// [`Outcome::Finish`](crate::Outcome::Finish).
///
/// ```
/// use hookgate_plugin_api::Reply;
/// let reply = Reply::new(429)
///     .header("retry-after", "1")
///     .body("slow down\n");
/// assert_eq!(reply.status(), 429);
/// assert_eq!(reply.header_value("Retry-After"), Some("1"));
/// assert_eq!(reply.body_bytes(), b"slow down\n");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    data: ResponseData,
}

impl Reply {
    /// A response with this status, no header and an empty body. The host validates the
    /// status: one outside 100–999 is a plugin error.
    pub fn new(status: u16) -> Reply {
        Reply {
            data: ResponseData {
                status,
                ..ResponseData::default()
            },
        }
    }

    /// Adds a header (kept in order; a name may repeat).
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.data
            .headers
            .push(Tuple2(RString::from(name), RString::from(value)));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.data.body = RVec::from(body.into());
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.data.status
    }

    /// The first value of a header (names compare case-insensitively).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All headers, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.data
            .headers
            .iter()
            .map(|t| (t.0.as_str(), t.1.as_str()))
    }

    /// The body.
    pub fn body_bytes(&self) -> &[u8] {
        &self.data.body
    }

    /// Internal: the ABI form.
    #[doc(hidden)]
    pub fn into_data(self) -> ResponseData {
        self.data
    }

    /// Internal: from the ABI form.
    #[doc(hidden)]
    pub fn from_data(data: ResponseData) -> Reply {
        Reply { data }
    }
}
