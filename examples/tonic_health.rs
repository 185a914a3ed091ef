//! A tonic gRPC server (the standard health service) behind `AuthTokenLayer` and
//! `ErrorEnvelopeLayer`: a client without a token gets `Code::Unauthenticated`, not JSON, with
//! Google's rich error details (`ErrorInfo`, `RequestInfo`) in `grpc-status-details-bin`.
//!
//! ```sh
//! cargo run --example tonic_health --features tonic    # serves on 127.0.0.1:50051
//! grpcurl -plaintext 127.0.0.1:50051 grpc.health.v1.Health/Check                     # Unauthenticated
//! grpcurl -plaintext -H 'authorization: Bearer grpc-token' 127.0.0.1:50051 grpc.health.v1.Health/Check
//! ```

use std::future::Future;

use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tower_envelope::{AuthTokenLayer, ErrorEnvelopeLayer, StaticTokens};

/// Serves the health service on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    let tokens = StaticTokens::new().token("grpc-token", ["health"]);
    Server::builder()
        // Outermost: failures below leave as gRPC statuses with details naming this domain.
        .layer(ErrorEnvelopeLayer::defender().grpc_domain("health.example.com"))
        .layer(AuthTokenLayer::bearer(tokens).require_scope(http::Method::POST, "health"))
        .add_service(health)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}

#[allow(dead_code)] // tests/tonic.rs includes this file for `serve` and has its own main.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:50051").await?;
    println!("gRPC health service on {}", listener.local_addr()?);
    println!("token: grpc-token (Authorization: Bearer grpc-token); Ctrl-C stops it");
    serve(listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
