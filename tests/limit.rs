//! `BodyLimitLayer`: declared lengths rejected up front, streamed bodies limited while read.

mod common;
use common::allocations_of;

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::Limited;
use http_body_util::{BodyExt, Full, LengthLimitError, StreamBody};
use serde_json::Value;
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_envelope::{ApiError, BodyLimitLayer, ErrorEnvelopeLayer, ErrorKind};

const LIMIT: usize = 4096;

// ---- helpers ---------------------------------------------------------------------------------

/// A body declared with `Content-Length`.
fn declared(len: usize) -> Request<Body> {
    Request::post("/upload")
        .header(CONTENT_LENGTH, len)
        .body(Body::from(vec![b'a'; len]))
        .unwrap()
}

/// A chunked body: `Transfer-Encoding: chunked` and a stream of 1000-byte chunks with no size
/// hint, as hyper hands over an HTTP/1.1 chunked request.
fn chunked(len: usize) -> Request<Body> {
    chunked_bytes(vec![b'a'; len])
}

fn chunked_bytes(bytes: Vec<u8>) -> Request<Body> {
    let chunks: Vec<Result<Frame<Bytes>, Infallible>> = bytes
        .chunks(1000)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let body = StreamBody::new(futures_util::stream::iter(chunks));
    assert_eq!(http_body::Body::size_hint(&body).exact(), None);
    Request::post("/upload")
        .header(TRANSFER_ENCODING, "chunked")
        .body(Body::new(body))
        .unwrap()
}

/// The inner service: reads the whole body; 200 with its length, or 500 naming the error.
async fn read_body(request: Request<Limited<Body>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match request.into_body().collect().await {
        Ok(collected) => Response::new(Full::new(Bytes::from(
            collected.to_bytes().len().to_string(),
        ))),
        Err(error) => {
            let name = if error.downcast_ref::<LengthLimitError>().is_some() {
                "LengthLimitError"
            } else {
                "other"
            };
            let mut response = Response::new(Full::new(Bytes::from(name)));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    })
}

async fn body_text<B>(response: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn send(layer: BodyLimitLayer, request: Request<Body>) -> (StatusCode, String) {
    let response = ServiceBuilder::new()
        .layer(layer)
        .service_fn(read_body)
        .oneshot(request)
        .await
        .unwrap();
    (response.status(), body_text(response).await)
}

/// Sends `request`, asserts a problem+json rejection of `kind` and returns its message.
async fn rejection(layer: BodyLimitLayer, request: Request<Body>, kind: ErrorKind) -> String {
    let response = ServiceBuilder::new()
        .layer(layer)
        .service_fn(read_body)
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), kind.status());
    assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
    let error = response.extensions().get::<ApiError>().cloned().unwrap();
    assert_eq!(error.kind(), kind);
    let body: Value = serde_json::from_str(&body_text(response).await).unwrap();
    assert_eq!(body["status"], kind.status().as_u16());
    assert_eq!(body["code"], kind.slug());
    assert_eq!(body["detail"], error.message());
    error.message().to_owned()
}

// ---- declared length -------------------------------------------------------------------------

#[tokio::test]
async fn a_declared_length_of_exactly_the_limit_passes() {
    let (status, body) = send(BodyLimitLayer::new(LIMIT), declared(LIMIT)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "4096"));
}

#[tokio::test]
async fn a_declared_length_one_byte_over_is_rejected() {
    let message = rejection(
        BodyLimitLayer::new(LIMIT),
        declared(LIMIT + 1),
        ErrorKind::PayloadTooLarge,
    )
    .await;
    assert_eq!(message, "Received: 4097 bytes, allowed: 4096 bytes");
}

#[tokio::test]
async fn the_message_gives_both_numbers() {
    let message = rejection(
        BodyLimitLayer::new(4096),
        declared(5000),
        ErrorKind::PayloadTooLarge,
    )
    .await;
    assert_eq!(message, "Received: 5000 bytes, allowed: 4096 bytes");
}

/// A body that records whether anyone polled it.
struct Watched {
    polled: Arc<AtomicBool>,
}

impl http_body::Body for Watched {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.polled.store(true, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![0; 5000])))))
    }
}

#[tokio::test]
async fn an_oversized_declared_length_is_rejected_before_the_inner_service_or_the_body() {
    let polled = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let service = ServiceBuilder::new()
        .layer(BodyLimitLayer::new(LIMIT))
        .service_fn(move |_: Request<Limited<Watched>>| {
            counted.fetch_add(1, Ordering::SeqCst);
            ready(Ok::<_, Infallible>(Response::new(Full::<Bytes>::default())))
        });
    let request = Request::post("/upload")
        .header(CONTENT_LENGTH, "5000")
        .header("x-request-id", "req-7")
        .body(Watched {
            polled: polled.clone(),
        })
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()["x-request-id"], "req-7");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "inner service called");
    assert!(!polled.load(Ordering::SeqCst), "body read");
}

#[tokio::test]
async fn a_malformed_or_conflicting_content_length_is_a_bad_request() {
    for value in ["abc", "-1", "+5", "1.5", "99999999999999999999999"] {
        let request = Request::post("/upload")
            .header(CONTENT_LENGTH, value)
            .body(Body::from("x"))
            .unwrap();
        let message = rejection(BodyLimitLayer::new(LIMIT), request, ErrorKind::BadRequest).await;
        assert_eq!(
            message,
            format!("Content-Length \"{value}\" is not a valid length")
        );
    }
    for values in [&["1, 2"][..], &["1", "2"]] {
        let mut request = Request::post("/upload").body(Body::from("x")).unwrap();
        for v in values {
            request
                .headers_mut()
                .append(CONTENT_LENGTH, v.parse().unwrap());
        }
        let message = rejection(BodyLimitLayer::new(LIMIT), request, ErrorKind::BadRequest).await;
        assert_eq!(message, "Content-Length header has conflicting values");
    }
    // Repeating the same length is allowed (RFC 9110 §8.6).
    let request = Request::post("/upload")
        .header(CONTENT_LENGTH, "3, 3")
        .body(Body::from("abc"))
        .unwrap();
    assert_eq!(
        send(BodyLimitLayer::new(LIMIT), request).await,
        (StatusCode::OK, "3".to_owned())
    );
}

// ---- streamed bodies ---------------------------------------------------------------------------

#[tokio::test]
async fn a_chunked_body_of_exactly_the_limit_passes() {
    let (status, body) = send(BodyLimitLayer::new(LIMIT), chunked(LIMIT)).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "4096"));
}

#[tokio::test]
async fn a_chunked_body_one_byte_over_fails_while_read_with_length_limit_error() {
    let (status, body) = send(BodyLimitLayer::new(LIMIT), chunked(LIMIT + 1)).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "LengthLimitError")
    );
}

#[tokio::test]
async fn a_body_without_length_or_chunked_header_is_limited_too() {
    // As over HTTP/2: no Content-Length, no Transfer-Encoding, only the stream.
    let mut request = chunked(LIMIT + 1);
    request.headers_mut().remove(TRANSFER_ENCODING);
    let (status, body) = send(BodyLimitLayer::new(LIMIT), request).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "LengthLimitError")
    );
}

// ---- through axum ------------------------------------------------------------------------------

async fn bytes_handler(body: Bytes) -> String {
    body.len().to_string()
}

async fn json_handler(Json(value): Json<Value>) -> String {
    value.as_str().map_or(0, str::len).to_string()
}

fn app() -> Router {
    Router::new()
        .route("/bytes", post(bytes_handler))
        .route("/json", post(json_handler))
        .layer(BodyLimitLayer::new(LIMIT))
}

/// A JSON string of exactly `len` bytes.
fn json_of_len(len: usize) -> Vec<u8> {
    format!("\"{}\"", "a".repeat(len - 2)).into_bytes()
}

async fn call_app(mut request: Request<Body>, path: &str, json: bool) -> (StatusCode, String) {
    *request.uri_mut() = path.parse().unwrap();
    if json {
        request
            .headers_mut()
            .insert(CONTENT_TYPE, "application/json".parse().unwrap());
    }
    let response = app().oneshot(request).await.unwrap();
    (response.status(), body_text(response).await)
}

#[tokio::test]
async fn axum_bytes_extractor_with_content_length() {
    let (status, body) = call_app(declared(LIMIT), "/bytes", false).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "4096"));
    let (status, body) = call_app(declared(LIMIT + 1), "/bytes", false).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        problem["detail"],
        "Received: 4097 bytes, allowed: 4096 bytes"
    );
}

#[tokio::test]
async fn axum_bytes_extractor_with_a_chunked_body() {
    let (status, body) = call_app(chunked(LIMIT), "/bytes", false).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "4096"));
    // axum's own 413 (a text body): the limit hit while the extractor buffers.
    let (status, body) = call_app(chunked(LIMIT + 1), "/bytes", false).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("length limit exceeded"), "{body}");
}

#[tokio::test]
async fn axum_json_extractor_with_content_length() {
    let declared_json = |len: usize| {
        let bytes = json_of_len(len);
        Request::post("/")
            .header(CONTENT_LENGTH, bytes.len())
            .body(Body::from(bytes))
            .unwrap()
    };
    let (status, body) = call_app(declared_json(LIMIT), "/json", true).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "4094"));
    let (status, body) = call_app(declared_json(LIMIT + 1), "/json", true).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let problem: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "payload_too_large");
}

#[tokio::test]
async fn axum_json_extractor_with_a_chunked_body() {
    let request = chunked_bytes(json_of_len(LIMIT));
    let (status, body) = call_app(request, "/json", true).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "4094"));
    let request = chunked_bytes(json_of_len(LIMIT + 1));
    let (status, body) = call_app(request, "/json", true).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("length limit exceeded"), "{body}");
}

// ---- options -----------------------------------------------------------------------------------

#[tokio::test]
async fn a_per_request_limit_chooses_by_the_request_head() {
    let layer = BodyLimitLayer::per_request(|head: &Parts| {
        if head.uri.path().starts_with("/upload/") {
            8
        } else {
            4
        }
    });
    let to = |path: &str, len: usize| {
        Request::post(path)
            .header(CONTENT_LENGTH, len)
            .body(Body::from(vec![b'a'; len]))
            .unwrap()
    };
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .service_fn(read_body);
    let ok = service.clone().oneshot(to("/upload/big", 8)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let message = rejection(
        layer.clone(),
        to("/upload/big", 9),
        ErrorKind::PayloadTooLarge,
    )
    .await;
    assert_eq!(message, "Received: 9 bytes, allowed: 8 bytes");
    let message = rejection(layer.clone(), to("/other", 5), ErrorKind::PayloadTooLarge).await;
    assert_eq!(message, "Received: 5 bytes, allowed: 4 bytes");
    // A streamed body is held to the per-request limit as well.
    let mut request = chunked(9);
    *request.uri_mut() = "/upload/big".parse().unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(body_text(response).await, "LengthLimitError");
}

#[tokio::test]
async fn require_content_length_answers_411_to_a_body_without_one() {
    let layer = BodyLimitLayer::new(LIMIT).require_content_length();
    let message = rejection(layer.clone(), chunked(10), ErrorKind::LengthRequired).await;
    assert_eq!(message, "Content-Length header is required");

    let mut no_header = chunked(10);
    no_header.headers_mut().remove(TRANSFER_ENCODING);
    rejection(layer.clone(), no_header, ErrorKind::LengthRequired).await;

    // With a length, or without a body, the request passes.
    assert_eq!(send(layer.clone(), declared(10)).await.0, StatusCode::OK);
    assert_eq!(send(layer.clone(), declared(0)).await.0, StatusCode::OK);
    let get = Request::builder()
        .method(Method::GET)
        .uri("/items")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(layer.clone(), get).await.0, StatusCode::OK);
}

#[tokio::test]
async fn without_the_option_a_chunked_body_needs_no_length() {
    assert_eq!(
        send(BodyLimitLayer::new(LIMIT), chunked(10)).await,
        (StatusCode::OK, "10".to_owned())
    );
}

// ---- under the envelope ------------------------------------------------------------------------

#[tokio::test]
async fn under_the_envelope_both_413s_render_as_defender() {
    let app = Router::new().route("/bytes", post(bytes_handler)).layer(
        ServiceBuilder::new()
            .layer(ErrorEnvelopeLayer::defender())
            .layer(BodyLimitLayer::new(LIMIT)),
    );
    for (request, message) in [
        (
            declared(LIMIT + 1),
            Some("Received: 4097 bytes, allowed: 4096 bytes"),
        ),
        (chunked(LIMIT + 1), None),
    ] {
        let mut request = request;
        *request.uri_mut() = "/bytes".parse().unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        let body: Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(body["error"]["code"], "PayloadTooLarge");
        if let Some(message) = message {
            assert_eq!(body["error"]["message"], message);
        }
    }
}

// ---- allocations ---------------------------------------------------------------------------------

fn bare<B>(_: Request<B>) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
}

fn post_json(len: &'static str) -> Request<Full<Bytes>> {
    Request::post("/api/machines")
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, len)
        .body(Full::new(Bytes::from_static(br#"{"name":"web"}"#)))
        .unwrap()
}

#[test]
fn a_passing_request_allocates_nothing() {
    let mut baseline = service_fn(bare::<Full<Bytes>>);
    let mut service = BodyLimitLayer::new(LIMIT).layer(service_fn(bare::<Limited<Full<Bytes>>>));
    let _ = allocations_of(&mut service, post_json("14"));
    let (bare_count, _) = allocations_of(&mut baseline, post_json("14"));
    let (count, status) = allocations_of(&mut service, post_json("14"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        count - bare_count,
        0,
        "extra allocations per passing request"
    );
    // The counter does see allocations: rendering a rejection needs some.
    let (count, status) = allocations_of(&mut service, post_json("5000"));
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(count > 0);
}
