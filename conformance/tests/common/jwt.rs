//! The JWT test keys (`tests/keys/*.pem`, made once with `openssl genpkey`), their JWKS
//! entries, and two ways to mint tokens: with `jsonwebtoken` ([`TestKey::mint`]) and by hand
//! ([`TestKey::mint_by_hand`]: base64url, serde_json and the RustCrypto signers directly, none
//! of `jsonwebtoken`'s code), the second, independent implementation.

#![allow(dead_code)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

/// A private key with the `kid` and `alg` it is published (or forged) under.
#[derive(Clone)]
pub struct TestKey {
    pub kid: &'static str,
    pub alg: &'static str,
    /// Whether the JWK names `alg` (RSA keys without it default to RS256).
    pub alg_in_jwk: bool,
    kind: Kind,
    der: Vec<u8>,
}

fn der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("test key PEM")
}

/// The first RSA key, published as `rsa-1` without `alg` (so RS256).
pub fn rsa1() -> TestKey {
    TestKey::new(
        "rsa-1",
        "RS256",
        Kind::Rsa,
        include_str!("../keys/rsa-1.pem"),
    )
}

/// The second RSA key, rotated in as `rsa-2`.
pub fn rsa2() -> TestKey {
    TestKey::new(
        "rsa-2",
        "RS256",
        Kind::Rsa,
        include_str!("../keys/rsa-2.pem"),
    )
}

/// An RSA key that is never published.
pub fn forger() -> TestKey {
    TestKey::new(
        "forger",
        "RS256",
        Kind::Rsa,
        include_str!("../keys/rsa-forger.pem"),
    )
}

/// The P-256 key, `ec-256` (ES256).
pub fn p256() -> TestKey {
    TestKey::new(
        "ec-256",
        "ES256",
        Kind::P256,
        include_str!("../keys/p256.pem"),
    )
    .named()
}

/// The P-384 key, `ec-384` (ES384).
pub fn p384() -> TestKey {
    TestKey::new(
        "ec-384",
        "ES384",
        Kind::P384,
        include_str!("../keys/p384.pem"),
    )
    .named()
}

/// The Ed25519 key, `ed-1` (EdDSA).
pub fn ed25519() -> TestKey {
    TestKey::new(
        "ed-1",
        "EdDSA",
        Kind::Ed25519,
        include_str!("../keys/ed25519.pem"),
    )
    .named()
}

impl TestKey {
    fn new(kid: &'static str, alg: &'static str, kind: Kind, pem: &str) -> Self {
        Self {
            kid,
            alg,
            alg_in_jwk: false,
            kind,
            der: der(pem),
        }
    }

    fn named(mut self) -> Self {
        self.alg_in_jwk = true;
        self
    }

    /// The same key under another `kid`.
    pub fn with_kid(mut self, kid: &'static str) -> Self {
        self.kid = kid;
        self
    }

    /// The same RSA key for another algorithm (named in its JWK).
    pub fn with_alg(mut self, alg: &'static str) -> Self {
        self.alg = alg;
        self.alg_in_jwk = true;
        self
    }

    /// The public JWK.
    pub fn jwk(&self) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut jwk = match self.kind {
            Kind::Rsa => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                use rsa::traits::PublicKeyParts;
                let key = rsa::PrivateKey::from_pkcs1_der(&self.der).unwrap();
                json!({"kty": "RSA", "use": "sig", "n": b64(&key.n_bytes()), "e": b64(&key.e_bytes())})
            }
            Kind::P256 => {
                use p256::pkcs8::DecodePrivateKey;
                let key = p256::ecdsa::SigningKey::from_pkcs8_der(&self.der).unwrap();
                let point = key.verifying_key().to_sec1_point(false);
                let xy = &point.as_bytes()[1..];
                json!({"kty": "EC", "crv": "P-256", "x": b64(&xy[..32]), "y": b64(&xy[32..])})
            }
            Kind::P384 => {
                use p384::pkcs8::DecodePrivateKey;
                let key = p384::ecdsa::SigningKey::from_pkcs8_der(&self.der).unwrap();
                let point = key.verifying_key().to_sec1_point(false);
                let xy = &point.as_bytes()[1..];
                json!({"kty": "EC", "crv": "P-384", "x": b64(&xy[..48]), "y": b64(&xy[48..])})
            }
            Kind::Ed25519 => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                let key = ed25519_dalek::SigningKey::from_pkcs8_der(&self.der).unwrap();
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.verifying_key().as_bytes())})
            }
        };
        jwk["kid"] = json!(self.kid);
        if self.alg_in_jwk {
            jwk["alg"] = json!(self.alg);
        }
        jwk
    }

    /// The RSA public key as PKCS#1 DER (what an HS256 forgery signs with).
    pub fn rsa_public_der(&self) -> Vec<u8> {
        use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPublicKey};
        let key = rsa::PrivateKey::from_pkcs1_der(&self.der).unwrap();
        key.to_public_key()
            .to_pkcs1_der()
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    /// A token for `claims`, signed with `jsonwebtoken` under this key's `kid` and `alg`.
    pub fn mint(&self, claims: &Value) -> String {
        let alg = self.alg.parse().unwrap();
        let mut header = Header::new(alg);
        header.kid = Some(self.kid.to_owned());
        let key = match self.kind {
            Kind::Rsa => EncodingKey::from_rsa_der(&self.der),
            Kind::P256 | Kind::P384 => EncodingKey::from_ec_der(&self.der),
            Kind::Ed25519 => EncodingKey::from_ed_der(&self.der),
        };
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    /// A token for `claims` with this key's `kid` and `alg`, encoded and signed by hand.
    pub fn mint_by_hand(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": self.alg, "kid": self.kid});
        let input = format!("{}.{}", b64_json(&header), b64_json(claims));
        let signature = self.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Signs `message` as JWS `alg` says (RFC 7518 §3).
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use rsa::signature::{SignatureEncoding, Signer};
        match (self.kind, self.alg) {
            (Kind::Rsa, alg) => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                use sha2::{Sha256, Sha384, Sha512};
                let key = rsa::PrivateKey::from_pkcs1_der(&self.der).unwrap();
                match alg {
                    "RS256" => rsa::pkcs1v15::SigningKey::<Sha256>::new(key)
                        .sign(message)
                        .to_vec(),
                    "RS384" => rsa::pkcs1v15::SigningKey::<Sha384>::new(key)
                        .sign(message)
                        .to_vec(),
                    "RS512" => rsa::pkcs1v15::SigningKey::<Sha512>::new(key)
                        .sign(message)
                        .to_vec(),
                    "PS256" => rsa::pss::SigningKey::<Sha256>::new(key)
                        .sign(message)
                        .to_vec(),
                    other => panic!("no hand signer for {other}"),
                }
            }
            (Kind::P256, _) => {
                use p256::pkcs8::DecodePrivateKey;
                let key = p256::ecdsa::SigningKey::from_pkcs8_der(&self.der).unwrap();
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }
            (Kind::P384, _) => {
                use p384::pkcs8::DecodePrivateKey;
                let key = p384::ecdsa::SigningKey::from_pkcs8_der(&self.der).unwrap();
                let signature: p384::ecdsa::Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }
            (Kind::Ed25519, _) => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                let key = ed25519_dalek::SigningKey::from_pkcs8_der(&self.der).unwrap();
                key.sign(message).to_bytes().to_vec()
            }
        }
    }
}

/// base64url (no padding) of the JSON of `value`.
pub fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
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
