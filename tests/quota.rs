//! `QuotaLayer`: requests per client, answered `TooManyRequests` in every format, with
//! `Retry-After`, the IETF `RateLimit-Policy` / `RateLimit` fields and, for gRPC,
//! `RESOURCE_EXHAUSTED` with the rich details.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use tokio::task::JoinSet;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_envelope::auth::{AuthTokenLayer, StaticTokens};
use tower_envelope::format::{Defender, Edgio, Format, Google, Msi, Problem, QRadar};
use tower_envelope::{ErrorEnvelopeLayer, ErrorKind, QuotaLayer};

fn formats() -> Vec<(&'static str, Arc<dyn Format>)> {
    vec![
        ("defender", Arc::new(Defender)),
        ("qradar", Arc::new(QRadar::new())),
        ("msi", Arc::new(Msi)),
        ("edgio", Arc::new(Edgio)),
        ("problem", Arc::new(Problem::new())),
        ("google", Arc::new(Google::new())),
    ]
}

/// The envelope in `format`, the token check, `quota`, and a handler answering 200.
fn app(
    format: Arc<dyn Format>,
    quota: QuotaLayer,
) -> impl Service<
    Request<Empty<Bytes>>,
    Response = Response<impl http_body::Body<Error = impl std::fmt::Debug>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    let tokens = StaticTokens::new()
        .token("token-a", ["read"])
        .token("token-b", ["read"]);
    ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new(format))
        .layer(AuthTokenLayer::bearer(tokens))
        .layer(quota)
        .service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
        })
}

fn get(token: &str) -> Request<Empty<Bytes>> {
    Request::get("/machines")
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::new())
        .unwrap()
}

#[tokio::test]
async fn a_principal_over_its_quota_gets_429_in_every_format() {
    for (name, format) in formats() {
        let svc = app(
            Arc::clone(&format),
            QuotaLayer::per_minute(2).name("per-user"),
        );
        for _ in 0..2 {
            let ok = svc.clone().oneshot(get("token-a")).await.unwrap();
            assert_eq!(ok.status(), StatusCode::OK, "{name}");
        }
        let over = svc.clone().oneshot(get("token-a")).await.unwrap();
        assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS, "{name}");
        let headers = over.headers().clone();
        assert_eq!(headers["retry-after"], "30", "{name}");
        assert_eq!(
            headers["ratelimit-policy"], r#""per-user";q=2;w=60"#,
            "{name}"
        );
        assert_eq!(headers["ratelimit"], r#""per-user";r=0;t=30"#, "{name}");
        let content_type = headers["content-type"].to_str().unwrap().to_owned();
        let body = over.into_body().collect().await.unwrap().to_bytes();
        let error = format
            .parse(StatusCode::TOO_MANY_REQUESTS, Some(&content_type), &body)
            .unwrap_or_else(|| panic!("{name}: {body:?}"));
        assert_eq!(error.kind(), ErrorKind::TooManyRequests, "{name}");
        assert_eq!(
            error.message(),
            "Rate limit is exceeded. Try again in 30 seconds.",
            "{name}"
        );
        // Another principal has its own quota.
        let other = svc.oneshot(get("token-b")).await.unwrap();
        assert_eq!(other.status(), StatusCode::OK, "{name}");
    }
}

#[tokio::test]
async fn concurrent_requests_of_one_token_admit_exactly_the_quota() {
    let svc = app(Arc::new(Defender), QuotaLayer::per_minute(20));
    let mut requests = JoinSet::new();
    for _ in 0..60 {
        let svc = svc.clone();
        requests.spawn(async move { svc.oneshot(get("token-a")).await.unwrap().status() });
    }
    let statuses = requests.join_all().await;
    let admitted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((admitted, refused), (20, 40));
}

#[tokio::test]
async fn without_a_principal_the_client_ip_is_the_key() {
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(QuotaLayer::per_minute(1))
        .service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
        });
    let from = |ip: &str, forwarded: Option<&str>| {
        let mut request = Request::get("/healthz").body(Empty::new()).unwrap();
        let peer: SocketAddr = format!("{ip}:40000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(forwarded) = forwarded {
            request
                .headers_mut()
                .insert("x-forwarded-for", forwarded.parse().unwrap());
        }
        request
    };
    let status = |r: Response<_>| r.status();
    assert_eq!(
        status(svc.clone().oneshot(from("192.0.2.1", None)).await.unwrap()),
        StatusCode::OK
    );
    // The same client, whatever X-Forwarded-For says: it comes from no trusted proxy.
    let spoofed = svc
        .clone()
        .oneshot(from("192.0.2.1", Some("203.0.113.5")))
        .await
        .unwrap();
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        status(svc.clone().oneshot(from("192.0.2.2", None)).await.unwrap()),
        StatusCode::OK
    );

    // Behind a trusted proxy, each client behind it has its own quota.
    let proxy = "10.0.0.1".parse().unwrap();
    let behind = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(QuotaLayer::per_minute(1).trusted_proxies([proxy]))
        .service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
        });
    for (client, expected) in [
        ("198.51.100.1", StatusCode::OK),
        ("198.51.100.2", StatusCode::OK),
        ("198.51.100.1", StatusCode::TOO_MANY_REQUESTS),
    ] {
        let response = behind
            .clone()
            .oneshot(from("10.0.0.1", Some(client)))
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{client}");
    }
}

#[cfg(feature = "tonic")]
#[tokio::test]
async fn grpc_calls_get_resource_exhausted_with_retry_info_and_quota_failure() {
    use tonic_types::StatusExt;
    let svc = app(Arc::new(Defender), QuotaLayer::per_minute(1).name("grpc"));
    let call = || {
        Request::post("/grpc.health.v1.Health/Check")
            .header("authorization", "Bearer token-a")
            .header("content-type", "application/grpc")
            .body(Empty::new())
            .unwrap()
    };
    assert_eq!(
        svc.clone().oneshot(call()).await.unwrap().status(),
        StatusCode::OK
    );
    let over = svc.oneshot(call()).await.unwrap();
    assert_eq!(over.status(), StatusCode::OK, "trailers-only");
    assert_eq!(over.headers()["grpc-status"], "8");
    let status = tonic::Status::from_header_map(over.headers()).unwrap();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let details = status.get_error_details();
    assert_eq!(
        details.retry_info().unwrap().retry_delay,
        Some(std::time::Duration::from_secs(60))
    );
    let quota = details.quota_failure().unwrap();
    assert_eq!(quota.violations[0].subject, "policy:grpc");
    assert_eq!(
        quota.violations[0].description,
        "Rate limit is exceeded. Try again in 60 seconds."
    );
}
