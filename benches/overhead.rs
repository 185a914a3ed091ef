//! What each layer costs per request, side by side with the bare service and tower-http.
//!
//! Every benchmark drives the service synchronously (ready futures, a no-op waker), with the
//! request built outside the timed region (`iter_batched`), so the figures are the layers' own
//! CPU cost. Run with `cargo bench --bench overhead`.

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Layer, Service, ServiceBuilder};
use tower_envelope::format::{Defender, Edgio, Format, Google, Msi, Problem, QRadar};
use tower_envelope::{ApiError, BoxError, ErrorEnvelopeLayer, ErrorKind};

/// The bare service: a small 200 from a static body.
#[derive(Clone, Copy)]
struct Bare;

impl<B> Service<Request<B>> for Bare {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
    }
}

/// Answers with a fixed status and an empty body (axum's fallback 404).
#[derive(Clone, Copy)]
struct Status(StatusCode);

impl<B> Service<Request<B>> for Status {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut res = Response::new(Full::new(Bytes::new()));
        *res.status_mut() = self.0;
        ready(Ok(res))
    }
}

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

/// Readies and calls `svc`, polling the (ready) future to completion.
fn drive<S, B, RB>(svc: &mut S, request: Request<B>) -> Response<RB>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Ok(())) = svc.poll_ready(&mut cx) else {
        panic!("service not ready");
    };
    let mut future = pin!(svc.call(request));
    loop {
        if let Poll::Ready(res) = future.as_mut().poll(&mut cx) {
            return res.expect("service failed");
        }
    }
}

fn get() -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::GET)
        .uri("/api/machines/1?expand=true")
        .header(AUTHORIZATION, "Bearer read-token")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn post_json() -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::POST)
        .uri("/api/machines")
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, "14")
        .header(AUTHORIZATION, "Bearer read-token")
        .body(Full::new(Bytes::from_static(br#"{"name":"web"}"#)))
        .unwrap()
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

// `ValidateRequestHeaderLayer::bearer` is deprecated in tower-http 0.6 ("too basic"), but it is
// what a tower-http user reaches for first, and the nearest equivalent of `AuthTokenLayer`.
#[allow(deprecated)]
fn happy(c: &mut Criterion) {
    bench(c, "happy/bare", Bare, post_json);
    bench(
        c,
        "happy/envelope",
        ErrorEnvelopeLayer::defender().layer(Bare),
        post_json,
    );
    bench(
        c,
        "happy/tower_http_bearer",
        tower_http::validate_request::ValidateRequestHeaderLayer::bearer("read-token").layer(Bare),
        post_json,
    );
    bench(
        c,
        "happy/tower_http_limit",
        tower_http::limit::RequestBodyLimitLayer::new(4096).layer(Bare),
        post_json,
    );
    bench(
        c,
        "happy/tower_http_stack",
        // tower-http's limit outermost: its response body is not `Default`, which the
        // bearer check needs of the body it wraps.
        ServiceBuilder::new()
            .layer(tower_http::limit::RequestBodyLimitLayer::new(4096))
            .layer(tower_http::validate_request::ValidateRequestHeaderLayer::bearer("read-token"))
            .service(Bare),
        post_json,
    );
}

fn reject(c: &mut Criterion) {
    fn render_in<F: Format + Clone>(c: &mut Criterion, name: &str, format: F) {
        let id = format!("reject/auth_missing/{name}");
        let svc = ErrorEnvelopeLayer::new(format).layer(tower::service_fn(
            |req: Request<Full<Bytes>>| {
                let error =
                    ApiError::new(ErrorKind::Unauthorized, "Authorization header is missing");
                ready(Ok::<_, Infallible>(
                    tower_envelope::format::tagged_response::<_, Full<Bytes>>(error, &req),
                ))
            },
        ));
        bench(c, &id, svc, get);
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
        ErrorEnvelopeLayer::defender().layer(Status(StatusCode::NOT_FOUND)),
        get,
    );
    bench(
        c,
        "rewrite/timeout/defender",
        ErrorEnvelopeLayer::defender().layer(TimedOut),
        get,
    );
}

criterion_group!(benches, happy, reject, rewrite);
criterion_main!(benches);
