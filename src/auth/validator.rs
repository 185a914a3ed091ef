//! Who a token belongs to: [`Principal`] (with the token's verified [`Claims`], if any), the
//! [`TokenValidator`] and [`AsyncTokenValidator`] traits, their typed failure [`TokenError`]
//! (precisely, [`InvalidToken`]), and the built-in [`StaticTokens`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use http::HeaderValue;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use siphasher::sip128::SipHasher13;

/// The identity behind a valid token: a subject, its scopes and an optional expiry.
///
/// Cheap to clone (one shared allocation, built once). On success [`crate::AuthTokenLayer`]
/// inserts it into the request extensions, where a handler reads it (axum:
/// `Extension<Principal>`). It never holds the token itself. When it carries a token's
/// [`Claims`], its `Debug` output shows neither the subject nor the scopes, only their count.
///
/// ```
/// use tower_envelope::auth::Principal;
///
/// let p = Principal::new("alice", ["read", "write"]);
/// assert!(p.has_scope("write"));
/// assert_eq!(p.subject(), "alice");
/// assert_eq!(p.expires_at(), None);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Principal {
    inner: Arc<PrincipalInner>,
}

#[derive(Clone, PartialEq, Eq)]
struct PrincipalInner {
    subject: Cow<'static, str>,
    scopes: Box<[Cow<'static, str>]>,
    expires_at: Option<SystemTime>,
    claims: Option<Claims>,
}

impl Principal {
    /// A principal named `subject` holding `scopes`, without expiry.
    pub fn new<I, S>(subject: impl Into<Cow<'static, str>>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        Self {
            inner: Arc::new(PrincipalInner {
                subject: subject.into(),
                scopes: scopes.into_iter().map(Into::into).collect(),
                expires_at: None,
                claims: None,
            }),
        }
    }

    /// Sets the instant from which the principal's token is expired.
    pub fn with_expiry(mut self, expires_at: SystemTime) -> Self {
        Arc::make_mut(&mut self.inner).expires_at = Some(expires_at);
        self
    }

    /// Attaches the token's verified claims (see [`Principal::claims`]).
    pub fn with_claims(mut self, claims: Claims) -> Self {
        Arc::make_mut(&mut self.inner).claims = Some(claims);
        self
    }

    /// The verified claims of the token, when the validator keeps them (the JWT validators of
    /// feature `jwt` do).
    pub fn claims(&self) -> Option<&Claims> {
        self.inner.claims.as_ref()
    }

    /// The subject (user, client or key name).
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// The scopes.
    pub fn scopes(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.inner.scopes.iter().map(|s| &**s)
    }

    /// Whether `scope` is one of the scopes (exact, case-sensitive comparison, as RFC 6749 §3.3
    /// says).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.inner.scopes.iter().any(|s| s == scope)
    }

    /// The instant from which the token is expired, if it expires.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner.expires_at
    }

    /// Whether the token is expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.inner.expires_at.is_some_and(|at| now >= at)
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        let mut debug = f.debug_struct("Principal");
        if inner.claims.is_some() {
            // Subject and scopes read from a token's claims are claim values: only counted.
            debug
                .field("subject", &"<redacted>")
                .field("scopes", &inner.scopes.len());
        } else {
            debug
                .field("subject", &inner.subject)
                .field("scopes", &inner.scopes);
        }
        debug
            .field("expires_at", &inner.expires_at)
            .field("claims", &inner.claims)
            .finish()
    }
}

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
        let mut value = Vec::with_capacity(invalid_token.len() + description.len() + 22);
        value.extend_from_slice(invalid_token.as_bytes());
        value.extend_from_slice(b", error_description=\"");
        value.extend_from_slice(description.as_bytes());
        value.push(b'"');
        HeaderValue::from_bytes(&value).unwrap_or_else(|_| invalid_token.clone())
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

/// The verified claims of a token: the JSON object its issuer signed, kept as text (one
/// allocation) and read on demand, typed by the reader.
///
/// Handlers reach it through the [`Principal`] in the request extensions
/// ([`Principal::claims`]). Its `Debug` output shows no claim.
///
/// ```
/// use serde::Deserialize;
/// use tower_envelope::auth::Claims;
///
/// let claims = Claims::from_json(r#"{"sub":"alice","tid":"contoso","exp":4102444800}"#).unwrap();
/// assert_eq!(claims.get::<&str>("tid"), Some("contoso"));
/// assert_eq!(claims.get::<u64>("exp"), Some(4102444800));
/// assert_eq!(claims.get::<u64>("tid"), None); // not a number
/// assert_eq!(claims.get::<&str>("oid"), None); // absent
///
/// #[derive(Deserialize)]
/// struct Tenant<'a> { tid: &'a str }
/// assert_eq!(claims.parse::<Tenant>().unwrap().tid, "contoso");
///
/// assert!(Claims::from_json("[1, 2]").is_err()); // not an object
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Claims {
    json: Box<str>,
}

impl Claims {
    /// The claims in `json`, which must be a JSON object.
    pub fn from_json(json: impl Into<Box<str>>) -> Result<Self, serde_json::Error> {
        let json = json.into();
        let mut de = serde_json::Deserializer::from_str(&json);
        serde::Deserializer::deserialize_map(&mut de, ObjectVisitor)?;
        de.end()?;
        Ok(Self { json })
    }

    /// Wraps the text of a JSON object the caller has already parsed.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn from_object(json: Box<str>) -> Self {
        Self { json }
    }

    /// The claim `name` as a `T`; `None` when it is absent or not a `T`. Strings with escapes
    /// do not borrow: read them as `String` or `Cow<str>`.
    pub fn get<'a, T: Deserialize<'a>>(&'a self, name: &str) -> Option<T> {
        let mut de = serde_json::Deserializer::from_str(&self.json);
        let found = serde::Deserializer::deserialize_map(&mut de, Find::<T>::new(name)).ok()?;
        found
    }

    /// All the claims as a `T` (a struct of the claims a handler needs, or a map).
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.json)
    }

    /// The claims as JSON text, as the issuer signed them.
    pub fn as_json(&self) -> &str {
        &self.json
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims").finish_non_exhaustive()
    }
}

/// Accepts a JSON object, whatever it holds.
struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// Finds one member of a JSON object (the first of that name), skipping the others.
struct Find<'n, T> {
    name: &'n str,
    value: PhantomData<T>,
}

impl<'n, T> Find<'n, T> {
    fn new(name: &'n str) -> Self {
        Self {
            name,
            value: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Find<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if found.is_none() && key == self.name {
                found = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for TokenError {}

/// Checks a token synchronously (the fast path) and returns its [`Principal`].
///
/// The token is borrowed from the request header and is 1 or more visible ASCII characters.
/// The layer itself checks the principal's expiry ([`Principal::expires_at`]) and the scopes
/// the request requires, so a validator only answers *who is this*.
///
/// Implemented for [`StaticTokens`], for `Arc<V>` and for closures
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

    /// Validates `token` (visible ASCII, as read from the header) and lends its principal to
    /// `admit`; a validator that holds its principals lends them without a clone.
    #[doc(hidden)]
    #[inline]
    fn validate_with<R>(
        &self,
        token: &[u8],
        admit: impl FnOnce(&Principal) -> R,
    ) -> Result<R, TokenError>
    where
        Self: Sized,
    {
        let token = std::str::from_utf8(token).map_err(|_| TokenError::Unknown)?;
        self.validate(token).map(|principal| admit(&principal))
    }
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
/// (RFC 7662). Used by [`crate::AuthTokenLayer`] through [`crate::auth::Async`].
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

/// A fixed set of tokens, each mapped to a [`Principal`]; looked up by a keyed digest.
///
/// Several tokens may map to one principal ([`StaticTokens::principal`]: a primary and a backup
/// token, for rotation). A token may expire ([`StaticTokens::token_expiring_at`]).
///
/// ```
/// use std::time::SystemTime;
/// use tower_envelope::auth::{Principal, StaticTokens, TokenError, TokenValidator};
///
/// let tokens = StaticTokens::new()
///     .token("read-token", ["read"])
///     .token("write-token", ["read", "write"])
///     .token_expiring_at("old-token", ["read"], SystemTime::UNIX_EPOCH)
///     .principal(Principal::new("ci", ["deploy"]), ["ci-primary", "ci-backup"]);
/// assert_eq!(tokens.len(), 5);
/// assert_eq!(tokens.validate("ci-backup").unwrap().subject(), "ci");
/// assert!(tokens.validate("write-token").unwrap().has_scope("write"));
/// assert_eq!(tokens.validate("guess").unwrap_err(), TokenError::Unknown);
/// // Expiry is the layer's check: the validator still names the principal.
/// assert!(tokens.validate("old-token").unwrap().is_expired_at(SystemTime::now()));
/// ```
///
/// # Timing
///
/// Tokens are never stored. At construction each token is reduced to a 128-bit digest: SipHash-1-3
/// under a secret random key drawn once per process. A presented token is hashed the same way,
/// and its digest is looked up in a hash table keyed by the stored digests.
///
/// - Hashing takes a time that depends only on the presented token's length, not on its bytes.
/// - The lookup's time (which slot, how many probes, whether a stored digest is compared) depends
///   only on the digest. Without the key, a digest is unpredictable from the token: a token that
///   differs from a stored one in its last byte, or by one byte of length, has a digest unrelated
///   to the stored one. So however the lookup's time varies, it tells nothing about how close a
///   guess is to a stored token, and nothing about a stored token's content or length.
/// - The cost does not grow with the number of stored tokens.
///
/// The digest equality itself is one fixed-size comparison.
#[derive(Clone)]
pub struct StaticTokens {
    table: Arc<Table>,
}

#[derive(Clone)]
struct Table {
    hasher: SipHasher13,
    /// Principal index by token digest.
    digests: HashMap<Digest, u32, BuildHasherDefault<DigestHasher>>,
    principals: Vec<Principal>,
}

/// A token's keyed 128-bit digest.
#[derive(Clone, Copy, Eq)]
struct Digest(u128);

impl std::hash::Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(self.0);
    }
}

impl PartialEq for Digest {
    fn eq(&self, other: &Self) -> bool {
        #[cfg(test)]
        constant_time::COMPARISONS.with(|n| n.set(n.get() + 1));
        self.0 == other.0
    }
}

/// Hashes a [`Digest`] for the table: it is already a keyed pseudo-random value, so its low 64
/// bits are the hash.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 ^= value as u64;
    }
}

/// The per-process SipHash key.
///
/// Why keyed SipHash-1-3 and not SHA-256: the digest is fixed-size, a short token hashes several
/// times faster, and the secret random key makes every digest unpredictable, which is what the
/// lookup's timing argument rests on.
fn process_key() -> (u64, u64) {
    static KEY: OnceLock<(u64, u64)> = OnceLock::new();
    *KEY.get_or_init(|| {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            // The OS source failed: fall back to std's randomly seeded hasher keys.
            use std::hash::BuildHasher;
            for (i, chunk) in bytes.chunks_mut(8).enumerate() {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(i);
                chunk.copy_from_slice(&h.finish().to_le_bytes());
            }
        }
        let (k0, k1) = bytes.split_at(8);
        (
            u64::from_le_bytes(k0.try_into().unwrap_or_default()),
            u64::from_le_bytes(k1.try_into().unwrap_or_default()),
        )
    })
}

impl Default for StaticTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl StaticTokens {
    /// An empty set (every token is refused).
    pub fn new() -> Self {
        let (k0, k1) = process_key();
        Self::with_key(k0, k1)
    }

    fn with_key(k0: u64, k1: u64) -> Self {
        Self {
            table: Arc::new(Table {
                hasher: SipHasher13::new_with_keys(k0, k1),
                digests: HashMap::default(),
                principals: Vec::new(),
            }),
        }
    }

    /// Adds `token` for a new principal holding `scopes`, without expiry. Its subject is
    /// `token-N`, N being the principal's 1-based position (never derived from the token).
    ///
    /// # Panics
    ///
    /// When `token` is empty or holds anything but visible ASCII (`!`..=`~`), since no request
    /// could present it, or when it is already registered. The message never shows the token.
    pub fn token<I, S>(self, token: impl AsRef<str>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        let subject = format!("token-{}", self.table.principals.len() + 1);
        self.principal(Principal::new(subject, scopes), [token])
    }

    /// Adds `token` for a new principal holding `scopes`, expired from `expires_at` on
    /// (`TokenExpired`). Panics like [`StaticTokens::token`].
    pub fn token_expiring_at<I, S>(
        self,
        token: impl AsRef<str>,
        scopes: I,
        expires_at: SystemTime,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        let subject = format!("token-{}", self.table.principals.len() + 1);
        self.principal(
            Principal::new(subject, scopes).with_expiry(expires_at),
            [token],
        )
    }

    /// Adds `principal` with all of `tokens` (a primary and a backup token, for rotation).
    /// Panics like [`StaticTokens::token`].
    pub fn principal<T>(mut self, principal: Principal, tokens: T) -> Self
    where
        T: IntoIterator,
        T::Item: AsRef<str>,
    {
        let table = Arc::make_mut(&mut self.table);
        let index = u32::try_from(table.principals.len())
            .unwrap_or_else(|_| panic!("StaticTokens: too many principals"));
        table.principals.push(principal);
        for token in tokens {
            let token = token.as_ref().as_bytes();
            let position = table.digests.len() + 1;
            assert!(
                !token.is_empty() && token.iter().all(|b| (0x21..=0x7e).contains(b)),
                "StaticTokens: token #{position} is empty or holds characters other than visible ASCII"
            );
            let previous = table.digests.insert(table.digest(token), index);
            assert!(
                previous.is_none(),
                "StaticTokens: token #{position} is registered twice"
            );
        }
        self
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.table.digests.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.table.digests.is_empty()
    }
}

impl Table {
    fn digest(&self, token: &[u8]) -> Digest {
        Digest(self.hasher.hash(token).as_u128())
    }
}

impl StaticTokens {
    #[inline]
    fn find(&self, token: &[u8]) -> Result<&Principal, TokenError> {
        let table = &*self.table;
        let index = table.digests.get(&table.digest(token));
        index
            .and_then(|&i| table.principals.get(i as usize))
            .ok_or(TokenError::Unknown)
    }
}

impl TokenValidator for StaticTokens {
    fn validate(&self, token: &str) -> Result<Principal, TokenError> {
        self.find(token.as_bytes()).cloned()
    }

    #[inline]
    fn validate_with<R>(
        &self,
        token: &[u8],
        admit: impl FnOnce(&Principal) -> R,
    ) -> Result<R, TokenError> {
        self.find(token).map(admit)
    }
}

impl fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither tokens (never stored) nor digests are shown: only counts and principals.
        f.debug_struct("StaticTokens")
            .field("tokens", &self.table.digests.len())
            .field("principals", &self.table.principals)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layer answers these messages as they are, without cleaning them.
    #[test]
    fn the_crates_token_messages_are_printable_and_short() {
        use InvalidToken::*;
        // Every variant, in turn: the match has no wildcard, so a new variant must be added.
        #[rustfmt::skip]
        let next = |v| match v { Malformed => Some(UnsupportedAlgorithm), UnsupportedAlgorithm => Some(UnknownKey), UnknownKey => Some(BadSignature), BadSignature => Some(Expired), Expired => Some(NotYetValid), NotYetValid => Some(WrongIssuer), WrongIssuer => Some(WrongAudience), WrongAudience => Some(MissingExpiry), MissingExpiry => Some(MissingIssuer), MissingIssuer => Some(MissingAudience), MissingAudience => Some(TooLong), TooLong => None };
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
                !crate::ascii::any_unprintable(message.as_bytes()),
                "{message:?}"
            );
            assert!(message.len() <= crate::error::MAX_MESSAGE_LEN);
        }
    }

    #[test]
    fn finds_every_token_and_only_those() {
        let tokens = StaticTokens::new()
            .token("a", ["r"])
            .principal(Principal::new("two", ["w"]), ["b1", "b2"])
            .token("c", ["x"]);
        assert_eq!(tokens.validate("a").unwrap().subject(), "token-1");
        assert_eq!(tokens.validate("b1").unwrap().subject(), "two");
        assert_eq!(tokens.validate("b2").unwrap().subject(), "two");
        assert_eq!(tokens.validate("c").unwrap().subject(), "token-3");
        for wrong in ["", "A", "b", "b12", "c ", "aa"] {
            assert_eq!(
                tokens.validate(wrong),
                Err(TokenError::Unknown),
                "{wrong:?}"
            );
        }
        assert_eq!(StaticTokens::new().validate("a"), Err(TokenError::Unknown));
    }

    #[test]
    fn shares_the_principal() {
        let tokens = StaticTokens::new().token("a", ["r"]);
        let (p, q) = (tokens.validate("a").unwrap(), tokens.validate("a").unwrap());
        assert!(Arc::ptr_eq(&p.inner, &q.inner));
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn refuses_duplicates() {
        let _ = StaticTokens::new().token("a", ["r"]).token("a", ["w"]);
    }

    #[test]
    #[should_panic(expected = "visible ASCII")]
    fn refuses_unpresentable_tokens() {
        let _ = StaticTokens::new().token("a b", ["r"]);
    }

    #[test]
    fn debug_hides_tokens() {
        let tokens = StaticTokens::new().token("super-secret-token", ["r"]);
        let debug = format!("{tokens:?}");
        assert!(!debug.contains("super-secret-token"), "{debug}");
        assert!(debug.contains("tokens: 1"), "{debug}");
    }

    #[test]
    fn debug_hides_what_comes_from_claims() {
        let p = Principal::new("secret-subject", ["secret-scope"])
            .with_claims(Claims::from_object(r#"{"tid":"secret-tenant"}"#.into()));
        let debug = format!("{p:?}");
        for secret in ["secret-subject", "secret-scope", "secret-tenant"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("scopes: 1"), "{debug}");
    }
}

/// The lookup's timing argument, checked deterministically: a token is reduced to a keyed digest
/// unrelated to any near miss, and the lookup compares a bounded number of digests, whatever the
/// token and however many are stored (the comparisons are counted, not timed).
#[cfg(test)]
mod constant_time {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// Digest comparisons made on this thread.
        pub(super) static COMPARISONS: Cell<usize> = const { Cell::new(0) };
    }

    const STORED: &str = "tEsT-sEcReT-7c1f0a9e4b2d8c3a6f5e";

    /// The stored token, then its near misses: last byte changed, one byte longer, one shorter.
    fn presented(stored: &str) -> [String; 4] {
        let mut last = stored.to_owned();
        let byte = last.pop().map_or('a', |c| if c == 'X' { 'Y' } else { 'X' });
        last.push(byte);
        [
            stored.to_owned(),
            last,
            format!("{stored}0"),
            stored[..stored.len() - 1].to_owned(),
        ]
    }

    fn comparisons(tokens: &StaticTokens, token: &str) -> (bool, usize) {
        COMPARISONS.with(|n| n.set(0));
        let found = tokens.validate(token).is_ok();
        (found, COMPARISONS.with(Cell::get))
    }

    #[test]
    fn near_misses_are_refused_like_any_unknown_token() {
        let tokens = StaticTokens::new()
            .token(STORED, ["r"])
            .token("other", ["r"]);
        let [exact, misses @ ..] = presented(STORED);
        assert!(tokens.validate(&exact).is_ok());
        for miss in misses.iter().chain([&"x".repeat(STORED.len())]) {
            assert_eq!(tokens.validate(miss), Err(TokenError::Unknown), "{miss}");
        }
    }

    #[test]
    fn a_near_miss_is_a_fixed_size_digest_unrelated_to_the_stored_one() {
        let tokens = StaticTokens::new().token(STORED, ["r"]);
        let table = &*tokens.table;
        let [exact, misses @ ..] = presented(STORED);
        let stored = table.digest(exact.as_bytes()).0;
        assert!(table.digests.contains_key(&Digest(stored)));
        for miss in &misses {
            // What the lookup uses is the 128-bit digest alone, and a near miss's digest shares
            // neither half with the stored one: nothing in the lookup follows how close it is.
            let h = table.digest(miss.as_bytes()).0;
            assert_ne!(h as u64, stored as u64, "{miss}");
            assert_ne!((h >> 64) as u64, (stored >> 64) as u64, "{miss}");
        }
        assert_eq!(std::mem::size_of::<Digest>(), 16);
    }

    #[test]
    fn the_digest_is_keyed() {
        let a = StaticTokens::with_key(1, 2);
        let b = StaticTokens::with_key(3, 4);
        assert_ne!(
            a.table.digest(STORED.as_bytes()).0,
            b.table.digest(STORED.as_bytes()).0
        );
    }

    #[test]
    fn the_lookup_cost_does_not_depend_on_the_token_or_the_number_of_tokens() {
        const N: usize = 4096;
        let name = |i: usize| format!("{STORED}-{i:04}");
        // A fixed key makes the counts below reproducible.
        let many = (0..N).fold(StaticTokens::with_key(7, 11), |t, i| {
            t.token(name(i), ["r"])
        });
        let one = StaticTokens::with_key(7, 11).token(name(0), ["r"]);
        let [first, last_byte, longer, shorter] = presented(&name(0));
        let last = name(N - 1);
        let presented: [&str; 6] = [&first, &last, &last_byte, &longer, &shorter, "unrelated"];
        let (first, last) = (first.as_str(), last.as_str());
        for (tokens, stored) in [(&many, &[first, last][..]), (&one, &[first][..])] {
            for token in presented {
                let (found, compared) = comparisons(tokens, token);
                assert_eq!(found, stored.contains(&token), "{token}");
                // A found token costs one digest comparison; a refused one at most a few, from
                // the table's probe (never one per stored token: 4096 are stored).
                if found {
                    assert_eq!(compared, 1, "{token}");
                } else {
                    assert!(compared <= 2, "{token}: {compared} comparisons");
                }
            }
        }
    }
}
