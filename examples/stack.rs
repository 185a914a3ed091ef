//! The validators stacked one by one around an axum router, each with what it rejects.
//!
//! ```sh
//! cargo run --example stack                         # serves on 127.0.0.1:3002
//! cargo run --example stack -- --addr 127.0.0.1:8080
//! ```
//!
//! Every rejection, from any layer or from a handler, leaves as RFC 9457 problem details
//! (`application/problem+json`) rendered by the outermost `ErrorEnvelopeLayer`.

use std::net::SocketAddr;
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tower::ServiceBuilder;
use tower_envelope::format::error_response;
use tower_envelope::{
    ApiError, AuthTokenLayer, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, ErrorKind,
    FieldViolation, StaticTokens, UrlEncodingLayer,
};

/// A handler's error: the `ApiError` rides in the response extensions, and the envelope above
/// renders it (here as problem+json). Without the crate's `axum` feature, this is how a handler
/// returns one.
fn reject(error: ApiError) -> Response {
    error_response(error).map(Body::from)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn get_note(Path(id): Path<String>) -> Result<Json<Value>, Response> {
    if id == "1" {
        return Ok(Json(json!({"id": "1", "text": "hello"})));
    }
    Err(reject(ApiError::new(
        ErrorKind::ResourceNotFound,
        format!("Note {} was not found", tower_envelope::error::echo(&id)),
    )))
}

/// The body reaching this handler is already known to be JSON (the `ContentTypeLayer` verified
/// it), so only its shape is checked here.
async fn create_note(body: Bytes) -> Result<(StatusCode, Json<Value>), Response> {
    let value: Value = serde_json::from_slice(&body).map_err(|_| {
        reject(ApiError::new(
            ErrorKind::InvalidRequestBody,
            "Request body is not valid JSON",
        ))
    })?;
    match value.get("text") {
        Some(Value::String(text)) if !text.trim().is_empty() => {
            Ok((StatusCode::CREATED, Json(json!({"id": "2", "text": text}))))
        }
        _ => Err(reject(
            ApiError::new(ErrorKind::MissingParameter, "Parameter text is missing.")
                .with_target("text")
                .with_violation(
                    FieldViolation::new(["body", "text"], "field required").with_reason("missing"),
                ),
        )),
    }
}

fn router() -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/notes/{id}", get(get_note))
        .route("/api/notes", post(create_note))
}

fn tokens() -> StaticTokens {
    StaticTokens::new()
        .token("reader", ["read"])
        .token("writer", ["read", "write"])
        .token_expiring_at("expired", ["read", "write"], SystemTime::UNIX_EPOCH)
}

fn app() -> Result<Router, Box<dyn std::error::Error>> {
    let stack = ServiceBuilder::new()
        // Outermost: renders every failure below it — a validator's rejection, a handler's
        // `ApiError`, axum's bare 404/405 — as RFC 9457 problem+json, with an `x-request-id`.
        .layer(ErrorEnvelopeLayer::problem())
        // Rejects a missing, malformed or unknown token (`Unauthorized`, 401), an expired one
        // (`TokenExpired`, 401) and a token without the method's scope (`InsufficientScope`,
        // 403), each with an RFC 6750 `WWW-Authenticate: Bearer` challenge. `/healthz` is public.
        .layer(
            AuthTokenLayer::bearer(tokens())
                .require_scope(Method::GET, "read")
                .require_scope(Method::POST, "write")
                .allow_anonymous(|parts: &Parts| parts.uri.path() == "/healthz"),
        )
        // Rejects a URL with bad percent-encoding (`%zz`, a trailing `%2`), a character that must
        // be encoded (`"`, `{`, `|`, raw non-ASCII), an encoded control character or a path that
        // is not UTF-8 once decoded (`InvalidUrl`, 400); here `.` and `..` segments too.
        .layer(UrlEncodingLayer::new().reject_dot_segments(true))
        // Rejects a body without a `Content-Type` or of another type than JSON
        // (`UnsupportedMediaType`, 415); an `Accept` that excludes JSON (`NotAcceptable`, 406);
        // a body that is not valid JSON (`InvalidRequestBody`, 400, with line and column); and a
        // JSON body over 64 KiB (`PayloadTooLarge`, 413).
        .layer(
            ContentTypeLayer::json()
                .accept_header(["application/json", "application/problem+json"])?
                .verify_json(64 * 1024),
        )
        // Rejects a body over the route's limit (`PayloadTooLarge`, 413: 4 KiB for notes, 1 KiB
        // elsewhere) and a malformed `Content-Length` (`BadRequest`, 400). In this order the
        // `ContentTypeLayer` above has already buffered a JSON body (up to its 64 KiB) to verify
        // it, so an invalid 5 KiB body answers 400 from it first; put this layer above
        // `ContentTypeLayer` to refuse an oversized body before any byte of it is read.
        .layer(BodyLimitLayer::per_request(|head: &Parts| {
            if head.uri.path().starts_with("/api/notes") {
                4 * 1024
            } else {
                1024
            }
        }));
    Ok(Router::new().fallback_service(stack.service(router())))
}

fn addr() -> Result<SocketAddr, String> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 3002));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--addr=") {
            Some(value) => value.to_owned(),
            None if arg == "--addr" => args.next().ok_or("--addr needs a value")?,
            None => {
                return Err(format!(
                    "unknown argument {arg}; usage: stack [--addr HOST:PORT]"
                ))
            }
        };
        addr = value.parse().map_err(|e| format!("--addr {value}: {e}"))?;
    }
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = match addr() {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let app = app()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("tower-envelope validator stack on {base}, errors as problem+json");
    println!("try:");
    println!("  curl -i {base}/api/notes/1 -H 'Authorization: Bearer reader'          # 200");
    println!("  curl -i {base}/api/notes/1                                            # 401 unauthorized");
    println!("  curl -i {base}/api/notes/1 -H 'Authorization: Bearer expired'         # 401 token_expired");
    println!(
        "  curl -i '{base}/api/notes/%zz' -H 'Authorization: Bearer reader'      # 400 invalid_url"
    );
    println!("  curl -i {base}/api/notes/1 -H 'Authorization: Bearer reader' -H 'Accept: text/html'   # 406 not_acceptable");
    println!("  curl -i {base}/api/notes -H 'Authorization: Bearer reader' -H 'Content-Type: application/json' -d '{{\"text\":\"hi\"}}'   # 403 insufficient_scope");
    println!("  curl -i {base}/api/notes -H 'Authorization: Bearer writer' -H 'Content-Type: text/plain' -d 'hi'   # 415 unsupported_media_type");
    println!("  curl -i {base}/api/notes -H 'Authorization: Bearer writer' -H 'Content-Type: application/json' -d '{{\"text\":'   # 400 invalid_request_body");
    println!("  curl -i {base}/api/notes -H 'Authorization: Bearer writer' -H 'Content-Type: application/json' -d '{{}}'   # 400 missing_parameter");
    println!("  printf '{{\"text\":\"%05000d\"}}' 0 | curl -i {base}/api/notes -H 'Authorization: Bearer writer' -H 'Content-Type: application/json' --data-binary @-   # 413 payload_too_large");
    println!("Ctrl-C stops it.");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            println!("shutting down");
        })
        .await?;
    Ok(())
}
