//! The names a service built with this crate uses: the layers and the error types, for one glob
//! import. The token check goes in the `route_layer` of each method router, so that a request
//! for an unknown path or method gets its 404 or 405 rather than a 401.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower::ServiceExt;
//! use tower_envelope::prelude::*;
//!
//! # tokio_test::block_on(async {
//! let app: Router = Router::new()
//!     .route(
//!         "/machines/{id}",
//!         get(|| async { "machine" })
//!             .route_layer(AuthTokenLayer::bearer(StaticTokens::new().token("read-token", ["read"]))),
//!     )
//!     .layer(ErrorEnvelopeLayer::defender());
//! let request = http::Request::get("/machines/1").body(axum::body::Body::empty()).unwrap();
//! let response = app.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), http::StatusCode::UNAUTHORIZED);
//! // A method the route does not serve is a 405, token or not.
//! let request = http::Request::delete("/machines/1").body(axum::body::Body::empty()).unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), http::StatusCode::METHOD_NOT_ALLOWED);
//! # });
//! ```

pub use crate::{
    ApiError, AsyncTokenValidator, AuthTokenLayer, BodyLimitLayer, ContentTypeLayer,
    ErrorEnvelopeLayer, ErrorKind, FieldViolation, Format, Principal, QuotaLayer, RouteHints,
    Scheme, StaticTokens, TokenError, TokenValidator, UrlEncodingLayer,
};
