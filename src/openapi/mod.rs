//! OpenAPI (feature `utoipa`): every error response a stack of this crate's layers can answer,
//! documented in its format.
//!
//! - Each built-in format describes its error body as a JSON Schema
//!   ([`Format::error_schema`](crate::Format::error_schema)): the members it renders, which of
//!   them it always renders, their types, the status member's value per response.
//! - [`ErrorResponses`] is built from the format and the same layer values that build the stack
//!   ([`DescribeErrors`]), and adds to each operation of a `utoipa` `OpenApi` document the
//!   responses those layers can answer: 401/403 with `WWW-Authenticate` where an
//!   [`AuthTokenLayer`](crate::AuthTokenLayer) guards the route, 400 `InvalidUrl`, 415, 413,
//!   411 or 406 as the [`ContentTypeLayer`](crate::ContentTypeLayer) and
//!   [`BodyLimitLayer`](crate::BodyLimitLayer) are configured, 500, a timeout's 504 (MSI's 427),
//!   and a handler's own (`ResourceNotFound`).
//!
//! ```
//! use http::Method;
//! use tower_envelope::openapi::ErrorResponses;
//! use tower_envelope::{BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, ErrorKind, UrlEncodingLayer};
//! use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
//! use utoipa::openapi::{Info, OpenApiBuilder, RefOr};
//!
//! let envelope = ErrorEnvelopeLayer::defender();
//! let limit = BodyLimitLayer::new(4096).require_content_length();
//! // The stack is built from these same values: `.layer(envelope).layer(limit)...`
//!
//! let mut doc = OpenApiBuilder::new()
//!     .info(Info::new("machines", "1.0.0"))
//!     .paths(PathsBuilder::new().path(
//!         "/machines/{id}",
//!         PathItem::new(HttpMethod::Get, OperationBuilder::new().build()),
//!     ))
//!     .build();
//! ErrorResponses::envelope(&envelope)
//!     .layer(&UrlEncodingLayer::new())
//!     .layer(&ContentTypeLayer::json())
//!     .layer(&limit)
//!     .apply(&mut doc);
//! ErrorResponses::envelope(&envelope)
//!     .error(ErrorKind::ResourceNotFound)
//!     .apply_to(&mut doc, "/machines/{id}", &Method::GET);
//!
//! let get = doc.paths.get_path_operation("/machines/{id}", HttpMethod::Get).unwrap();
//! let statuses: Vec<&str> = get.responses.responses.keys().map(String::as_str).collect();
//! assert_eq!(statuses, ["400", "404", "411", "413", "415", "500"]);
//! let RefOr::T(not_found) = &get.responses.responses["404"] else { unreachable!() };
//! assert!(not_found.content.contains_key("application/json; charset=utf-8"));
//! assert!(doc.components.unwrap().schemas.contains_key("DefenderError"));
//! ```

mod describe;
mod responses;
mod schema;

pub(crate) use describe::answers_at_once;
pub use describe::{DescribeErrors, Errors, ExtractorErrors};
pub use responses::ErrorResponses;
pub use schema::ErrorSchema;
pub(crate) use schema::{defender, edgio, google, msi, problem, qradar};
