//! [`JwksValidator`]: tokens checked against the keys of a JWKS URL, cached per process.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use std::time::Duration;

use super::cache::Cache;
use super::verify::{header, verify, Rules};
use super::{rules_methods, Algorithm, HttpFetcher, JwksError, JwksFetcher};
use crate::auth::{AsyncTokenValidator, InvalidToken, Principal, TokenError};

/// The default [`Jwks::refetch_interval`]: 5 seconds.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// The default [`Jwks::refresh_interval`]: 1 hour.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// The default [`Jwks::timeout`]: 10 seconds.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`Jwks::max_wait`]: 2 seconds.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(2);

/// Where the keys come from and how often they are fetched: the configuration of a
/// [`JwksValidator`].
///
/// ```
/// use std::time::Duration;
/// use tower_envelope::auth::jwt::Jwks;
///
/// let jwks = Jwks::url("http://127.0.0.1:8080/keys")
///     .unwrap()
///     .refetch_interval(Duration::from_secs(10))
///     .refresh_interval(Duration::from_secs(15 * 60));
/// assert!(Jwks::url("ftp://keys").is_err());
/// ```
pub struct Jwks<F = HttpFetcher> {
    fetcher: F,
    refetch: Duration,
    refresh: Duration,
    timeout: Duration,
    max_wait: Duration,
}

impl Jwks<HttpFetcher> {
    /// The JWKS document at the `http` URL `url`, fetched with [`HttpFetcher`].
    ///
    /// # Errors
    ///
    /// [`JwksError::Url`] when `url` is not an absolute `http` URL.
    pub fn url(url: &str) -> Result<Self, JwksError> {
        Ok(Self::with_fetcher(HttpFetcher::new(url)?))
    }
}

impl<F: JwksFetcher> Jwks<F> {
    /// The JWKS document `fetcher` fetches.
    pub fn with_fetcher(fetcher: F) -> Self {
        Self {
            fetcher,
            refetch: DEFAULT_REFETCH_INTERVAL,
            refresh: DEFAULT_REFRESH_INTERVAL,
            timeout: DEFAULT_FETCH_TIMEOUT,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }

    /// Sets how long after a fetch a token naming an unknown `kid` may fetch again (default
    /// [`DEFAULT_REFETCH_INTERVAL`]): a burst of forged `kid`s costs the issuer at most one
    /// request per interval. It is also the shortest wait between two background refreshes.
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch = interval;
        self
    }

    /// Sets how long the keys are kept before a background refresh when the document's
    /// response has no `Cache-Control: max-age` (default [`DEFAULT_REFRESH_INTERVAL`]).
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh = interval;
        self
    }

    /// Sets how long a fetch may take before it counts as failed (default
    /// [`DEFAULT_FETCH_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how long a request whose `kid` is not cached waits for a fetch (default
    /// [`DEFAULT_MAX_WAIT`]). When the keys have not arrived by then it is answered 503 with
    /// `Retry-After`, while the fetch goes on for the requests after it.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }
}

impl<F: fmt::Debug> fmt::Debug for Jwks<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks")
            .field("fetcher", &self.fetcher)
            .field("refetch_interval", &self.refetch)
            .field("refresh_interval", &self.refresh)
            .field("timeout", &self.timeout)
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

/// An [`AsyncTokenValidator`] of JWTs signed by the keys of a JWKS URL: for
/// [`AuthTokenLayer`](crate::AuthTokenLayer) through [`Async`](crate::auth::Async).
///
/// The keys are fetched when the first token arrives, cached for the process (clones share
/// them) and refreshed in the background after the document's `Cache-Control: max-age`, or
/// [`Jwks::refresh_interval`] without one. A token naming an unknown `kid` (a key rotated in)
/// fetches the document again, at most once per [`Jwks::refetch_interval`]; the tokens that
/// arrive meanwhile wait for that one fetch. A failed fetch (unreachable, timeout, not 2xx, no
/// usable key) keeps the cached keys: tokens signed by them still pass, and a token whose `kid`
/// is not cached is answered [`TokenError::UnavailableFor`] (503 with `Retry-After`), never let
/// through. A request waits for a fetch at most [`Jwks::max_wait`]; the fetch itself may take
/// up to [`Jwks::timeout`], and the refetch interval counts from its end.
///
/// A token signed by a cached key costs no allocation besides those of `jsonwebtoken` and of
/// the principal. Fetches and the background refresh run on the tokio runtime the first token
/// is validated on.
///
/// The checks are those of [`JwtValidator`](super::JwtValidator).
pub struct JwksValidator<F = HttpFetcher> {
    cache: Arc<Cache<F>>,
    rules: Arc<Rules>,
}

impl<F: JwksFetcher> JwksValidator<F> {
    /// Accepts the tokens signed by the keys of `jwks`, issued by `issuer` (`iss`) for
    /// `audience` (`aud`).
    pub fn new(jwks: Jwks<F>, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let Jwks {
            fetcher,
            refetch,
            refresh,
            timeout,
            max_wait,
        } = jwks;
        Self {
            cache: Arc::new(Cache::new(fetcher, refetch, refresh, timeout, max_wait)),
            rules: Arc::new(Rules::new(issuer.into(), audience.into())),
        }
    }

    rules_methods!();
}

impl<F> Clone for JwksValidator<F> {
    fn clone(&self) -> Self {
        Self {
            cache: Arc::clone(&self.cache),
            rules: Arc::clone(&self.rules),
        }
    }
}

/// The future of [`JwksValidator`]: ready at once for a cached key, otherwise waiting for the
/// key set to be fetched.
type JwksFuture = Pin<Box<dyn Future<Output = Result<Principal, TokenError>> + Send>>;

impl<F: JwksFetcher> AsyncTokenValidator for JwksValidator<F> {
    type Future = JwksFuture;

    fn validate(&self, token: &str) -> JwksFuture {
        self.cache.start_refresher();
        let header = match header(token, &self.rules) {
            Ok(header) => header,
            Err(invalid) => return Box::pin(std::future::ready(Err(invalid.into()))),
        };
        let keys = self.cache.keys();
        if let Some(key) = keys.find(header.kid.as_deref()) {
            return Box::pin(std::future::ready(verify(
                token,
                header.alg,
                key,
                &self.rules,
            )));
        }
        Box::pin(unknown_kid(
            Arc::clone(&self.cache),
            Arc::clone(&self.rules),
            token.into(),
            header.alg,
            header.kid,
        ))
    }
}

/// A token whose `kid` is not cached: waits for a fetch (starting one if the refetch interval
/// allows), then verifies it or refuses it.
async fn unknown_kid<F: JwksFetcher>(
    cache: Arc<Cache<F>>,
    rules: Arc<Rules>,
    token: Box<str>,
    alg: Algorithm,
    kid: Option<Box<str>>,
) -> Result<Principal, TokenError> {
    let kid = kid.as_deref();
    let fetched = cache.subscribe();
    let wait = {
        let mut state = cache.state();
        if cache.keys().find(kid).is_some() {
            false
        } else if cache.may_refetch(&state) {
            cache.start_fetch(&mut state)
        } else {
            state.in_flight()
        }
    };
    if wait {
        cache.wait(fetched).await;
    }
    let keys = cache.keys();
    if let Some(key) = keys.find(kid) {
        return verify(&token, alg, key, &rules);
    }
    let state = cache.state();
    if state.failed() || state.in_flight() {
        Err(TokenError::UnavailableFor(cache.retry_after(&state)))
    } else {
        Err(InvalidToken::UnknownKey.into())
    }
}

impl<F: fmt::Debug> fmt::Debug for JwksValidator<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksValidator")
            .field("keys", &*self.cache.keys())
            .field("rules", &self.rules)
            .finish()
    }
}
