//! [`Session`]: one client connection, as handlers see it.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use crate::abi::SessionViewMut;

/// One client connection. Accept, Handshake and Finish handlers receive it; request-level
/// handlers reach it through [`Request::session`](crate::Request::session). What runs
/// when is [the callback contract](crate#the-callback-contract).
///
/// ```
/// use hookgate_plugin_api::{Action, Session};
/// fn only_loopback(session: &mut Session<'_>) -> Action {
///     if session.remote_addr().ip().is_loopback() {
///         session.set_context("trusted", "1");
///         Action::GoOn
///     } else {
///         Action::Close
///     }
/// }
/// ```
pub struct Session<'a> {
    raw: SessionViewMut<'a>,
    /// The plugin instance whose handler runs: the key of its typed state.
    instance: u32,
}

impl<'a> Session<'a> {
    /// Internal: wraps the host's view.
    #[doc(hidden)]
    pub fn from_raw(raw: SessionViewMut<'a>, instance: u32) -> Self {
        Session { raw, instance }
    }

    /// Unique id of the connection within this proxy process.
    pub fn id(&self) -> u64 {
        self.raw.id()
    }

    /// The client's address as seen on the socket.
    pub fn remote_addr(&self) -> SocketAddr {
        self.raw.remote_addr().into()
    }

    /// The proxy's address that accepted the connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.raw.local_addr().into()
    }

    /// The listener's address as written in the config.
    pub fn listener(&self) -> &str {
        self.raw.listener().into()
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.raw.is_tls()
    }

    /// SNI server name sent by the client (after Handshake).
    pub fn sni(&self) -> Option<&str> {
        self.raw.sni().into_option().map(Into::into)
    }

    /// Negotiated ALPN protocol (after Handshake).
    pub fn alpn(&self) -> Option<&str> {
        self.raw.alpn().into_option().map(Into::into)
    }

    /// Negotiated TLS version, e.g. `TLSv1.3` (after Handshake).
    pub fn tls_version(&self) -> Option<&str> {
        self.raw.tls_version().into_option().map(Into::into)
    }

    /// Negotiated cipher suite (after Handshake).
    pub fn cipher(&self) -> Option<&str> {
        self.raw.cipher().into_option().map(Into::into)
    }

    /// Whether the client presented a certificate.
    pub fn has_peer_certificate(&self) -> bool {
        self.raw.has_peer_certificate()
    }

    // 0.2.1 begin
    /// The certificate the client presented, verified by the listener against its
    /// `client_ca` (after Handshake): subject, subjectAltNames, serial and SHA-256
    /// fingerprint. `None` on a plain or TLS connection without one, and on a host
    /// older than 0.2.1. Each call copies it from the host: keep it if you need it
    /// twice.
    ///
    /// ```
    /// use hookgate_plugin_api::testing::{FakeSession, TestPlugin};
    /// use hookgate_plugin_api::{Action, PeerCertificate, Registry};
    ///
    /// fn init(_config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    ///     reg.on_handshake(|session| match session.peer_certificate() {
    ///         Some(cert) if cert.subject == "CN=ops" => Action::GoOn,
    ///         _ => Action::Close,
    ///     });
    ///     Ok(())
    /// }
    ///
    /// let plugin = TestPlugin::init(init, "").unwrap();
    /// let ops = PeerCertificate { subject: "CN=ops".into(), ..Default::default() };
    /// let mut with = FakeSession::new().tls("a.example").client_certificate(ops);
    /// assert_eq!(plugin.handshake(&mut with), Ok(Action::GoOn));
    /// let mut without = FakeSession::new().tls("a.example");
    /// assert_eq!(plugin.handshake(&mut without), Ok(Action::Close));
    /// ```
    pub fn peer_certificate(&self) -> Option<crate::PeerCertificate> {
        let lookup = crate::abi::host()?.peer_certificate()?;
        lookup(self.raw.id()).into_option().map(Into::into)
    }
    // 0.2.1 end

    /// `http`, `https` or `h2`.
    pub fn protocol(&self) -> &str {
        self.raw.protocol().into()
    }

    /// When the connection was accepted.
    pub fn start_time(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_micros(self.raw.start_unix_micros())
    }

    /// Requests seen so far on this connection.
    pub fn request_count(&self) -> u64 {
        self.raw.request_count()
    }

    /// A value of the connection's context, shared by all plugins for the connection's
    /// life.
    pub fn context(&self, key: &str) -> Option<&str> {
        self.raw.context(key.into()).into_option().map(Into::into)
    }

    /// Sets a value of the connection's context.
    pub fn set_context(&mut self, key: &str, value: &str) {
        self.raw.set_context(key.into(), value.into())
    }

    /// This plugin instance's typed state for the connection: created with
    /// `T::default()` on first use, kept across the connection's requests, dropped
    /// with the connection (after Finish). Same rules as
    /// [`Request::local`](crate::Request::local).
    ///
    /// ```
    /// use hookgate_plugin_api::testing::{FakeSession, TestPlugin};
    /// use hookgate_plugin_api::{Action, Registry};
    ///
    /// fn init(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    ///     reg.on_accept(|session| {
    ///         *session.local::<u32>() += 1;
    ///         Action::GoOn
    ///     });
    ///     Ok(())
    /// }
    ///
    /// let plugin = TestPlugin::init(init, "").unwrap();
    /// let mut session = FakeSession::default();
    /// plugin.accept(&mut session).unwrap();
    /// plugin.accept(&mut session).unwrap();
    /// ```
    pub fn local<T: Default + Send + 'static>(&mut self) -> &mut T {
        crate::local::state(&mut self.raw, self.instance)
    }

    /// Takes this instance's typed state for the connection out, if it holds a `T`.
    pub fn take_local<T: Send + 'static>(&mut self) -> Option<T> {
        crate::local::take(&mut self.raw, self.instance)
    }
}
