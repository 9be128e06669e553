//! [`Issuer`]: ES256 signing keys, their JWKS document and tokens they sign, for
//! tests of the plugin and of the proxy running it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

/// An identity provider's keys, each with a `kid`: `Issuer::new(&["k1"])`, its
/// document `issuer.jwks()`, a token `issuer.token("k1", &claims)`. (Behind the
/// `testing` feature, which doctests of a workspace run do not see: the examples are
/// the tests below and the plugin's.)
pub struct Issuer {
    keys: Vec<SigningKey>,
}

struct SigningKey {
    kid: String,
    pkcs8: Vec<u8>,
    /// The public point's coordinates, base64url.
    x: String,
    y: String,
}

impl Issuer {
    /// Fresh P-256 keys with these ids.
    ///
    /// # Panics
    ///
    /// If the system's random source fails.
    pub fn new(kids: &[&str]) -> Issuer {
        let random = SystemRandom::new();
        let keys = kids
            .iter()
            .map(|kid| {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random)
                    .expect("generate a P-256 key");
                let pair = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8.as_ref(),
                    &random,
                )
                .expect("read the generated key");
                // Uncompressed point: 0x04, x, y.
                let point = pair.public_key().as_ref();
                SigningKey {
                    kid: (*kid).to_owned(),
                    pkcs8: pkcs8.as_ref().to_vec(),
                    x: URL_SAFE_NO_PAD.encode(&point[1..33]),
                    y: URL_SAFE_NO_PAD.encode(&point[33..65]),
                }
            })
            .collect();
        Issuer { keys }
    }

    /// The JWKS document publishing the public keys.
    pub fn jwks(&self) -> String {
        let keys: Vec<serde_json::Value> = (self.keys.iter())
            .map(|k| {
                serde_json::json!({
                    "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
                    "kid": k.kid, "x": k.x, "y": k.y,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    /// A token with these claims, signed ES256 by key `kid`.
    ///
    /// # Panics
    ///
    /// If there is no such key.
    pub fn token(&self, kid: &str, claims: &serde_json::Value) -> String {
        let key = (self.keys.iter().find(|k| k.kid == kid)).expect("a key with that kid");
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        encode(&header, claims, &EncodingKey::from_ec_der(&key.pkcs8)).expect("sign the token")
    }

    /// Seconds since the epoch.
    pub fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }
}

#[cfg(test)]
mod tests {
    use super::Issuer;

    #[test]
    fn an_issuer_publishes_its_keys_and_signs_with_them() {
        let issuer = Issuer::new(&["k1", "k2"]);
        let token = issuer.token("k2", &serde_json::json!({"sub": "ada"}));
        assert_eq!(token.split('.').count(), 3);
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some("k2"));
        let jwks: serde_json::Value = serde_json::from_str(&issuer.jwks()).unwrap();
        let kids: Vec<&str> = (jwks["keys"].as_array().unwrap().iter())
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["k1", "k2"]);
    }
}
