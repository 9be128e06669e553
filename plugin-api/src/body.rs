//! Bodies: what a plugin that asks for a request or response body declares, and the
//! one rule, shared by the proxy and the fake host, of which body handlers run.
//!
//! Streaming is the default: nothing is buffered unless a handler asks
//! ([`Request::want_body`](crate::Request::want_body) at a request point,
//! [`Response::want_body`](crate::Response::want_body) at ReadResponse). The body
//! is then read into memory up to the instance's `body_limit` and handed to the
//! instance's handlers at [`RequestBody`](crate::Point::RequestBody) or
//! [`ResponseBody`](crate::Point::ResponseBody). Where these run and what their
//! return values mean is in [the callback contract](crate#the-callback-contract).

/// The `body_limit` of a plugin instance that its `[[plugins]]` entry does not set:
/// 64 KiB. It bounds request and response bodies alike; a request body is never read
/// past the product's `max_body_bytes` either.
///
/// ```
/// assert_eq!(hookgate_plugin_api::DEFAULT_BODY_LIMIT, 65536);
/// ```
pub const DEFAULT_BODY_LIMIT: u64 = 64 * 1024;

/// What happens when a body is larger than the instance's `body_limit`, as the
/// plugin declares it when it asks for the body.
///
/// ```
/// use hookgate_plugin_api::{OverLimit, Outcome, Request};
/// fn ask(req: &mut Request<'_>) -> Outcome {
///     if req.method() == "POST" {
///         // a signature check cannot pass on part of a body: refuse it whole
///         req.want_body(OverLimit::Reject);
///     }
///     Outcome::GoOn
/// }
/// ```
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OverLimit {
    /// The instance's body handlers do not run for this body; it is sent on as it is.
    Skip = 0,
    /// The request gets 413 (`body_too_large`), or the response is replaced by a 502
    /// (`response_too_large`).
    Reject = 1,
}

/// What becomes of one instance's body handlers for a body of some length: the
/// shared rule ([`decide`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyDecision {
    /// The body fits: the handlers run.
    Call,
    /// Over the limit, `OverLimit::Skip`: they do not run.
    Skip,
    /// Over the limit, `OverLimit::Reject`: the request or response is refused.
    Reject,
}

/// Whether a body of `len` bytes (`None`: longer than anything read) fits an
/// instance's `limit`, and if not, what its `over_limit` says.
///
/// ```
/// use hookgate_plugin_api::body::{decide, BodyDecision};
/// use hookgate_plugin_api::OverLimit;
/// assert_eq!(decide(Some(10), 10, OverLimit::Reject), BodyDecision::Call);
/// assert_eq!(decide(Some(11), 10, OverLimit::Skip), BodyDecision::Skip);
/// assert_eq!(decide(None, 10, OverLimit::Reject), BodyDecision::Reject);
/// ```
pub fn decide(len: Option<u64>, limit: u64, over_limit: OverLimit) -> BodyDecision {
    match (len, over_limit) {
        (Some(len), _) if len <= limit => BodyDecision::Call,
        (_, OverLimit::Skip) => BodyDecision::Skip,
        (_, OverLimit::Reject) => BodyDecision::Reject,
    }
}

/// The instances that asked for one body, in the order they asked, with what each
/// declared. An instance that asks again keeps its first place and its last choice.
///
/// ```
/// use hookgate_plugin_api::body::Asks;
/// use hookgate_plugin_api::OverLimit;
/// let mut asks = Asks::default();
/// asks.add(7, OverLimit::Skip);
/// asks.add(7, OverLimit::Reject);
/// assert_eq!(asks.get(7), Some(OverLimit::Reject));
/// assert_eq!(asks.get(8), None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Asks(Vec<(u32, OverLimit)>);

impl Asks {
    /// No ask yet.
    pub const fn new() -> Asks {
        Asks(Vec::new())
    }

    /// Notes that `instance` asked, declaring `over_limit`.
    pub fn add(&mut self, instance: u32, over_limit: OverLimit) {
        match self.0.iter_mut().find(|(i, _)| *i == instance) {
            Some(entry) => entry.1 = over_limit,
            None => self.0.push((instance, over_limit)),
        }
    }

    /// What `instance` declared, if it asked.
    pub fn get(&self, instance: u32) -> Option<OverLimit> {
        self.0.iter().find(|(i, _)| *i == instance).map(|e| e.1)
    }

    /// Whether no instance asked.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The instances that asked and what each declared.
    pub fn iter(&self) -> impl Iterator<Item = (u32, OverLimit)> + '_ {
        self.0.iter().copied()
    }
}

/// Which of the instances with handlers at a body point run on a body: the one rule
/// the proxy and the fake host share. `instances` are those instances, in chain
/// order, with their `body_limit`s; `len` is the body's length (`None`: longer than
/// what was read). Those that asked and take a body this long run; `Err` if one that
/// asked refuses it (`OverLimit::Reject`), which refuses the message before any
/// handler runs.
///
/// ```
/// use hookgate_plugin_api::body::{chosen, Asks, TooLarge};
/// use hookgate_plugin_api::OverLimit;
/// let mut asks = Asks::default();
/// asks.add(1, OverLimit::Skip);
/// asks.add(2, OverLimit::Reject);
/// let instances = [(1, 10), (2, 100), (3, 100)];
/// assert_eq!(chosen(&asks, instances, Some(50)), Ok(vec![2]));
/// assert_eq!(chosen(&asks, instances, Some(5)), Ok(vec![1, 2]));
/// assert_eq!(chosen(&asks, instances, Some(500)), Err(TooLarge));
/// ```
pub fn chosen(
    asks: &Asks,
    instances: impl IntoIterator<Item = (u32, u64)>,
    len: Option<u64>,
) -> Result<Vec<u32>, TooLarge> {
    let mut run = Vec::new();
    for (instance, limit) in instances {
        let Some(over_limit) = asks.get(instance) else {
            continue;
        };
        match decide(len, limit, over_limit) {
            BodyDecision::Call => run.push(instance),
            BodyDecision::Skip => {}
            BodyDecision::Reject => return Err(TooLarge),
        }
    }
    Ok(run)
}

/// A body over the limit of an instance that refuses larger ones: the request gets
/// 413 ([`REQUEST_TOO_LARGE`]), the response becomes a 502 ([`RESPONSE_TOO_LARGE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge;

/// The error code of a request refused for its body's length.
pub const REQUEST_TOO_LARGE: &str = "body_too_large";

/// The error code of a response refused for its body's length.
pub const RESPONSE_TOO_LARGE: &str = "response_too_large";

/// Whether a request's body is offered: not an upgrade's, not gRPC's.
///
/// ```
/// use hookgate_plugin_api::body::request_offered;
/// assert!(request_offered(false, Some(b"application/json")));
/// assert!(!request_offered(true, None));
/// assert!(!request_offered(false, Some(b"application/grpc")));
/// ```
pub fn request_offered(upgrade: bool, content_type: Option<&[u8]>) -> bool {
    !upgrade && !content_type.is_some_and(is_grpc)
}

/// Whether a response's body is offered: not for a HEAD request, not a response
/// without a body (1xx, 204, 304), not gRPC.
///
/// ```
/// use hookgate_plugin_api::body::response_offered;
/// assert!(response_offered(false, 200, Some(b"text/html")));
/// assert!(!response_offered(true, 200, None));
/// assert!(!response_offered(false, 304, None));
/// assert!(!response_offered(false, 101, None));
/// ```
pub fn response_offered(head_request: bool, status: u16, content_type: Option<&[u8]>) -> bool {
    !head_request
        && !(100..200).contains(&status)
        && status != 204
        && status != 304
        && !content_type.is_some_and(is_grpc)
}

/// Whether a message with this `Content-Type` is gRPC (`application/grpc`,
/// `application/grpc+proto`, `application/grpc-web`…), whose body is a stream of
/// messages: never offered for buffering.
///
/// ```
/// use hookgate_plugin_api::body::is_grpc;
/// assert!(is_grpc(b"application/grpc+proto"));
/// assert!(is_grpc(b"Application/GRPC"));
/// assert!(!is_grpc(b"application/json"));
/// ```
pub fn is_grpc(content_type: &[u8]) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    content_type.len() >= GRPC.len() && content_type[..GRPC.len()].eq_ignore_ascii_case(GRPC)
}
