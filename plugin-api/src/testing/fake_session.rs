//! [`FakeSession`]: a session view for tests.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::abi::{LocalAny, RMut, ROption, RStr, SessionView, SocketAddrAbi};

use super::{Context, FakeLocals};
use crate::PeerCertificate;

/// A client connection for tests: plain HTTP from `192.0.2.1:40000` to
/// `127.0.0.1:8080` unless set otherwise.
///
/// ```
/// use hookgate_plugin_api::testing::FakeSession;
/// let s = FakeSession::new().remote_addr("10.0.0.7:5000".parse().unwrap()).tls("shop.example.com");
/// assert_eq!(s.protocol(), "https");
/// ```
#[derive(Clone, Debug)]
pub struct FakeSession {
    id: u64,
    remote: SocketAddr,
    local: SocketAddr,
    listener: String,
    sni: Option<String>,
    alpn: Option<String>,
    tls_version: Option<String>,
    cipher: Option<String>,
    peer_certificate: bool,
    client_certificate: Option<PeerCertificate>,
    protocol: String,
    start_unix_micros: u64,
    request_count: u64,
    context: Context,
    locals: FakeLocals,
}

impl Default for FakeSession {
    fn default() -> Self {
        FakeSession::new()
    }
}

impl FakeSession {
    /// A plain-HTTP session.
    pub fn new() -> FakeSession {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        FakeSession {
            id: 1,
            remote: SocketAddr::from(([192, 0, 2, 1], 40000)),
            local: SocketAddr::from(([127, 0, 0, 1], 8080)),
            listener: "127.0.0.1:8080".to_owned(),
            sni: None,
            alpn: None,
            tls_version: None,
            cipher: None,
            peer_certificate: false,
            client_certificate: None,
            protocol: "http".to_owned(),
            start_unix_micros: start,
            request_count: 0,
            context: Context::default(),
            locals: FakeLocals::default(),
        }
    }

    /// Sets the id.
    pub fn id(mut self, id: u64) -> Self {
        self.id = id;
        self
    }

    /// Sets the client's address.
    pub fn remote_addr(mut self, addr: SocketAddr) -> Self {
        self.remote = addr;
        self
    }

    /// Sets the proxy's address.
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.local = addr;
        self.listener = addr.to_string();
        self
    }

    /// Makes it a TLS 1.3 session with this SNI name and ALPN `http/1.1`.
    pub fn tls(mut self, sni: &str) -> Self {
        self.sni = Some(sni.to_owned());
        self.alpn = Some("http/1.1".to_owned());
        self.tls_version = Some("TLSv1.3".to_owned());
        self.cipher = Some("TLS13_AES_128_GCM_SHA256".to_owned());
        self.protocol = "https".to_owned();
        self
    }

    /// Sets the TLS version (after [`tls`](Self::tls)).
    pub fn tls_version(mut self, version: &str) -> Self {
        self.tls_version = Some(version.to_owned());
        self
    }

    /// Sets the ALPN protocol; `h2` also makes the protocol `h2`.
    pub fn alpn(mut self, alpn: &str) -> Self {
        self.alpn = Some(alpn.to_owned());
        if alpn == "h2" {
            self.protocol = "h2".to_owned();
        }
        self
    }

    /// Marks that the client presented a certificate.
    pub fn peer_certificate(mut self) -> Self {
        self.peer_certificate = true;
        self
    }

    /// The client presented `certificate`, which the listener verified: what
    /// [`Session::peer_certificate`](crate::Session::peer_certificate) returns while
    /// the fake host runs a handler on this session (directly or through a
    /// [`FakeRequest`](super::FakeRequest)). Also marks that a certificate was
    /// presented.
    pub fn client_certificate(mut self, certificate: PeerCertificate) -> Self {
        self.peer_certificate = true;
        self.client_certificate = Some(certificate);
        self
    }

    /// Its id and client certificate, for the fake host to lend while a handler runs.
    pub(crate) fn lent(&self) -> (u64, Option<PeerCertificate>) {
        (self.id, self.client_certificate.clone())
    }

    /// Sets the number of requests seen.
    pub fn request_count(mut self, n: u64) -> Self {
        self.request_count = n;
        self
    }

    /// Sets a context value.
    pub fn with_context(mut self, key: &str, value: &str) -> Self {
        self.context.set(key, value);
        self
    }

    /// A context value (to check what handlers stored).
    pub fn context(&self, key: &str) -> Option<&str> {
        self.context.get(key)
    }

    /// The protocol: `http`, `https` or `h2`.
    pub fn protocol(&self) -> &str {
        &self.protocol
    }
}

fn opt(s: &Option<String>) -> ROption<RStr<'_>> {
    s.as_deref().map(RStr::from).into()
}

impl SessionView for FakeSession {
    fn id(&self) -> u64 {
        self.id
    }
    fn remote_addr(&self) -> SocketAddrAbi {
        self.remote.into()
    }
    fn local_addr(&self) -> SocketAddrAbi {
        self.local.into()
    }
    fn listener(&self) -> RStr<'_> {
        self.listener.as_str().into()
    }
    fn is_tls(&self) -> bool {
        self.tls_version.is_some()
    }
    fn sni(&self) -> ROption<RStr<'_>> {
        opt(&self.sni)
    }
    fn alpn(&self) -> ROption<RStr<'_>> {
        opt(&self.alpn)
    }
    fn tls_version(&self) -> ROption<RStr<'_>> {
        opt(&self.tls_version)
    }
    fn cipher(&self) -> ROption<RStr<'_>> {
        opt(&self.cipher)
    }
    fn has_peer_certificate(&self) -> bool {
        self.peer_certificate
    }
    fn protocol(&self) -> RStr<'_> {
        self.protocol.as_str().into()
    }
    fn start_unix_micros(&self) -> u64 {
        self.start_unix_micros
    }
    fn request_count(&self) -> u64 {
        self.request_count
    }
    fn context(&self, key: RStr<'_>) -> ROption<RStr<'_>> {
        self.context.get(key.as_str()).map(RStr::from).into()
    }
    fn set_context(&mut self, key: RStr<'_>, value: RStr<'_>) {
        self.context.set(key.as_str(), value.as_str())
    }
    fn local(&mut self, instance: u32) -> ROption<RMut<'_, LocalAny>> {
        self.locals.0.get(instance).map(RMut::new).into()
    }
    fn set_local(&mut self, instance: u32, value: LocalAny) {
        self.locals.0.set(instance, value)
    }
}
