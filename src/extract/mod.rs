//! axum integration (feature `axum`): handlers return `Result<T, ApiError>`, and take
//! [`Json`], [`Query`] and [`Path`] extractors that reject with `ApiError`s.
//!
//! `ApiError` implements `IntoResponse`: the response is tagged (the error travels in its
//! extensions) so that an [`ErrorEnvelopeLayer`](crate::ErrorEnvelopeLayer) above renders it in
//! the chosen format; without an envelope the client gets RFC 9457 problem details.
//!
//! The extractors are drop-ins for axum's (same tuple structs, `Json` is a response too). axum's
//! own reject with a status and a line of text, which the envelope can only render as a generic
//! 400 or 422; these say which field is wrong and how, in the vendor's words (Defender's
//! `MissingRequiredParameter` "Parameter name is missing.", `InvalidInput`, ...), and name the
//! key the client sent when it differs from the expected one only in case — the usual cause,
//! since body parameters are case-sensitive. Each field error carries a
//! [`FieldViolation`](crate::FieldViolation) with its path (`["body", "owner", "email"]`), which
//! every format renders: Google as a `BadRequest` field violation, QRadar and MSI in their
//! details.
//!
//! ```
//! use axum::{routing::post, Router};
//! use http::{header::CONTENT_TYPE, Request, StatusCode};
//! use http_body_util::BodyExt;
//! use serde::Deserialize;
//! use tower::ServiceExt;
//! use tower_envelope::extract::Json;
//! use tower_envelope::ErrorEnvelopeLayer;
//!
//! #[derive(Deserialize)]
//! struct CreateMachine {
//!     name: String,
//! }
//!
//! async fn create(Json(machine): Json<CreateMachine>) -> String {
//!     machine.name
//! }
//!
//! # tokio_test::block_on(async {
//! let app = Router::new()
//!     .route("/machines", post(create))
//!     .layer(ErrorEnvelopeLayer::defender());
//! let request = Request::post("/machines")
//!     .header(CONTENT_TYPE, "application/json")
//!     .body(axum::body::Body::from(r#"{"Name":"web-1"}"#))
//!     .unwrap();
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::BAD_REQUEST);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(body["error"]["code"], "MissingRequiredParameter");
//! assert_eq!(
//!     body["error"]["message"],
//!     r#"Parameter name is missing. Body parameters are case-sensitive: received "Name", expected "name"."#
//! );
//! # });
//! ```

use ::axum::body::Body;
use ::axum::extract::FromRequestParts;
use ::axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::auth::Principal;
use crate::error::ErrorKind;

use crate::error::ApiError;
use crate::format::error_response;

/// `Deref` and `DerefMut` to the value an extractor holds, as axum's extractors have them.
macro_rules! deref_to_inner {
    ($extractor:ident) => {
        impl<T> std::ops::Deref for $extractor<T> {
            type Target = T;

            fn deref(&self) -> &T {
                &self.0
            }
        }

        impl<T> std::ops::DerefMut for $extractor<T> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.0
            }
        }
    };
}

mod json;
mod odata;
mod path;
mod query;
mod rejection;
mod root;

pub use json::Json;
pub use odata::OData;
pub use path::Path;
pub use query::Query;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(self).map(Body::from)
    }
}

/// The [`Principal`] an [`AuthTokenLayer`](crate::AuthTokenLayer) admitted, as an extractor:
/// `async fn me(principal: Principal)`. A route that no token check guards (or one that runs
/// with [`insert_principal(false)`](crate::AuthTokenLayer::insert_principal)) has none: that is
/// the server's mistake, answered `Internal` (500), as axum's `Extension` answers a missing
/// extension. `Option<Principal>` takes a principal when there is one.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "no token check guards this route"))
    }
}

impl<S: Send + Sync> ::axum::extract::OptionalFromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, std::convert::Infallible> {
        Ok(parts.extensions.get::<Principal>().cloned())
    }
}
