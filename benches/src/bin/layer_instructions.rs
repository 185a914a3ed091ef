//! Drives one layer configuration N times in a loop, for instruction counting under callgrind
//! (`benches/instructions.sh` runs every configuration and prints instructions per request over
//! the bare service). Instruction counts are repeatable, unlike wall time on a shared machine.
//!
//! ```sh
//! cargo build --release -p tower-envelope-benches --bin layer_instructions
//! valgrind --tool=callgrind target/release/layer_instructions stack 10000
//! ```

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response};
use http_body_util::Full;
use tower::{Layer, Service, ServiceBuilder};
use tower_envelope::{
    AuthTokenLayer, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, QuotaLayer, StaticTokens,
    UrlEncodingLayer,
};

use tower_envelope_benches::service::{self, drive, AXUM07_NOT_FOUND, AXUM07_OK, BARE, NOT_FOUND};

fn req() -> Request<Full<Bytes>> {
    req_with_token("Bearer read-token-5f2a9c")
}

fn req_with_token(authorization: &str) -> Request<Full<Bytes>> {
    let body: &'static [u8] = br#"{"name":"web"}"#;
    Request::builder()
        .method(Method::POST)
        .uri("/api/machines?dry_run=false")
        .header("host", "api.example.com")
        .header("user-agent", "curl/8.5.0")
        .header("accept", "application/json")
        .header(AUTHORIZATION, authorization)
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, body.len())
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}
fn run<S, RB>(svc: S, n: usize)
where
    S: Service<Request<Full<Bytes>>, Response = Response<RB>>,
    S::Error: std::fmt::Debug,
{
    run_with(svc, n, req)
}

/// Drives `svc` with `n` requests made by `make`, all made before the first is served.
fn run_with<S, RB>(mut svc: S, n: usize, make: impl Fn() -> Request<Full<Bytes>>)
where
    S: Service<Request<Full<Bytes>>, Response = Response<RB>>,
    S::Error: std::fmt::Debug,
{
    let reqs: Vec<_> = (0..n).map(|_| make()).collect();
    for r in reqs {
        // Dropped once served, as a server drops a response once it is written.
        drop(std::hint::black_box(drive(&mut svc, r)));
    }
}

/// The request with a token that is not stored (as many headers, built alike).
fn bad_token() -> Request<Full<Bytes>> {
    req_with_token("Bearer bad-token-000000")
}

/// The same call made by a gRPC client: a trailers-only gRPC status is the answer.
fn grpc_bad_token() -> Request<Full<Bytes>> {
    let mut r = bad_token();
    *r.uri_mut() = http::Uri::from_static("/api.Machines/Create");
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    r
}

/// A bare service answering axum's response type (tower_governor converts its errors into it).
fn bare_axum() -> impl Service<
    Request<Full<Bytes>>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = std::future::Ready<Result<axum::response::Response, std::convert::Infallible>>,
> + Clone {
    tower::service_fn(|_: Request<Full<Bytes>>| {
        std::future::ready(Ok(axum::response::Response::new(axum::body::Body::empty())))
    })
}

/// The request as `axum::serve` hands it over with its peer's address.
fn req_from_peer() -> Request<Full<Bytes>> {
    let mut request = req();
    let peer = std::net::SocketAddr::from(([192, 0, 2, 7], 40000));
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    request
}

fn main() {
    let usage = "usage: layer_instructions none|bare|bare404|bare_axum|quota|governor|bare_bad|bare_grpc_bad|envelope|auth|url|ct|limit|stack|th_bearer|th_limit|th_stack|ap_bare|ap_bare404|ap_pass|ap_rewrite404|reject|grpc_reject|rewrite404|rewrite404_problem N";
    let (which, n) = service::args(usage);
    let tokens = || {
        StaticTokens::new()
            .token("read-token-5f2a9c", ["read"])
            .token("write-token-8e1b4d", ["read", "write"])
    };
    match which.as_str() {
        "none" => {
            let reqs: Vec<_> = (0..n).map(|_| req()).collect();
            std::hint::black_box(&reqs);
            std::mem::forget(reqs);
        }
        "bare" => run(BARE, n),
        "bare404" => run(NOT_FOUND, n),
        "ap_bare" => run(AXUM07_OK, n),
        "ap_bare404" => run(AXUM07_NOT_FOUND, n),
        "ap_pass" => run(axum_problem::ProblemLayer.layer(AXUM07_OK), n),
        "ap_rewrite404" => run(axum_problem::ProblemLayer.layer(AXUM07_NOT_FOUND), n),
        "rewrite404_problem" => run(ErrorEnvelopeLayer::problem().layer(NOT_FOUND), n),
        "envelope" => run(ErrorEnvelopeLayer::defender().layer(BARE), n),
        "auth" => run(
            AuthTokenLayer::bearer(tokens())
                .insert_principal(false)
                .layer(BARE),
            n,
        ),
        "url" => run(UrlEncodingLayer::new().layer(BARE), n),
        // A quota by peer address, large enough for every request to pass, and its peer.
        "bare_axum" => run_with(bare_axum(), n, req_from_peer),
        "quota" => run_with(
            QuotaLayer::per_second(u32::MAX).layer(bare_axum()),
            n,
            req_from_peer,
        ),
        "governor" => {
            let config = tower_governor::governor::GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(u32::MAX)
                .finish()
                .unwrap();
            let layer = tower_governor::GovernorLayer::new(std::sync::Arc::new(config));
            run_with(layer.layer(bare_axum()), n, req_from_peer)
        }
        "ct" => run(ContentTypeLayer::json().layer(BARE), n),
        "limit" => run(BodyLimitLayer::new(4096).layer(BARE), n),
        "stack" => run(
            ServiceBuilder::new()
                .layer(ErrorEnvelopeLayer::defender())
                .layer(AuthTokenLayer::bearer(tokens()).insert_principal(false))
                .layer(UrlEncodingLayer::new())
                .layer(ContentTypeLayer::json())
                .layer(BodyLimitLayer::new(4096))
                .service(BARE),
            n,
        ),
        "th_bearer" =>
        {
            #[allow(deprecated)]
            run(
                tower_http::validate_request::ValidateRequestHeaderLayer::bearer(
                    "read-token-5f2a9c",
                )
                .layer(BARE),
                n,
            )
        }
        #[allow(deprecated)]
        "th_stack" => run(
            ServiceBuilder::new()
                .layer(
                    tower_http::validate_request::ValidateRequestHeaderLayer::bearer(
                        "read-token-5f2a9c",
                    ),
                )
                .layer(tower_http::limit::RequestBodyLimitLayer::new(4096))
                .service(BARE),
            n,
        ),
        "th_limit" => run(
            tower_http::limit::RequestBodyLimitLayer::new(4096).layer(BARE),
            n,
        ),
        // Over the bare service answering the same requests (`bare_bad`, `bare_grpc_bad`).
        "bare_bad" => run_with(BARE, n, bad_token),
        "bare_grpc_bad" => run_with(BARE, n, grpc_bad_token),
        "reject" | "grpc_reject" => run_with(
            ServiceBuilder::new()
                .layer(ErrorEnvelopeLayer::defender())
                .layer(AuthTokenLayer::bearer(tokens()).insert_principal(false))
                .service(BARE),
            n,
            if which == "grpc_reject" {
                grpc_bad_token
            } else {
                bad_token
            },
        ),
        "rewrite404" => run(ErrorEnvelopeLayer::defender().layer(NOT_FOUND), n),
        other => panic!("unknown configuration {other}; {usage}"),
    }
}
