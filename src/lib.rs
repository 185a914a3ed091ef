//! Tower layers that validate HTTP API requests and render every failure in one vendor error
//! format.
//!
//! The single error currency is [`ApiError`]; a [`Format`] renders it as a vendor's body
//! ([`format::Defender`], [`format::QRadar`], [`format::Msi`], [`format::Edgio`],
//! [`format::Problem`], [`format::Google`]) and parses that body back.
//!
//! ```
//! use tower_envelope::format::{Defender, Format, RequestContext};
//! use tower_envelope::{ApiError, ErrorKind};
//! use http::{Method, StatusCode};
//!
//! let err = ApiError::new(ErrorKind::ResourceNotFound, "Machine 7 was not found");
//! let out = Defender.render(&err, &RequestContext::new("req-1", &Method::GET));
//! assert_eq!(out.status, StatusCode::NOT_FOUND);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]

pub mod auth;
#[cfg(feature = "axum")]
pub mod axum;
pub mod body;
pub mod content_type;
pub mod envelope;
pub mod error;
pub mod format;
pub mod limit;
pub mod url;

pub use auth::{
    AsyncAuthTokenLayer, AsyncTokenValidator, AuthTokenLayer, Principal, Scheme, StaticTokens,
    TokenError, TokenValidator,
};
pub use content_type::{ContentType, ContentTypeLayer};
pub use envelope::{ErrorEnvelope, ErrorEnvelopeLayer};
pub use error::{ApiError, Code, ErrorKind, FieldViolation};
pub use format::Format;
pub use limit::{BodyLimit, BodyLimitLayer, LimitPolicy};
pub use url::{UrlEncoding, UrlEncodingLayer};

/// The error type tower services box their errors into.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
