//! Callouts as they cross the boundary (appended in 0.2.2, through
//! [`HostMod`](super::HostMod)): what a handler asks the host to send
//! ([`CalloutSpecAbi`]), what comes back ([`CalloutResultAbi`]), and the handler the
//! host calls with the results ([`ContinuationHandler`]).

use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, ROption, RString, RVec, Tuple2};
use abi_stable::StableAbi;

use super::handler::{HandlerResult, RequestVerdict};
use super::redis::RedisSpecAbi;
use super::view::RequestViewMut;

/// One HTTP request a handler asks the host to send. See
/// [`Callout`](crate::Callout).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq, Eq)]
pub struct CalloutSpecAbi {
    /// `cluster:NAME` (a cluster of the config: its balancing, pools, TLS, health) or
    /// an absolute `http://` or `https://` URL.
    pub target: RString,
    /// The method.
    pub method: RString,
    /// Path and query (for a cluster; a URL carries its own).
    pub path: RString,
    /// Headers, in order.
    pub headers: RVec<Tuple2<RString, RString>>,
    /// The body (empty: none).
    pub body: RVec<u8>,
    /// Milliseconds for the whole exchange; 0: the instance's limit.
    pub timeout_ms: u64,
    /// Response body bytes kept at most; 0: the instance's limit.
    pub body_limit: u64,
}

/// What one callout gave. See [`CalloutResult`](crate::CalloutResult).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq, Eq)]
pub struct CalloutResultAbi {
    /// The response status; 0 when there was no response.
    pub status: u16,
    /// The response headers, in order.
    pub headers: RVec<Tuple2<RString, RString>>,
    /// The response body (up to the limit).
    pub body: RVec<u8>,
    /// Why there was no (complete) response: `timeout`, `connect: …`, `body over limit`.
    pub error: ROption<RString>,
}

/// What a handler that waits leaves with the host: called once, with the results in
/// the order the callouts were started.
#[sabi_trait]
pub trait ContinuationHandler: Send {
    /// Resumes the request.
    #[sabi(last_prefix_field)]
    fn resume(
        &mut self,
        request: RequestViewMut<'_>,
        results: RVec<CalloutResultAbi>,
    ) -> HandlerResult<RequestVerdict>;
}

/// A continuation as the host keeps it.
pub type ContinuationBox = ContinuationHandler_TO<'static, RBox<()>>;

/// For hosts: what a handler or tick asked for, as the host collects it (this type
/// never crosses the boundary): an HTTP callout, or (0.2.3) a Redis command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {
    /// See [`CalloutSpecAbi`].
    Http(CalloutSpecAbi),
    /// See [`RedisSpecAbi`].
    Redis(RedisSpecAbi),
}
