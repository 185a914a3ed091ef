//! [`JwtValidator`]: tokens checked against a fixed [`KeySet`], synchronously.

use std::fmt;
use std::sync::Arc;

use super::verify::{header, verify, Rules};
use super::{rules_methods, KeySet};
use crate::auth::{InvalidToken, Principal, TokenError, TokenValidator};

/// A [`TokenValidator`] of JWTs signed by the keys of a fixed [`KeySet`]: for
/// [`AuthTokenLayer`](crate::auth::AuthTokenLayer).
///
/// A token passes when it is a JWS in compact serialization whose header names a key of the
/// set (`kid`) and that key's algorithm, whose signature verifies with that key, and whose
/// claims hold `exp` in the future, `iss` one of the accepted issuers and `aud` (a string or an
/// array) naming one of the accepted audiences; `nbf`, when present, must be past. `exp` and
/// `nbf` are compared with a clock leeway (default 60 s, [`JwtValidator::leeway`]).
///
/// The principal's subject is `sub` (empty without one), its scopes are those of `scp` and
/// `scope` (space-separated strings, or arrays) and `roles` (an array), and it carries the
/// verified [`Claims`](crate::auth::Claims). Its [`Principal::expires_at`] is not set: `exp` was
/// checked here, with the leeway.
///
/// Cheap to clone (the keys and rules are shared).
#[derive(Clone)]
pub struct JwtValidator {
    keys: Arc<KeySet>,
    rules: Arc<Rules>,
}

impl JwtValidator {
    /// Accepts the tokens signed by `keys`, issued by `issuer` (`iss`) for `audience` (`aud`).
    pub fn new(keys: KeySet, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            keys: Arc::new(keys),
            rules: Arc::new(Rules::new(issuer.into(), audience.into())),
        }
    }

    rules_methods!();
}

impl TokenValidator for JwtValidator {
    fn validate(&self, token: &str) -> Result<Principal, TokenError> {
        let header = header(token, &self.rules)?;
        let key = self
            .keys
            .find(header.kid.as_deref())
            .ok_or(InvalidToken::UnknownKey)?;
        verify(token, header.alg, key, &self.rules)
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
