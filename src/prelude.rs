//! The names a service built with this crate uses, for a glob import that is safe next to
//! `use axum::...` (the crate root also holds modules named `axum` and `url`, which a glob import
//! of the root would put beside the crates of those names).
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower::ServiceExt;
//! use tower_envelope::prelude::*;
//!
//! # tokio_test::block_on(async {
//! let app: Router = Router::new()
//!     .route("/machines/{id}", get(|| async { "machine" }))
//!     .route_layer(AuthTokenLayer::bearer(StaticTokens::new().token("read-token", ["read"])))
//!     .layer(ErrorEnvelopeLayer::defender());
//! let request = http::Request::get("/machines/1").body(axum::body::Body::empty()).unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
//! # });
//! ```

pub use crate::{
    ApiError, AsyncTokenValidator, AuthTokenLayer, BodyLimitLayer, ContentTypeLayer,
    ErrorEnvelopeLayer, ErrorKind, FieldViolation, Format, Principal, Scheme, StaticTokens,
    TokenError, TokenValidator, UrlEncodingLayer,
};
