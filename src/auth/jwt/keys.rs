//! The verification keys of a JWKS document, each with the one algorithm it
//! verifies.

use std::fmt;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{DecodingKey, DecodingKeyKind};
use serde::Deserialize;

use super::{Algorithm, JwksError};

/// The RSA moduli accepted, in bytes: 2048 to 8192 bits (the largest the `rsa` crate reads).
const RSA_MODULUS: std::ops::RangeInclusive<usize> = 256..=1024;
/// The RSA public exponents the `rsa` crate accepts: 2 to 2^33 - 1.
const RSA_EXPONENT: std::ops::RangeInclusive<u64> = 2..=(1 << 33) - 1;

/// One verification key.
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) kid: Option<Box<str>>,
    pub(crate) alg: Algorithm,
    pub(crate) key: DecodingKey,
}

/// The verification keys of a JWKS document (RFC 7517), looked up by `kid`; which keys are
/// kept is said at [`JwtValidator::from_jwks`](super::JwtValidator::from_jwks).
#[derive(Clone, Default)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
    /// Told apart from every other key set of the process, for the tokens verified with it.
    generation: u64,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// The usable keys of the JWKS document `json` (`{"keys": [...]}`).
    ///
    /// # Errors
    ///
    /// [`JwksError::Invalid`] when `json` is not a JWKS document, [`JwksError::NoUsableKey`]
    /// when none of its keys can verify a signature.
    pub(crate) fn from_jwks(json: impl AsRef<[u8]>) -> Result<Self, JwksError> {
        let document: Document =
            serde_json::from_slice(json.as_ref()).map_err(JwksError::Invalid)?;
        let mut keys: Vec<Key> = Vec::with_capacity(document.keys.len());
        for jwk in document.keys {
            let Some(key) = serde_json::from_value::<Jwk>(jwk)
                .ok()
                .and_then(|jwk| key(&jwk))
            else {
                continue;
            };
            if key.kid.is_none() || !keys.iter().any(|k| k.kid == key.kid) {
                keys.push(key);
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey);
        }
        static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let generation = GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Self { keys, generation })
    }

    /// A number no other key set of the process has (the empty set's is 0).
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// The key a token's `kid` names; a token without `kid` names the only key of a one-key
    /// set.
    pub(crate) fn find(&self, kid: Option<&str>) -> Option<&Key> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None => match self.keys.as_slice() {
                [only] => Some(only),
                _ => None,
            },
        }
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| (k.kid.as_deref(), k.alg)))
            .finish()
    }
}

/// The verification key of `jwk`, or `None` when it cannot verify a signature.
fn key(jwk: &Jwk) -> Option<Key> {
    let common = &jwk.common;
    if matches!(
        common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    if let Some(ops) = &common.key_operations {
        if !ops.contains(&KeyOperations::Verify) {
            return None;
        }
    }
    let usual = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(params) => match params.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(params) => match params.curve {
            EllipticCurve::Ed25519 => Algorithm::EdDSA,
            _ => return None,
        },
        _ => return None,
    };
    let alg = match common.key_algorithm {
        None => usual,
        Some(named) => {
            let named = Algorithm::from_key_algorithm(named)?;
            // RSA keys may name any RSA algorithm; a curve fixes its algorithm.
            let fits = match usual {
                Algorithm::RS256 => named.is_rsa(),
                _ => named == usual,
            };
            if !fits {
                return None;
            }
            named
        }
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    if !verifies(&key, alg) {
        return None;
    }
    Some(Key {
        kid: common.key_id.as_deref().map(Box::from),
        alg,
        key,
    })
}

/// Whether `key` is the right size for its type and can be handed to `alg`'s verifier: RSA
/// moduli and exponents within range, curve points of their curve's size that decode.
fn verifies(key: &DecodingKey, alg: Algorithm) -> bool {
    match key.kind() {
        DecodingKeyKind::RsaModulusExponent { n, e } => {
            let significant = |bytes: &[u8]| bytes.iter().skip_while(|b| **b == 0).count();
            let exponent = match significant(e) {
                0..=8 => e.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)),
                _ => u64::MAX,
            };
            RSA_MODULUS.contains(&significant(n)) && RSA_EXPONENT.contains(&exponent)
        }
        DecodingKeyKind::SecretOrDer(point) => {
            // An uncompressed EC point (0x04, x, y) or an Ed25519 public key.
            let size = match alg {
                Algorithm::ES256 => 1 + 2 * 32,
                Algorithm::ES384 => 1 + 2 * 48,
                Algorithm::EdDSA => 32,
                _ => return false,
            };
            // Building the verifier decodes the point: an empty signature then fails to verify,
            // a point off its curve fails to build.
            point.len() == size
                && jsonwebtoken::crypto::verify("", b"", key, alg.to_jsonwebtoken()).is_ok()
        }
    }
}

impl Algorithm {
    fn from_key_algorithm(alg: KeyAlgorithm) -> Option<Self> {
        Some(match alg {
            KeyAlgorithm::RS256 => Self::RS256,
            KeyAlgorithm::RS384 => Self::RS384,
            KeyAlgorithm::RS512 => Self::RS512,
            KeyAlgorithm::PS256 => Self::PS256,
            KeyAlgorithm::PS384 => Self::PS384,
            KeyAlgorithm::PS512 => Self::PS512,
            KeyAlgorithm::ES256 => Self::ES256,
            KeyAlgorithm::ES384 => Self::ES384,
            KeyAlgorithm::EdDSA => Self::EdDSA,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key set's generation is never another's, even one that took its memory.
    #[test]
    fn generations_are_never_reused() {
        let jwks = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            let keys = KeySet::from_jwks(jwks).unwrap();
            assert!(seen.insert(keys.generation()));
        }
    }

    const N: &str = "3AndOWfImI7Fh1t14WKABZcnrugL1TrQ6FYth-IO4DCIP8OPA9EMchNuB5CyzF23VKKPYNeb0C9bh-zU1AAr-L6lh0aDwpqztCzL9w0V1H50VRSc177KgOd8NgKstkwBg7c6MgGop_FfpGIpJRuEwMfGF2Px5iFgzsxKmzndkpch1TnZ4zcEXGcO12h-hHw9FM3LDBQoc6FTkfyWiqElczN9PmattZQR2ECUOkGNIIhhOlhotSG0D9y1ov_x6XiEWMpKpUXU6Snsw_cxr9FPOcVp23JhEc3VRq7KogAhJNS4qK3p8bT8TjiYecVyTivCVXDzdfS75BptkTMCbs6RXw";
    const X256: &str = "e7cD47WR7AH3nFuUC8R5FaxiQ2NObB00rR8WaHmt-FE";
    const Y256: &str = "Z1NYVHpRIs96f3WAm23oDc4qbc2j5Lo8dDHsh_uvw9c";
    const ED: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn set(keys: &str) -> Result<KeySet, JwksError> {
        KeySet::from_jwks(format!(r#"{{"keys":[{keys}]}}"#))
    }

    #[test]
    fn the_key_decides_the_algorithm() {
        let keys = set(&format!(
            r#"{{"kty":"RSA","kid":"r","n":"{N}","e":"AQAB"}},
               {{"kty":"RSA","kid":"p","alg":"PS256","n":"{N}","e":"AQAB"}},
               {{"kty":"EC","kid":"e","crv":"P-256","x":"{X256}","y":"{Y256}"}},
               {{"kty":"RSA","kid":"r","alg":"RS512","n":"{N}","e":"AQAB"}}"#
        ))
        .unwrap();
        assert_eq!(keys.keys.len(), 3);
        let algorithm = |kid| keys.find(Some(kid)).map(|key| key.alg);
        assert_eq!(algorithm("r"), Some(Algorithm::RS256));
        assert_eq!(algorithm("p"), Some(Algorithm::PS256));
        assert_eq!(algorithm("e"), Some(Algorithm::ES256));
        assert!(keys.find(None).is_none(), "no kid names no key of three");
    }

    #[test]
    fn skips_keys_that_cannot_verify() {
        let short = &N[..100];
        for skipped in [
            format!(r#"{{"kty":"RSA","use":"enc","n":"{N}","e":"AQAB"}}"#),
            format!(r#"{{"kty":"RSA","key_ops":["encrypt"],"n":"{N}","e":"AQAB"}}"#),
            format!(r#"{{"kty":"RSA","alg":"HS256","n":"{N}","e":"AQAB"}}"#),
            format!(r#"{{"kty":"RSA","alg":"ES256","n":"{N}","e":"AQAB"}}"#),
            format!(r#"{{"kty":"RSA","n":"{short}","e":"AQAB"}}"#),
            format!(r#"{{"kty":"EC","alg":"ES384","crv":"P-256","x":"{X256}","y":"{Y256}"}}"#),
            r#"{"kty":"oct","k":"c2VjcmV0"}"#.to_owned(),
            r#"{"kty":"OKP","crv":"X25519","x":"abc"}"#.to_owned(),
            r#"{"kty":"XYZ"}"#.to_owned(),
            r#"{"kty":"RSA","n":"!","e":"AQAB"}"#.to_owned(),
            format!(r#"{{"kty":"RSA","n":"{N}","e":"AQ"}}"#),
            format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAAAAAB"}}"#),
            format!(r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#, N.repeat(5)),
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{X256}","y":"{X256}"}}"#),
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{X256}","y":"AAAA{Y256}"}}"#),
            format!(r#"{{"kty":"EC","crv":"P-384","x":"{X256}","y":"{Y256}"}}"#),
            format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{}"}}"#, &ED[..22]),
            format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{ED}AAAA"}}"#),
            r#"{"kty":"OKP","crv":"Ed25519","x":""}"#.to_owned(),
            "42".to_owned(),
        ] {
            assert!(
                matches!(set(&skipped), Err(JwksError::NoUsableKey)),
                "{skipped}"
            );
        }
        for usable in [
            format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{ED}"}}"#),
            format!(r#"{{"kty":"EC","crv":"P-256","x":"{X256}","y":"{Y256}"}}"#),
            format!(r#"{{"kty":"RSA","n":"{N}","e":"Aw"}}"#),
        ] {
            assert_eq!(
                set(&usable).map(|keys| keys.keys.len()).ok(),
                Some(1),
                "{usable}"
            );
        }
        let one = set(&format!(r#"{{"kty":"RSA","n":"{N}","e":"AQAB"}}"#)).unwrap();
        assert!(one.find(None).is_some(), "the only key of a one-key set");
        assert!(matches!(
            KeySet::from_jwks("[]"),
            Err(JwksError::Invalid(_))
        ));
    }
}
