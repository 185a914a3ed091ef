//! JWT bearer tokens (feature `jwt`): signature, registered claims and scopes, with keys from a
//! fixed key set ([`JwtValidator`], for [`AuthTokenLayer::bearer`](crate::AuthTokenLayer::bearer))
//! or a JWKS URL fetched, cached and rotated ([`JwksValidator`], for
//! [`AuthTokenLayer::bearer_async`](crate::AuthTokenLayer::bearer_async)).
//!
//! Signatures are verified by [`jsonwebtoken`] with its pure-Rust backend: RS256/384/512,
//! PS256/384/512, ES256/384 and EdDSA. The key decides the algorithm, never the
//! token: `none` and the HMAC algorithms are refused whatever the key, and a token naming
//! another algorithm than its key's is refused.
//!
//! Every failure is a precise [`InvalidToken`](crate::auth::InvalidToken), answered 401 with
//! `WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="..."`:
//!
//! | token | kind | message (and `error_description`) |
//! |---|---|---|
//! | not three base64url parts of JSON | `Unauthorized` | token is malformed |
//! | `alg` `none`, HMAC, or not its key's | `Unauthorized` | token is signed with an algorithm that is not accepted |
//! | `kid` not in the key set | `Unauthorized` | token is signed by an unknown key |
//! | signature does not verify | `Unauthorized` | token signature is invalid |
//! | `exp` past | `TokenExpired` | token has expired |
//! | `nbf` ahead | `Unauthorized` | token is not valid yet |
//! | `iss` not accepted (it must be one string, compared exactly) | `Unauthorized` | token is issued by an issuer that is not accepted |
//! | `aud` not accepted | `Unauthorized` | token is not intended for this audience |
//! | no `exp`, `iss` or `aud` | `Unauthorized` | token has no expiry (exp), ... |
//! | `tid` not accepted by a `{tenantid}` issuer | `Unauthorized` | token is issued by a tenant that is not accepted |
//! | `azp` / `appid` not accepted | `Unauthorized` | token is issued to a client application that is not accepted |
//!
//! A scope the route requires and the token lacks is answered 403 `InsufficientScope` with
//! `error="insufficient_scope"`, as for any validator; keys that cannot be fetched for a `kid`
//! not cached are answered 503 `ServiceUnavailable`. Neither the token nor a claim's value ever
//! appears in a response or a `Debug` output, and nothing is logged.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{header::AUTHORIZATION, Method, Request, Response, StatusCode};
//! use http_body_util::BodyExt;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_envelope::auth::jwt::JwtValidator;
//! use tower_envelope::auth::{AuthTokenLayer, Principal};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let jwks = r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "ed-1",
//!                          "x": "XGZQPRhdQZTFpyUVb3YurvAdCkF_VkIxVlp3js8FY9E"}]}"#;
//! let validator = JwtValidator::from_jwks(jwks, "https://issuer.example", "api://machines").unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(AuthTokenLayer::bearer(validator).require_scope(Method::POST, "write"))
//!     .service_fn(|req: Request<()>| async move {
//!         let principal = req.extensions().get::<Principal>().unwrap();
//!         let tenant: String = principal.claim("tid").unwrap();
//!         Ok::<_, Infallible>(Response::new(format!("{} of {tenant}", principal.subject())))
//!     });
//!
//! // {"iss":"https://issuer.example","aud":"api://machines","sub":"alice","tid":"contoso",
//! //  "scp":"read","exp":4102444800}, signed by the key "ed-1".
//! let token = concat!(
//!     "eyJhbGciOiJFZERTQSIsImtpZCI6ImVkLTEiLCJ0eXAiOiJKV1QifQ.",
//!     "eyJhdWQiOiJhcGk6Ly9tYWNoaW5lcyIsImV4cCI6NDEwMjQ0NDgwMCwiaXNzIjoiaHR0cHM6Ly9pc3N1ZXIuZXhh",
//!     "bXBsZSIsInNjcCI6InJlYWQiLCJzdWIiOiJhbGljZSIsInRpZCI6ImNvbnRvc28ifQ.",
//!     "teMmrzYrkEAx0bEDUDO0RAqjBBfC7nTGMJEXBmWbchJY2CH2lzLLzqyIFZgr5EHgdPbxBOUMkBpl4Xt-wV49BQ",
//! );
//! let get = Request::get("/machines").header(AUTHORIZATION, format!("Bearer {token}"));
//! let res = svc.clone().oneshot(get.body(()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! let body = res.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, "alice of contoso");
//!
//! // The token lacks "write".
//! let post = Request::post("/machines").header(AUTHORIZATION, format!("Bearer {token}"));
//! let res = svc.clone().oneshot(post.body(()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//!
//! // One character of the signature changed.
//! let forged = format!("{}A", &token[..token.len() - 1]);
//! let get = Request::get("/machines").header(AUTHORIZATION, format!("Bearer {forged}"));
//! let res = svc.oneshot(get.body(()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     res.headers()["www-authenticate"],
//!     r#"Bearer realm="api", error="invalid_token", error_description="token signature is invalid""#
//! );
//! # }
//! ```
//!
//! With a JWKS URL, the same checks run through
//! [`AuthTokenLayer::bearer_async`](crate::AuthTokenLayer::bearer_async):
//!
//! ```no_run
//! use tower_envelope::auth::jwt::JwksValidator;
//! use tower_envelope::auth::AuthTokenLayer;
//!
//! let url = "http://127.0.0.1:8080/.well-known/jwks.json";
//! let validator = JwksValidator::new(url, "https://issuer.example", "api://machines")
//!     .unwrap()
//!     .accept_audience("00000000-0000-0000-0000-00000000abcd");
//! let layer = AuthTokenLayer::bearer_async(validator);
//! ```
//!
//! # Cost
//!
//! A token longer than [`DEFAULT_MAX_TOKEN_LEN`] (configurable) is refused before anything is
//! decoded. A token signed by a cached key is verified without fetching, locking only to clone
//! an `Arc`; its header is decoded once, its claims once. Besides what `jsonwebtoken` allocates
//! to check the signature (the signature's bytes and the verifier built from the key), the
//! validator allocates the decoded header, the `kid`, the claims' text, the subject, the scope
//! list and each scope, and the principal: fewer allocations than `jsonwebtoken::decode` and
//! the principal.

use std::fmt;

mod cache;
mod fetch;
mod fixed;
mod jwks;
mod keys;
mod verified;
mod verify;

pub use fetch::DEFAULT_MAX_JWKS_SIZE;
pub use fixed::JwtValidator;
pub use jwks::{
    JwksValidator, DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_WAIT, DEFAULT_REFETCH_INTERVAL,
    DEFAULT_REFRESH_INTERVAL,
};
use keys::KeySet;
pub use verified::DEFAULT_MAX_CACHED_TOKENS;
pub use verify::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN};

use crate::BoxError;

/// The signature algorithms a key may verify. There is no `none` and no HMAC: a token naming
/// one is refused.
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every algorithm, in declaration order.
    const ALL: [Self; 9] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
    ];

    /// The JOSE name (`"RS256"`, ..., `"EdDSA"`).
    fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
        }
    }

    /// The algorithm named `name` (exact, case-sensitive JOSE name).
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    fn is_rsa(self) -> bool {
        matches!(
            self,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512
        )
    }

    fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::RS384 => jsonwebtoken::Algorithm::RS384,
            Self::RS512 => jsonwebtoken::Algorithm::RS512,
            Self::PS256 => jsonwebtoken::Algorithm::PS256,
            Self::PS384 => jsonwebtoken::Algorithm::PS384,
            Self::PS512 => jsonwebtoken::Algorithm::PS512,
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
            Self::ES384 => jsonwebtoken::Algorithm::ES384,
            Self::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a key set could not be read or fetched.
#[derive(Debug)]
#[non_exhaustive]
pub enum JwksError {
    /// The document is not a JWKS document (`{"keys": [...]}`).
    Invalid(serde_json::Error),
    /// No key of the document can verify a signature (see [`JwtValidator::from_jwks`]).
    NoUsableKey,
    /// The URL is not one the validator can fetch.
    Url(&'static str),
    /// The JWKS URL answered with this status.
    Status(http::StatusCode),
    /// The client failed (connection refused, body too large, ...).
    Fetch(BoxError),
    /// The fetch took longer than [`JwksValidator::timeout`].
    Timeout,
    /// The issuer's OpenID Connect discovery document cannot be used: it names another issuer,
    /// or no `jwks_uri` the validator may fetch.
    Discovery(&'static str),
    /// The built-in client found no certificate to trust (the platform's store, or
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    Tls(std::io::Error),
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(_) => f.write_str("the key set is not a JWKS document"),
            Self::NoUsableKey => f.write_str("the key set has no key that can verify a signature"),
            Self::Url(reason) => write!(f, "the URL is {reason}"),
            Self::Status(status) => write!(f, "the JWKS URL answered {status}"),
            Self::Fetch(_) => f.write_str("the key set could not be fetched"),
            Self::Timeout => f.write_str("fetching the key set timed out"),
            Self::Tls(_) => f.write_str("no trusted root certificate could be read"),
            Self::Discovery(reason) => write!(f, "the discovery document cannot be used: {reason}"),
        }
    }
}

impl std::error::Error for JwksError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Invalid(error) => Some(error),
            Self::Fetch(error) => Some(&**error),
            Self::Tls(error) => Some(error),
            _ => None,
        }
    }
}

/// The builder methods for the claim rules, shared by [`JwtValidator`] and [`JwksValidator`].
macro_rules! rules_methods {
    () => {
        /// Changes the rules (shared by the clones made before, not changed for them), and
        /// starts a cache of its own: a token verified under other rules is not reused.
        fn with_rules(mut self, change: impl FnOnce(&mut super::verify::Rules)) -> Self {
            change(std::sync::Arc::make_mut(&mut self.rules));
            self.verified = std::sync::Arc::new(self.verified.emptied());
            self
        }

        /// Also accepts tokens issued by `issuer` (`iss`, exact comparison).
        pub fn accept_issuer(self, issuer: impl Into<String>) -> Self {
            self.with_rules(|rules| rules.accept_issuer(issuer.into()))
        }

        /// Accepts, for an issuer with a `{tenantid}` placeholder (Entra ID's multi-tenant
        /// `https://login.microsoftonline.com/{tenantid}/v2.0`, or v1's
        /// `https://sts.windows.net/{tenantid}/`), the tokens of the tenants `tenants` (`tid`):
        /// a token passes when its `iss` is the issuer with its own `tid` in place of the
        /// placeholder and that `tid` is listed. No tenant is accepted until one is listed
        /// (or [`accept_any_tenant`](Self::accept_any_tenant)); a token of another tenant is
        /// refused with `token is issued by a tenant that is not accepted`.
        pub fn accept_tenants(self, tenants: impl IntoIterator<Item = impl Into<String>>) -> Self {
            self.with_rules(|rules| rules.accept_tenants(tenants.into_iter().map(Into::into)))
        }

        /// Accepts, for an issuer with a `{tenantid}` placeholder, the tokens of every tenant
        /// (an application open to any organization); the token's `iss` must still name its
        /// own `tid`.
        pub fn accept_any_tenant(self) -> Self {
            self.with_rules(super::verify::Rules::accept_any_tenant)
        }

        /// Accepts only the tokens issued to the client applications `clients`: their `azp`
        /// (or, in Entra ID's v1 tokens, `appid`) must be listed. Until this is called, any
        /// client; once called, only those listed (none, for an empty list).
        pub fn accept_clients(self, clients: impl IntoIterator<Item = impl Into<String>>) -> Self {
            let clients = clients.into_iter().map(Into::into);
            self.with_rules(|rules| rules.clients.get_or_insert_with(Vec::new).extend(clients))
        }

        /// Also accepts tokens for `audience` (`aud`, exact comparison; a token whose `aud` is
        /// an array passes when one of its values is accepted).
        pub fn accept_audience(self, audience: impl Into<String>) -> Self {
            self.with_rules(|rules| rules.accept_audience(audience.into()))
        }

        /// Sets the longest token read, in bytes (default
        /// [`DEFAULT_MAX_TOKEN_LEN`](crate::auth::jwt::DEFAULT_MAX_TOKEN_LEN), 16 KiB). A longer
        /// one is refused before anything in it is decoded.
        pub fn max_token_len(self, max_len: usize) -> Self {
            self.with_rules(|rules| rules.set_max_len(max_len))
        }

        /// Sets how many verified tokens are kept (default
        /// [`DEFAULT_MAX_CACHED_TOKENS`](crate::auth::jwt::DEFAULT_MAX_CACHED_TOKENS); at most
        /// 16 MiB of tokens and claims whatever the number; 0 turns the cache off). A token seen
        /// again is not verified again: its principal is reused while its `exp` and `nbf` pass
        /// (checked on every request, with the leeway) and its key is in the current key set.
        /// Only valid tokens are kept. Replaces the tokens kept so far.
        pub fn max_cached_tokens(mut self, tokens: usize) -> Self {
            self.verified = std::sync::Arc::new(super::verified::Tokens::new(tokens));
            self
        }

        /// Sets the clock leeway for `exp` and `nbf` (default
        /// [`DEFAULT_LEEWAY`](crate::auth::jwt::DEFAULT_LEEWAY), 60 s; whole seconds).
        pub fn leeway(self, leeway: std::time::Duration) -> Self {
            self.with_rules(|rules| rules.set_leeway(leeway))
        }
    };
}
use rules_methods;
