//! The demo API: the whole crate behind one axum router.
//!
//! ```sh
//! cargo run --example demo                          # Defender errors on 127.0.0.1:3000
//! cargo run --example demo -- --format qradar --addr 127.0.0.1:8080
//! ```
//!
//! The stack, outermost first: `ErrorEnvelopeLayer` (with `.catch_panic()`) →
//! `AuthTokenLayer::bearer` → `UrlEncodingLayer` → `ContentTypeLayer::json()` →
//! `BodyLimitLayer::new(4096)` → a 1 s `tower::timeout` → the router.
//!
//! Tokens: `read-token` (read), `write-token` (read, write), `admin-token` (read, write, admin),
//! `expired-token` (expired). GET/HEAD need `read`, POST/PUT/PATCH `write`, DELETE `admin`;
//! `/healthz` needs no token, and a request the router cannot route (unknown path, unsupported
//! method) is answered 404/405 whatever its token.
//!
//! With `--features jwt` and `--jwks-url URL --issuer ISS --audience AUD`, bearer tokens are
//! JWTs checked against the keys at `URL` (plain http), with the same scope rules (scopes from
//! `scp`, `scope` or `roles`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tower::ServiceBuilder;
use tower_envelope::error::echo;
use tower_envelope::format::{
    error_response, Defender, Edgio, Format, Google, Msi, Problem, QRadar,
};
use tower_envelope::{
    ApiError, AuthTokenLayer, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, ErrorKind,
    FieldViolation, StaticTokens, UrlEncodingLayer,
};

/// The formats `--format` accepts.
pub const FORMATS: [&str; 6] = ["defender", "qradar", "msi", "edgio", "problem", "google"];

/// The format named `name`, if it is one of [`FORMATS`].
pub fn format(name: &str) -> Option<Arc<dyn Format>> {
    Some(match name {
        "defender" => Arc::new(Defender),
        "qradar" => Arc::new(QRadar::new()),
        "msi" => Arc::new(Msi),
        "edgio" => Arc::new(Edgio),
        "problem" => Arc::new(Problem::new()),
        "google" => Arc::new(Google::new().with_domain("demo.example.com")),
        _ => return None,
    })
}

/// A handler's error: the `ApiError` travels in the response extensions and the envelope renders
/// it in the demo's format.
struct AppError(ApiError);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        error_response(self.0).map(Body::from)
    }
}

impl From<ApiError> for AppError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn get_machine(Path(id): Path<String>) -> Result<Json<Value>, AppError> {
    if id == "1" {
        return Ok(Json(json!({"id": "1", "name": "machine-1"})));
    }
    Err(ApiError::new(
        ErrorKind::ResourceNotFound,
        format!("Machine {} was not found", echo(&id)),
    )
    .into())
}

static NEXT_ID: AtomicU64 = AtomicU64::new(2);

async fn create_machine(body: Bytes) -> Result<(StatusCode, Json<Value>), AppError> {
    let value: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorKind::InvalidRequestBody,
            format!(
                "Request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let Value::Object(object) = value else {
        return Err(ApiError::new(
            ErrorKind::InvalidRequestBody,
            "Request body must be a JSON object",
        )
        .into());
    };
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.trim(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(missing_name().into());
        }
        Some(_) => {
            return Err(
                ApiError::new(ErrorKind::InvalidInput, "Parameter name must be a string.")
                    .with_target("name")
                    .with_violation(
                        FieldViolation::new(["body", "name"], "must be a string")
                            .with_reason("type"),
                    )
                    .into(),
            );
        }
    };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed).to_string();
    Ok((StatusCode::CREATED, Json(json!({"id": id, "name": name}))))
}

fn missing_name() -> ApiError {
    ApiError::new(ErrorKind::MissingParameter, "Parameter name is missing.")
        .with_target("name")
        .with_violation(
            FieldViolation::new(["body", "name"], "field required").with_reason("missing"),
        )
}

async fn delete_machine(Path(_id): Path<String>) -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(2)).await;
    "too late"
}

async fn upstream_credentials() -> Result<(), AppError> {
    Err(ApiError::new(
        ErrorKind::UpstreamInvalidCredentials,
        "splunk.example.com rejected the configured API key",
    )
    .into())
}

async fn upstream_query() -> Result<(), AppError> {
    Err(ApiError::new(
        ErrorKind::UpstreamQueryInvalid,
        "elasticsearch.example.com could not parse the search query",
    )
    .into())
}

async fn boom() -> &'static str {
    panic!("the demo handler panicked on purpose")
}

/// The routes behind the stack.
fn router() -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/api/machines/{id}",
            get(get_machine).delete(delete_machine),
        )
        .route("/api/machines", axum::routing::post(create_machine))
        .route("/api/slow", get(slow))
        .route("/api/upstream/credentials", get(upstream_credentials))
        .route("/api/upstream/query", get(upstream_query))
        .route("/api/panic", get(boom))
}

/// Whether the router has a handler for this method and path: the token is checked only for
/// requests it can route, so that unknown paths and methods answer 404 and 405.
fn routable(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let read = *method == Method::GET || *method == Method::HEAD;
    match segments.as_slice() {
        ["api", "machines", id] if !id.is_empty() => read || *method == Method::DELETE,
        ["api", "machines"] => *method == Method::POST,
        ["api", "slow"] | ["api", "panic"] | ["api", "upstream", "credentials" | "query"] => read,
        _ => false,
    }
}

/// The demo's tokens.
pub fn tokens() -> StaticTokens {
    StaticTokens::new()
        .token("read-token", ["read"])
        .token("write-token", ["read", "write"])
        .token("admin-token", ["read", "write", "admin"])
        .token_expiring_at(
            "expired-token",
            ["read", "write", "admin"],
            SystemTime::UNIX_EPOCH,
        )
}

/// The demo application rendering its errors in `format`.
pub fn app(format: Arc<dyn Format>) -> Router {
    let auth = AuthTokenLayer::bearer(tokens())
        .require_scope(Method::GET, "read")
        .require_scope(Method::HEAD, "read")
        .require_scope(Method::POST, "write")
        .require_scope(Method::PUT, "write")
        .require_scope(Method::PATCH, "write")
        .require_scope(Method::DELETE, "admin")
        .allow_anonymous(|parts| !routable(&parts.method, parts.uri.path()));
    let stack = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new(format).catch_panic())
        .layer(auth)
        .layer(UrlEncodingLayer::new())
        .layer(ContentTypeLayer::json())
        .layer(BodyLimitLayer::new(4096))
        .timeout(Duration::from_secs(1));
    Router::new().fallback_service(stack.service(router()))
}

/// Serves the demo on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    format: Arc<dyn Format>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(format))
        .with_graceful_shutdown(shutdown)
        .await
}

struct Args {
    addr: SocketAddr,
    format: String,
    jwt: Option<[String; 3]>,
}

fn args() -> Result<Args, String> {
    let mut parsed = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
        format: "defender".to_owned(),
        jwt: None,
    };
    let mut jwt: [Option<String>; 3] = Default::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--addr" => {
                let v = value()?;
                parsed.addr = v.parse().map_err(|e| format!("--addr {v}: {e}"))?;
            }
            "--format" => parsed.format = value()?,
            "--jwks-url" => jwt[0] = Some(value()?),
            "--issuer" => jwt[1] = Some(value()?),
            "--audience" => jwt[2] = Some(value()?),
            "-h" | "--help" => {
                return Err(format!(
                    "usage: demo [--addr HOST:PORT] [--format {}] [--jwks-url URL --issuer ISS --audience AUD]",
                    FORMATS.join("|")
                ))
            }
            other => return Err(format!("unknown argument {other}; try --help")),
        }
    }
    if let [Some(url), Some(issuer), Some(audience)] = jwt.clone() {
        parsed.jwt = Some([url, issuer, audience]);
    } else if jwt.iter().any(Option::is_some) {
        return Err("--jwks-url, --issuer and --audience go together".to_owned());
    }
    if parsed.jwt.is_some() && !cfg!(feature = "jwt") {
        return Err(
            "JWTs need the jwt feature: cargo run --example demo --features jwt -- ...".into(),
        );
    }
    if format(&parsed.format).is_none() {
        return Err(format!(
            "unknown format {:?}; one of {}",
            parsed.format,
            FORMATS.join(", ")
        ));
    }
    Ok(parsed)
}

#[allow(dead_code)] // tests/demo.rs includes this file for `app` and `serve` and has its own main.
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = match args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!(
        "tower-envelope demo on {base}, errors in the {} format",
        args.format
    );
    #[cfg(feature = "jwt")]
    if let Some([url, issuer, audience]) = &args.jwt {
        let jwks = tower_envelope::auth::jwt::Jwks::url(url).unwrap_or_else(|e| {
            eprintln!("--jwks-url {url}: {e}");
            std::process::exit(2);
        });
        let validator = tower_envelope::auth::jwt::JwksValidator::new(jwks, issuer, audience);
        println!("bearer tokens are JWTs signed by a key of {url}, iss {issuer}, aud {audience}");
        println!("try:\n  curl -i {base}/api/machines/1 -H \"Authorization: Bearer $TOKEN\"");
        let format = format(&args.format).expect("checked in args()");
        let app = jwt_app(format, validator);
        return axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await;
    }
    println!("try:");
    println!("  curl -i {base}/healthz");
    println!("  curl -i {base}/api/machines/1 -H 'Authorization: Bearer read-token'");
    println!("  curl -i {base}/api/machines/7 -H 'Authorization: Bearer read-token'");
    println!("  curl -i {base}/api/machines/1");
    println!("  curl -i {base}/api/machines/1 -H 'Authorization: Bearer expired-token'");
    println!(
        "  curl -i -X POST {base}/api/machines -H 'Authorization: Bearer write-token' -H 'Content-Type: application/json' -d '{{\"name\":\"web-1\"}}'"
    );
    println!(
        "  curl -i -X POST {base}/api/machines -H 'Authorization: Bearer write-token' -H 'Content-Type: application/json' -d '{{}}'"
    );
    println!("  curl -i {base}/api/slow -H 'Authorization: Bearer read-token'");
    println!("  curl -i {base}/api/upstream/credentials -H 'Authorization: Bearer read-token'");
    println!("  curl -i {base}/api/panic -H 'Authorization: Bearer read-token'");
    println!("  curl -i '{base}/api/machines/%zz' -H 'Authorization: Bearer read-token'");
    println!("Ctrl-C stops it.");
    let format = format(&args.format).expect("checked in args()");
    serve(listener, format, async {
        let _ = tokio::signal::ctrl_c().await;
        println!("shutting down");
    })
    .await
}

/// The demo application with JWT bearer tokens checked against `validator`: the same stack and
/// scope rules as [`app`].
#[cfg(feature = "jwt")]
#[allow(dead_code)]
pub fn jwt_app(
    format: Arc<dyn Format>,
    validator: tower_envelope::auth::jwt::JwksValidator,
) -> Router {
    let auth = tower_envelope::AsyncAuthTokenLayer::bearer(validator)
        .require_scope(Method::GET, "read")
        .require_scope(Method::HEAD, "read")
        .require_scope(Method::POST, "write")
        .require_scope(Method::PUT, "write")
        .require_scope(Method::PATCH, "write")
        .require_scope(Method::DELETE, "admin")
        .allow_anonymous(|parts| !routable(&parts.method, parts.uri.path()));
    let stack = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new(format).catch_panic())
        .layer(auth)
        .layer(UrlEncodingLayer::new())
        .layer(ContentTypeLayer::json())
        .layer(BodyLimitLayer::new(4096))
        .timeout(Duration::from_secs(1));
    Router::new().fallback_service(stack.service(router()))
}
