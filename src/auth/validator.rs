//! The validator traits: [`TokenValidator`] (answers at once) and [`AsyncTokenValidator`].

use std::future::Future;
use std::sync::Arc;

use super::{Principal, TokenError};

/// Checks a token synchronously (the fast path) and returns its [`Principal`].
///
/// The token is borrowed from the request header and is 1 or more visible ASCII characters.
/// The layer itself checks the principal's expiry ([`Principal::expires_at`]) and the scopes
/// the request requires, so a validator only answers *who is this*.
///
/// Implemented for [`StaticTokens`](super::StaticTokens), for `Arc<V>` and for closures
/// `Fn(&str) -> Result<Principal, TokenError>`:
///
/// ```
/// use tower_envelope::auth::{Principal, TokenError, TokenValidator};
///
/// let validator = |token: &str| match token {
///     "let-me-in" => Ok(Principal::new("guest", ["read"])),
///     _ => Err(TokenError::Unknown),
/// };
/// assert_eq!(validator.validate("nope"), Err(TokenError::Unknown));
/// ```
pub trait TokenValidator {
    /// The principal the token belongs to, or why it is refused.
    fn validate(&self, token: &str) -> Result<Principal, TokenError>;
}

impl<F> TokenValidator for F
where
    F: Fn(&str) -> Result<Principal, TokenError>,
{
    fn validate(&self, token: &str) -> Result<Principal, TokenError> {
        self(token)
    }
}

impl<V: TokenValidator + ?Sized> TokenValidator for Arc<V> {
    fn validate(&self, token: &str) -> Result<Principal, TokenError> {
        (**self).validate(token)
    }
}

/// Checks a token asynchronously, e.g. by introspection against an authorization server
/// (RFC 7662). Used by [`AuthTokenLayer::bearer_async`](crate::AuthTokenLayer::bearer_async)
/// and [`AuthTokenLayer::new_async`](crate::AuthTokenLayer::new_async).
///
/// The future cannot borrow the token (it is stored beside the request the token is read
/// from): copy the token into it if it needs it.
///
/// Implemented for closures `Fn(&str) -> impl Future<Output = Result<Principal, TokenError>>`:
///
/// ```
/// use tower_envelope::auth::{AsyncTokenValidator, Principal, TokenError};
///
/// let introspect = |token: &str| {
///     let known = token == "let-me-in";
///     async move {
///         if known { Ok(Principal::new("guest", ["read"])) } else { Err(TokenError::Unknown) }
///     }
/// };
/// let _future = introspect.validate("let-me-in");
/// ```
pub trait AsyncTokenValidator {
    /// The validation future.
    type Future: Future<Output = Result<Principal, TokenError>>;

    /// Starts validating `token`.
    fn validate(&self, token: &str) -> Self::Future;

    /// Answers at once when it can (a token seen before, a key already fetched), so that the
    /// request does not wait for a future; `None` (the default) to wait for
    /// [`AsyncTokenValidator::validate`]'s. An answer given here must be the one `validate`'s
    /// future would give.
    fn validate_now(&self, token: &str) -> Option<Result<Principal, TokenError>> {
        let _ = token;
        None
    }
}

impl<F, Fut> AsyncTokenValidator for F
where
    F: Fn(&str) -> Fut,
    Fut: Future<Output = Result<Principal, TokenError>>,
{
    type Future = Fut;

    fn validate(&self, token: &str) -> Fut {
        self(token)
    }
}
