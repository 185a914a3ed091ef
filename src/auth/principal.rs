//! Who a token belongs to: [`Principal`], with the token's verified [`Claims`], if any.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::SystemTime;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

/// The identity behind a valid token: a subject, its scopes and an optional expiry.
///
/// Cheap to clone (one shared allocation, built once). On success [`crate::AuthTokenLayer`]
/// inserts it into the request extensions, where a handler reads it (with feature `axum`,
/// `Principal` is an extractor: `async fn me(principal: Principal)`). It never holds the token itself. When it carries a token's
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
    pub(super) inner: Arc<PrincipalInner>,
}

#[derive(Clone, PartialEq, Eq)]
pub(super) struct PrincipalInner {
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

#[cfg(test)]
mod tests {
    use super::*;

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
