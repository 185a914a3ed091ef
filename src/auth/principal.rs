//! Who a token belongs to: [`Principal`], with the token's verified claims, if any.

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
/// `Principal` is an extractor: `async fn me(principal: Principal)`). It never holds the token
/// itself. When it carries a token's claims ([`Principal::claim`]), its `Debug` output shows
/// neither the subject nor the scopes nor any claim, only the number of scopes.
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
    /// The text of the JSON object the token's issuer signed.
    claims: Option<Box<str>>,
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

    /// Attaches a token's verified claims: `json`, the JSON object its issuer signed, kept as
    /// text (one allocation) and read on demand by [`Principal::claim`].
    ///
    /// ```
    /// use tower_envelope::auth::Principal;
    ///
    /// let p = Principal::new("alice", ["read"])
    ///     .with_claims(r#"{"sub":"alice","tid":"contoso","exp":4102444800}"#)
    ///     .unwrap();
    /// assert_eq!(p.claim::<&str>("tid"), Some("contoso"));
    /// assert_eq!(p.claim::<u64>("exp"), Some(4102444800));
    /// assert_eq!(p.claim::<u64>("tid"), None); // not a number
    /// assert_eq!(p.claim::<&str>("oid"), None); // absent
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Tenant<'a> { tid: &'a str }
    /// let tenant: Tenant = serde_json::from_str(p.claims_json().unwrap()).unwrap();
    /// assert_eq!(tenant.tid, "contoso");
    ///
    /// assert!(Principal::new("bob", ["read"]).with_claims("[1, 2]").is_err()); // not an object
    /// ```
    ///
    /// # Errors
    ///
    /// When `json` is not a JSON object.
    pub fn with_claims(self, json: impl Into<Box<str>>) -> Result<Self, serde_json::Error> {
        let json = json.into();
        let mut de = serde_json::Deserializer::from_str(&json);
        serde::Deserializer::deserialize_map(&mut de, ObjectVisitor)?;
        de.end()?;
        Ok(self.with_claims_object(json))
    }

    /// Attaches the text of a JSON object the caller has already parsed.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn with_claims_object(mut self, json: Box<str>) -> Self {
        Arc::make_mut(&mut self.inner).claims = Some(json);
        self
    }

    /// The claim `name` of the token as a `T`; `None` when the principal carries no claims (the
    /// JWT validators of feature `jwt` keep them), or the claim is absent or not a `T`. Strings
    /// with escapes do not borrow: read them as `String` or `Cow<str>`.
    pub fn claim<'a, T: Deserialize<'a>>(&'a self, name: &str) -> Option<T> {
        let mut de = serde_json::Deserializer::from_str(self.claims_json()?);
        serde::Deserializer::deserialize_map(&mut de, Find::<T>::new(name)).ok()?
    }

    /// The token's claims as JSON text, as the issuer signed them (to read them all into a
    /// struct).
    pub fn claims_json(&self) -> Option<&str> {
        self.inner.claims.as_deref()
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
            // Claims are never shown, only whether there are some.
            .field("claims", &inner.claims.as_ref().map(|_| ".."))
            .finish()
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
            .with_claims_object(r#"{"tid":"secret-tenant"}"#.into());
        let debug = format!("{p:?}");
        for secret in ["secret-subject", "secret-scope", "secret-tenant"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("scopes: 1"), "{debug}");
    }
}
