//! [`FakeRequest`]: a request view for tests.

use std::net::IpAddr;

use crate::abi::{
    IpAbi, RMut, ROption, RSlice, RStr, RVec, RequestView, SessionView, SessionView_TO,
    SocketAddrAbi, TD_Opaque, Tuple2,
};

use crate::abi::LocalAny;
use crate::abi::OverLimitCode;
use crate::body::{request_offered, Asks};

use super::{
    header_methods, valid_header_name, valid_header_value, Context, FakeLocals, FakeSession,
    HeaderList,
};

/// A request for request-level handlers: host `example.com`, client `192.0.2.1`, on a
/// [`FakeSession`], with no route known unless set.
///
/// ```
/// use hookgate_plugin_api::testing::FakeRequest;
/// let req = FakeRequest::get("/a?b=1").header("Host", "Shop.Example.com:8080").product("shop");
/// assert_eq!(req.path(), "/a");
/// assert_eq!(req.query(), Some("b=1"));
/// assert_eq!(req.host(), "shop.example.com");
/// ```
#[derive(Clone, Debug)]
pub struct FakeRequest {
    method: String,
    uri: String,
    host: String,
    headers: HeaderList,
    client_ip: IpAddr,
    product: String,
    cluster: String,
    subcluster: String,
    backend: String,
    error_code: String,
    redirect_url: Option<String>,
    redirect_code: u16,
    redirect_headers: HeaderList,
    context: Context,
    locals: FakeLocals,
    session: FakeSession,
    /// The body the client sent.
    body: Vec<u8>,
    /// Whether the body has been read for RequestBody (then handlers see it).
    body_read: bool,
    /// Whether handlers may still ask for the body (until RequestBody).
    pub(super) offer_closed: bool,
    /// Whether handlers may replace the body (while RequestBody runs).
    pub(super) body_writable: bool,
    /// The instances that asked for the body.
    pub(super) body_asks: Asks,
}

impl FakeRequest {
    /// A request with this method and target (path and query).
    pub fn new(method: &str, uri: &str) -> FakeRequest {
        FakeRequest {
            method: method.to_owned(),
            uri: uri.to_owned(),
            host: "example.com".to_owned(),
            headers: HeaderList::default(),
            client_ip: IpAddr::from([192, 0, 2, 1]),
            product: String::new(),
            cluster: String::new(),
            subcluster: String::new(),
            backend: String::new(),
            error_code: String::new(),
            redirect_url: None,
            redirect_code: 302,
            redirect_headers: HeaderList::default(),
            context: Context::default(),
            locals: FakeLocals::default(),
            session: FakeSession::new(),
            body: Vec::new(),
            body_read: false,
            offer_closed: false,
            body_writable: false,
            body_asks: Asks::default(),
        }
    }

    /// Sets the body the client sends (read for RequestBody handlers when a plugin
    /// asks for it, [`TestPlugin::request_body`](super::TestPlugin::request_body)).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The body as it would be sent on: the client's, or what a RequestBody handler
    /// put in its place.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// Sets the proxy's error code, as the proxy does when it refuses the request.
    pub(super) fn refused(&mut self, code: &str) {
        self.error_code = code.to_owned();
    }

    /// Marks the body read, as the proxy does before RequestBody; its length.
    pub(super) fn read_body(&mut self) -> u64 {
        self.body_read = true;
        self.body.len() as u64
    }

    /// A GET request.
    pub fn get(uri: &str) -> FakeRequest {
        FakeRequest::new("GET", uri)
    }

    /// Adds a header; `Host` also sets the host (lowercased, port stripped).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if name.eq_ignore_ascii_case("host") {
            self.host = host_of(value);
        }
        self.headers.add(name, value);
        self
    }

    /// Sets the client IP.
    pub fn client_ip(mut self, ip: IpAddr) -> Self {
        self.client_ip = ip;
        self
    }

    /// Sets the product.
    pub fn product(mut self, product: &str) -> Self {
        product.clone_into(&mut self.product);
        self
    }

    /// Sets the cluster.
    pub fn cluster(mut self, cluster: &str) -> Self {
        cluster.clone_into(&mut self.cluster);
        self
    }

    /// Sets subcluster and backend.
    pub fn backend(mut self, subcluster: &str, backend: &str) -> Self {
        subcluster.clone_into(&mut self.subcluster);
        backend.clone_into(&mut self.backend);
        self
    }

    /// Sets the proxy's error code.
    pub fn error_code(mut self, code: &str) -> Self {
        code.clone_into(&mut self.error_code);
        self
    }

    /// Sets a context value.
    pub fn with_context(mut self, key: &str, value: &str) -> Self {
        self.context.set(key, value);
        self
    }

    /// Puts the request on this session.
    pub fn session(mut self, session: FakeSession) -> Self {
        self.session = session;
        self
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The target: path and query.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The path.
    pub fn path(&self) -> &str {
        self.uri
            .split_once('?')
            .map_or(self.uri.as_str(), |(p, _)| p)
    }

    /// The query.
    pub fn query(&self) -> Option<&str> {
        self.uri.split_once('?').map(|(_, q)| q)
    }

    /// The host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The first value of a header.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// All values of a header.
    pub fn header_values<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        self.headers.values(name).collect()
    }

    /// A context value.
    pub fn context(&self, key: &str) -> Option<&str> {
        self.context.get(key)
    }

    /// The redirect target a handler set.
    pub fn redirect_url(&self) -> Option<&str> {
        self.redirect_url.as_deref()
    }

    /// The redirect code (302 unless set).
    pub fn redirect_code(&self) -> u16 {
        self.redirect_code
    }

    /// The redirect as the handlers left it (target, status, headers), for the
    /// [`Outcome::Redirect`](crate::Outcome::Redirect) a chain returns.
    pub(crate) fn redirect_sent(&self) -> crate::Redirect {
        let mut redirect = crate::Redirect::to(self.redirect_url.as_deref().unwrap_or(""))
            .status(self.redirect_code);
        for (name, value) in &self.redirect_headers.0 {
            redirect = redirect.header(name, value);
        }
        redirect
    }

    /// A header a handler added to the redirect.
    pub fn redirect_header(&self, name: &str) -> Option<&str> {
        self.redirect_headers.get(name)
    }

    /// The session.
    pub fn fake_session(&self) -> &FakeSession {
        &self.session
    }

    /// The session, mutable.
    pub fn fake_session_mut(&mut self) -> &mut FakeSession {
        &mut self.session
    }
}

fn host_of(value: &str) -> String {
    let host = match value.strip_prefix('[').and_then(|v| v.find(']')) {
        Some(end) => &value[..end + 2],
        None => match value.rsplit_once(':') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => value,
        },
    };
    host.to_ascii_lowercase()
}

fn valid_target_part(s: &str) -> bool {
    s.bytes().all(|b| b > 0x20 && b != 0x7f && b != b'#')
}

impl RequestView for FakeRequest {
    fn method(&self) -> RStr<'_> {
        self.method.as_str().into()
    }
    fn uri(&self) -> RStr<'_> {
        self.uri.as_str().into()
    }
    fn path(&self) -> RStr<'_> {
        FakeRequest::path(self).into()
    }
    fn query(&self) -> ROption<RStr<'_>> {
        FakeRequest::query(self).map(RStr::from).into()
    }
    fn host(&self) -> RStr<'_> {
        self.host.as_str().into()
    }
    header_methods!(headers);
    fn set_path(&mut self, path: RStr<'_>) -> bool {
        let path = path.as_str();
        if !path.starts_with('/') || path.contains('?') || !valid_target_part(path) {
            return false;
        }
        self.uri = match FakeRequest::query(self) {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        true
    }
    fn set_query(&mut self, query: ROption<RStr<'_>>) -> bool {
        let path = FakeRequest::path(self).to_owned();
        self.uri = match query.into_option() {
            Some(q) if !valid_target_part(q.as_str()) => return false,
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        true
    }
    fn set_host(&mut self, host: RStr<'_>) -> bool {
        if host.is_empty() || !valid_target_part(host.as_str()) {
            return false;
        }
        self.host = host_of(host.as_str());
        self.headers.set("host", host.as_str())
    }
    fn set_uri(&mut self, uri: RStr<'_>) -> bool {
        if !uri.starts_with('/') || !valid_target_part(uri.as_str()) {
            return false;
        }
        self.uri = uri.as_str().to_owned();
        true
    }
    fn client_ip(&self) -> IpAbi {
        self.client_ip.into()
    }
    fn product(&self) -> RStr<'_> {
        self.product.as_str().into()
    }
    fn cluster(&self) -> RStr<'_> {
        self.cluster.as_str().into()
    }
    fn subcluster(&self) -> RStr<'_> {
        self.subcluster.as_str().into()
    }
    fn backend(&self) -> RStr<'_> {
        self.backend.as_str().into()
    }
    fn error_code(&self) -> RStr<'_> {
        self.error_code.as_str().into()
    }
    fn set_redirect(&mut self, url: RStr<'_>, code: u16) {
        self.redirect_url = Some(url.as_str().to_owned());
        self.redirect_code = if code == 0 { 302 } else { code };
    }
    fn add_redirect_header(&mut self, name: RStr<'_>, value: RStr<'_>) -> bool {
        valid_header_name(name.as_str())
            && valid_header_value(value.as_str())
            && self.redirect_headers.add(name.as_str(), value.as_str())
    }
    fn redirect_url(&self) -> ROption<RStr<'_>> {
        self.redirect_url.as_deref().map(RStr::from).into()
    }
    fn redirect_code(&self) -> u16 {
        self.redirect_code
    }
    fn context(&self, key: RStr<'_>) -> ROption<RStr<'_>> {
        self.context.get(key.as_str()).map(RStr::from).into()
    }
    fn set_context(&mut self, key: RStr<'_>, value: RStr<'_>) {
        self.context.set(key.as_str(), value.as_str())
    }
    fn session(&mut self) -> SessionView_TO<'_, RMut<'_, ()>> {
        SessionView_TO::from_ptr(&mut self.session, TD_Opaque)
    }
    fn remote_addr(&self) -> SocketAddrAbi {
        SessionView::remote_addr(&self.session)
    }
    fn is_tls(&self) -> bool {
        SessionView::is_tls(&self.session)
    }
    fn sni(&self) -> ROption<RStr<'_>> {
        SessionView::sni(&self.session)
    }
    fn local(&mut self, instance: u32) -> ROption<RMut<'_, LocalAny>> {
        self.locals.0.get(instance).map(RMut::new).into()
    }
    fn set_local(&mut self, instance: u32, value: LocalAny) {
        self.locals.0.set(instance, value)
    }
    fn want_body(&mut self, instance: u32, over_limit: OverLimitCode) -> bool {
        // A choice this version does not know: refused, the plugin keeps streaming.
        let Some(over_limit) = over_limit.over_limit() else {
            return false;
        };
        let content_type = self.headers.get("content-type").map(str::as_bytes);
        let upgrade = self.headers.get("upgrade").is_some();
        if self.offer_closed || !request_offered(upgrade, content_type) {
            return false;
        }
        self.body_asks.add(instance, over_limit);
        true
    }
    fn body(&self) -> ROption<RSlice<'_, u8>> {
        match self.body_read {
            true => ROption::RSome(RSlice::from_slice(&self.body)),
            false => ROption::RNone,
        }
    }
    fn set_body(&mut self, body: RVec<u8>) -> bool {
        if !self.body_writable {
            return false;
        }
        self.body = body.into_vec();
        self.headers.remove("transfer-encoding");
        self.headers
            .set("content-length", &self.body.len().to_string())
    }
}
