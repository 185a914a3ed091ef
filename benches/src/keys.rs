//! The JWT harness's keys (`keys/*.pem`, made once with `openssl genpkey`), their JWKS entries and
//! tokens signed with them by `jsonwebtoken`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// A private key with the `kid` and `alg` it is published under.
#[derive(Clone)]
pub struct TestKey {
    kid: &'static str,
    alg: Algorithm,
    key: EncodingKey,
}

/// The DER inside a PEM file.
fn der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("key PEM")
}

/// An RSA key (2048 bits), published as `rsa-1` without `alg` (so RS256).
pub fn rsa1() -> TestKey {
    TestKey {
        kid: "rsa-1",
        alg: Algorithm::RS256,
        key: EncodingKey::from_rsa_der(&der(include_str!("../keys/rsa-1.pem"))),
    }
}

/// A P-256 key, `ec-256` (ES256).
pub fn p256() -> TestKey {
    TestKey {
        kid: "ec-256",
        alg: Algorithm::ES256,
        key: EncodingKey::from_ec_der(&der(include_str!("../keys/p256.pem"))),
    }
}

/// An Ed25519 key, `ed-1` (EdDSA).
pub fn ed25519() -> TestKey {
    TestKey {
        kid: "ed-1",
        alg: Algorithm::EdDSA,
        key: EncodingKey::from_ed_der(&der(include_str!("../keys/ed25519.pem"))),
    }
}

impl TestKey {
    /// The public JWK, with its `kid`; RSA keys as an issuer publishes them for signing
    /// (`"use": "sig"`, no `alg`), the others naming their `alg`.
    pub fn jwk(&self) -> Value {
        let jwk = Jwk::from_encoding_key(&self.key, self.alg).expect("public JWK");
        let mut jwk = serde_json::to_value(jwk).unwrap();
        jwk["kid"] = json!(self.kid);
        if self.alg == Algorithm::RS256 {
            jwk.as_object_mut().unwrap().remove("alg");
            jwk["use"] = json!("sig");
        }
        jwk
    }

    /// A token for `claims`, signed under this key's `kid` and `alg`.
    pub fn mint(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

/// The JWKS document of `keys`.
pub fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()}).to_string()
}

/// Seconds since the Unix epoch, shifted by `offset`.
pub fn now_plus(offset: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    now + offset
}
