//! A server for load tests: the same small JSON API bare or behind the full stack of this
//! crate's layers (envelope with `catch_panic`, bearer auth with scopes, URL, Content-Type and
//! body-limit checks).
//!
//! ```sh
//! cargo run --release --example bench_server -- --addr 127.0.0.1:8080            # bare
//! cargo run --release --example bench_server -- --addr 127.0.0.1:8080 --stack    # full stack
//! ```
//!
//! `benches/load.sh` drives both with wrk and compares them.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::Path;
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceBuilder;
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

pub(crate) fn stacked() -> Router {
    let tokens = StaticTokens::new()
        .token("read-token", ["read"])
        .token("write-token", ["read", "write"]);
    let stack = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender().catch_panic())
        .layer(
            AuthTokenLayer::bearer(tokens)
                .require_scope(http::Method::GET, "read")
                .require_scope(http::Method::POST, "write"),
        )
        .layer(UrlEncodingLayer::new())
        .layer(ContentTypeLayer::json())
        .layer(BodyLimitLayer::new(4096));
    router().layer(stack)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut stack = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stack" => stack = true,
            "--addr" => {
                let value = args.next().unwrap_or_default();
                addr = value.parse().unwrap_or_else(|e| {
                    eprintln!("--addr {value}: {e}");
                    std::process::exit(2)
                });
            }
            other => {
                eprintln!("usage: bench_server [--addr HOST:PORT] [--stack] (got {other})");
                std::process::exit(2);
            }
        }
    }
    let app = if stack { stacked() } else { router() };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "bench_server ({}) on http://{}",
        if stack { "full stack" } else { "bare" },
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
