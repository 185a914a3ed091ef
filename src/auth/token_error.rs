//! Why a token is refused: [`TokenError`], precisely [`InvalidToken`].

use std::fmt;

use http::HeaderValue;

/// Why a validator refused a well-formed token. Never carries the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is not known: `Unauthorized` (401), "token is not recognised".
    Unknown,
    /// The token is known but expired: `TokenExpired` (401).
    Expired,
    /// The token is refused for the given reason (revoked, wrong audience, ...): `Unauthorized`
    /// (401) with that message. A `&'static str`, so it cannot carry request data.
    Rejected(&'static str),
    /// The token could not be checked (the authorization server is unreachable):
    /// `ServiceUnavailable` (503), without a `WWW-Authenticate` challenge.
    Unavailable,
    /// As [`TokenError::Unavailable`], and it is worth trying again after the duration:
    /// `Retry-After` in whole seconds, rounded up.
    UnavailableFor(std::time::Duration),
    /// The token is invalid for a precise reason: `Unauthorized` (401), or `TokenExpired` for
    /// [`InvalidToken::Expired`], with the reason as the message and as the challenge's
    /// `error_description` (RFC 6750 §3).
    Invalid(InvalidToken),
}

impl TokenError {
    /// The message the layer answers with, e.g. `"token is not recognised"`.
    pub fn message(self) -> &'static str {
        match self {
            Self::Unknown => "token is not recognised",
            Self::Expired => "token has expired",
            Self::Rejected(reason) => reason,
            Self::Unavailable | Self::UnavailableFor(_) => {
                "token could not be verified: the authorization server is unavailable"
            }
            Self::Invalid(invalid) => invalid.message(),
        }
    }

    /// The `error_description` of the challenge, for the failures that carry one
    /// ([`TokenError::Invalid`]).
    pub fn description(self) -> Option<&'static str> {
        match self {
            Self::Invalid(invalid) => Some(invalid.message()),
            _ => None,
        }
    }

    /// `invalid_token`, the challenge for this failure, with its `error_description` if any.
    pub(crate) fn challenge(self, invalid_token: &HeaderValue) -> HeaderValue {
        let Some(description) = self.description() else {
            return invalid_token.clone();
        };
        let value = format!(
            "{}, error_description=\"{description}\"",
            invalid_token.to_str().unwrap_or_default()
        );
        HeaderValue::try_from(value).unwrap_or_else(|_| invalid_token.clone())
    }
}

/// Why a token is invalid, precisely. Each message is also the RFC 6750 `error_description`
/// of the challenge, so it is printable ASCII without `"` or `\`, and it never carries any part
/// of the token.
///
/// ```
/// use tower_envelope::auth::{InvalidToken, TokenError};
///
/// let error = TokenError::Invalid(InvalidToken::WrongAudience);
/// assert_eq!(error.message(), "token is not intended for this audience");
/// assert_eq!(error.description(), Some(error.message()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Not a well-formed token: not three base64url parts, not JSON, a claim of the wrong type.
    Malformed,
    /// Signed with an algorithm that is not accepted for its key (`none`, HMAC, or another
    /// algorithm than the key's).
    UnsupportedAlgorithm,
    /// Signed by a key that is not in the key set (its `kid` is unknown).
    UnknownKey,
    /// The signature does not verify with the key the token names.
    BadSignature,
    /// Expired (`exp`, with the clock leeway): `TokenExpired`.
    Expired,
    /// Not valid yet (`nbf`, with the clock leeway).
    NotYetValid,
    /// Issued by an issuer (`iss`) that is not accepted.
    WrongIssuer,
    /// Meant for another audience (`aud`).
    WrongAudience,
    /// Without an expiry (`exp`).
    MissingExpiry,
    /// Without an issuer (`iss`).
    MissingIssuer,
    /// Without an audience (`aud`).
    MissingAudience,
    /// Longer than the validator reads (checked before anything is decoded).
    TooLong,
    /// Issued by a tenant (`tid`, for an issuer with a `{tenantid}` placeholder) that is not
    /// accepted, or naming none.
    WrongTenant,
    /// Issued to a client application (`azp`, or `appid` in Entra ID's v1 tokens) that is not
    /// accepted, or naming none.
    WrongClient,
}

impl InvalidToken {
    /// The message, e.g. `"token signature is invalid"`.
    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => "token is malformed",
            Self::UnsupportedAlgorithm => "token is signed with an algorithm that is not accepted",
            Self::UnknownKey => "token is signed by an unknown key",
            Self::BadSignature => "token signature is invalid",
            Self::Expired => "token has expired",
            Self::NotYetValid => "token is not valid yet",
            Self::WrongIssuer => "token is issued by an issuer that is not accepted",
            Self::WrongAudience => "token is not intended for this audience",
            Self::MissingExpiry => "token has no expiry (exp)",
            Self::MissingIssuer => "token names no issuer (iss)",
            Self::MissingAudience => "token names no audience (aud)",
            Self::TooLong => "token is too long",
            Self::WrongTenant => "token is issued by a tenant that is not accepted",
            Self::WrongClient => "token is issued to a client application that is not accepted",
        }
    }
}

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl From<InvalidToken> for TokenError {
    fn from(invalid: InvalidToken) -> Self {
        Self::Invalid(invalid)
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for TokenError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layer answers these messages as they are, without cleaning them.
    #[test]
    fn the_crates_token_messages_are_printable_and_short() {
        use InvalidToken::*;
        // Every variant, in turn: the match has no wildcard, so a new variant must be added.
        #[rustfmt::skip]
        let next = |v| match v { Malformed => Some(UnsupportedAlgorithm), UnsupportedAlgorithm => Some(UnknownKey), UnknownKey => Some(BadSignature), BadSignature => Some(Expired), Expired => Some(NotYetValid), NotYetValid => Some(WrongIssuer), WrongIssuer => Some(WrongAudience), WrongAudience => Some(MissingExpiry), MissingExpiry => Some(MissingIssuer), MissingIssuer => Some(MissingAudience), MissingAudience => Some(TooLong), TooLong => Some(WrongTenant), WrongTenant => Some(WrongClient), WrongClient => None };
        let invalid = std::iter::successors(Some(Malformed), |&v| next(v));
        let errors = [
            TokenError::Unknown,
            TokenError::Expired,
            TokenError::Unavailable,
            TokenError::UnavailableFor(std::time::Duration::from_secs(2)),
        ]
        .into_iter()
        .chain(invalid.map(TokenError::Invalid));
        for error in errors {
            let message = error.message();
            assert!(
                message.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
                "{message:?}"
            );
            assert!(message.len() <= crate::error::MAX_MESSAGE_LEN);
        }
    }
}
