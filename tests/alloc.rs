//! Heap allocations per request, counted by a global allocator (this file is its own test
//! binary). Counters are per thread, so tests running in parallel do not disturb each other.

mod common;
use common::service::{self, BARE, NOT_FOUND};
use common::{count, parsed};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use tower::ServiceBuilder;
use tower::{Layer, Service};
use tower_envelope::format::{Defender, Format, RequestContext};
use tower_envelope::{
    ApiError, AuthTokenLayer, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, ErrorKind,
    Principal, StaticTokens, UrlEncodingLayer,
};

/// Readies `svc`, calls it with `request` and polls the future to completion on this thread,
/// dropping the response; returns the allocations made and the status.
fn drive<S, B, RB>(svc: &mut S, request: Request<B>) -> (usize, StatusCode)
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: std::fmt::Debug,
{
    count(|| service::drive(svc, request).status())
}

// Requests are built as hyper builds them: header values share the connection's buffer.

fn get() -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::GET)
        .uri("/api/machines/1?expand=true")
        .header("x-request-id", parsed("abc-123"))
        .header(AUTHORIZATION, parsed("Bearer read-token"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn post_json() -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::POST)
        .uri("/api/machines")
        .header(CONTENT_TYPE, parsed("application/json"))
        .header(CONTENT_LENGTH, parsed("15"))
        .header(AUTHORIZATION, parsed("Bearer write-token"))
        .body(Full::new(Bytes::from_static(br#"{"name":"web-1"}"#)))
        .unwrap()
}

/// A unary gRPC call (`content-type: application/grpc`), or gRPC-Web with `grpc_web`.
fn post_grpc_with(content_type: &'static str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::POST)
        .uri("/api.Machines/Get")
        .header(CONTENT_TYPE, parsed(content_type))
        .header("te", parsed("trailers"))
        .header(AUTHORIZATION, parsed("Bearer read-token"))
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .unwrap()
}

fn post_grpc() -> Request<Full<Bytes>> {
    post_grpc_with("application/grpc")
}

fn post_grpc_web() -> Request<Full<Bytes>> {
    post_grpc_with("application/grpc-web-text+proto")
}

#[test]
fn a_parsed_header_value_clones_without_allocating() {
    let value = parsed("abc-123");
    let (n, clone) = count(|| value.clone());
    assert_eq!((n, clone), (0, value));
}

#[test]
fn bare_service_allocates_nothing() {
    let mut svc = BARE;
    for req in [get(), post_json()] {
        let (n, status) = drive(&mut svc, req);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(n, 0);
    }
}

#[test]
fn envelope_happy_path_allocates_nothing() {
    let mut svc = ErrorEnvelopeLayer::defender().layer(BARE);
    let mut baseline = BARE;
    for make in [get, post_json, post_grpc, post_grpc_web] {
        // Warm up once (first-use lazies of the process), then measure.
        let _ = drive(&mut svc, make());
        let (bare, _) = drive(&mut baseline, make());
        let (n, status) = drive(&mut svc, make());
        assert_eq!(status, StatusCode::OK);
        assert_eq!(n - bare, 0, "extra allocations per passing request");
    }
}

#[test]
fn rendering_one_error_allocates_only_the_body() {
    let method = Method::GET;
    let cx = RequestContext::new("43f4cb08-8fac-4b65-9db1-745c2ae65f3a", &method);
    let err = ApiError::new(
        ErrorKind::ResourceNotFound,
        "Machine 123123123 was not found",
    );
    let (n, out) = count(|| Defender.render(&err, &cx));
    assert_eq!(out.status, StatusCode::NOT_FOUND);
    // serde_json's buffer: its first allocation and one growth past its initial 128 bytes.
    assert!(out.body.len() > 128);
    assert!(n <= 2, "{n} allocations: only the body buffer");
}

/// The ceiling for rewriting a bare 404 as Defender: the body buffer and its conversion to
/// `Bytes` (a shared header, since the buffer is sized with slack), the response's header map
/// (one allocation for its indices, one for its entries), the `x-request-id` value.
const REWRITE_404_CEILING: usize = 5;

#[test]
fn rewriting_a_bare_404_stays_under_its_ceiling() {
    let mut svc = ErrorEnvelopeLayer::defender().layer(NOT_FOUND);
    let _ = drive(&mut svc, get());
    let (n, status) = drive(&mut svc, get());
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(n <= REWRITE_404_CEILING, "{n} allocations");
    println!("bare 404 rewritten as Defender: {n} allocations");
}

fn tokens() -> StaticTokens {
    StaticTokens::new()
        .token("read-token", ["read"])
        .token("write-token", ["read", "write"])
}

/// Extra allocations of `svc` over the bare service for one request made by `make`, after one
/// warm-up request.
fn extra<S, RB>(svc: &mut S, make: fn() -> Request<Full<Bytes>>) -> usize
where
    S: Service<Request<Full<Bytes>>, Response = Response<RB>>,
    S::Error: std::fmt::Debug,
{
    let _ = drive(svc, make());
    let (bare, _) = drive(&mut { BARE }, make());
    let (n, status) = drive(svc, make());
    assert_eq!(status, StatusCode::OK);
    n - bare
}

#[test]
fn envelope_and_the_three_request_validators_allocate_nothing() {
    let mut svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(UrlEncodingLayer::new())
        .layer(ContentTypeLayer::json())
        .layer(BodyLimitLayer::new(4096))
        .service(BARE);
    assert_eq!(extra(&mut svc, get), 0, "GET");
    assert_eq!(extra(&mut svc, post_json), 0, "POST with a JSON body");
}

#[test]
fn auth_without_the_principal_insert_allocates_nothing() {
    let mut svc = AuthTokenLayer::bearer(tokens())
        .insert_principal(false)
        .layer(BARE);
    assert_eq!(extra(&mut svc, get), 0, "GET");
    assert_eq!(extra(&mut svc, post_json), 0, "POST with a JSON body");
}

#[test]
fn full_stack_with_the_principal_costs_one_extensions_insert() {
    // What `http::Extensions` costs for one insert into a request's empty extensions.
    let principal = Principal::new("someone", ["read"]);
    let (insert, _extensions) = count(|| {
        let mut extensions = http::Extensions::new();
        extensions.insert(principal.clone());
        extensions
    });
    let mut svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(AuthTokenLayer::bearer(tokens()))
        .layer(UrlEncodingLayer::new())
        .layer(ContentTypeLayer::json())
        .layer(BodyLimitLayer::new(4096))
        .service(BARE);
    for make in [get, post_json] {
        let n = extra(&mut svc, make);
        println!(
            "full stack, principal inserted: {n} allocations (one Extensions insert: {insert})"
        );
        assert!(n <= insert, "{n} > {insert}");
    }
}

fn no_token() -> Request<Full<Bytes>> {
    let mut req = get();
    req.headers_mut().remove(AUTHORIZATION);
    req.headers_mut().remove("x-request-id");
    req
}

/// The ceiling for a missing token rejected by `AuthTokenLayer` and rendered as Defender (14
/// measured): the validator's tagged response (its header map, the request id, the `ApiError`
/// inserted into the response extensions with its boxed target, and the unrendered problem body
/// holding a copy of the error) and the Defender response that replaces it (body, header map,
/// request id).
const REJECTION_CEILING: usize = 14;

#[test]
fn a_rejection_rendered_as_defender_stays_under_its_ceiling() {
    let mut svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(AuthTokenLayer::bearer(tokens()))
        .service(BARE);
    let _ = drive(&mut svc, no_token());
    let (n, status) = drive(&mut svc, no_token());
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    println!("missing token rendered as Defender: {n} allocations");
    assert!(n <= REJECTION_CEILING, "{n} allocations");
}

/// The ceiling for a missing token on a gRPC call, answered trailers-only (16 measured): the
/// validator's tagged response as above, and the answer's header map, `grpc-status`,
/// `grpc-message` and request id. With the `tonic` feature (29 measured) add the
/// `grpc-status-details-bin` value: the `google.rpc.Status` built by tonic-types (its strings,
/// each detail's `Any`, the details vector, the encoded bytes) and its base64.
const GRPC_REJECTION_CEILING: usize = if cfg!(feature = "tonic") { 29 } else { 16 };

#[test]
fn a_grpc_rejection_stays_under_its_ceiling() {
    let mut svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(AuthTokenLayer::bearer(tokens()))
        .service(BARE);
    let no_token = || {
        let mut req = post_grpc();
        req.headers_mut().remove(AUTHORIZATION);
        req
    };
    let _ = drive(&mut svc, no_token());
    let (n, status) = drive(&mut svc, no_token());
    assert_eq!(status, StatusCode::OK);
    println!("missing token on a gRPC call: {n} allocations");
    assert!(n <= GRPC_REJECTION_CEILING, "{n} allocations");
}

/// A stack wrapped around an axum router hands `axum::serve` an axum body: a passing response's
/// is the router's own, unwrapped from every layer's `ResponseBody` without boxing it again.
#[test]
fn a_passing_body_becomes_an_axum_body_without_allocating() {
    use axum::body::Body;
    use http_body::Body as _;
    use tower_envelope::body::ResponseBody;

    let body = Body::from("ok");
    let wrapped = ResponseBody::new(ResponseBody::new(body));
    let (n, unwrapped) = count(|| Body::from(wrapped));
    assert_eq!(n, 0);
    assert_eq!(unwrapped.size_hint().exact(), Some(2));
    // Boxing it, as `IntoResponse` does, costs an allocation.
    let wrapped = ResponseBody::new(Body::from("ok"));
    let (n, _boxed) = count(|| Body::new(wrapped));
    assert_eq!(n, 1);
}
