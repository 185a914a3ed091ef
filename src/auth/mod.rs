//! [`AuthTokenLayer`]: the token checklist of the vendor documents; a token lookup whose time
//! says nothing about the token.
//!
//! The layer reads a token ([`Scheme`]: `Authorization: Bearer`, EdgeCast's
//! `Authorization: TOK:` or a named header such as QRadar's `SEC`), checks it with a
//! [`TokenValidator`] ([`StaticTokens`], a closure) or an [`AsyncTokenValidator`] (an
//! introspection call, with [`AuthTokenLayer::bearer_async`]; [`BoxValidator`] holds either), then checks the principal's expiry and the scopes the request
//! requires (per method with [`AuthTokenLayer::require_scope`], per route with
//! [`AuthTokenLayer::require_scopes_with`]). On success the [`Principal`] goes into the request
//! extensions and the request reaches the inner service.
//!
//! Every failure is an [`ApiError`] naming the one check that failed, answered with a tagged
//! response (RFC 9457 problem+json on its own; an
//! [`ErrorEnvelopeLayer`](crate::ErrorEnvelopeLayer) above re-renders it in its format, keeping
//! the challenge) and an RFC 6750 `WWW-Authenticate` challenge:
//!
//! | failure | kind | status | `WWW-Authenticate` |
//! |---|---|---|---|
//! | header absent | `Unauthorized` ("Authorization header is missing") | 401 | `Bearer realm="api"` |
//! | several headers, empty header, value in quotes, wrong scheme, empty token, surrounding whitespace, token in quotes, non-visible characters | `Unauthorized`, naming the defect | 401 | `Bearer realm="api", error="invalid_token"` |
//! | unknown token | `Unauthorized` ("token is not recognised") | 401 | same |
//! | expired token | `TokenExpired` ("token has expired") | 401 | same |
//! | missing scope | `InsufficientScope` (`token lacks the required scope "write"`) | 403 | `Bearer realm="api", error="insufficient_scope", scope="write"` |
//! | validator unavailable ([`TokenError::Unavailable`]; with `Retry-After` for [`TokenError::UnavailableFor`]) | `ServiceUnavailable` | 503 | none |
//!
//! The challenge's auth-scheme is `Bearer` for [`AuthTokenLayer::bearer`], `TOK` for
//! [`AuthTokenLayer::tok`] and the header's name for [`AuthTokenLayer::header`]
//! (`SEC realm="api", error="invalid_token"`), with the same attributes. The `scope` attribute
//! lists every scope the request requires (space-separated), leaving out values that are not
//! RFC 6749 scope-tokens.
//!
//! The token itself never appears in a response, a message, a `Debug` output or a log line;
//! the layer does not log.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{header::AUTHORIZATION, Method, Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_envelope::auth::{AuthTokenLayer, Principal, StaticTokens};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let tokens = StaticTokens::new()
//!     .token("read-token", ["read"])
//!     .token("write-token", ["read", "write"]);
//! let svc = ServiceBuilder::new()
//!     .layer(AuthTokenLayer::bearer(tokens).require_scope(Method::POST, "write"))
//!     .service_fn(|req: Request<String>| async move {
//!         let who = req.extensions().get::<Principal>().unwrap().subject().to_owned();
//!         Ok::<_, Infallible>(Response::new(who))
//!     });
//!
//! let ok = Request::post("/").header(AUTHORIZATION, "Bearer write-token").body(String::new()).unwrap();
//! assert_eq!(svc.clone().oneshot(ok).await.unwrap().status(), StatusCode::OK);
//!
//! let read_only = Request::post("/").header(AUTHORIZATION, "Bearer read-token").body(String::new()).unwrap();
//! let res = svc.oneshot(read_only).await.unwrap();
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//! assert_eq!(
//!     res.headers()["www-authenticate"],
//!     r#"Bearer realm="api", error="insufficient_scope", scope="write""#
//! );
//! # }
//! ```
//!
//! # Cost
//!
//! With [`StaticTokens`], a passing request costs one header lookup, a borrowing parse, one
//! keyed SipHash-1-3 of the token, one hash-table probe by that digest (whatever the number of
//! stored tokens), a linear scan of the per-method requirements and an `Arc` clone of the
//! principal (the clock is read only for a principal that expires): no allocation. Inserting the principal into the request
//! extensions costs what [`http::Extensions::insert`] costs: into empty extensions, 3
//! allocations (the map's box, its table and the boxed value; measured in `tests/auth.rs`).
//! [`AuthTokenLayer::insert_principal`]`(false)` turns the insert off, and the layer then
//! allocates nothing at all.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use http::header::HeaderValue;
use http::request::Parts;
use http::{HeaderMap, Method, Request};
use tower_layer::Layer;

use crate::check::{with_parts, Rejection, Validate};
use crate::error::{ApiError, ErrorKind};

mod check;
pub use check::BoxValidator;
#[cfg(feature = "jwt")]
pub mod jwt;
mod principal;
mod scheme;
mod static_tokens;
mod token_error;
mod validator;

pub use principal::Principal;
use scheme::CredentialsError;
pub use scheme::Scheme;
pub use static_tokens::StaticTokens;
pub use token_error::{InvalidToken, TokenError};
pub use validator::{AsyncTokenValidator, TokenValidator};

/// The default `realm` of the `WWW-Authenticate` challenge.
pub const DEFAULT_REALM: &str = "api";

/// A per-route scope requirement: the scopes (all required) a request needs besides those of
/// its method.
type RouteScopes = dyn Fn(&Parts) -> &'static [&'static str] + Send + Sync;
type Anonymous = dyn Fn(&Parts) -> bool + Send + Sync;

/// Everything but the validator; shared (`Arc`) by every clone of a layer and its services.
#[derive(Clone)]
struct Config {
    scheme: Scheme,
    realm: Cow<'static, str>,
    /// `<scheme> realm="..."`: credentials absent.
    challenge: HeaderValue,
    /// `<scheme> realm="...", error="invalid_token"`.
    challenge_invalid: HeaderValue,
    /// A short list scanned linearly: methods compare without hashing.
    method_scopes: Vec<(Method, Vec<Cow<'static, str>>)>,
    route_scopes: Option<Arc<RouteScopes>>,
    anonymous: Option<Arc<Anonymous>>,
    insert_principal: bool,
}

/// A failure, fully described but for the request it answers: the error and its challenge.
struct Denial {
    error: ApiError,
    challenge: Option<HeaderValue>,
}

impl Denial {
    /// The rejection of the request with these headers.
    fn reject(self, headers: &HeaderMap) -> Rejection {
        let rejection = Rejection::new(self.error, headers);
        match self.challenge {
            Some(challenge) => rejection.with_challenge(challenge),
            None => rejection,
        }
    }
}

impl Config {
    fn new(scheme: Scheme) -> Self {
        let mut config = Self {
            scheme,
            realm: Cow::Borrowed(DEFAULT_REALM),
            challenge: HeaderValue::from_static(""),
            challenge_invalid: HeaderValue::from_static(""),
            method_scopes: Vec::new(),
            route_scopes: None,
            anonymous: None,
            insert_principal: true,
        };
        config.set_challenges();
        config
    }

    /// Writes `<scheme> realm="<realm>"` with the realm as an RFC 9110 quoted-string: `"` and
    /// `\` escaped, characters other than printable ASCII dropped.
    fn set_challenges(&mut self) {
        let mut base = format!("{} realm=\"", self.scheme.challenge_name());
        for c in self.realm.chars().filter(|c| matches!(c, ' '..='~')) {
            if c == '"' || c == '\\' {
                base.push('\\');
            }
            base.push(c);
        }
        base.push('"');
        let invalid = format!("{base}, error=\"invalid_token\"");
        self.challenge = header_value(base);
        self.challenge_invalid = header_value(invalid);
    }

    fn credentials_denial(&self, defect: CredentialsError) -> Denial {
        let challenge = match defect {
            CredentialsError::Missing => &self.challenge,
            _ => &self.challenge_invalid,
        };
        Denial {
            error: ApiError::new(ErrorKind::Unauthorized, defect.message(&self.scheme))
                .with_target(self.scheme.label()),
            challenge: Some(challenge.clone()),
        }
    }

    fn token_denial(&self, error: TokenError) -> Denial {
        let kind = match error {
            TokenError::Expired | TokenError::Invalid(InvalidToken::Expired) => {
                ErrorKind::TokenExpired
            }
            TokenError::Unavailable | TokenError::UnavailableFor(_) => {
                ErrorKind::ServiceUnavailable
            }
            _ => ErrorKind::Unauthorized,
        };
        let error_of = |kind| match error {
            // A validator's own reason is cleaned; the crate's messages need no cleaning.
            TokenError::Rejected(reason) => ApiError::new(kind, reason),
            _ => ApiError::own(kind, error.message()),
        };
        if kind == ErrorKind::ServiceUnavailable {
            let unavailable = match error {
                TokenError::UnavailableFor(retry_after) => {
                    error_of(kind).with_retry_after(retry_after)
                }
                _ => error_of(kind),
            };
            return Denial {
                error: unavailable,
                challenge: None,
            };
        }
        Denial {
            error: error_of(kind).with_target(self.scheme.label()),
            challenge: Some(error.challenge(&self.challenge_invalid)),
        }
    }

    /// The scopes the request's route requires ([`AuthTokenLayer::require_scopes_with`]), or
    /// `None` when it may pass without a token ([`AuthTokenLayer::allow_anonymous`]). The
    /// request's head is lent to those closures only when one is set.
    #[inline]
    fn route<B>(&self, request: &mut Request<B>) -> Option<&'static [&'static str]> {
        if self.anonymous.is_none() && self.route_scopes.is_none() {
            return Some(&[]);
        }
        with_parts(request, |parts| match &self.anonymous {
            Some(anonymous) if anonymous(parts) => None,
            _ => Some(
                self.route_scopes
                    .as_ref()
                    .map_or(&[][..], |route| route(parts)),
            ),
        })
    }

    /// Checks expiry and the scopes of a request with `method`; on success, the principal to
    /// insert into the request's extensions, if configured to.
    #[inline]
    fn admit(
        &self,
        principal: Principal,
        method: &Method,
        by_route: &'static [&'static str],
    ) -> Result<Option<Principal>, Denial> {
        if let Some(at) = principal.expires_at() {
            if SystemTime::now() >= at {
                return Err(self.token_denial(TokenError::Expired));
            }
        }
        if !self.method_scopes.is_empty() || !by_route.is_empty() {
            self.scopes(&principal, method, by_route)?;
        }
        Ok(self.insert_principal.then_some(principal))
    }

    /// Refuses the first scope the request needs (for its method, then for its route) that
    /// `principal` lacks.
    #[inline]
    fn scopes(&self, principal: &Principal, method: &Method, route: &[&str]) -> Result<(), Denial> {
        let missing = self
            .method_scopes(method)
            .chain(route.iter().copied())
            .find(|scope| !principal.has_scope(scope));
        match missing {
            Some(missing) => Err(self.scope_denial(missing, method, route)),
            None => Ok(()),
        }
    }

    /// The scopes required for `method`; a `HEAD` request also needs those of `GET`, since a
    /// `GET` handler answers it (axum's `get` does) and its status tells what exists.
    fn method_scopes<'a>(&'a self, method: &Method) -> impl Iterator<Item = &'a str> + 'a {
        let of = |method: &Method| {
            self.method_scopes
                .iter()
                .find(|(m, _)| m == method)
                .map_or(&[][..], |(_, scopes)| scopes.as_slice())
        };
        let get = if method == Method::HEAD {
            of(&Method::GET)
        } else {
            &[]
        };
        of(method).iter().chain(get).map(|scope| &**scope)
    }

    fn scope_denial(&self, missing: &str, method: &Method, by_route: &[&str]) -> Denial {
        let mut challenge = format!(
            "{}, error=\"insufficient_scope\", scope=\"",
            self.challenge.to_str().unwrap_or_default()
        );
        let mut listed: Vec<&str> = Vec::new();
        let scopes = self.method_scopes(method).chain(by_route.iter().copied());
        for scope in scopes.filter(|s| is_scope_token(s)) {
            if !listed.contains(&scope) {
                listed.push(scope);
            }
        }
        challenge.push_str(&listed.join(" "));
        challenge.push('"');
        Denial {
            error: ApiError::new(
                ErrorKind::InsufficientScope,
                format!("token lacks the required scope \"{missing}\""),
            ),
            challenge: Some(header_value(challenge)),
        }
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// Only printable ASCII reaches here, so the fallback never happens.
fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("scheme", &self.scheme)
            .field("realm", &self.realm)
            .field("method_scopes", &self.method_scopes)
            .field("route_scopes", &self.route_scopes.as_ref().map(|_| ".."))
            .field("anonymous", &self.anonymous.as_ref().map(|_| ".."))
            .field("insert_principal", &self.insert_principal)
            .finish()
    }
}

/// A [`Layer`] that admits only requests carrying a valid token with the required scopes; see
/// the [module docs](self).
///
/// `V` is the validator: a [`TokenValidator`] ([`StaticTokens`], a closure, a JWT key set),
/// checked at once and called directly, or a [`BoxValidator`], which holds any validator,
/// synchronous or not ([`AuthTokenLayer::bearer_async`], [`AuthTokenLayer::new_async`]: an
/// introspection call, a JWKS URL). `AuthTokenLayer<BoxValidator>` is one type whatever checks
/// the tokens, for functions that take or return the layer.
#[derive(Clone)]
pub struct AuthTokenLayer<V = StaticTokens> {
    validator: V,
    config: Arc<Config>,
}

impl<V> AuthTokenLayer<V> {
    /// Reads `Authorization: Bearer <token>` (RFC 6750; scheme case-insensitive).
    pub fn bearer(validator: V) -> Self {
        Self::new(Scheme::bearer(), validator)
    }

    /// Reads `Authorization: TOK:<token>` (EdgeCast / Edgio; `TOK: <token>` too).
    pub fn tok(validator: V) -> Self {
        Self::new(Scheme::tok(), validator)
    }

    /// Reads the raw token from the header `name` (QRadar's `SEC`).
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name (see [`Scheme::try_header`] and
    /// [`AuthTokenLayer::new`] for a fallible path).
    pub fn header(name: impl Into<Cow<'static, str>>, validator: V) -> Self {
        Self::new(Scheme::header(name), validator)
    }

    /// Reads the token as `scheme` says.
    pub fn new(scheme: Scheme, validator: V) -> Self {
        Self {
            validator,
            config: Arc::new(Config::new(scheme)),
        }
    }

    /// Sets the `realm` of the `WWW-Authenticate` challenge (default
    /// [`DEFAULT_REALM`], `"api"`). `"` and `\` are escaped;
    /// characters other than printable ASCII are dropped.
    pub fn realm(mut self, realm: impl Into<Cow<'static, str>>) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.realm = realm.into();
        config.set_challenges();
        self
    }

    /// Requires `scope` for requests with `method`. Several calls add up: a request needs
    /// every scope required for its method (exact, case-sensitive comparison). A scope required
    /// for `GET` also guards `HEAD`, which a `GET` handler answers.
    pub fn require_scope(mut self, method: Method, scope: impl Into<Cow<'static, str>>) -> Self {
        let config = Arc::make_mut(&mut self.config);
        let scope = scope.into();
        match config.method_scopes.iter_mut().find(|(m, _)| *m == method) {
            Some((_, scopes)) => scopes.push(scope),
            None => config.method_scopes.push((method, vec![scope])),
        }
        self
    }

    /// Requires, besides the per-method scopes, every scope `route` returns for the
    /// request (e.g. by path). Replaces an earlier route requirement.
    ///
    /// ```
    /// # use tower_envelope::auth::{AuthTokenLayer, StaticTokens};
    /// let layer = AuthTokenLayer::bearer(StaticTokens::new().token("t", ["read"]))
    ///     .require_scopes_with(|parts| {
    ///         if parts.uri.path().starts_with("/admin") { &["admin"] } else { &[] }
    ///     });
    /// ```
    pub fn require_scopes_with<F>(mut self, route: F) -> Self
    where
        F: Fn(&Parts) -> &'static [&'static str] + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.config).route_scopes = Some(Arc::new(route));
        self
    }

    /// Lets requests for which `anonymous` returns true through without any token check
    /// (and without a principal): health checks, public routes, or requests the router will
    /// answer 404/405 anyway. It runs on every request, before the header is read.
    ///
    /// ```
    /// # use tower_envelope::auth::{AuthTokenLayer, StaticTokens};
    /// let layer = AuthTokenLayer::bearer(StaticTokens::new().token("t", ["read"]))
    ///     .allow_anonymous(|parts| parts.uri.path() == "/healthz");
    /// ```
    pub fn allow_anonymous<F>(mut self, anonymous: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.config).anonymous = Some(Arc::new(anonymous));
        self
    }

    /// Whether the [`Principal`] is inserted into the request
    /// extensions on success (default `true`). With `false` a passing request costs no
    /// allocation at all.
    pub fn insert_principal(mut self, insert: bool) -> Self {
        Arc::make_mut(&mut self.config).insert_principal = insert;
        self
    }

    /// Where the token is read from.
    pub fn scheme(&self) -> &Scheme {
        &self.config.scheme
    }

    /// The validator.
    #[cfg(feature = "utoipa")]
    pub(crate) fn validator(&self) -> &V {
        &self.validator
    }

    /// The scopes a request with `method` needs for its method.
    #[cfg(feature = "utoipa")]
    pub(crate) fn method_scopes_of(&self, method: &Method) -> Vec<String> {
        self.config
            .method_scopes(method)
            .map(str::to_owned)
            .collect()
    }

    /// Whether a request with `method` may need a scope (per method or per route).
    #[cfg(feature = "utoipa")]
    pub(crate) fn may_require_scope(&self, method: &Method) -> bool {
        let config = &self.config;
        config.route_scopes.is_some() || config.method_scopes(method).next().is_some()
    }
}

impl AuthTokenLayer<BoxValidator> {
    /// Reads `Authorization: Bearer <token>` and checks it with an [`AsyncTokenValidator`].
    pub fn bearer_async<V>(validator: V) -> Self
    where
        V: AsyncTokenValidator + Send + Sync + 'static,
        V::Future: Send + 'static,
    {
        Self::new_async(Scheme::bearer(), validator)
    }

    /// Reads the token as `scheme` says and checks it with an [`AsyncTokenValidator`], whose
    /// future the request waits for.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use http::{Request, Response, StatusCode};
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_envelope::auth::{AuthTokenLayer, Principal, Scheme, TokenError};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let introspect = |token: &str| {
    ///     let known = token == "let-me-in"; // a real validator would send the token to a server
    ///     async move {
    ///         if known { Ok(Principal::new("guest", ["read"])) } else { Err(TokenError::Unknown) }
    ///     }
    /// };
    /// let svc = ServiceBuilder::new()
    ///     .layer(AuthTokenLayer::new_async(Scheme::header("SEC"), introspect))
    ///     .service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    /// let req = Request::get("/").header("sec", "nope").body(()).unwrap();
    /// assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    /// # }
    /// ```
    pub fn new_async<V>(scheme: Scheme, validator: V) -> Self
    where
        V: AsyncTokenValidator + Send + Sync + 'static,
        V::Future: Send + 'static,
    {
        Self::new(scheme, BoxValidator::new_async(validator))
    }
}

impl<S, V: Clone> Layer<S> for AuthTokenLayer<V> {
    type Service = Validate<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        Validate::new(inner, self.clone())
    }
}

impl<V: fmt::Debug> fmt::Debug for AuthTokenLayer<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthTokenLayer")
            .field("validator", &self.validator)
            .field("config", &self.config)
            .finish()
    }
}
