//! The one-line integration: every failure of this router leaves as a Defender error.
//!
//! ```sh
//! cargo run --example axum_minimal --features axum
//! curl -i http://127.0.0.1:3001/machines/2     # ResourceNotFound from the handler
//! curl -i http://127.0.0.1:3001/nope           # axum's empty 404, rewritten
//! curl -i -X DELETE http://127.0.0.1:3001/machines/1   # axum's 405, Allow kept
//! ```

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tower_envelope::{ApiError, ErrorEnvelopeLayer, ErrorKind};

async fn machine(Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    if id == "1" {
        Ok(Json(json!({"id": "1", "name": "machine-1"})))
    } else {
        Err(ApiError::new(
            ErrorKind::ResourceNotFound,
            format!("Machine {} was not found", tower_envelope::error::echo(&id)),
        ))
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new()
        .route("/machines/{id}", get(machine))
        .layer(ErrorEnvelopeLayer::defender());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
