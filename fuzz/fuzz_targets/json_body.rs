#![no_main]
//! A request body through the crate's `Json` extractor behind an axum router under the Defender
//! envelope: it is accepted, or answered 4xx in Defender's envelope, never a panic or a 5xx.

use std::sync::OnceLock;

use axum::routing::post;
use axum::Router;
use http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use tower_envelope::extract::Json;
use tower_envelope::ErrorEnvelopeLayer;

#[derive(Deserialize, Serialize)]
struct Owner {
    email: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Machine {
    name: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    owner: Option<Owner>,
    #[serde(default)]
    cores: Option<u8>,
}

async fn create(Json(machine): Json<Machine>) -> Json<Machine> {
    Json(machine)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let app = Router::new()
        .route("/machines", post(create))
        .layer(ErrorEnvelopeLayer::defender());
    let request = Request::post("/machines")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(data.to_vec()))
        .unwrap();
    let (status, body) = runtime().block_on(async {
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, body)
    });
    if status == StatusCode::OK {
        serde_json::from_slice::<Machine>(&body).expect("the echoed machine");
        return;
    }
    assert!(status.is_client_error(), "{status}");
    let error: serde_json::Value = serde_json::from_slice(&body).expect("a JSON envelope");
    let message = error["error"]["message"].as_str().expect("a message");
    assert!(!message.chars().any(char::is_control), "{message:?}");
});
