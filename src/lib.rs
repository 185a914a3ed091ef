//! Tower layers that validate HTTP API requests and answer every failure in one vendor error
//! format.
//!
//! - **Validators** — [`AuthTokenLayer`] (token present, well formed, known, not expired, with the
//!   scope the method or route needs), [`UrlEncodingLayer`] (RFC 3986 percent-encoding),
//!   [`ContentTypeLayer`] (the body's media type, optionally `Accept` and JSON syntax),
//!   [`BodyLimitLayer`] (declared and streamed body sizes), [`QuotaLayer`] (requests per client,
//!   answered `TooManyRequests`). Each rejects with an [`ApiError`]
//!   carried in the response extensions (and, on its own, an RFC 9457 problem+json body).
//! - **One renderer** — [`ErrorEnvelopeLayer`] turns *every* failure below it — a validator's
//!   rejection, a handler's `ApiError`, a bare 4xx/5xx from axum or tower-http, an inner service
//!   error such as a timeout, a panic — into the chosen [`Format`]: [`format::Defender`],
//!   [`format::QRadar`], [`format::Msi`], [`format::Edgio`], [`format::Problem`],
//!   [`format::Google`], and a gRPC status for gRPC requests.
//!
//! Passing requests cost no allocation in the envelope and the validators; the token check
//! allocates nothing either, and inserting the principal into the request extensions (on by
//! default, [`AuthTokenLayer::insert_principal`]) costs what `http::Extensions` costs.
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{header::AUTHORIZATION, Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_envelope::{
//!     AuthTokenLayer, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, StaticTokens,
//!     UrlEncodingLayer,
//! };
//!
//! # tokio_test::block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::defender())
//!     .layer(AuthTokenLayer::bearer(StaticTokens::new().token("read-token", ["read"])))
//!     .layer(UrlEncodingLayer::new())
//!     .layer(ContentTypeLayer::json())
//!     .layer(BodyLimitLayer::new(4096))
//!     .service_fn(|_req| async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok")))) });
//!
//! // A passing request reaches the service.
//! let ok = Request::get("/machines/1")
//!     .header(AUTHORIZATION, "Bearer read-token")
//!     .body(Full::new(Bytes::new()))
//!     .unwrap();
//! assert_eq!(svc.clone().oneshot(ok).await.unwrap().status(), StatusCode::OK);
//!
//! // A failing one leaves as a Defender error.
//! let bad = Request::get("/machines/%zz")
//!     .header(AUTHORIZATION, "Bearer read-token")
//!     .body(Full::new(Bytes::new()))
//!     .unwrap();
//! let res = svc.oneshot(bad).await.unwrap();
//! assert_eq!(res.status(), StatusCode::BAD_REQUEST);
//! let body = res.into_body().collect().await.unwrap().to_bytes();
//! let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(json["error"]["code"], "InvalidUrl");
//! # });
//! ```
//!
//! # Features
//!
//! - `axum`: `impl IntoResponse for ApiError`, so handlers return `Result<T, ApiError>`; and
//!   [`extract::Json`], [`extract::Query`] and [`extract::Path`], axum's extractors rejecting
//!   with `ApiError`s that name the field (see the [`extract`] module).
//! - `tonic`: `impl From<ApiError> for tonic::Status`.
//! - `tracing`: inner service errors are logged at error level with the correlation id.
//! - `utoipa`: [`openapi`], each format's error body as a JSON Schema and the error responses
//!   of a stack added to a `utoipa` OpenAPI document.
//! - `jwt`: [`auth::jwt`], JWT bearer tokens checked against a fixed key set, a JWKS URL or an
//!   issuer's OpenID Connect discovery over https (signature, `exp`/`nbf`/`iss`/`aud`, Entra ID
//!   tenants and client applications, scopes from `scp`/`scope`/`roles`), pure-Rust crypto.
#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]

/// `get_ref`, `get_mut` and `into_inner` for a service struct wrapping its inner service `S` in
/// a field `inner`.
macro_rules! inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

pub mod account;
pub mod auth;
pub mod body;
pub mod check;
pub mod content_type;
pub mod envelope;
pub mod error;
#[cfg(feature = "axum")]
pub mod extract;
pub mod format;
mod headers;
pub mod limit;
mod media;
#[cfg(feature = "utoipa")]
pub mod openapi;
pub mod prelude;
pub mod quota;
pub mod readiness;
mod request_id;
pub mod route_hints;
pub mod url_encoding;
pub mod values;

pub use account::AccountLayer;
pub use auth::{
    AsyncTokenValidator, AuthTokenLayer, Principal, Scheme, StaticTokens, TokenError,
    TokenValidator,
};
pub use content_type::ContentTypeLayer;
pub use envelope::{ErrorEnvelope, ErrorEnvelopeLayer};
pub use error::{ApiError, Code, ErrorKind, FieldViolation};
pub use format::Format;
pub use limit::BodyLimitLayer;
pub use quota::QuotaLayer;
pub use readiness::Readiness;
pub use route_hints::RouteHints;
pub use url_encoding::UrlEncodingLayer;

/// The error type tower services box their errors into (`tower::BoxError`).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
