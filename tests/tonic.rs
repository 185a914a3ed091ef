//! Real tonic (and raw hyper HTTP/2) clients against tonic servers behind `AuthTokenLayer` and
//! `ErrorEnvelopeLayer`: gRPC statuses carrying Google's rich error details, decoded with
//! `tonic_types::StatusExt` as a client would.

#[allow(dead_code)]
#[path = "../examples/tonic_health.rs"]
mod tonic_health_example;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use http::header::CONTENT_TYPE;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_types::StatusExt;
use tower::filter::FilterLayer;
use tower::{service_fn, BoxError, Layer, ServiceExt};
use tower_envelope::format::grpc::{self, DEFAULT_DOMAIN};
use tower_envelope::format::{error_response, Google, Problem};
use tower_envelope::{
    ApiError, AuthTokenLayer, ErrorEnvelopeLayer, ErrorKind, FieldViolation, StaticTokens,
};

const DOMAIN: &str = "machines.example.com";

/// A server running on a free port until stopped.
struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Running {
    async fn start<F, Fut>(serve: F) -> Self
    where
        F: FnOnce(tokio::net::TcpListener, tokio::sync::oneshot::Receiver<()>) -> Fut,
        Fut: Future<Output = Result<(), tonic::transport::Error>> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, stopped));
        Self { addr, stop, server }
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.server.await.unwrap().unwrap();
    }
}

async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn request(
    service: &str,
    metadata: &[(&'static str, &'static str)],
) -> tonic::Request<HealthCheckRequest> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    for (name, value) in metadata {
        request
            .metadata_mut()
            .insert(*name, MetadataValue::from_static(value));
    }
    request
}

/// The `google.rpc.Status` a status carries says what its code and message say.
fn assert_consistent(status: &tonic::Status) {
    let decoded = tonic_types::pb::Status::decode(status.details()).expect("a google.rpc.Status");
    assert_eq!(decoded.code, status.code() as i32);
    assert_eq!(decoded.message, status.message());
}

#[tokio::test]
async fn tonic_client_sees_grpc_statuses() {
    let server = Running::start(|listener, stopped| {
        tonic_health_example::serve(listener, async {
            let _ = stopped.await;
        })
    })
    .await;
    let mut client = HealthClient::new(channel(server.addr).await);

    // No token: the envelope answers a trailers-only gRPC status with the rich details.
    let status = client
        .check(request("", &[("x-request-id", "req-tonic-1")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "Authorization header is missing");
    assert_consistent(&status);
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "UNAUTHORIZED");
    assert_eq!(info.domain, "health.example.com");
    assert!(info.metadata.is_empty());
    assert_eq!(details.request_info().unwrap().request_id, "req-tonic-1");
    assert!(details.bad_request().is_none() && details.retry_info().is_none());

    // A token the server does not know; no request id sent: the generated one is in both the
    // `x-request-id` metadata and the details.
    let status = client
        .check(request("", &[("authorization", "Bearer wrong-token")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "token is not recognised");
    let id = status
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    let details = status.get_error_details();
    assert_eq!(details.request_info().unwrap().request_id, id);
    assert_eq!(details.error_info().unwrap().reason, "UNAUTHORIZED");

    // With the token: the health service answers.
    let response = client
        .check(request("", &[("authorization", "Bearer grpc-token")]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.status, ServingStatus::Serving as i32);

    // An unknown service is the health service's own NOT_FOUND, passed through untouched.
    let status = client
        .check(request(
            "no.such.Service",
            &[("authorization", "Bearer grpc-token")],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.details().is_empty());

    server.stop().await;
}

/// A health service whose handlers fail with `ApiError`s.
struct Failing;

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, tonic::Status>> + Send>>;

#[tonic::async_trait]
impl Health for Failing {
    async fn check(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, tonic::Status> {
        let service = &request.get_ref().service;
        if service.contains(' ') {
            // The plain conversion a handler writes.
            return Err(
                ApiError::new(ErrorKind::InvalidInput, "the service name is invalid")
                    .with_violation(
                        FieldViolation::new(["body", "service"], "must not contain spaces")
                            .with_reason("pattern"),
                    )
                    .into(),
            );
        }
        Ok(tonic::Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<WatchStream>, tonic::Status> {
        // The stream fails after its first message, in the trailers; `grpc::status` names the
        // envelope's domain and the request's id, so the details match a middleware rejection.
        let id = request
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok());
        let failure = ApiError::new(ErrorKind::ServiceUnavailable, "the reporter went away")
            .with_retry_after(Duration::from_secs(2));
        let failure = grpc::status(&failure, DOMAIN, id);
        let serving = HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        };
        let items = stream::iter([Ok(serving), Err(failure)]);
        Ok(tonic::Response::new(Box::pin(items)))
    }
}

/// A quota check below the auth layer: a request marked `x-quota: exhausted` is refused with
/// a retry delay (an inner error, which the envelope classifies by its `ApiError`).
fn quota(
    request: http::Request<tonic::body::Body>,
) -> Result<http::Request<tonic::body::Body>, BoxError> {
    if request
        .headers()
        .get("x-quota")
        .is_some_and(|v| v == "exhausted")
    {
        let error = ApiError::new(
            ErrorKind::TooManyRequests,
            "Kontingent erschöpft: 100% genutzt",
        )
        .with_code("QuotaExhausted")
        .with_retry_after(Duration::from_secs(7));
        return Err(error.into());
    }
    Ok(request)
}

async fn serve_failing(
    listener: tokio::net::TcpListener,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), tonic::transport::Error> {
    let tokens = StaticTokens::new().token("grpc-token", ["health"]);
    Server::builder()
        // Google's format for HTTP; gRPC requests get the same details whatever the format.
        .layer(ErrorEnvelopeLayer::google().grpc_domain(DOMAIN))
        .layer(AuthTokenLayer::bearer(tokens).require_scope(Method::POST, "health"))
        .layer(FilterLayer::new(quota))
        .add_service(HealthServer::new(Failing))
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
            let _ = stopped.await;
        })
        .await
}

const TOKEN: (&str, &str) = ("authorization", "Bearer grpc-token");

#[tokio::test]
async fn details_of_handler_errors_and_middleware_rejections() {
    let server = Running::start(serve_failing).await;
    let mut client = HealthClient::new(channel(server.addr).await);

    // A handler's `ApiError` with a field violation: `BadRequest` with the AIP-193 field path.
    let status = client
        .check(request("no such service", &[TOKEN]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "the service name is invalid");
    assert_consistent(&status);
    let details = status.get_error_details();
    let violations = &details.bad_request().expect("BadRequest").field_violations;
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "service");
    assert_eq!(violations[0].description, "must not contain spaces");
    assert_eq!(violations[0].reason, "pattern");
    let info = details.error_info().unwrap();
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("INVALID_INPUT", DEFAULT_DOMAIN)
    );
    // `From<ApiError>` knows no request.
    assert!(details.request_info().is_none());

    // A 429 from a layer: `RetryInfo`, the vendor code in `ErrorInfo.metadata`, the request id.
    let status = client
        .check(request(
            "",
            &[TOKEN, ("x-quota", "exhausted"), ("x-request-id", "req-429")],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "Kontingent erschöpft: 100% genutzt");
    assert_consistent(&status);
    let details = status.get_error_details();
    let retry = details.retry_info().expect("RetryInfo");
    assert_eq!(retry.retry_delay, Some(Duration::from_secs(7)));
    let info = details.error_info().unwrap();
    assert_eq!(info.reason, "TOO_MANY_REQUESTS");
    assert_eq!(info.domain, DOMAIN);
    assert_eq!(info.metadata["code"], "QuotaExhausted");
    assert_eq!(details.request_info().unwrap().request_id, "req-429");

    // A server-streaming call refused by the auth layer before the handler runs.
    let status = client
        .watch(request("", &[("x-request-id", "req-watch")]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "UNAUTHORIZED");
    assert_eq!(details.request_info().unwrap().request_id, "req-watch");

    // A stream failing after its first message: the handler's status, details in the trailers.
    let mut items = client
        .watch(request("", &[TOKEN, ("x-request-id", "req-stream")]))
        .await
        .unwrap()
        .into_inner();
    let first = items.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let status = items.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_consistent(&status);
    let details = status.get_error_details();
    assert_eq!(
        details.retry_info().unwrap().retry_delay,
        Some(Duration::from_secs(2))
    );
    let info = details.error_info().unwrap();
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("SERVICE_UNAVAILABLE", DOMAIN)
    );
    assert_eq!(details.request_info().unwrap().request_id, "req-stream");

    server.stop().await;
}

#[tokio::test]
async fn a_streaming_call_rejected_before_its_body_is_read() {
    let server = Running::start(serve_failing).await;
    let mut grpc = tonic::client::Grpc::new(channel(server.addr).await);
    grpc.ready().await.unwrap();
    // A client stream that sends one message and never ends: the answer cannot wait for it.
    let messages = stream::iter([HealthCheckRequest::default()]).chain(stream::pending());
    let mut call = tonic::Request::new(messages);
    call.metadata_mut()
        .insert("x-request-id", MetadataValue::from_static("req-upload"));
    let status = grpc
        .client_streaming::<_, HealthCheckRequest, HealthCheckResponse, _>(
            call,
            http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_consistent(&status);
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "UNAUTHORIZED");
    assert_eq!(details.request_info().unwrap().request_id, "req-upload");
    server.stop().await;
}

/// POSTs a gRPC-Web call over HTTP/2 with hyper alone (no tonic client, no gRPC-Web library).
async fn grpc_web(
    addr: SocketAddr,
    content_type: &'static str,
    headers: &[(&'static str, &'static str)],
) -> Response<hyper::body::Incoming> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let mut request = Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header(CONTENT_TYPE, content_type)
        .header("x-grpc-web", "1");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    // One length-prefixed frame holding an empty `HealthCheckRequest`.
    let body = Full::new(Bytes::from_static(&[0, 0, 0, 0, 0]));
    client.request(request.body(body).unwrap()).await.unwrap()
}

#[tokio::test]
async fn grpc_web_over_http2_gets_the_same_details() {
    let server = Running::start(serve_failing).await;
    let addr = server.addr;

    let response = grpc_web(
        addr,
        "application/grpc-web+proto",
        &[("x-request-id", "req-web")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let headers = response.headers().clone();
    assert_eq!(headers[CONTENT_TYPE], "application/grpc-web+proto");
    assert_eq!(headers["grpc-status"], "16");
    assert_eq!(headers["x-request-id"], "req-web");
    // Trailers-only: no message, no trailer frame.
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty());
    let status = tonic::Status::from_header_map(&headers).unwrap();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_consistent(&status);
    let details = status.get_error_details();
    let info = details.error_info().unwrap();
    assert_eq!(
        (info.reason.as_str(), info.domain.as_str()),
        ("UNAUTHORIZED", DOMAIN)
    );
    assert_eq!(details.request_info().unwrap().request_id, "req-web");

    // gRPC-Web text; a message that needs percent-encoding in the header, not in the details.
    let response = grpc_web(
        addr,
        "application/grpc-web-text",
        &[
            TOKEN,
            ("x-quota", "exhausted"),
            ("x-request-id", "req-web-text"),
        ],
    )
    .await;
    let headers = response.headers();
    assert_eq!(headers[CONTENT_TYPE], "application/grpc-web-text+proto");
    assert_eq!(headers["grpc-status"], "8");
    assert_eq!(
        headers["grpc-message"],
        "Kontingent ersch%C3%B6pft: 100%25 genutzt"
    );
    let details = tonic::Status::from_header_map(headers).unwrap();
    let decoded = tonic_types::pb::Status::decode(details.details()).unwrap();
    assert_eq!(decoded.code, 8);
    assert_eq!(decoded.message, "Kontingent erschöpft: 100% genutzt");
    let details = details.get_error_details();
    assert_eq!(
        details.retry_info().unwrap().retry_delay,
        Some(Duration::from_secs(7))
    );
    assert_eq!(details.request_info().unwrap().request_id, "req-web-text");

    server.stop().await;
}

/// The headers of the Defender envelope's trailers-only answer (for `domain`) to a gRPC request
/// with the id `request_id` whose handler fails with `error`.
async fn trailers_only(error: ApiError, request_id: &str, domain: &'static str) -> http::HeaderMap {
    let inner = service_fn(move |_request: Request<Empty<Bytes>>| {
        let error = error.clone();
        async move { Ok::<_, Infallible>(error_response(error).map(Full::new)) }
    });
    let request = Request::post("/api.Machines/Create")
        .header(CONTENT_TYPE, "application/grpc")
        .header("x-request-id", request_id)
        .body(Empty::new())
        .unwrap();
    let response = ErrorEnvelopeLayer::defender()
        .grpc_domain(domain)
        .layer(inner)
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc");
    response.headers().clone()
}

/// The `grpc-status-details-bin` an envelope in `format` answers a gRPC request with.
async fn details_header<F>(envelope: ErrorEnvelopeLayer<F>) -> http::HeaderValue
where
    F: tower_envelope::format::Format + Clone,
{
    let inner = service_fn(|_request: Request<Empty<Bytes>>| async move {
        let error = ApiError::new(ErrorKind::MissingParameter, "name is required")
            .with_code(1002)
            .with_violation(FieldViolation::new(["query", "name"], "required"));
        Ok::<_, Infallible>(error_response(error).map(Full::new))
    });
    let request = Request::post("/api.Machines/Create")
        .header(CONTENT_TYPE, "application/grpc")
        .header("x-request-id", "req-formats")
        .body(Empty::new())
        .unwrap();
    let response = envelope
        .grpc_domain(DOMAIN)
        .layer(inner)
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.headers()["grpc-status"], "3");
    response.headers()[grpc::STATUS_DETAILS_HEADER].clone()
}

#[tokio::test]
async fn every_format_sends_the_same_details() {
    let google = details_header(ErrorEnvelopeLayer::new(Google::new().with_domain("other"))).await;
    assert_eq!(details_header(ErrorEnvelopeLayer::defender()).await, google);
    assert_eq!(
        details_header(ErrorEnvelopeLayer::new(Problem::new())).await,
        google
    );
    assert_eq!(details_header(ErrorEnvelopeLayer::msi()).await, google);
    let status = tonic::Status::with_details(
        Code::InvalidArgument,
        "name is required",
        Bytes::from(STANDARD_NO_PAD.decode(google.as_bytes()).unwrap()),
    );
    let details = status.get_error_details();
    assert_eq!(details.error_info().unwrap().metadata["code"], "1002");
    assert_eq!(
        details.bad_request().unwrap().field_violations[0].field,
        "query.name"
    );
}

/// A handler may report as many violations as a request has bad fields: the details keep the
/// first that fit, so that the trailers stay under the 8 KiB metadata limit of gRPC clients.
#[tokio::test]
async fn many_violations_keep_the_details_readable() {
    let long = "x".repeat(250);
    let error = ApiError::new(ErrorKind::InvalidInput, "the machine is invalid").with_violations(
        (0..500).map(|i| FieldViolation::new(["body".to_owned(), format!("f{i}")], long.clone())),
    );
    let headers = trailers_only(error, "req-many", DOMAIN).await;
    let value = &headers[grpc::STATUS_DETAILS_HEADER];
    assert!(value.len() < 4 * 1024, "{} bytes", value.len());
    let status = tonic::Status::from_header_map(&headers).unwrap();
    let details = status.get_error_details();
    let kept = &details.bad_request().unwrap().field_violations;
    assert!(!kept.is_empty() && kept.len() < 500);
    assert_eq!(kept[0].field, "f0");
    assert_eq!(kept.last().unwrap().field, format!("f{}", kept.len() - 1));
    let kept_bytes: usize = kept
        .iter()
        .map(|v| v.field.len() + v.description.len())
        .sum();
    assert!(kept_bytes <= grpc::MAX_VIOLATION_BYTES);
    assert_eq!(details.request_info().unwrap().request_id, "req-many");

    // One violation over the budget on its own is still sent.
    let huge = ApiError::from_kind(ErrorKind::InvalidInput).with_violation(FieldViolation::new(
        ["body", "a"]
            .into_iter()
            .chain(std::iter::repeat_n("segment", 400)),
        "too deep",
    ));
    let status = grpc::status(&huge, DOMAIN, None);
    assert_eq!(
        status
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations
            .len(),
        1
    );
}

/// Pins the bytes of one `grpc-status-details-bin`: a `google.rpc.Status` whose details are, in
/// tonic-types' order, `RetryInfo`, `QuotaFailure` (a `TooManyRequests` error's), `ErrorInfo`,
/// `BadRequest` and `RequestInfo`.
#[tokio::test]
async fn golden_status_details() {
    let error = ApiError::new(ErrorKind::TooManyRequests, "slow down")
        .with_code("Quota")
        .with_retry_after(Duration::from_secs(30))
        .with_violation(FieldViolation::new(["body", "name"], "too long").with_reason("max"));
    let headers = trailers_only(error, "req-1", "api.example.com").await;
    assert_eq!(headers["grpc-status"], "8");
    assert_eq!(headers["grpc-message"], "slow down");
    assert_eq!(headers[grpc::STATUS_DETAILS_HEADER], GOLDEN);
}

/// Base64 (unpadded) of, field by field (checked with a protobuf wire decoder):
///
/// ```text
/// 1 code: 8
/// 2 message: "slow down"
/// 3 details: { 1 type_url: "type.googleapis.com/google.rpc.RetryInfo"
///              2 value: { 1 retry_delay: { 1 seconds: 30 } } }
/// 3 details: { 1 type_url: "type.googleapis.com/google.rpc.QuotaFailure"
///              2 value: { 1 violations: { 1 subject: "policy:default"
///                                         2 description: "slow down" } } }
/// 3 details: { 1 type_url: "type.googleapis.com/google.rpc.ErrorInfo"
///              2 value: { 1 reason: "TOO_MANY_REQUESTS" 2 domain: "api.example.com"
///                         3 metadata: { 1 key: "code" 2 value: "Quota" } } }
/// 3 details: { 1 type_url: "type.googleapis.com/google.rpc.BadRequest"
///              2 value: { 1 field_violations: { 1 field: "name" 2 description: "too long"
///                                               3 reason: "max" } } }
/// 3 details: { 1 type_url: "type.googleapis.com/google.rpc.RequestInfo"
///              2 value: { 1 request_id: "req-1" } }
/// ```
const GOLDEN: &str = concat!(
    "CAgSCXNsb3cgZG93bhowCih0eXBlLmdvb2dsZWFwaXMuY29tL2dvb2dsZS5ycGMuUmV0cnlJbmZvEgQK",
    "AggeGkwKK3R5cGUuZ29vZ2xlYXBpcy5jb20vZ29vZ2xlLnJwYy5RdW90YUZhaWx1cmUSHQobCg5wb2xp",
    "Y3k6ZGVmYXVsdBIJc2xvdyBkb3duGl8KKHR5cGUuZ29vZ2xlYXBpcy5jb20vZ29vZ2xlLnJwYy5FcnJv",
    "ckluZm8SMwoRVE9PX01BTllfUkVRVUVTVFMSD2FwaS5leGFtcGxlLmNvbRoNCgRjb2RlEgVRdW90YRpE",
    "Cil0eXBlLmdvb2dsZWFwaXMuY29tL2dvb2dsZS5ycGMuQmFkUmVxdWVzdBIXChUKBG5hbWUSCHRvbyBs",
    "b25nGgNtYXgaNQoqdHlwZS5nb29nbGVhcGlzLmNvbS9nb29nbGUucnBjLlJlcXVlc3RJbmZvEgcKBXJl",
    "cS0x",
);

/// The kinds added for the seeds' remaining rows, as a tonic client reads them: the code, the
/// message, and `ErrorInfo.reason` naming the kind.
#[tokio::test]
async fn the_seed_kinds_as_grpc_statuses() {
    use ErrorKind as K;
    let table = [
        (K::InvalidHashValue, Code::InvalidArgument),
        (K::InvalidDomainName, Code::InvalidArgument),
        (K::InvalidIpAddress, Code::InvalidArgument),
        (K::MaximumBatchSizeExceeded, Code::InvalidArgument),
        (K::ODataError, Code::InvalidArgument),
        (K::UnknownParameter, Code::InvalidArgument),
        (K::InvalidCustomerId, Code::InvalidArgument),
        (K::OsPlatformNotSupported, Code::FailedPrecondition),
        (K::ClientVersionNotSupported, Code::FailedPrecondition),
        (K::InactiveCustomer, Code::FailedPrecondition),
        (K::DisabledFeature, Code::PermissionDenied),
        (K::DisallowedOperation, Code::PermissionDenied),
        (K::InvalidCase, Code::Unimplemented),
        (K::InitializationFailure, Code::Unavailable),
    ];
    for (kind, code) in table {
        let headers = trailers_only(ApiError::new(kind, "the message"), "req-1", DOMAIN).await;
        let status = tonic::Status::from_header_map(&headers).unwrap();
        assert_eq!(status.code(), code, "{kind:?}");
        assert_eq!(status.message(), "the message", "{kind:?}");
        let details = status.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, kind.slug().to_ascii_uppercase(), "{kind:?}");
        assert_eq!(info.domain, DOMAIN, "{kind:?}");
    }
}
