//! [`RequestState`]: one request as the proxy holds it; [`PluginRequest`]: the view
//! plugins get of it, together with its session.
//!
//! Internal: the two are apart because a request lives across awaits (the backend
//! call) while its session is shared by the connection's requests; a view is built for
//! the length of one chain call only.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use hookgate_plugin_api::abi::{
    IpAbi, LocalAny, Locals, OverLimitCode, RMut, ROption, RSlice, RStr, RVec, RequestView,
    SessionView, SessionView_TO, SocketAddrAbi, TD_Opaque, Tuple2,
};
use http::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use http::uri::{PathAndQuery, Uri};

use crate::context::Context;
use crate::edge::route_host;
use crate::error::ProxyError;
use crate::header_view::header_methods;
use crate::plugin::canary::{CanarySide, Picks};
use crate::plugin::chain::Picking;
use crate::plugin_body::{frame_by_length, PluginBody};
use crate::session::SessionState;

/// Where routing sent the request; each part is `None` until it is known.
#[derive(Clone, Debug, Default)]
pub struct RouteInfo {
    /// The product.
    pub product: Option<Arc<str>>,
    /// The cluster.
    pub cluster: Option<Arc<str>>,
    /// The subcluster.
    pub subcluster: Option<Arc<str>>,
    /// The backend address.
    pub backend: Option<Arc<str>>,
}

/// What a handler set for a `Redirect`.
#[derive(Clone, Debug)]
pub struct RedirectInfo {
    /// The target, absolute or relative.
    pub url: Option<String>,
    /// The status code.
    pub code: u16,
    /// Extra headers for the redirect response.
    pub headers: HeaderMap,
}

impl Default for RedirectInfo {
    fn default() -> Self {
        RedirectInfo {
            url: None,
            code: 302,
            headers: HeaderMap::new(),
        }
    }
}

/// One request in flight.
#[derive(Debug)]
pub struct RequestState {
    /// Method, URI, version and headers.
    pub head: http::request::Parts,
    /// Lowercase host without port and trailing dot, from the `Host` header.
    host: String,
    /// The client's IP (after trusted `X-Forwarded-For` handling).
    pub client_ip: IpAddr,
    /// Whether the client IP is the socket peer's (no trusted proxy in between).
    pub client_ip_is_peer: bool,
    /// Routing results so far.
    pub route: RouteInfo,
    /// Why the proxy answered the request itself, if it did.
    pub error: Option<ProxyError>,
    /// Redirect info set by handlers.
    pub redirect: RedirectInfo,
    /// Plugins' shared context.
    pub context: Context,
    /// Each plugin instance's typed state, dropped with the request.
    pub locals: Locals,
    /// The body as plugins ask for it (offered from the start unless the request
    /// is an upgrade or gRPC: set by the server).
    pub body: PluginBody,
    /// Its trace, when `[tracing]` is on (boxed: nothing but a null pointer when off).
    pub trace: Option<Box<crate::trace::RequestTrace>>,
    /// The generation it runs on for each canary entry, chosen once.
    pub picks: Picks,
}

/// A request and its session, lent to plugins through [`RequestView`] for one chain
/// call.
pub struct PluginRequest<'a> {
    /// The request.
    pub request: &'a mut RequestState,
    /// The connection it arrived on.
    pub session: &'a mut SessionState,
}

impl RequestState {
    /// A request as received, from the client at `client_ip`.
    pub fn new(head: http::request::Parts, client_ip: IpAddr) -> Self {
        let host = host_of(&head);
        RequestState {
            head,
            host,
            client_ip,
            client_ip_is_peer: true,
            route: RouteInfo::default(),
            error: None,
            redirect: RedirectInfo::default(),
            context: Context::default(),
            locals: Locals::default(),
            body: PluginBody::default(),
            trace: None,
            picks: Picks::default(),
        }
    }

    /// Whether its trace records a span (`[tracing]` on and the request sampled).
    #[inline]
    pub fn recording(&self) -> bool {
        self.trace.as_ref().is_some_and(|t| t.recording())
    }

    /// What is left in a request's place once it has been handed on whole (to
    /// RequestFinish): an empty `GET /`. Allocates nothing.
    pub fn settled() -> Self {
        let (head, ()) = http::Request::new(()).into_parts();
        RequestState::new(head, std::net::Ipv4Addr::UNSPECIFIED.into())
    }

    /// The lowercase host without port.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Replaces the URI's path-and-query; `false` if `target` is not a valid one.
    fn set_target(&mut self, target: &str) -> bool {
        let Ok(path_and_query) = PathAndQuery::from_str(target) else {
            return false;
        };
        if !target.starts_with('/') {
            return false;
        }
        let mut parts = self.head.uri.clone().into_parts();
        parts.path_and_query = Some(path_and_query);
        match Uri::from_parts(parts) {
            Ok(uri) => {
                self.head.uri = uri;
                true
            }
            Err(_) => false,
        }
    }
}

/// The host a request is routed by: its `Host` header (which [`admit`](crate::edge::admit)
/// made the request's one authority) without case, port and trailing dot.
fn host_of(head: &http::request::Parts) -> String {
    head.headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(String::new, route_host)
}

fn route_part(part: &Option<Arc<str>>) -> RStr<'_> {
    part.as_deref().unwrap_or("").into()
}

impl Picking for PluginRequest<'_> {
    /// By the request's client address (a trusted `X-Forwarded-For`'s).
    #[inline]
    fn runs(&mut self, side: &CanarySide) -> bool {
        self.request.picks.runs(side, self.request.client_ip)
    }
}

impl RequestView for PluginRequest<'_> {
    fn method(&self) -> RStr<'_> {
        self.request.head.method.as_str().into()
    }
    fn uri(&self) -> RStr<'_> {
        self.request
            .head
            .uri
            .path_and_query()
            .map_or("/", PathAndQuery::as_str)
            .into()
    }
    fn path(&self) -> RStr<'_> {
        self.request.head.uri.path().into()
    }
    fn query(&self) -> ROption<RStr<'_>> {
        self.request.head.uri.query().map(RStr::from).into()
    }
    fn host(&self) -> RStr<'_> {
        self.request.host.as_str().into()
    }
    header_methods!(request.head.headers);
    fn set_path(&mut self, path: RStr<'_>) -> bool {
        if path.as_str().contains('?') {
            return false;
        }
        let target = match self.request.head.uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.as_str().to_owned(),
        };
        self.request.set_target(&target)
    }
    fn set_query(&mut self, query: ROption<RStr<'_>>) -> bool {
        let path = self.request.head.uri.path();
        let target = match query.into_option() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        self.request.set_target(&target)
    }
    fn set_host(&mut self, host: RStr<'_>) -> bool {
        let Ok(value) = HeaderValue::from_str(host.as_str()) else {
            return false;
        };
        if host.is_empty() || http::uri::Authority::from_str(host.as_str()).is_err() {
            return false;
        }
        self.request.head.headers.insert(HOST, value);
        self.request.host = route_host(host.as_str());
        true
    }
    fn set_uri(&mut self, uri: RStr<'_>) -> bool {
        self.request.set_target(uri.as_str())
    }
    fn client_ip(&self) -> IpAbi {
        self.request.client_ip.into()
    }
    fn product(&self) -> RStr<'_> {
        route_part(&self.request.route.product)
    }
    fn cluster(&self) -> RStr<'_> {
        route_part(&self.request.route.cluster)
    }
    fn subcluster(&self) -> RStr<'_> {
        route_part(&self.request.route.subcluster)
    }
    fn backend(&self) -> RStr<'_> {
        route_part(&self.request.route.backend)
    }
    fn error_code(&self) -> RStr<'_> {
        self.request.error.map_or("", ProxyError::code).into()
    }
    fn set_redirect(&mut self, url: RStr<'_>, code: u16) {
        self.request.redirect.url = Some(url.as_str().to_owned());
        self.request.redirect.code = if code == 0 { 302 } else { code };
    }
    fn add_redirect_header(&mut self, name: RStr<'_>, value: RStr<'_>) -> bool {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_str(value.as_str()),
        ) else {
            return false;
        };
        self.request.redirect.headers.append(name, value);
        true
    }
    fn redirect_url(&self) -> ROption<RStr<'_>> {
        self.request.redirect.url.as_deref().map(RStr::from).into()
    }
    fn redirect_code(&self) -> u16 {
        self.request.redirect.code
    }
    fn context(&self, key: RStr<'_>) -> ROption<RStr<'_>> {
        self.request
            .context
            .get(key.as_str())
            .map(RStr::from)
            .into()
    }
    fn set_context(&mut self, key: RStr<'_>, value: RStr<'_>) {
        self.request.context.set(key.as_str(), value.as_str())
    }
    fn session(&mut self) -> SessionView_TO<'_, RMut<'_, ()>> {
        SessionView_TO::from_ptr(&mut *self.session, TD_Opaque)
    }
    fn remote_addr(&self) -> SocketAddrAbi {
        SessionView::remote_addr(&*self.session)
    }
    fn is_tls(&self) -> bool {
        SessionView::is_tls(&*self.session)
    }
    fn sni(&self) -> ROption<RStr<'_>> {
        SessionView::sni(&*self.session)
    }
    fn local(&mut self, instance: u32) -> ROption<RMut<'_, LocalAny>> {
        self.request.locals.get(instance).map(RMut::new).into()
    }
    fn set_local(&mut self, instance: u32, value: LocalAny) {
        self.request.locals.set(instance, value)
    }
    fn want_body(&mut self, instance: u32, over_limit: OverLimitCode) -> bool {
        // A choice this version does not know: refused, the body keeps streaming.
        let Some(over_limit) = over_limit.over_limit() else {
            return false;
        };
        // An upgrade's body was never offered; a gRPC stream's is not either.
        let content_type = self.request.head.headers.get(http::header::CONTENT_TYPE);
        let content_type = content_type.map(HeaderValue::as_bytes);
        hookgate_plugin_api::body::request_offered(false, content_type)
            && self.request.body.want(instance, over_limit)
    }
    fn body(&self) -> ROption<RSlice<'_, u8>> {
        let body = self.request.body.whole();
        body.map(|b| RSlice::from_slice(b)).into()
    }
    fn set_body(&mut self, body: RVec<u8>) -> bool {
        if !self.request.body.writable {
            return false;
        }
        let body = Bytes::from(body.into_vec());
        frame_by_length(&mut self.request.head.headers, body.len());
        self.request.body.replace(body);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionState {
        SessionState::new(
            1,
            "10.0.0.1:5000".parse().unwrap(),
            "127.0.0.1:8080".parse().unwrap(),
            "127.0.0.1:8080".into(),
        )
    }

    fn view<'a>(request: &'a mut RequestState, session: &'a mut SessionState) -> PluginRequest<'a> {
        PluginRequest { request, session }
    }

    fn head(uri: &str, host: &str) -> http::request::Parts {
        let (parts, ()) = http::Request::get(uri)
            .header("Host", host)
            .body(())
            .unwrap()
            .into_parts();
        parts
    }

    #[test]
    fn host_is_lowercased_without_port() {
        let r = RequestState::new(head("/a", "Shop.Example.COM:8080"), [10, 0, 0, 1].into());
        assert_eq!(r.host(), "shop.example.com");
        let r = RequestState::new(head("/a", "[::1]:80"), [10, 0, 0, 1].into());
        assert_eq!(r.host(), "[::1]");
    }

    #[test]
    fn target_setters_keep_the_other_half() {
        let mut s = session();
        let mut state = RequestState::new(head("/a?x=1", "h"), [10, 0, 0, 1].into());
        let mut r = view(&mut state, &mut s);
        assert!(r.set_path("/b".into()));
        assert_eq!(RequestView::uri(&r).as_str(), "/b?x=1");
        assert!(r.set_query(ROption::RSome("y=2".into())));
        assert_eq!(RequestView::uri(&r).as_str(), "/b?y=2");
        assert!(r.set_query(ROption::RNone));
        assert_eq!(RequestView::uri(&r).as_str(), "/b");
        assert!(!r.set_path("no-slash".into()));
        assert!(!r.set_uri("/bad path".into()));
        assert!(r.set_host("Other.Example:81".into()));
        assert_eq!(r.request.host(), "other.example");
        assert_eq!(r.request.head.headers[HOST], "Other.Example:81");
    }

    #[test]
    fn headers_read_by_index_and_name() {
        let mut s = session();
        let mut state = RequestState::new(head("/", "h"), [10, 0, 0, 1].into());
        let mut r = view(&mut state, &mut s);
        assert!(r.add_header("x-a".into(), "1".into()));
        assert!(r.add_header("X-A".into(), "2".into()));
        assert!(!r.set_header("bad name".into(), "v".into()));
        assert_eq!(r.header_count(), 3);
        let second = r
            .header_value_at("x-a".into(), 1)
            .into_option()
            .map(|v| v.as_slice().to_vec());
        assert_eq!(second, Some(b"2".to_vec()));
        assert!(r.remove_header("x-a".into()));
        assert_eq!(r.header_count(), 1);
    }
}
