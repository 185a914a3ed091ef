//! The demo API: the whole crate behind one axum router, written the way an axum service is.
//!
//! ```sh
//! cargo run --example demo                          # Defender errors on 127.0.0.1:3000
//! cargo run --example demo -- --format qradar --addr 127.0.0.1:8080
//! ```
//!
//! Every route and the router's own 404/405 answers sit under `Router::layer`, outermost first:
//! `ErrorEnvelopeLayer` (with `.catch_panic()`) → `UrlEncodingLayer` (request targets up to
//! 8 KiB) → `BodyLimitLayer` (4 KiB; 256 KiB for the indicators' import)
//! → a 1 s `tower::timeout`. The `/api` routes add, as the `route_layer` of their method routers,
//! `AuthTokenLayer::bearer` then `ContentTypeLayer::json()`: they run only for a request that one
//! of them routes, so an unknown path or method answers 404/405 whatever its token, with no list
//! of routes to keep in step, and the token is checked before the body's type (an
//! unauthenticated `POST` of `text/plain` answers 401, not 415). Handlers take the crate's `Json`
//! and `Path` extractors, which reject in the chosen format and name the field.
//!
//! With `--quota N/s|min|h`, each principal may send N requests per second, minute or hour to
//! the `/api` routes (a `QuotaLayer` after the token check); more are answered 429
//! `TooManyRequests` with `Retry-After` and the `RateLimit` fields. With `--features redis` and
//! `--redis-url redis://HOST:PORT`, the counts are kept in that Redis, so that several demo
//! processes share each principal's quota.
//!
//! With `--initializing SECONDS`, every request is answered `InitializationFailure` (QRadar's
//! 550 "Initialization Failure", 503 in the other formats) for that long: the `Readiness`
//! switch a service flips once its caches are warm.
//!
//! Defender-shaped routes show the seed's value codes: `GET /api/files/{hash}`
//! (`InvalidHashValue`), `GET /api/ips/{ip}/stats` (`InvalidIpAddress`),
//! `GET /api/domains/{domain}/stats` (`InvalidDomainName`), `POST /api/indicators/import`
//! (`{"Indicators":[...]}`, at most 500: `MaximumBatchSizeExceeded`), `GET /api/machines` with
//! OData options (`$top` at most 10 000: `ODataError`), and `GET /api/customers/{account}/machines`
//! (the tokens belong to account `0001`; `0099` is deleted). A path that misses a route by a
//! trailing `/` or its letter case is answered with the route meant (`RouteHints`).
//!
//! With `--features tonic`, the gRPC health service (`grpc.health.v1.Health`) is served on the
//! same port, behind the same envelope and token check (its calls need `read`): a gRPC client
//! without a token gets `UNAUTHENTICATED` with Google's rich error details.
//!
//! Tokens: `read-token` (read), `write-token` (read, write), `admin-token` (read, write, admin),
//! `expired-token` (expired). GET/HEAD need `read`, POST/PUT/PATCH `write`, DELETE `admin`;
//! `/healthz` needs no token, nor does `GET /openapi.json`: the OpenAPI 3.1 document of these
//! routes with every error the stack can answer, in the chosen format (feature `utoipa`).
//!
//! With `--features jwt` and `--issuer ISS --audience AUD`, bearer tokens are JWTs checked
//! against the keys the issuer publishes (its OpenID Connect discovery document, over https,
//! trusting the platform's certificates or `SSL_CERT_FILE`'s), or with `--jwks-url URL` those
//! at `URL`, with the same scope rules (scopes from `scp`, `scope` or `roles`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post, put, MethodRouter};
use axum::Router;
use serde::{Deserialize, Serialize};
use tower::timeout::TimeoutLayer;
use tower::ServiceBuilder;
use tower_envelope::auth::BoxValidator;
use tower_envelope::error::echo;
use tower_envelope::extract::{Json, OData, Path, Query};
use tower_envelope::format::{Defender, Edgio, Format, Google, Msi, Problem, QRadar};
use tower_envelope::openapi::ErrorResponses;
use tower_envelope::prelude::*;
use tower_envelope::values::{Batch, DomainName, FileHash, IpAddress};
use tower_envelope::{AccountLayer, Readiness, RouteHints};
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Info, OpenApi, OpenApiBuilder, Required, Response};

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

// ---- handlers ----------------------------------------------------------------------------------

#[derive(Serialize)]
struct Machine {
    id: String,
    name: String,
}

async fn healthz() -> &'static str {
    "ok"
}

async fn get_machine(Path(id): Path<String>) -> Result<Json<Machine>, ApiError> {
    if id != "1" {
        return Err(ApiError::new(
            ErrorKind::ResourceNotFound,
            format!("Machine {} was not found", echo(&id)),
        ));
    }
    Ok(Json(Machine {
        id,
        name: "machine-1".to_owned(),
    }))
}

#[derive(Deserialize)]
struct NewMachine {
    name: String,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(2);

async fn create_machine(
    Json(new): Json<NewMachine>,
) -> Result<(StatusCode, Json<Machine>), ApiError> {
    let name = new.name.trim();
    if name.is_empty() {
        return Err(blank_name());
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed).to_string();
    let name = name.to_owned();
    Ok((StatusCode::CREATED, Json(Machine { id, name })))
}

/// A blank name is no name: the answer the extractor gives for a missing one.
fn blank_name() -> ApiError {
    ApiError::new(ErrorKind::MissingParameter, "Parameter name is missing.")
        .with_target("name")
        .with_violation(
            FieldViolation::new(["body", "name"], "field required").with_reason("missing"),
        )
}

/// A machine's specification: a nested body, so that a rejection names a path into it
/// (`tags[1]`, `owner.email`). Unknown fields are refused (`"Owner"` instead of `"owner"` is
/// answered with the case-sensitivity hint).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    name: String,
    tags: Vec<String>,
    owner: Owner,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Owner {
    email: String,
}

async fn put_spec(Path(id): Path<u64>, Json(spec): Json<Spec>) -> Result<Json<Spec>, ApiError> {
    if id != 1 {
        return Err(ApiError::new(
            ErrorKind::ResourceNotFound,
            format!("Machine {id} was not found"),
        ));
    }
    Ok(Json(spec))
}

async fn delete_machine(Path(_id): Path<String>) -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(2)).await;
    "too late"
}

async fn upstream_credentials() -> Result<(), ApiError> {
    Err(ApiError::new(
        ErrorKind::UpstreamInvalidCredentials,
        "splunk.example.com rejected the configured API key",
    ))
}

async fn upstream_query() -> Result<(), ApiError> {
    Err(ApiError::new(
        ErrorKind::UpstreamQueryInvalid,
        "elasticsearch.example.com could not parse the search query",
    ))
}

/// The query parameters `GET /api/machines` takes: its OData options, and no other (another is
/// answered `UnknownParameter`, QRadar's 420).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ListParams {
    #[serde(rename = "$top")]
    top: Option<String>,
    #[serde(rename = "$skip")]
    skip: Option<String>,
    #[serde(rename = "$filter")]
    filter: Option<String>,
    #[serde(rename = "$select")]
    select: Option<String>,
    #[serde(rename = "$orderby")]
    orderby: Option<String>,
    #[serde(rename = "$expand")]
    expand: Option<String>,
    #[serde(rename = "$count")]
    count: Option<String>,
}

/// The machines `GET /api/machines` lists, `$top` and `$skip` applied.
async fn list_machines(odata: OData<10_000>, Query(_): Query<ListParams>) -> Json<Vec<Machine>> {
    let skip = odata.skip.unwrap_or(0);
    let top = odata.top.unwrap_or(100);
    let machines = (1..=3u64)
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(usize::try_from(top).unwrap_or(usize::MAX))
        .map(|id| Machine {
            id: id.to_string(),
            name: format!("machine-{id}"),
        })
        .collect();
    Json(machines)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileInfo {
    sha256: Option<String>,
    sha1: Option<String>,
    md5: Option<String>,
    global_prevalence: u32,
}

async fn get_file(Path(hash): Path<FileHash>) -> Json<FileInfo> {
    let value = Some(hash.as_str().to_owned());
    let (sha256, sha1, md5) = match hash.algorithm() {
        "SHA-256" => (value, None, None),
        "SHA-1" => (None, value, None),
        _ => (None, None, value),
    };
    Json(FileInfo {
        sha256,
        sha1,
        md5,
        global_prevalence: 1,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    org_prevalence: u32,
    org_first_seen: &'static str,
}

async fn ip_stats(Path(_ip): Path<IpAddress>) -> Json<Stats> {
    Json(Stats {
        org_prevalence: 3,
        org_first_seen: "2026-11-01T00:00:00Z",
    })
}

async fn domain_stats(Path(_domain): Path<DomainName>) -> Json<Stats> {
    Json(Stats {
        org_prevalence: 7,
        org_first_seen: "2026-10-14T00:00:00Z",
    })
}

/// One indicator of `POST /api/indicators/import`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct Indicator {
    indicator_value: String,
    indicator_type: String,
    action: String,
}

/// `{"Indicators": [...]}`, at most 500 as Defender's import takes.
#[derive(Deserialize)]
struct Import {
    #[serde(rename = "Indicators")]
    indicators: Batch<Indicator, 500>,
}

#[derive(Serialize)]
struct Imported {
    imported: usize,
}

async fn import_indicators(Json(import): Json<Import>) -> Json<Imported> {
    Json(Imported {
        imported: import.indicators.len(),
    })
}

/// The machines of a customer account: the token's own (`0001`); `0099` is deleted.
async fn customer_machines(Path(account): Path<String>) -> Json<Vec<Machine>> {
    Json(vec![Machine {
        id: "1".to_owned(),
        name: format!("machine-1 of {}", echo(&account)),
    }])
}

/// The customer accounts in the URL bound to the token's, `0099` a deleted one.
fn accounts() -> AccountLayer {
    AccountLayer::new("/api/customers/{account}")
        .active_when(|account| std::future::ready(account != DELETED_ACCOUNT))
}

/// The account every demo token belongs to, and a deleted one.
pub const ACCOUNT: &str = "0001";
/// A deleted customer account.
pub const DELETED_ACCOUNT: &str = "0099";

async fn boom() -> &'static str {
    panic!("the demo handler panicked on purpose")
}

// ---- the application ---------------------------------------------------------------------------

/// The demo's tokens, each a principal of customer account [`ACCOUNT`] (the `account` claim).
pub fn tokens() -> StaticTokens {
    let principal = |subject: &'static str, scopes: &[&'static str]| {
        Principal::new(subject, scopes.iter().copied())
            .with_claims(format!(r#"{{"account":"{ACCOUNT}"}}"#))
            .expect("a JSON object")
    };
    let all = ["read", "write", "admin"];
    StaticTokens::new()
        .principal(principal("reader", &["read"]), ["read-token"])
        .principal(principal("writer", &["read", "write"]), ["write-token"])
        .principal(principal("admin", &all), ["admin-token"])
        .principal(
            principal("expired", &all).with_expiry(SystemTime::UNIX_EPOCH),
            ["expired-token"],
        )
}

/// The scope each method of the `/api` routes needs, whatever checks the token.
fn scopes(auth: AuthTokenLayer<BoxValidator>) -> AuthTokenLayer<BoxValidator> {
    // A GET scope also guards HEAD.
    auth.require_scope(Method::GET, "read")
        .require_scope(Method::POST, "write")
        .require_scope(Method::PUT, "write")
        .require_scope(Method::PATCH, "write")
        .require_scope(Method::DELETE, "admin")
}

/// The routes that need a token, each method router guarded by `guarded` (the token check as
/// its `route_layer`, which runs only for the methods it routes: a request for an unknown path
/// or method is never asked for a token and gets its 404 or 405). (`Router::route_layer` would
/// keep the 404s, but in axum 0.8 it wraps each path's 405 answer as well, which would then
/// answer 401.)
fn api(guarded: impl Fn(MethodRouter) -> MethodRouter) -> Router {
    Router::new()
        .route(
            "/api/machines",
            guarded(post(create_machine).get(list_machines)),
        )
        .route("/api/files/{hash}", guarded(get(get_file)))
        .route("/api/ips/{ip}/stats", guarded(get(ip_stats)))
        .route("/api/domains/{domain}/stats", guarded(get(domain_stats)))
        .route("/api/indicators/import", guarded(post(import_indicators)))
        .route(
            "/api/customers/{account}/machines",
            guarded(get(customer_machines).route_layer(accounts())),
        )
        .route(
            "/api/machines/{id}",
            guarded(get(get_machine).delete(delete_machine)),
        )
        .route("/api/machines/{id}/spec", guarded(put(put_spec)))
        .route("/api/slow", guarded(get(slow)))
        .route(
            "/api/upstream/credentials",
            guarded(get(upstream_credentials)),
        )
        .route("/api/upstream/query", guarded(get(upstream_query)))
        .route("/api/panic", guarded(get(boom)))
}

/// The layers around every route, outermost first: the stack is built from these values, and
/// the OpenAPI document describes the same values.
struct Layers {
    envelope: ErrorEnvelopeLayer<Arc<dyn Format>>,
    readiness: Readiness,
    url: UrlEncodingLayer,
    limit: BodyLimitLayer,
    timeout: TimeoutLayer,
}

/// `/healthz`, `/openapi.json` and `api` under the envelope and the request validators;
/// `auth` is the token check `api` is guarded with.
fn stack(
    format: Arc<dyn Format>,
    api: Router,
    auth: &AuthTokenLayer<BoxValidator>,
    readiness: Readiness,
) -> Router {
    let layers = Layers {
        envelope: ErrorEnvelopeLayer::new(format)
            .catch_panic()
            .grpc_domain("demo.example.com"),
        readiness,
        url: UrlEncodingLayer::new().max_length(8 * 1024),
        // 4 KiB, and 256 KiB for an import of up to 500 indicators.
        limit: BodyLimitLayer::per_request(|head| match head.uri.path() {
            "/api/indicators/import" => 256 * 1024,
            _ => 4096,
        }),
        timeout: TimeoutLayer::new(Duration::from_secs(1)),
    };
    let doc = openapi(&layers, auth);
    // A request no route takes is answered by the hints: a trailing `/` or a letter case off a
    // documented route names it.
    let hints = RouteHints::from_openapi(&doc);
    let document = Bytes::from(doc.to_pretty_json().expect("serializable"));
    let spec = move || async move { ([(CONTENT_TYPE, "application/json")], document) };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(spec))
        .merge(api)
        .fallback_service(hints)
        // Around every route and the router's 404/405: the envelope renders all of them.
        .layer(
            ServiceBuilder::new()
                .layer(layers.envelope)
                .layer(layers.readiness)
                .layer(layers.url)
                .layer(layers.limit)
                .layer(layers.timeout),
        )
}

/// The demo's OpenAPI document: its operations, each with the errors the layers in front of it
/// and its handler can answer, in the envelope's format.
fn openapi(layers: &Layers, auth: &AuthTokenLayer<BoxValidator>) -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(Info::new("tower-envelope demo", env!("CARGO_PKG_VERSION")))
        .build();
    let operations = [
        ("/healthz", HttpMethod::Get, "200", "Liveness"),
        ("/openapi.json", HttpMethod::Get, "200", "This document"),
        ("/api/machines", HttpMethod::Post, "201", "Create a machine"),
        ("/api/machines/{id}", HttpMethod::Get, "200", "A machine"),
        (
            "/api/machines/{id}",
            HttpMethod::Delete,
            "204",
            "Delete a machine",
        ),
        (
            "/api/machines/{id}/spec",
            HttpMethod::Put,
            "200",
            "Replace a machine's spec",
        ),
        (
            "/api/slow",
            HttpMethod::Get,
            "200",
            "Answers after the timeout",
        ),
        (
            "/api/upstream/credentials",
            HttpMethod::Get,
            "200",
            "An upstream refuses our key",
        ),
        (
            "/api/upstream/query",
            HttpMethod::Get,
            "200",
            "An upstream refuses our query",
        ),
        (
            "/api/panic",
            HttpMethod::Get,
            "200",
            "A handler that panics",
        ),
        ("/api/machines", HttpMethod::Get, "200", "List machines"),
        ("/api/files/{hash}", HttpMethod::Get, "200", "A file"),
        (
            "/api/ips/{ip}/stats",
            HttpMethod::Get,
            "200",
            "An IP's stats",
        ),
        (
            "/api/domains/{domain}/stats",
            HttpMethod::Get,
            "200",
            "A domain's stats",
        ),
        (
            "/api/indicators/import",
            HttpMethod::Post,
            "200",
            "Import up to 500 indicators",
        ),
        (
            "/api/customers/{account}/machines",
            HttpMethod::Get,
            "200",
            "A customer account's machines",
        ),
    ];
    for (path, method, status, summary) in operations {
        let mut operation = OperationBuilder::new()
            .summary(Some(summary))
            .response(status, Response::new(summary));
        // Each `{name}` of the path is a parameter.
        for name in path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}'))
        {
            let name = name.0;
            let parameter = ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(format!("The {name}")))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)));
            operation = operation.parameter(parameter);
        }
        doc.paths.add_path_operation(path, vec![method], operation);
    }
    // What the stack answers any request with, and a request no route takes.
    let stack = ErrorResponses::envelope(&layers.envelope)
        .layer(&layers.readiness)
        .layer(&layers.url)
        .layer(&layers.limit)
        .layer(&layers.timeout);
    // A request no route takes: the router's 404, and its 405 with `Allow`.
    let unrouted = [ErrorKind::NotFound, ErrorKind::MethodNotAllowed];
    stack.clone().layer(&unrouted).components(&mut doc);
    stack.apply(&mut doc);
    // The token and the body's type are checked on the `/api` routes only.
    ErrorResponses::envelope(&layers.envelope)
        .layer(auth)
        .layer(&ContentTypeLayer::json())
        .apply_where(&mut doc, |path, _| path.starts_with("/api/"));
    // What the handlers answer themselves.
    let handler = || ErrorResponses::envelope(&layers.envelope);
    handler()
        .extractor::<Json<NewMachine>>()
        .apply_to(&mut doc, "/api/machines", &Method::POST);
    handler()
        .extractor::<Path<String>>()
        .error(ErrorKind::ResourceNotFound)
        .apply_to(&mut doc, "/api/machines/{id}", &Method::GET);
    handler()
        .extractor::<Path<String>>()
        .apply_to(&mut doc, "/api/machines/{id}", &Method::DELETE);
    handler()
        .extractor::<Path<u64>>()
        .extractor::<Json<Spec>>()
        .error(ErrorKind::ResourceNotFound)
        .apply_to(&mut doc, "/api/machines/{id}/spec", &Method::PUT);
    handler()
        .extractor::<OData<10_000>>()
        .extractor::<Query<ListParams>>()
        .error(ErrorKind::UnknownParameter)
        .apply_to(&mut doc, "/api/machines", &Method::GET);
    for (path, kind) in [
        ("/api/files/{hash}", ErrorKind::InvalidHashValue),
        ("/api/ips/{ip}/stats", ErrorKind::InvalidIpAddress),
        ("/api/domains/{domain}/stats", ErrorKind::InvalidDomainName),
    ] {
        handler()
            .extractor::<Path<String>>()
            .error(kind)
            .apply_to(&mut doc, path, &Method::GET);
    }
    handler()
        .extractor::<Json<Import>>()
        .error(ErrorKind::MaximumBatchSizeExceeded)
        .apply_to(&mut doc, "/api/indicators/import", &Method::POST);
    handler()
        .layer(&accounts())
        .extractor::<Path<String>>()
        .apply_to(&mut doc, "/api/customers/{account}/machines", &Method::GET);
    handler()
        .error(ErrorKind::UpstreamInvalidCredentials)
        .apply_to(&mut doc, "/api/upstream/credentials", &Method::GET);
    handler().error(ErrorKind::UpstreamQueryInvalid).apply_to(
        &mut doc,
        "/api/upstream/query",
        &Method::GET,
    );
    doc
}

/// The demo application rendering its errors in `format`, with the demo's static tokens.
pub fn app(format: Arc<dyn Format>) -> Router {
    app_with(
        format,
        AuthTokenLayer::bearer(BoxValidator::new(tokens())),
        None,
        Readiness::ready(),
    )
}

/// The demo application with the tokens checked by `auth` (static tokens, JWTs): the same
/// stack and scope rules as [`app`].
/// With `quota`, each principal's requests to the `/api` routes are counted; until `readiness`
/// is on, every request is answered `InitializationFailure` (QRadar's 550).
pub fn app_with(
    format: Arc<dyn Format>,
    auth: AuthTokenLayer<BoxValidator>,
    quota: Option<QuotaLayer>,
    readiness: Readiness,
) -> Router {
    let grpc = grpc(auth.clone());
    let auth = scopes(auth);
    // The token first (the quota counts its principal), then the body's type.
    let api = match quota {
        Some(quota) => {
            let guard = ServiceBuilder::new()
                .layer(auth.clone())
                .layer(quota)
                .layer(ContentTypeLayer::json());
            api(move |route| route.route_layer(guard.clone()))
        }
        None => {
            let guard = ServiceBuilder::new()
                .layer(auth.clone())
                .layer(ContentTypeLayer::json());
            api(move |route| route.route_layer(guard.clone()))
        }
    }
    .merge(grpc);
    stack(format, api, &auth, readiness)
}

/// The gRPC health service, its calls (`POST`s) needing the `read` scope.
#[cfg(feature = "tonic")]
fn grpc(auth: AuthTokenLayer<BoxValidator>) -> Router {
    let (_, health) = tonic_health::server::health_reporter();
    let guarded = ServiceBuilder::new()
        .layer(auth.require_scope(Method::POST, "read"))
        .service(health);
    Router::new().route_service("/grpc.health.v1.Health/{*method}", guarded)
}

/// Without the `tonic` feature, no gRPC service.
#[cfg(not(feature = "tonic"))]
fn grpc(_: AuthTokenLayer<BoxValidator>) -> Router {
    Router::new()
}

/// How long a client may take to send a request's headers before its connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 1024;

/// Serves the demo on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    format: Arc<dyn Format>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(listener, app(format), HEADER_READ_TIMEOUT, shutdown).await
}

/// Serves `app` on `listener` as a deployed server would: HTTP/1 and HTTP/2 with hyper-util's
/// server, a connection closed when its headers take longer than `header_read_timeout`, at
/// most [`MAX_CONNECTIONS`] at once; on `shutdown`, stops accepting and lets the connections
/// finish their requests (10 s at most).
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto;
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => {
                let permit = permit.expect("the semaphore is never closed");
                tokio::select! {
                    accepted = listener.accept() => accepted.map(|(stream, peer)| (stream, peer, permit)),
                    () = &mut shutdown => break,
                }
            }
            () = &mut shutdown => break,
        };
        let (stream, peer, permit) = match accepted {
            Ok(accepted) => accepted,
            // Out of file descriptors, say: wait a little rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // The peer's address, as `axum::serve` gives it (a quota without a principal counts it).
        let app =
            tower::ServiceExt::map_request(app.clone(), move |mut request: http::Request<_>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                request
            });
        let service = TowerToHyperService::new(app);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}

/// `quota`, its counts kept in the Redis at `url`.
#[cfg(feature = "redis")]
fn redis_quota(quota: QuotaLayer, url: &str) -> Result<QuotaLayer, Exit> {
    quota
        .redis(url)
        // The URL is not repeated: it may hold a password.
        .map_err(|e| Exit::Usage(format!("--redis-url: {e}")))
}

#[cfg(not(feature = "redis"))]
fn redis_quota(_: QuotaLayer, _: &str) -> Result<QuotaLayer, Exit> {
    Err(Exit::Usage(
        "--redis-url needs the redis feature: cargo run --example demo --features redis -- ..."
            .into(),
    ))
}

struct Args {
    /// `HOST:PORT`, the host a name (`localhost`) or an address.
    addr: String,
    format: String,
    /// `--jwks-url` (none: discovered from the issuer), `--issuer`, `--audience`.
    jwt: Option<(Option<String>, String, String)>,
    /// `--quota N/s|min|h`: requests per principal on the `/api` routes.
    quota: Option<QuotaLayer>,
    /// `--initializing SECONDS`: how long the demo answers `InitializationFailure` first.
    initializing: Option<u64>,
}

/// Why the demo does not start: `--help` (printed to stdout, exit 0) or a usage error (stderr,
/// exit 2).
enum Exit {
    Help(String),
    Usage(String),
}

impl From<String> for Exit {
    fn from(message: String) -> Self {
        Exit::Usage(message)
    }
}

fn args() -> Result<Args, Exit> {
    let mut parsed = Args {
        addr: "127.0.0.1:3000".to_owned(),
        format: "defender".to_owned(),
        jwt: None,
        quota: None,
        initializing: None,
    };
    let mut jwt: [Option<String>; 3] = Default::default();
    let mut redis_url = None;
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
                match v.rsplit_once(':') {
                    Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                        parsed.addr = v;
                    }
                    _ => return Err(format!("--addr {v}: expected HOST:PORT").into()),
                }
            }
            "--format" => parsed.format = value()?,
            "--quota" => {
                let v = value()?;
                let quota = v.split_once('/').and_then(|(n, per)| {
                    let n: u32 = n.parse().ok().filter(|n| *n > 0)?;
                    match per {
                        "s" => Some(QuotaLayer::per_second(n)),
                        "min" => Some(QuotaLayer::per_minute(n)),
                        "h" => Some(QuotaLayer::per_hour(n)),
                        _ => None,
                    }
                });
                parsed.quota = Some(quota.ok_or(format!("--quota {v}: expected N/s, N/min or N/h"))?);
            }
            "--redis-url" => redis_url = Some(value()?),
            "--initializing" => {
                let v = value()?;
                let seconds = v.parse().map_err(|_| format!("--initializing {v}: expected seconds"))?;
                parsed.initializing = Some(seconds);
            }
            "--jwks-url" => jwt[0] = Some(value()?),
            "--issuer" => jwt[1] = Some(value()?),
            "--audience" => jwt[2] = Some(value()?),
            "-h" | "--help" => {
                return Err(Exit::Help(format!(
                    "usage: demo [--addr HOST:PORT] [--format {}] [--quota N/s|min|h [--redis-url URL]] [--initializing SECONDS] [--issuer ISS --audience AUD [--jwks-url URL]]",
                    FORMATS.join("|")
                )))
            }
            other => return Err(format!("unknown argument {other}; try --help").into()),
        }
    }
    if let Some(url) = redis_url {
        let Some(quota) = parsed.quota.take() else {
            return Err(Exit::Usage("--redis-url shares a --quota: give one".into()));
        };
        parsed.quota = Some(redis_quota(quota, &url)?);
    }
    let [url, issuer, audience] = jwt;
    match (issuer, audience) {
        (Some(issuer), Some(audience)) => parsed.jwt = Some((url, issuer, audience)),
        (None, None) if url.is_none() => {}
        _ => {
            return Err(Exit::Usage(
                "--issuer and --audience go together (and --jwks-url with them)".to_owned(),
            ))
        }
    }
    if parsed.jwt.is_some() && !cfg!(feature = "jwt") {
        return Err(Exit::Usage(
            "JWTs need the jwt feature: cargo run --example demo --features jwt -- ...".into(),
        ));
    }
    if format(&parsed.format).is_none() {
        return Err(Exit::Usage(format!(
            "unknown format {:?}; one of {}",
            parsed.format,
            FORMATS.join(", ")
        )));
    }
    Ok(parsed)
}

#[allow(dead_code)] // tests/demo.rs includes this file for `app` and `serve` and has its own main.
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = match args() {
        Ok(args) => args,
        Err(Exit::Help(usage)) => {
            println!("{usage}");
            return Ok(());
        }
        Err(Exit::Usage(message)) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    // A bad JWKS URL or issuer is refused before the demo says it listens.
    #[cfg(feature = "jwt")]
    let jwks = args.jwt.as_ref().map(|(url, issuer, audience)| {
        use tower_envelope::auth::jwt::JwksValidator;
        let validator = match url {
            Some(url) => JwksValidator::new(url, issuer, audience),
            None => JwksValidator::discover(issuer, audience),
        };
        validator.unwrap_or_else(|e| {
            let flag = url
                .as_ref()
                .map_or(format!("--issuer {issuer}"), |u| format!("--jwks-url {u}"));
            eprintln!("{flag}: {e}");
            std::process::exit(2);
        })
    });
    let listener = match tokio::net::TcpListener::bind(&args.addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", args.addr);
            std::process::exit(1);
        }
    };
    let base = format!("http://{}", listener.local_addr()?);
    println!(
        "tower-envelope demo on {base}, errors in the {} format",
        args.format
    );
    if let Some(quota) = &args.quota {
        println!("{quota:?}");
    }
    // Off for `--initializing SECONDS`, then on.
    let readiness = Readiness::ready();
    if let Some(seconds) = args.initializing {
        readiness.set_ready(false);
        println!("initializing for {seconds} s: requests are answered InitializationFailure (550 in QRadar's format, 503 in the others) until then");
        let switch = readiness.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            switch.set_ready(true);
        });
    }
    #[cfg(feature = "jwt")]
    if let (Some((url, issuer, audience)), Some(validator)) = (&args.jwt, jwks) {
        let keys = url
            .clone()
            .unwrap_or_else(|| format!("the keys {issuer} publishes"));
        println!("bearer tokens are JWTs signed by a key of {keys}, iss {issuer}, aud {audience}");
        println!("try:\n  curl -i {base}/api/machines/1 -H \"Authorization: Bearer $TOKEN\"");
        let format = format(&args.format).expect("checked in args()");
        let auth = AuthTokenLayer::bearer_async(validator);
        let app = app_with(format, auth, args.quota, readiness);
        return serve_app(listener, app, HEADER_READ_TIMEOUT, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    }
    println!("try:");
    println!("  curl -i {base}/healthz");
    println!("  curl -s {base}/openapi.json");
    println!("  curl -i {base}/api/machines/1 -H 'Authorization: Bearer read-token'");
    println!("  curl -i {base}/api/machines/7 -H 'Authorization: Bearer read-token'");
    println!("  curl -i {base}/api/machines/1");
    println!("  curl -i {base}/api/machines/1 -H 'Authorization: Bearer expired-token'");
    println!(
        "  curl -i -X POST {base}/api/machines -H 'Authorization: Bearer write-token' -H 'Content-Type: application/json' -d '{{\"name\":\"web-1\"}}'"
    );
    println!(
        "  curl -i -X POST {base}/api/machines -H 'Authorization: Bearer write-token' -H 'Content-Type: application/json' -d '{{\"Name\":\"web-1\"}}'"
    );
    println!(
        "  curl -i -X PUT {base}/api/machines/1/spec -H 'Authorization: Bearer write-token' -H 'Content-Type: application/json' -d '{{\"name\":\"web-1\",\"tags\":[\"prod\",7],\"owner\":{{\"email\":\"ops@example.com\"}}}}'"
    );
    println!("  curl -i {base}/api/slow -H 'Authorization: Bearer read-token'");
    println!("  curl -i {base}/api/upstream/credentials -H 'Authorization: Bearer read-token'");
    println!("  curl -i {base}/api/panic -H 'Authorization: Bearer read-token'");
    println!("  curl -i '{base}/api/machines/%zz' -H 'Authorization: Bearer read-token'");
    println!("  curl -i {base}/api/machines/1/ -H 'Authorization: Bearer read-token'");
    println!("  curl -i {base}/api/files/xyz -H 'Authorization: Bearer read-token'");
    println!("  curl -i '{base}/api/machines?$top=abc' -H 'Authorization: Bearer read-token'");
    println!("  curl -i {base}/api/customers/0002/machines -H 'Authorization: Bearer read-token'");
    println!("Ctrl-C stops it.");
    let format = format(&args.format).expect("checked in args()");
    let auth = AuthTokenLayer::bearer(BoxValidator::new(tokens()));
    let app = app_with(format, auth, args.quota, readiness);
    serve_app(listener, app, HEADER_READ_TIMEOUT, async {
        let _ = tokio::signal::ctrl_c().await;
        println!("shutting down");
    })
    .await
}
