//! The test clients' TLS config: trust the test CA, tolerate a name mismatch.

use std::sync::Arc;

use crate::CertFiles;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
};

/// A client config trusting `roots`, offering `alpn`, with ring as the provider.
pub(crate) fn client_config(roots: Arc<RootCertStore>, alpn: &[&str]) -> Arc<ClientConfig> {
    client_config_as(roots, alpn, None)
}

/// [`client_config`] presenting `identity` to servers that ask for a client
/// certificate.
pub(crate) fn client_config_as(
    roots: Arc<RootCertStore>,
    alpn: &[&str],
    identity: Option<&CertFiles>,
) -> Arc<ClientConfig> {
    let provider = Arc::new(ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .expect("a verifier for the test CA");
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyName(verifier)));
    let mut config = match identity {
        None => config.with_no_client_auth(),
        Some(identity) => {
            let key = PrivateKeyDer::from_pem_file(&identity.key).expect("the client key");
            config
                .with_client_auth_cert(vec![identity.der.clone()], key)
                .expect("the client certificate goes with its key")
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Arc::new(config)
}

/// Verifies the chain like a browser but accepts a certificate for another name, so a
/// test can connect with any SNI (or none) and then look at which certificate came.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verified =
            self.0
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match verified {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
