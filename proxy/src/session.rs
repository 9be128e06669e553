//! [`SessionState`]: one client connection, and its view for plugins.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hookgate_plugin_api::abi::{LocalAny, Locals, RMut, ROption, RStr, SessionView, SocketAddrAbi};

use crate::context::Context;
use crate::plugin::canary::{CanarySide, Picks};
use crate::plugin::chain::Picking;

/// What the TLS handshake negotiated.
#[derive(Clone, Debug, Default)]
pub struct TlsInfo {
    /// SNI server name.
    pub sni: Option<String>,
    /// ALPN protocol.
    pub alpn: Option<String>,
    /// e.g. `TLSv1.3`.
    pub version: Option<&'static str>,
    /// Cipher suite name.
    pub cipher: Option<&'static str>,
    /// Whether the client sent a certificate.
    pub peer_certificate: bool,
    /// Its verified certificate, where plugins find it while the connection lives.
    pub client: Option<Arc<crate::tls::peer::Registration>>,
}

/// One client connection.
#[derive(Debug)]
pub struct SessionState {
    /// Unique within the process.
    pub id: u64,
    /// The client's socket address.
    pub remote: SocketAddr,
    /// The proxy's socket address.
    pub local: SocketAddr,
    /// The listener's configured address.
    pub listener: Arc<str>,
    /// Whether the connection came in on a TLS listener (known from Accept on).
    pub is_tls: bool,
    /// Set after a successful handshake on a TLS listener.
    pub tls: Option<TlsInfo>,
    /// `http`, `https` or `h2`.
    pub protocol: &'static str,
    /// When the connection was accepted.
    pub start: SystemTime,
    /// Requests so far.
    pub request_count: u64,
    /// Plugins' shared context.
    pub context: Context,
    /// Each plugin instance's typed state, dropped with the connection.
    pub locals: Locals,
    /// The generation it runs on for each canary entry, chosen once (so Finish runs
    /// on the generation that ran Accept).
    pub picks: Picks,
}

impl SessionState {
    /// A new plain-HTTP session.
    pub fn new(id: u64, remote: SocketAddr, local: SocketAddr, listener: Arc<str>) -> Self {
        SessionState {
            id,
            remote,
            local,
            listener,
            is_tls: false,
            tls: None,
            protocol: "http",
            start: SystemTime::now(),
            request_count: 0,
            context: Context::default(),
            locals: Locals::default(),
            picks: Picks::default(),
        }
    }

    /// Marks a session accepted on a TLS listener (before its handshake).
    pub fn on_tls_listener(mut self, is_tls: bool) -> Self {
        self.is_tls = is_tls;
        if is_tls {
            self.protocol = "https";
        }
        self
    }

    fn tls_field(&self, f: impl Fn(&TlsInfo) -> Option<&str>) -> ROption<RStr<'_>> {
        self.tls.as_ref().and_then(f).map(RStr::from).into()
    }
}

impl Picking for SessionState {
    /// By the connection's peer address.
    #[inline]
    fn runs(&mut self, side: &CanarySide) -> bool {
        self.picks.runs(side, self.remote.ip())
    }
}

impl SessionView for SessionState {
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
        RStr::from(&*self.listener)
    }
    fn is_tls(&self) -> bool {
        self.is_tls
    }
    fn sni(&self) -> ROption<RStr<'_>> {
        self.tls_field(|t| t.sni.as_deref())
    }
    fn alpn(&self) -> ROption<RStr<'_>> {
        self.tls_field(|t| t.alpn.as_deref())
    }
    fn tls_version(&self) -> ROption<RStr<'_>> {
        self.tls_field(|t| t.version)
    }
    fn cipher(&self) -> ROption<RStr<'_>> {
        self.tls_field(|t| t.cipher)
    }
    fn has_peer_certificate(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.peer_certificate)
    }
    fn protocol(&self) -> RStr<'_> {
        self.protocol.into()
    }
    fn start_unix_micros(&self) -> u64 {
        self.start
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
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
        self.locals.get(instance).map(RMut::new).into()
    }
    fn set_local(&mut self, instance: u32, value: LocalAny) {
        self.locals.set(instance, value)
    }
}
