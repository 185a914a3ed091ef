//! A server for load tests: the same small JSON API bare or behind the full stack of this
//! crate's layers (envelope with `catch_panic`, bearer auth with scopes, URL, Content-Type and
//! body-limit checks).
//!
//! ```sh
//! cargo run --release --example bench_server -- --addr 127.0.0.1:8080            # bare
//! cargo run --release --example bench_server -- --addr 127.0.0.1:8080 --stack    # on each route
//! cargo run --release --example bench_server -- --addr 127.0.0.1:8080 --stack-around
//! ```
//!
//! `--stack` applies the stack with `Router::layer` (to every route and the fallback);
//! `--stack-around` wraps the whole router with it. `benches/load.sh` drives them with wrk and
//! compares them.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http::Request;
use tower::layer::util::{Identity, Stack};
use tower::make::Shared;
use tower::{Service, ServiceBuilder};
use tower_envelope::format::Defender;
use tower_envelope::{
    AuthTokenLayer, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, StaticTokens,
    UrlEncodingLayer,
};

pub(crate) fn router() -> Router {
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
pub(crate) fn layers() -> ServiceBuilder<Layers> {
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
pub(crate) fn stacked() -> Router {
    router().layer(layers())
}

/// The stack around the whole router: routing (and its 404s and 405s) below it, and axum's
/// response type above it, as `axum::serve` wants.
pub(crate) fn around() -> impl Service<
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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut mode = Mode::Bare;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stack" => mode = Mode::Stack,
            "--stack-around" => mode = Mode::Around,
            "--addr" => {
                let value = args.next().unwrap_or_default();
                addr = value.parse().unwrap_or_else(|e| {
                    eprintln!("--addr {value}: {e}");
                    std::process::exit(2)
                });
            }
            other => {
                eprintln!(
                    "usage: bench_server [--addr HOST:PORT] [--stack | --stack-around] (got {other})"
                );
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "bench_server ({mode:?}) on http://{}",
        listener.local_addr()?
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match mode {
        Mode::Bare => {
            axum::serve(listener, router())
                .with_graceful_shutdown(shutdown)
                .await
        }
        Mode::Stack => {
            axum::serve(listener, stacked())
                .with_graceful_shutdown(shutdown)
                .await
        }
        Mode::Around => {
            axum::serve(listener, Shared::new(around()))
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// What the server runs: the router alone, with the stack on every route, or with the stack
/// around it.
#[derive(Debug)]
enum Mode {
    Bare,
    Stack,
    Around,
}
