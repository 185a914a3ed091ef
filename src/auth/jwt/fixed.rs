//! [`JwtValidator`]: tokens checked against a fixed key set, synchronously.

use std::fmt;
use std::sync::Arc;

use super::verified::{Tokens, DEFAULT_MAX_CACHED_TOKENS};
use super::verify::{header, verify, Rules};
use super::{rules_methods, JwksError, KeySet};
use crate::auth::{InvalidToken, Principal, TokenError, TokenValidator};

/// A [`TokenValidator`] of JWTs signed by the keys of a fixed JWKS document: for
/// [`AuthTokenLayer::bearer`](crate::auth::AuthTokenLayer::bearer).
///
/// A token passes when it is a JWS in compact serialization whose header names a key of the
/// set (`kid`) and that key's algorithm, whose signature verifies with that key, and whose
/// claims hold `exp` in the future, `iss` one of the accepted issuers and `aud` (a string or an
/// array) naming one of the accepted audiences; `nbf`, when present, must be past. `exp` and
/// `nbf` are compared with a clock leeway (default 60 s, [`JwtValidator::leeway`]).
///
/// The principal's subject is `sub` (empty without one), its scopes are those of `scp` and
/// `scope` (space-separated strings, or arrays) and `roles` (an array), and it carries the
/// verified claims ([`Principal::claim`]). Its [`Principal::expires_at`] is not set: `exp` was
/// checked here, with the leeway.
///
/// Cheap to clone (the keys and rules are shared).
#[derive(Clone)]
pub struct JwtValidator {
    keys: Arc<KeySet>,
    rules: Arc<Rules>,
    verified: Arc<Tokens>,
}

impl JwtValidator {
    /// Accepts the tokens signed by the usable keys of the JWKS document `jwks`
    /// (`{"keys": [...]}`, RFC 7517), issued by `issuer` (`iss`) for `audience` (`aud`).
    ///
    /// Each key verifies exactly one algorithm: the JWK's `alg` when it
    /// names one, otherwise the usual one for its type (`RS256` for RSA, `ES256`/`ES384` for
    /// P-256/P-384, `EdDSA` for Ed25519). A token whose header names another algorithm is
    /// refused, so the token never chooses how it is verified.
    ///
    /// Keys that cannot verify a signature are skipped: encryption keys (`"use": "enc"`), keys
    /// whose `key_ops` lack `verify`, symmetric (`oct`) keys, RSA keys under 2048 or over 8192
    /// bits or with an exponent out of range, curve points of the wrong size or not on their
    /// curve, unknown key types and curves, and keys whose `alg` does not fit their type. So
    /// every key kept can be handed to the verifier: no token reaches a key that fails when it
    /// is used. Of two keys with the same `kid`, the first is kept. A token without `kid` names
    /// the only key of a one-key set.
    ///
    /// ```
    /// use tower_envelope::auth::jwt::{JwksError, JwtValidator};
    ///
    /// let (iss, aud) = ("https://issuer.example", "api://machines");
    /// let ed25519 = r#"{"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    /// let secret = r#"{"kty": "oct", "kid": "secret", "k": "c2VjcmV0"}"#;
    /// assert!(JwtValidator::from_jwks(format!(r#"{{"keys": [{ed25519}, {secret}]}}"#), iss, aud).is_ok());
    /// // A symmetric key alone cannot verify anything.
    /// let only_secret = JwtValidator::from_jwks(format!(r#"{{"keys": [{secret}]}}"#), iss, aud);
    /// assert!(matches!(only_secret, Err(JwksError::NoUsableKey)));
    /// ```
    ///
    /// # Errors
    ///
    /// [`JwksError::Invalid`] when `jwks` is not a JWKS document, [`JwksError::NoUsableKey`]
    /// when none of its keys can verify a signature.
    pub fn from_jwks(
        jwks: impl AsRef<[u8]>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwksError> {
        Ok(Self {
            keys: Arc::new(KeySet::from_jwks(jwks)?),
            rules: Arc::new(Rules::new(issuer.into(), audience.into())),
            verified: Arc::new(Tokens::new(DEFAULT_MAX_CACHED_TOKENS)),
        })
    }

    rules_methods!();
}

impl TokenValidator for JwtValidator {
    fn validate(&self, token: &str) -> Result<Principal, TokenError> {
        let keys = self.keys.generation();
        let leeway = self.rules.leeway();
        if let Some(verified) = self.verified.get(token, keys, leeway) {
            return verified.map_err(TokenError::Invalid);
        }
        let header = header(token, &self.rules)?;
        let key = self
            .keys
            .find(header.kid.as_deref())
            .ok_or(InvalidToken::UnknownKey)?;
        let verified = verify(token, header.alg, key, &self.rules)?;
        let principal = verified.principal.clone();
        self.verified.insert(token, keys, verified, leeway);
        Ok(principal)
    }
}

impl fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtValidator")
            .field("keys", &self.keys)
            .field("rules", &self.rules)
            .finish()
    }
}
