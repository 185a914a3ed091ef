//! axum integration (feature `axum`): handlers return `Result<T, ApiError>`.
//!
//! `ApiError` implements `IntoResponse`: the response is tagged (the error travels in its
//! extensions) so that an [`ErrorEnvelopeLayer`](crate::ErrorEnvelopeLayer) above renders it in
//! the chosen format; without an envelope the client gets RFC 9457 problem details.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower::ServiceExt;
//! use tower_envelope::{ApiError, ErrorEnvelopeLayer, ErrorKind};
//! use http::{Request, StatusCode};
//!
//! async fn machine() -> Result<String, ApiError> {
//!     Err(ApiError::new(ErrorKind::ResourceNotFound, "Machine 7 was not found"))
//! }
//!
//! # tokio_test::block_on(async {
//! let app = Router::new()
//!     .route("/machines/7", get(machine))
//!     .layer(ErrorEnvelopeLayer::defender());
//! let res = app.oneshot(Request::get("/machines/7").body(axum::body::Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(res.status(), StatusCode::NOT_FOUND);
//! # });
//! ```

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::format::error_response;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self).map(Body::from)
    }
}
