//! [`ErrorEnvelopeLayer`]: every failure of the services below it leaves in one format.
//!
//! In order of preference, it renders:
//!
//! 1. **Tagged responses**: a response whose extensions hold an [`ApiError`](crate::ApiError) (from a validator
//!    of this crate, or a handler returning `ApiError` with the `axum` feature). The old body is
//!    dropped unread.
//! 2. **Known vendor envelopes**: an error body in any built-in format's JSON (or Edgio's XML),
//!    recognised by [`format::parse_any`](crate::format::parse_any), is translated: an upstream's
//!    QRadar error leaves as a Defender error, keeping kind, code, message, target and
//!    violations (a 5xx keeps only its kind and code: its free text stays inside).
//! 3. **Bare error responses** (status ≥ 400, no tag), classified by status. Their body is read
//!    only up to a bound (16 KiB by default, [`ErrorEnvelopeLayer::max_error_body`]) and only
//!    when it is JSON, XML or text; a 4xx's short `text/plain` body becomes the message (axum's
//!    rejection texts, tower-http's "length limit exceeded"); an empty body gets the format's
//!    default message; a 5xx never echoes its body.
//! 4. **Inner errors** (`Err(e)`): `tower::timeout::error::Elapsed` → `UpstreamTimeout`,
//!    `http_body_util::LengthLimitError` anywhere in the source chain → `PayloadTooLarge`,
//!    `tower::load_shed::error::Overloaded` → `ServiceUnavailable`, anything else → `Internal`
//!    with a generic message (the error itself goes to `tracing` under the `tracing` feature).
//! 5. **Panics**, with [`ErrorEnvelopeLayer::catch_panic`]: → `Internal`.
//!
//! Always: 1xx–3xx responses pass through untouched, body unread, with no allocation; the
//! correlation id (the request's `x-request-id` when it is 1–128 visible ASCII characters,
//! otherwise a fresh UUID v4, generated only on the error path) is set on the error response and
//! in the body where the format has a slot; the original error response's headers survive except
//! `Content-Type`, `Content-Length` and `Transfer-Encoding`; a `HEAD` request gets no body; a gRPC
//! request (a POST with `content-type: application/grpc*`, gRPC-Web included) gets a trailers-only
//! gRPC status instead of JSON, with Google's rich details under the `tonic` feature (see
//! [`format::grpc`](crate::format::grpc)).
//!
//! The service's error type is [`Infallible`](std::convert::Infallible), so it drops straight into
//! `axum::Router::layer` and `tonic::transport::Server::layer`.
//!
//! ```
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//! use tower_envelope::ErrorEnvelopeLayer;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Empty};
//! use bytes::Bytes;
//!
//! # tokio_test::block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::defender())
//!     .service(service_fn(|_req: Request<Empty<Bytes>>| async {
//!         let mut res = Response::new(Empty::<Bytes>::new());
//!         *res.status_mut() = StatusCode::NOT_FOUND; // a bare, empty 404 (axum's fallback)
//!         Ok::<_, std::convert::Infallible>(res)
//!     }));
//! let res = svc.oneshot(Request::new(Empty::new())).await.unwrap();
//! assert_eq!(res.status(), StatusCode::NOT_FOUND);
//! let body = res.into_body().collect().await.unwrap().to_bytes();
//! let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(json["error"]["code"], "NotFound");
//! # });
//! ```

mod classify;
mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::{ErrorEnvelopeLayer, DEFAULT_MAX_ERROR_BODY};
pub use service::ErrorEnvelope;
