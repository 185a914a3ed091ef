//! [`JwksValidator`]: tokens checked against the keys of a JWKS URL, cached per process.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body::Body;
use http_body_util::Empty;
use tower_service::Service;

use super::cache::{Cache, Settings, Source};
use super::fetch::{built_in, fetch, parse_url, Fetch, Fetching, DEFAULT_MAX_JWKS_SIZE};
use super::keys::KeySet;
use super::verified::{Tokens, Verified, DEFAULT_MAX_CACHED_TOKENS};
use super::verify::{header, verify, Header, Rules};
use super::{rules_methods, Algorithm, JwksError};
use crate::auth::{AsyncTokenValidator, InvalidToken, Principal, TokenError};
use crate::BoxError;

/// The default [`JwksValidator::refetch_interval`]: 5 seconds.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// The default [`JwksValidator::refresh_interval`]: 1 hour.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60 * 60);
/// The default [`JwksValidator::timeout`]: 10 seconds.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The default [`JwksValidator::max_wait`]: 2 seconds.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(2);

/// An [`AsyncTokenValidator`] of JWTs signed by the keys of a JWKS URL: for
/// [`AuthTokenLayer::bearer_async`](crate::AuthTokenLayer::bearer_async).
///
/// The keys are fetched when the first token arrives, cached for the process (clones share
/// them) and refreshed in the background after the document's `Cache-Control: max-age`, or
/// [`JwksValidator::refresh_interval`] without one. A token naming an unknown `kid` (a key
/// rotated in) fetches the document again, at most once per
/// [`JwksValidator::refetch_interval`]; the tokens that arrive meanwhile wait for that one
/// fetch. A failed fetch (unreachable, timeout, not 2xx, a redirect, a body over
/// [`JwksValidator::max_size`], no usable key) keeps the cached keys: tokens signed by them
/// still pass, and a token whose `kid` is not cached is answered [`TokenError::UnavailableFor`]
/// (503 with `Retry-After`), never let through. A request waits for a fetch at most
/// [`JwksValidator::max_wait`]; the fetch itself may take up to [`JwksValidator::timeout`], and
/// the refetch interval counts from its end. Redirects are not followed.
///
/// The document is fetched with a tower `Service` taking an `http::Request` and answering an
/// `http::Response` ([`JwksValidator::with_client`]: a hyper client with the application's
/// TLS, proxy or retry layers), or with the built-in client ([`JwksValidator::new`]: `https`
/// over rustls against the platform's trusted certificates).
///
/// A token signed by a cached key costs no allocation besides those of `jsonwebtoken` and of
/// the principal. Fetches and the background refresh run on the tokio runtime the first token
/// is validated on.
///
/// The checks are those of [`JwtValidator`](super::JwtValidator).
///
/// ```
/// use std::time::Duration;
/// use tower_envelope::auth::jwt::JwksValidator;
///
/// let validator = JwksValidator::new("http://127.0.0.1:8080/keys", "https://issuer.example", "api://machines")
///     .unwrap()
///     .refetch_interval(Duration::from_secs(10))
///     .refresh_interval(Duration::from_secs(15 * 60));
/// assert!(JwksValidator::new("ftp://keys", "https://issuer.example", "api://machines").is_err());
/// ```
#[derive(Clone)]
pub struct JwksValidator {
    cache: Arc<Cache>,
    rules: Arc<Rules>,
    verified: Arc<Tokens>,
}

impl JwksValidator {
    /// Accepts the tokens signed by the keys of the JWKS document at `url`, issued by `issuer`
    /// (`iss`) for `audience` (`aud`), fetched with the built-in client: hyper-util's over rustls,
    /// verifying the server's certificate against the platform's trusted certificates, or
    /// against those of the files `SSL_CERT_FILE` and `SSL_CERT_DIR` name when they are set (as
    /// OpenSSL-based tools do: a private CA works). An `https` URL is what a real issuer serves;
    /// plain `http` is accepted for a loopback host only (`localhost`, `127.0.0.1`, `[::1]`: a
    /// sidecar, tests), since nothing authenticates the keys it sends.
    ///
    /// # Errors
    ///
    /// [`JwksError::Url`] when `url` is not an absolute `https` URL, or an `http` one of a
    /// loopback host; [`JwksError::Tls`] when no trusted certificate could be read.
    pub fn new(
        url: &str,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwksError> {
        let uri = parse_url(url, &["https", "http"])?;
        if uri.scheme_str() == Some("http") && !is_loopback(uri.host().unwrap_or_default()) {
            return Err(JwksError::Url(
                "plain http, accepted for a loopback host only",
            ));
        }
        Self::with_client(built_in()?, url, issuer, audience)
    }

    /// Like [`JwksValidator::new`] (or [`JwksValidator::discover`], for a `url` whose path ends
    /// with `/.well-known/openid-configuration`), with the document at the `https` or `http`
    /// URL `url` fetched by `client`: any tower `Service` taking a `Request<Empty<Bytes>>` and answering
    /// an `http::Response` (hyper-util's `Client` with a TLS connector, say).
    ///
    /// ```
    /// use bytes::Bytes;
    /// use http::{Request, Response};
    /// use http_body_util::{Empty, Full};
    /// use tower_envelope::auth::jwt::JwksValidator;
    ///
    /// // A client that answers from memory: a test double, or a file shipped with the app.
    /// let client = tower::service_fn(|_: Request<Empty<Bytes>>| async {
    ///     Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(r#"{"keys":[]}"#))))
    /// });
    /// let validator = JwksValidator::with_client(
    ///     client,
    ///     "https://login.microsoftonline.com/common/discovery/v2.0/keys",
    ///     "https://login.microsoftonline.com/{tenantid}/v2.0",
    ///     "api://machines",
    /// )
    /// .unwrap();
    /// ```
    ///
    /// # Errors
    ///
    /// [`JwksError::Url`] when `url` is not an absolute `http` or `https` URL.
    pub fn with_client<S, B>(
        client: S,
        url: &str,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwksError>
    where
        S: Service<Request<Empty<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let uri = parse_url(url, &["http", "https"])?;
        let fetch = move |uri: &Uri, max_size| -> Fetching {
            Box::pin(fetch(client.clone(), uri.clone(), max_size))
        };
        Ok(Self::with(
            Arc::new(fetch),
            uri,
            issuer.into(),
            audience.into(),
        ))
    }

    /// Accepts the tokens of `issuer` for `audience`, with the keys its OpenID Connect discovery
    /// document names: the built-in client reads `{issuer}/.well-known/openid-configuration`,
    /// requires its `issuer` to be `issuer` exactly (OpenID Connect Discovery 1.0, section 4.3)
    /// and fetches its `jwks_uri` (over `https` when the issuer is). The document is read again
    /// at each fetch of the keys, with the same intervals.
    ///
    /// An issuer with a `{tenantid}` placeholder (Entra ID's multi-tenant
    /// `https://login.microsoftonline.com/{tenantid}/v2.0`) is discovered at its `common`
    /// tenant, whose document names that same template; see
    /// [`accept_tenants`](JwksValidator::accept_tenants).
    ///
    /// ```
    /// use tower_envelope::auth::jwt::JwksValidator;
    ///
    /// let entra = JwksValidator::discover(
    ///     "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
    ///     "api://machines",
    /// );
    /// assert!(entra.is_ok());
    /// ```
    ///
    /// With a client of your own: [`JwksValidator::with_client`] with the discovery document's
    /// URL (a URL whose path ends with `/.well-known/openid-configuration` is read as one).
    ///
    /// # Errors
    ///
    /// As [`JwksValidator::new`].
    pub fn discover(
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwksError> {
        let issuer = issuer.into();
        Self::new(&discovery_url(&issuer), issuer, audience)
    }

    fn with(client: Arc<Fetch>, uri: Uri, issuer: String, audience: String) -> Self {
        let source = if uri.path().ends_with(WELL_KNOWN) {
            Source::Discovery {
                issuer: issuer.clone(),
                uri,
            }
        } else {
            Source::Jwks(uri)
        };
        let settings = Settings {
            refetch: DEFAULT_REFETCH_INTERVAL,
            refresh: DEFAULT_REFRESH_INTERVAL,
            timeout: DEFAULT_FETCH_TIMEOUT,
            max_wait: DEFAULT_MAX_WAIT,
            max_size: DEFAULT_MAX_JWKS_SIZE,
        };
        Self {
            cache: Arc::new(Cache::new(client, source, settings)),
            rules: Arc::new(Rules::new(issuer, audience)),
            verified: Arc::new(Tokens::new(DEFAULT_MAX_CACHED_TOKENS)),
        }
    }

    /// A new cache (nothing fetched yet, shared with no clone) with `set` applied to the
    /// settings.
    fn configure(mut self, set: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.cache.settings.clone();
        set(&mut settings);
        self.cache = Arc::new(self.cache.with_settings(settings));
        self
    }

    /// Sets how long after a fetch a token naming an unknown `kid` may fetch again (default
    /// [`DEFAULT_REFETCH_INTERVAL`]): a burst of forged `kid`s costs the issuer at most one
    /// request per interval. It is also the shortest wait between two background refreshes.
    pub fn refetch_interval(self, interval: Duration) -> Self {
        self.configure(|s| s.refetch = interval)
    }

    /// Sets how long the keys are kept before a background refresh when the document's
    /// response has no `Cache-Control: max-age` (default [`DEFAULT_REFRESH_INTERVAL`]).
    pub fn refresh_interval(self, interval: Duration) -> Self {
        self.configure(|s| s.refresh = interval)
    }

    /// Sets how long a fetch may take before it counts as failed (default
    /// [`DEFAULT_FETCH_TIMEOUT`]).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.configure(|s| s.timeout = timeout)
    }

    /// Sets how long a request whose `kid` is not cached waits for a fetch (default
    /// [`DEFAULT_MAX_WAIT`]). When the keys have not arrived by then it is answered 503 with
    /// `Retry-After`, while the fetch goes on for the requests after it.
    pub fn max_wait(self, max_wait: Duration) -> Self {
        self.configure(|s| s.max_wait = max_wait)
    }

    /// Sets the largest document read (default [`DEFAULT_MAX_JWKS_SIZE`]); a larger one fails
    /// the fetch.
    pub fn max_size(self, bytes: usize) -> Self {
        self.configure(|s| s.max_size = bytes)
    }

    rules_methods!();
}

/// The future of [`JwksValidator`]: ready at once for a cached key, otherwise waiting for the
/// key set to be fetched.
type JwksFuture = Pin<Box<dyn Future<Output = Result<Principal, TokenError>> + Send>>;

impl AsyncTokenValidator for JwksValidator {
    type Future = JwksFuture;

    fn validate(&self, token: &str) -> JwksFuture {
        let header = match self.answer_now(token) {
            Ok(validated) => return Box::pin(std::future::ready(validated)),
            Err(header) => header,
        };
        let validator = self.clone();
        let token: Box<str> = token.into();
        let leeway = self.rules.leeway();
        Box::pin(async move {
            let (keys, verified) = unknown_kid(&validator, &token, header.alg, header.kid).await?;
            validator.keep(&token, &keys, verified, leeway)
        })
    }

    /// A token seen before, or signed by a key in hand, is answered at once; one whose `kid` is
    /// not cached waits for a fetch.
    fn validate_now(&self, token: &str) -> Option<Result<Principal, TokenError>> {
        self.answer_now(token).ok()
    }
}

/// Whether `host` (of a URL) is this machine: `localhost`, `127.x.x.x` or `[::1]`.
fn is_loopback(host: &str) -> bool {
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The path of an OpenID Connect discovery document under its issuer.
const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// Where the discovery document of `issuer` is (OpenID Connect Discovery 1.0, section 4: a
/// terminating `/` removed), `{tenantid}` read as Entra ID's `common` tenant.
fn discovery_url(issuer: &str) -> String {
    let issuer = issuer.replace("{tenantid}", "common");
    format!("{}{WELL_KNOWN}", issuer.trim_end_matches('/'))
}

impl JwksValidator {
    /// The answer for a token seen before, or signed by a key in hand; otherwise its header, to
    /// wait for a fetch of the key it names.
    fn answer_now(&self, token: &str) -> Result<Result<Principal, TokenError>, Header> {
        self.cache.start_refresher();
        let keys = self.cache.keys();
        let leeway = self.rules.leeway();
        if let Some(verified) = self.verified.get(token, keys.generation(), leeway) {
            return Ok(verified.map_err(TokenError::Invalid));
        }
        let header = match header(token, &self.rules) {
            Ok(header) => header,
            Err(invalid) => return Ok(Err(invalid.into())),
        };
        match keys.find(header.kid.as_deref()) {
            Some(key) => {
                let verified = verify(token, header.alg, key, &self.rules);
                Ok(self.keep(token, &keys, verified, leeway))
            }
            None => Err(header),
        }
    }

    /// Keeps a token verified with `keys`, and answers its principal.
    fn keep(
        &self,
        token: &str,
        keys: &Arc<KeySet>,
        verified: Result<Verified, TokenError>,
        leeway: f64,
    ) -> Result<Principal, TokenError> {
        let verified = verified?;
        let principal = verified.principal.clone();
        self.verified
            .insert(token, keys.generation(), verified, leeway);
        Ok(principal)
    }
}

/// A token whose `kid` is not cached: waits for a fetch (starting one if the refetch interval
/// allows), then verifies it or refuses it.
async fn unknown_kid(
    validator: &JwksValidator,
    token: &str,
    alg: Algorithm,
    kid: Option<Box<str>>,
) -> Result<(Arc<KeySet>, Result<Verified, TokenError>), TokenError> {
    let cache = &validator.cache;
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
        let verified = verify(token, alg, key, &validator.rules);
        return Ok((keys, verified));
    }
    let state = cache.state();
    if state.failed() || state.in_flight() {
        Err(TokenError::UnavailableFor(cache.retry_after(&state)))
    } else {
        Err(InvalidToken::UnknownKey.into())
    }
}

impl fmt::Debug for JwksValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksValidator")
            .field("source", self.cache.source())
            .field("settings", &self.cache.settings)
            .field("keys", &*self.cache.keys())
            .field("rules", &self.rules)
            .finish()
    }
}
