//! The views the host lends to handlers: a session, a request, a response.
//!
//! Internal: reads return borrowed `RStr`/`RSlice` so that the host never allocates to
//! answer a read. Header values cross as bytes (HTTP allows non-UTF-8 octets); the SDK
//! turns them into `&str` on the plugin side. Header iteration is by index so that the
//! SDK can offer a plain borrowing iterator.

use abi_stable::sabi_trait;
use abi_stable::std_types::{ROption, RSlice, RStr, RVec, Tuple2};
use abi_stable::RMut;

use super::addr::{IpAbi, SocketAddrAbi};
use super::code::OverLimitCode;
use super::local::LocalAny;

/// A session view as handlers receive it.
pub type SessionViewMut<'a> = SessionView_TO<'a, RMut<'a, ()>>;
/// A request view as handlers receive it.
pub type RequestViewMut<'a> = RequestView_TO<'a, RMut<'a, ()>>;
/// A response view as handlers receive it.
pub type ResponseViewMut<'a> = ResponseView_TO<'a, RMut<'a, ()>>;

/// One client connection, implemented by the host. See [`Session`](crate::Session).
#[sabi_trait]
pub trait SessionView {
    /// Unique id of the connection within this proxy process.
    fn id(&self) -> u64;
    /// The client's address as seen on the socket.
    fn remote_addr(&self) -> SocketAddrAbi;
    /// The proxy's address that accepted the connection.
    fn local_addr(&self) -> SocketAddrAbi;
    /// The listener's configured address, as written in the config.
    fn listener(&self) -> RStr<'_>;
    /// Whether the connection is TLS.
    fn is_tls(&self) -> bool;
    /// SNI server name sent by the client.
    fn sni(&self) -> ROption<RStr<'_>>;
    /// Negotiated ALPN protocol.
    fn alpn(&self) -> ROption<RStr<'_>>;
    /// Negotiated TLS version, e.g. `TLSv1.3`.
    fn tls_version(&self) -> ROption<RStr<'_>>;
    /// Negotiated cipher suite.
    fn cipher(&self) -> ROption<RStr<'_>>;
    /// Whether the client presented a certificate.
    fn has_peer_certificate(&self) -> bool;
    /// `http`, `https` or `h2`.
    fn protocol(&self) -> RStr<'_>;
    /// When the connection was accepted, in microseconds since the Unix epoch.
    fn start_unix_micros(&self) -> u64;
    /// Requests seen so far on this connection.
    fn request_count(&self) -> u64;
    /// A value of the connection's context.
    fn context(&self, key: RStr<'_>) -> ROption<RStr<'_>>;
    /// Sets a value of the connection's context.
    fn set_context(&mut self, key: RStr<'_>, value: RStr<'_>);
    /// The typed state plugin instance `instance` keeps for this connection, if set.
    fn local(&mut self, instance: u32) -> ROption<RMut<'_, LocalAny>>;
    /// Sets it (dropping the previous value); dropped with the connection, after
    /// Finish.
    #[sabi(last_prefix_field)]
    fn set_local(&mut self, instance: u32, value: LocalAny);
}

/// One request, implemented by the host. See [`Request`](crate::Request).
#[sabi_trait]
pub trait RequestView {
    /// The method, e.g. `GET`.
    fn method(&self) -> RStr<'_>;
    /// The request target: path and query.
    fn uri(&self) -> RStr<'_>;
    /// The path.
    fn path(&self) -> RStr<'_>;
    /// The query, without `?`.
    fn query(&self) -> ROption<RStr<'_>>;
    /// The host (lowercase, no port), from the URI or the `Host` header.
    fn host(&self) -> RStr<'_>;
    /// The first value of a header.
    fn header(&self, name: RStr<'_>) -> ROption<RSlice<'_, u8>>;
    /// The `index`th value of a header.
    fn header_value_at(&self, name: RStr<'_>, index: usize) -> ROption<RSlice<'_, u8>>;
    /// The number of header values.
    fn header_count(&self) -> usize;
    /// The `index`th header as (name, value).
    fn header_at(&self, index: usize) -> ROption<Tuple2<RStr<'_>, RSlice<'_, u8>>>;
    /// Replaces a header's values; `false` if the name or value is invalid.
    fn set_header(&mut self, name: RStr<'_>, value: RStr<'_>) -> bool;
    /// Appends a header value; `false` if the name or value is invalid.
    fn add_header(&mut self, name: RStr<'_>, value: RStr<'_>) -> bool;
    /// Removes a header; `true` if it was present.
    fn remove_header(&mut self, name: RStr<'_>) -> bool;
    /// Replaces the path; `false` if invalid.
    fn set_path(&mut self, path: RStr<'_>) -> bool;
    /// Replaces the query (`None` removes it); `false` if invalid.
    fn set_query(&mut self, query: ROption<RStr<'_>>) -> bool;
    /// Replaces the host; `false` if invalid.
    fn set_host(&mut self, host: RStr<'_>) -> bool;
    /// Replaces path and query; `false` if invalid.
    fn set_uri(&mut self, uri: RStr<'_>) -> bool;
    /// The client's IP, after trusted `X-Forwarded-For` handling.
    fn client_ip(&self) -> IpAbi;
    /// The product, empty before it is known.
    fn product(&self) -> RStr<'_>;
    /// The cluster, empty before it is known.
    fn cluster(&self) -> RStr<'_>;
    /// The subcluster, empty before it is known.
    fn subcluster(&self) -> RStr<'_>;
    /// The backend address, empty before it is known.
    fn backend(&self) -> RStr<'_>;
    /// The proxy's error code for this request (e.g. `no_route`), empty if none.
    fn error_code(&self) -> RStr<'_>;
    /// Sets the redirect target used when a handler returns `Redirect`.
    fn set_redirect(&mut self, url: RStr<'_>, code: u16);
    /// Adds a header to the redirect response; `false` if invalid.
    fn add_redirect_header(&mut self, name: RStr<'_>, value: RStr<'_>) -> bool;
    /// The redirect target, if one was set.
    fn redirect_url(&self) -> ROption<RStr<'_>>;
    /// The redirect status code (302 unless set).
    fn redirect_code(&self) -> u16;
    /// A value of the request's context.
    fn context(&self, key: RStr<'_>) -> ROption<RStr<'_>>;
    /// Sets a value of the request's context.
    fn set_context(&mut self, key: RStr<'_>, value: RStr<'_>);
    /// The session the request arrived on.
    fn session(&mut self) -> SessionView_TO<'_, RMut<'_, ()>>;
    /// The session's client address as seen on the socket (read without lending the
    /// session view).
    fn remote_addr(&self) -> SocketAddrAbi;
    /// Whether the session is TLS.
    fn is_tls(&self) -> bool;
    /// The session's SNI server name.
    fn sni(&self) -> ROption<RStr<'_>>;
    /// Asks for the request body for plugin instance `instance` (at BeforeLocation,
    /// FoundProduct and AfterLocation): its RequestBody handlers then run on it.
    /// `false` when no body is offered (an upgrade, a gRPC request, a later point).
    fn want_body(&mut self, instance: u32, over_limit: OverLimitCode) -> bool;
    /// The request body read for RequestBody, from there until it is sent.
    fn body(&self) -> ROption<RSlice<'_, u8>>;
    /// Replaces the body read for RequestBody (and `Content-Length`), at RequestBody
    /// only; `false` elsewhere.
    fn set_body(&mut self, body: RVec<u8>) -> bool;
    /// The typed state plugin instance `instance` keeps for this request, if set.
    fn local(&mut self, instance: u32) -> ROption<RMut<'_, LocalAny>>;
    /// Sets it (dropping the previous value); dropped with the request, after
    /// RequestFinish.
    #[sabi(last_prefix_field)]
    fn set_local(&mut self, instance: u32, value: LocalAny);
}

/// A response, implemented by the host. See [`Response`](crate::Response).
#[sabi_trait]
pub trait ResponseView {
    /// The status code.
    fn status(&self) -> u16;
    /// Replaces the status code; `false` if invalid.
    fn set_status(&mut self, status: u16) -> bool;
    /// The first value of a header.
    fn header(&self, name: RStr<'_>) -> ROption<RSlice<'_, u8>>;
    /// The `index`th value of a header.
    fn header_value_at(&self, name: RStr<'_>, index: usize) -> ROption<RSlice<'_, u8>>;
    /// The number of header values.
    fn header_count(&self) -> usize;
    /// The `index`th header as (name, value).
    fn header_at(&self, index: usize) -> ROption<Tuple2<RStr<'_>, RSlice<'_, u8>>>;
    /// Replaces a header's values; `false` if the name or value is invalid.
    fn set_header(&mut self, name: RStr<'_>, value: RStr<'_>) -> bool;
    /// Appends a header value; `false` if the name or value is invalid.
    fn add_header(&mut self, name: RStr<'_>, value: RStr<'_>) -> bool;
    /// Removes a header; `true` if it was present.
    fn remove_header(&mut self, name: RStr<'_>) -> bool;
    /// Asks for the response body for plugin instance `instance` (at ReadResponse):
    /// its ResponseBody handlers then run on it. `false` when no body is offered (an
    /// upgrade, a gRPC response, a later point).
    fn want_body(&mut self, instance: u32, over_limit: OverLimitCode) -> bool;
    /// The response body: the one a handler set, else the one read for
    /// ResponseBody; `None` when neither exists (the body is streamed).
    fn body(&self) -> ROption<RSlice<'_, u8>>;
    /// Replaces the body (and `Content-Length`).
    #[sabi(last_prefix_field)]
    fn set_body(&mut self, body: RVec<u8>);
}
