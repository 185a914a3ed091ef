//! The load-test server's API: one small JSON API, bare or behind the full stack of this crate's
//! layers, on every route (`Router::layer`) or around the whole router. `bench_server` serves
//! them; `router_instructions` drives them in process.

use std::convert::Infallible;
use std::future::Future;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http::Request;
use tower::layer::util::{Identity, Stack};
use tower::{Service, ServiceBuilder};
use tower_envelope::format::Defender;
use tower_envelope::{
    AuthTokenLayer, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, StaticTokens,
    UrlEncodingLayer,
};

/// The API: `GET /api/machines/{id}` answers a small JSON object, `POST /api/machines` echoes
/// its body.
pub fn router() -> Router {
    Router::new()
        .route(
            "/api/machines/{id}",
            get(|Path(id): Path<String>| async move {
                let mut body = String::with_capacity(32 + id.len());
                body.push_str("{\"id\":\"");
                body.push_str(&id);
                body.push_str("\",\"name\":\"machine\"}");
                ([("content-type", "application/json")], body)
            }),
        )
        .route(
            "/api/machines",
            post(|body: Bytes| async move { ([("content-type", "application/json")], body) }),
        )
}

/// The layers of the full stack, innermost first.
type Layers = Stack<
    BodyLimitLayer,
    Stack<ContentTypeLayer, Stack<UrlEncodingLayer, Stack<Auth, Stack<Envelope, Identity>>>>,
>;
type Auth = AuthTokenLayer<StaticTokens>;
type Envelope = ErrorEnvelopeLayer<Defender>;

/// The full stack: envelope, bearer auth with scopes (the principal inserted), URL,
/// Content-Type and body-limit checks.
pub fn layers() -> ServiceBuilder<Layers> {
    let tokens = StaticTokens::new()
        .token("read-token", ["read"])
        .token("write-token", ["read", "write"]);
    ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender().catch_panic())
        .layer(
            AuthTokenLayer::bearer(tokens)
                .require_scope(http::Method::GET, "read")
                .require_scope(http::Method::POST, "write"),
        )
        .layer(UrlEncodingLayer::new())
        .layer(ContentTypeLayer::json())
        .layer(BodyLimitLayer::new(4096))
}

/// The stack on every route (`Router::layer`).
pub fn stacked() -> Router {
    router().layer(layers())
}

/// The stack around the whole router: routing (and its 404s and 405s) below it, and axum's
/// response type above it, as `axum::serve` wants.
pub fn around() -> impl Service<
    Request<Body>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send,
> + Clone
       + Send
       + 'static {
    ServiceBuilder::new()
        // The router's body itself on a passing response, not boxed again.
        .map_response(|response: http::Response<_>| response.map(Body::from))
        .service(layers().service(router().with_state(())))
}
