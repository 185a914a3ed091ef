//! What each layer costs per request, side by side with the bare service and tower-http.
//!
//! Every benchmark drives the service synchronously (ready futures, a no-op waker), with the
//! request built outside the timed region (`iter_batched`), so the figures are the layers' own
//! CPU cost. Run with `cargo bench -p tower-envelope-benches`.

use std::future::{ready, Ready};
use std::hint::black_box;
use std::task::{Context, Poll};

use bytes::Bytes;
use tower_envelope_benches::service::{drive, AXUM07_NOT_FOUND, AXUM07_OK, BARE, NOT_FOUND};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response};
use http_body_util::Full;
use tower::{BoxError, Layer, Service, ServiceBuilder};
use tower_envelope::format::{Defender, Edgio, Format, Google, Msi, Problem, QRadar};
use tower_envelope::{
    AuthTokenLayer, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, StaticTokens,
    UrlEncodingLayer,
};

/// Fails with `tower::timeout::error::Elapsed`, as `tower::timeout` does.
#[derive(Clone, Copy)]
struct TimedOut;

impl<B> Service<Request<B>> for TimedOut {
    type Response = Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = Ready<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        ready(Err(tower::timeout::error::Elapsed::new().into()))
    }
}

/// The headers a typical API client sends, plus the body's.
fn request(method: Method, uri: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "api.example.com")
        .header("user-agent", "curl/8.5.0")
        .header("accept", "application/json")
        .header(AUTHORIZATION, "Bearer read-token-5f2a9c");
    if !body.is_empty() {
        builder = builder
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_LENGTH, body.len());
    }
    builder.body(Full::new(Bytes::from_static(body))).unwrap()
}

fn post_json() -> Request<Full<Bytes>> {
    request(
        Method::POST,
        "/api/machines?dry_run=false",
        br#"{"name":"web"}"#,
    )
}

fn anonymous() -> Request<Full<Bytes>> {
    let mut req = request(Method::GET, "/api/machines/1", b"");
    req.headers_mut().remove(AUTHORIZATION);
    req
}

fn tokens() -> StaticTokens {
    StaticTokens::new()
        .token("read-token-5f2a9c", ["read"])
        .token("write-token-8e1b4d", ["read", "write"])
}

/// The auth layer as compared with tower-http's bearer check, which inserts nothing.
fn auth() -> AuthTokenLayer {
    AuthTokenLayer::bearer(tokens()).insert_principal(false)
}

fn bench<S, RB>(c: &mut Criterion, id: &str, mut svc: S, make: fn() -> Request<Full<Bytes>>)
where
    S: Service<Request<Full<Bytes>>, Response = Response<RB>>,
    S::Error: std::fmt::Debug,
{
    // Check once that the request does what the benchmark says.
    let status = drive(&mut svc, make()).status();
    let expect_ok = id.starts_with("happy/");
    assert_eq!(status.is_success(), expect_ok, "{id}: {status}");
    c.bench_function(id, |b| {
        b.iter_batched(
            make,
            |req| black_box(drive(&mut svc, req)),
            BatchSize::SmallInput,
        )
    });
}

// `ValidateRequestHeaderLayer::bearer` is deprecated since tower-http 0.6.7 ("too basic"), but it
// is what a tower-http user reaches for first, and the nearest equivalent of `AuthTokenLayer`.
#[allow(deprecated)]
fn happy(c: &mut Criterion) {
    bench(c, "happy/bare", BARE, post_json);
    bench(
        c,
        "happy/envelope",
        ErrorEnvelopeLayer::defender().layer(BARE),
        post_json,
    );
    bench(c, "happy/auth_bearer", auth().layer(BARE), post_json);
    bench(
        c,
        "happy/auth_bearer_principal",
        AuthTokenLayer::bearer(tokens()).layer(BARE),
        post_json,
    );
    bench(
        c,
        "happy/url",
        UrlEncodingLayer::new().layer(BARE),
        post_json,
    );
    bench(
        c,
        "happy/content_type",
        ContentTypeLayer::json().layer(BARE),
        post_json,
    );
    bench(
        c,
        "happy/body_limit",
        BodyLimitLayer::new(4096).layer(BARE),
        post_json,
    );
    bench(
        c,
        "happy/stack",
        ServiceBuilder::new()
            .layer(ErrorEnvelopeLayer::defender())
            .layer(auth())
            .layer(UrlEncodingLayer::new())
            .layer(ContentTypeLayer::json())
            .layer(BodyLimitLayer::new(4096))
            .service(BARE),
        post_json,
    );
    // axum-problem's `ProblemLayer` wraps axum 0.7 services: its own bare service answers
    // with an axum 0.7 body.
    bench(c, "happy/axum_problem_bare", AXUM07_OK, post_json);
    bench(
        c,
        "happy/axum_problem",
        axum_problem::ProblemLayer.layer(AXUM07_OK),
        post_json,
    );
    bench(
        c,
        "happy/tower_http_bearer",
        tower_http::validate_request::ValidateRequestHeaderLayer::bearer("read-token-5f2a9c")
            .layer(BARE),
        post_json,
    );
    bench(
        c,
        "happy/tower_http_limit",
        tower_http::limit::RequestBodyLimitLayer::new(4096).layer(BARE),
        post_json,
    );
    bench(
        c,
        "happy/tower_http_stack",
        // tower-http's limit outermost: its response body is not `Default`, which the
        // bearer check needs of the body it wraps.
        ServiceBuilder::new()
            .layer(tower_http::limit::RequestBodyLimitLayer::new(4096))
            .layer(
                tower_http::validate_request::ValidateRequestHeaderLayer::bearer(
                    "read-token-5f2a9c",
                ),
            )
            .service(BARE),
        post_json,
    );
}

/// A request without a token, rejected by `AuthTokenLayer` and rendered by the envelope.
fn reject(c: &mut Criterion) {
    fn render_in<F: Format + Clone>(c: &mut Criterion, name: &str, format: F) {
        let svc = ServiceBuilder::new()
            .layer(ErrorEnvelopeLayer::new(format))
            .layer(auth())
            .service(BARE);
        bench(c, &format!("reject/auth_missing/{name}"), svc, anonymous);
    }
    render_in(c, "defender", Defender);
    render_in(c, "qradar", QRadar::new());
    render_in(c, "msi", Msi);
    render_in(c, "edgio", Edgio);
    render_in(c, "problem", Problem::new());
    render_in(c, "google", Google::new());
}

fn rewrite(c: &mut Criterion) {
    bench(
        c,
        "rewrite/bare_404/defender",
        ErrorEnvelopeLayer::defender().layer(NOT_FOUND),
        anonymous,
    );
    bench(
        c,
        "rewrite/bare_404/problem",
        ErrorEnvelopeLayer::problem().layer(NOT_FOUND),
        anonymous,
    );
    bench(
        c,
        "rewrite/bare_404/axum_problem",
        axum_problem::ProblemLayer.layer(AXUM07_NOT_FOUND),
        anonymous,
    );
    bench(
        c,
        "rewrite/timeout/defender",
        ErrorEnvelopeLayer::defender().layer(TimedOut),
        anonymous,
    );
}

criterion_group!(benches, happy, reject, rewrite);
criterion_main!(benches);
