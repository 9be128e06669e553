//! Handler objects (implemented by plugins) and the registry (implemented by the host).

use abi_stable::library::LibHeader;
use abi_stable::sabi_trait;
use abi_stable::sabi_types::RRef;
use abi_stable::std_types::{RBox, ROption, RResult, RString, RVec, Tuple2};
use abi_stable::{RMut, StableAbi};

use super::code::{ActionCode, PointCode};
use super::log::HostLogBox;
use super::metric::{HostMetricBox, MetricDef};
use super::view::{RequestViewMut, ResponseViewMut, SessionViewMut};

/// What every handler returns: its value, or the error (a panic message or a plugin
/// error) that the host handles by the instance's error policy.
pub type HandlerResult<T> = RResult<T, RString>;

/// A response built by a handler at a request point, or for a redirect.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq, Default)]
pub struct ResponseData {
    /// Status code.
    pub status: u16,
    /// Headers, in order.
    pub headers: RVec<Tuple2<RString, RString>>,
    /// The whole body.
    pub body: RVec<u8>,
}

/// What a request handler returns: the action and, for `Response`/`Finish`, a response.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct RequestVerdict {
    /// What the server does next.
    pub action: ActionCode,
    /// The response to send, for `Response` (required) and `Finish` (optional).
    pub response: ROption<ResponseData>,
}

/// A handler at `Accept`, `Handshake` or `Finish`.
#[sabi_trait]
pub trait SessionHandler: Send + Sync {
    /// Runs the handler.
    #[sabi(last_prefix_field)]
    fn call(&self, session: SessionViewMut<'_>) -> HandlerResult<ActionCode>;
}

/// A handler at `BeforeLocation`, `FoundProduct` or `AfterLocation`.
#[sabi_trait]
pub trait RequestHandler: Send + Sync {
    /// Runs the handler.
    #[sabi(last_prefix_field)]
    fn call(&self, request: RequestViewMut<'_>) -> HandlerResult<RequestVerdict>;
}

/// A handler at `Forward`.
#[sabi_trait]
pub trait ForwardHandler: Send + Sync {
    /// Runs the handler.
    #[sabi(last_prefix_field)]
    fn call(&self, request: RequestViewMut<'_>) -> HandlerResult<ActionCode>;
}

/// A handler at `ReadResponse` or `RequestFinish`.
#[sabi_trait]
pub trait ResponseHandler: Send + Sync {
    /// Runs the handler.
    #[sabi(last_prefix_field)]
    fn call(
        &self,
        request: RequestViewMut<'_>,
        response: ROption<ResponseViewMut<'_>>,
    ) -> HandlerResult<ActionCode>;
}

/// An owned session handler, as registered.
pub type SessionHandlerBox = SessionHandler_TO<'static, RBox<()>>;
/// An owned request handler, as registered.
pub type RequestHandlerBox = RequestHandler_TO<'static, RBox<()>>;
/// An owned forward handler, as registered.
pub type ForwardHandlerBox = ForwardHandler_TO<'static, RBox<()>>;
/// An owned response handler, as registered.
pub type ResponseHandlerBox = ResponseHandler_TO<'static, RBox<()>>;
/// The registry as a plugin's init receives it.
pub type RegistryMut<'a> = RegistryAbi_TO<'a, RMut<'a, ()>>;

/// Where init registers handlers; implemented by the host. See
/// [`Registry`](crate::Registry). Each method takes a point of one handler type only:
/// the SDK cannot pair them wrongly, and the host refuses a point code of another
/// type, or one it does not know (init fails).
#[sabi_trait]
pub trait RegistryAbi {
    /// Registers a handler at `Accept` or `Handshake`.
    fn accept(&mut self, point: PointCode, handler: SessionHandlerBox);
    /// Registers a handler at `BeforeLocation`, `FoundProduct`, `AfterLocation` or
    /// `RequestBody`.
    fn request(&mut self, point: PointCode, handler: RequestHandlerBox);
    /// Registers a handler at `Forward`.
    fn forward(&mut self, handler: ForwardHandlerBox);
    /// Registers a handler at `ReadResponse`, `ResponseBody` or `RequestFinish`.
    fn response(&mut self, point: PointCode, handler: ResponseHandlerBox);
    /// Registers a handler at `Finish`.
    fn finish(&mut self, handler: SessionHandlerBox);
    /// The id of the plugin instance being initialised: unique in the process, never
    /// reused (not even after a reload), the key of its typed state.
    fn instance(&self) -> u32;
    /// The host's log for this instance (its name and the point become fields).
    fn logger(&self) -> HostLogBox;
    /// Defines a metric of this instance; an error names what is wrong with it.
    fn metric(&mut self, def: MetricDef<'_>) -> RResult<HostMetricBox, RString>;
    /// The host's module header ([`HostMod`](crate::abi::HostMod)): where services added
    /// after 0.2.0 are found, checked by the plugin's side.
    #[sabi(last_prefix_field)]
    fn host(&self) -> RRef<'static, LibHeader>;
}
