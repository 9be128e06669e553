//! Allows TLS connections by SNI name, TLS version and client certificate, per listener.
//!
//! - **Handshake**: after a successful TLS handshake, a connection whose SNI name is
//!   not allowed, or whose TLS version is older than the minimum, is closed before any
//!   request is read. Plain listeners never reach Handshake.
//!
//! Policies are keyed by the listener's address as written in the proxy's
//! `[[server.tls]] listen`; a listener not listed gets `[default]`, and each key a
//! listener leaves out falls back to `[default]`'s. Names are exact (any case) or
//! `*.suffix` wildcards, which match one or more labels in front of the suffix. With
//! a name list, a client that sends no SNI (e.g. connecting by IP) is closed; without
//! one, any name is allowed.
//!
//! - **Client certificates** (on listeners with `client_ca`): `client_san` requires,
//!   per SNI name, a verified client certificate carrying one of the listed
//!   subjectAltNames; a connection without one is closed.
//!
//! ```toml
//! [default]
//! min_version = "1.2"          # "1.0", "1.1", "1.2" or "1.3"
//!
//! [listeners."127.0.0.1:8443"]
//! min_version = "1.3"
//! sni = ["shop.example.com", "*.api.example.com"]
//! client_san = { "admin.api.example.com" = ["DNS:ops.example.com", "email:ops@example.com"] }
//! ```

mod config;

use hookgate_plugin_api::{export_plugin, Action, PeerCertificate, Registry};

/// Parses the config once and registers the Handshake check.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let policies = config::parse(config).map_err(|e| format!("tls-policy plugin config: {e}"))?;
    reg.on_handshake(move |session| {
        let policy = policies.for_listener(session.listener());
        if !policy.allows(session.sni(), session.tls_version()) {
            return Action::Close;
        }
        // The certificate is only asked of the host where a rule needs it.
        if let Some(wanted) = policy.client_sans(session.sni()) {
            let carries = |cert: PeerCertificate| {
                cert.sans
                    .iter()
                    .any(|san| wanted.iter().any(|w| w.matches(san)))
            };
            if !session.peer_certificate().is_some_and(carries) {
                return Action::Close;
            }
        }
        Action::GoOn
    });
    Ok(())
}

export_plugin!(init, points = [Handshake]);

#[cfg(test)]
mod tests;
