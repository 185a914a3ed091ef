//! `ContentTypeLayer`: the body's declared media type, `Accept`, and (opt-in) JSON syntax.

mod common;
use common::allocations_of;

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::Value;
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_envelope::content_type::RequestBody;
use tower_envelope::{ApiError, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, ErrorKind};

// ---- helpers ---------------------------------------------------------------------------------

/// The inner service: 200 echoing the body it received, `x-verified` telling whether the layer
/// buffered it, `x-trailer` the value of a trailer named `checksum`.
async fn echo(request: Request<RequestBody<Body>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let verified = request.body().is_verified();
    let collected = request.into_body().collect().await.unwrap();
    let trailer = collected
        .trailers()
        .and_then(|t| t.get("checksum"))
        .map(|v| v.to_str().unwrap().to_owned());
    let mut response = Response::new(Full::new(collected.to_bytes()));
    response
        .headers_mut()
        .insert("x-verified", verified.to_string().parse().unwrap());
    if let Some(trailer) = trailer {
        response
            .headers_mut()
            .insert("x-trailer", trailer.parse().unwrap());
    }
    Ok(response)
}

/// A POST with a declared length and, when given, a `Content-Type`.
fn post(content_type: Option<&str>, body: &str) -> Request<Body> {
    let mut builder = Request::post("/machines").header(CONTENT_LENGTH, body.len());
    if let Some(ct) = content_type {
        builder = builder.header(CONTENT_TYPE, ct);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

/// A chunked POST: `Transfer-Encoding: chunked`, a stream without size hint, in `chunk`-byte
/// pieces, optionally followed by trailers.
fn chunked(
    content_type: &str,
    body: &str,
    chunk: usize,
    trailers: Option<HeaderMap>,
) -> Request<Body> {
    let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = body
        .as_bytes()
        .chunks(chunk)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    frames.extend(trailers.map(|t| Ok(Frame::trailers(t))));
    Request::post("/machines")
        .header(TRANSFER_ENCODING, "chunked")
        .header(CONTENT_TYPE, content_type)
        .body(Body::new(StreamBody::new(futures_util::stream::iter(
            frames,
        ))))
        .unwrap()
}

fn get(accept: &[&str]) -> Request<Body> {
    let mut builder = Request::builder().method(Method::GET).uri("/machines/1");
    for a in accept {
        builder = builder.header(ACCEPT, *a);
    }
    builder.body(Body::empty()).unwrap()
}

async fn send(
    layer: ContentTypeLayer,
    request: Request<Body>,
) -> Response<tower_envelope::body::ResponseBody<Full<Bytes>>> {
    ServiceBuilder::new()
        .layer(layer)
        .service_fn(echo)
        .oneshot(request)
        .await
        .unwrap()
}

async fn body_bytes<B>(response: Response<B>) -> Bytes
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    response.into_body().collect().await.unwrap().to_bytes()
}

async fn assert_passes(layer: &ContentTypeLayer, request: Request<Body>) {
    let sent = request.headers().clone();
    let response = send(layer.clone(), request).await;
    assert_eq!(response.status(), StatusCode::OK, "{sent:?}");
    assert!(response.extensions().get::<ApiError>().is_none());
}

/// Sends `request`, asserts a problem+json rejection of `kind` and returns its message.
async fn rejection(layer: &ContentTypeLayer, request: Request<Body>, kind: ErrorKind) -> String {
    let sent = request.headers().clone();
    let response = send(layer.clone(), request).await;
    assert_eq!(response.status(), kind.status(), "{sent:?}");
    assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
    let error = response.extensions().get::<ApiError>().cloned().unwrap();
    assert_eq!(error.kind(), kind);
    let body: Value = serde_json::from_slice(&body_bytes(response).await).unwrap();
    assert_eq!(body["status"], kind.status().as_u16());
    assert_eq!(body["code"], kind.slug());
    assert_eq!(body["detail"], error.message());
    error.message().to_owned()
}

// ---- gRPC on the same port -----------------------------------------------------------------------

/// A gRPC call carries a protobuf body: the JSON checks let it through whatever they are set to,
/// body untouched (a gRPC message frame is not JSON), while a REST body of another type is still
/// refused.
#[tokio::test]
async fn grpc_calls_pass_the_json_checks() {
    let frame = "\0\0\0\0\x05hello";
    let strict = ContentTypeLayer::json()
        .accept_header(["application/json"])
        .unwrap()
        .verify_json(1024);
    let csv = ContentTypeLayer::new(["text/csv"]).unwrap();
    for layer in [ContentTypeLayer::json(), strict, csv] {
        for content_type in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc-web",
            "application/grpc-web-text+proto",
        ] {
            let mut request = post(Some(content_type), frame);
            request
                .headers_mut()
                .insert(ACCEPT, "application/grpc".parse().unwrap());
            let response = send(layer.clone(), request).await;
            assert_eq!(response.status(), StatusCode::OK, "{content_type}");
            assert_eq!(response.headers()["x-verified"], "false");
            assert_eq!(body_bytes(response).await, frame.as_bytes());
        }
        let message = rejection(
            &layer,
            post(Some("text/plain"), "hello"),
            ErrorKind::UnsupportedMediaType,
        )
        .await;
        assert!(
            message.starts_with("Content-Type \"text/plain\" is not supported"),
            "{message}"
        );
    }
    // A gRPC Content-Type beside another one is not a gRPC call.
    let mut twice = post(Some("application/grpc"), "hello");
    twice
        .headers_mut()
        .append(CONTENT_TYPE, "text/plain".parse().unwrap());
    rejection(
        &ContentTypeLayer::json(),
        twice,
        ErrorKind::UnsupportedMediaType,
    )
    .await;
    // A type that only starts like gRPC is not gRPC.
    rejection(
        &ContentTypeLayer::json(),
        post(Some("application/grpcx"), "hello"),
        ErrorKind::UnsupportedMediaType,
    )
    .await;
}

// ---- ::json() ----------------------------------------------------------------------------------

#[tokio::test]
async fn json_and_every_json_suffix_pass() {
    let layer = ContentTypeLayer::json();
    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "application/json ; charset=utf-8",
        "APPLICATION/JSON",
        "Application/Json; Charset=\"utf-8\"",
        "application/problem+json",
        "application/merge-patch+json",
        "application/vnd.api+json; charset=utf-8",
        "application/json; version=2",
    ] {
        let response = send(layer.clone(), post(Some(ct), "{}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{ct}");
        assert_eq!(response.headers()["x-verified"], "false");
        assert_eq!(body_bytes(response).await, "{}", "the body is untouched");
    }
}

#[tokio::test]
async fn other_types_are_unsupported_naming_what_was_received_and_accepted() {
    let layer = ContentTypeLayer::json();
    for ct in [
        "text/plain",
        "application/xml",
        "text/json",
        "application/jsonx",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=abc",
    ] {
        assert_eq!(
            rejection(
                &layer,
                post(Some(ct), "{}"),
                ErrorKind::UnsupportedMediaType
            )
            .await,
            format!(
                "Content-Type \"{ct}\" is not supported; expected application/json or a +json type"
            )
        );
    }
}

#[tokio::test]
async fn json_in_a_charset_other_than_utf8_is_unsupported() {
    let layer = ContentTypeLayer::json();
    for ct in [
        "application/json; charset=iso-8859-1",
        "application/json; charset=\"utf-16\"",
        "application/problem+json; charset=latin1",
        "application/json; charset=utf-8; charset=latin1",
    ] {
        assert_eq!(
            rejection(
                &layer,
                post(Some(ct), "{}"),
                ErrorKind::UnsupportedMediaType
            )
            .await,
            format!("Content-Type \"{ct}\" is not supported: JSON must be UTF-8")
        );
    }
}

#[tokio::test]
async fn a_body_without_content_type_is_unsupported() {
    let layer = ContentTypeLayer::json();
    let missing = "Content-Type header is missing";
    // Declared length.
    assert_eq!(
        rejection(&layer, post(None, "{}"), ErrorKind::UnsupportedMediaType).await,
        missing
    );
    // Chunked.
    let mut request = chunked("application/json", "{}", 1, None);
    request.headers_mut().remove(CONTENT_TYPE);
    assert_eq!(
        rejection(&layer, request, ErrorKind::UnsupportedMediaType).await,
        missing
    );
    // Neither header, but a body stream (as over HTTP/2).
    let request = Request::post("/machines").body(Body::from("{}")).unwrap();
    assert_eq!(
        rejection(&layer, request, ErrorKind::UnsupportedMediaType).await,
        missing
    );
}

#[tokio::test]
async fn content_type_must_be_sent_exactly_once() {
    let mut request = post(Some("application/json"), "{}");
    request
        .headers_mut()
        .append(CONTENT_TYPE, "application/json".parse().unwrap());
    assert_eq!(
        rejection(
            &ContentTypeLayer::json(),
            request,
            ErrorKind::UnsupportedMediaType
        )
        .await,
        "Content-Type header must be sent exactly once"
    );
}

#[tokio::test]
async fn a_content_type_that_is_not_a_media_type_is_unsupported() {
    let layer = ContentTypeLayer::json();
    for ct in [
        "application/",
        "json",
        "application/json garbage",
        "application/json; charset",
        "application/json; charset=\"utf-8",
        "application/json; =utf-8",
        "*/*",
        "application/*",
    ] {
        assert_eq!(
            rejection(
                &layer,
                post(Some(ct), "{}"),
                ErrorKind::UnsupportedMediaType
            )
            .await,
            format!("Content-Type \"{ct}\" is not a valid media type")
        );
    }
    // Bytes that are not visible ASCII are shown lossily, without control characters.
    let mut request = post(None, "{}");
    request.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_bytes(b"application/\xffjson").unwrap(),
    );
    let message = rejection(&layer, request, ErrorKind::UnsupportedMediaType).await;
    assert_eq!(
        message,
        "Content-Type \"application/\u{fffd}json\" is not a valid media type"
    );
}

#[tokio::test]
async fn requests_without_a_body_pass_without_content_type() {
    let layer = ContentTypeLayer::json();
    assert_passes(&layer, get(&[])).await;
    // `Content-Length: 0`, with or without a content type of any kind.
    assert_passes(&layer, post(None, "")).await;
    assert_passes(&layer, post(Some("text/plain"), "")).await;
    // No length, no chunking and an empty body.
    let request = Request::delete("/machines/1").body(Body::empty()).unwrap();
    assert_passes(&layer, request).await;
}

// ---- ::new([...]) --------------------------------------------------------------------------------

#[tokio::test]
async fn new_accepts_the_listed_types() {
    let layer = ContentTypeLayer::new(["application/xml", "text/csv"]).unwrap();
    assert_passes(&layer, post(Some("application/xml"), "<a/>")).await;
    // Case-insensitive; the charset rule is JSON's only.
    assert_passes(&layer, post(Some("TEXT/CSV; charset=latin1"), "a,b")).await;
    assert_eq!(
        rejection(
            &layer,
            post(Some("application/json"), "{}"),
            ErrorKind::UnsupportedMediaType
        )
        .await,
        "Content-Type \"application/json\" is not supported; expected application/xml or text/csv"
    );
    // An exact type does not match another suffix.
    rejection(
        &layer,
        post(Some("application/atom+xml"), "<a/>"),
        ErrorKind::UnsupportedMediaType,
    )
    .await;
}

#[tokio::test]
async fn new_supports_wildcards_and_keeps_the_json_charset_rule() {
    let images = ContentTypeLayer::new(["image/*"]).unwrap();
    assert_passes(&images, post(Some("image/png"), "png")).await;
    assert_passes(&images, post(Some("IMAGE/svg+xml"), "<svg/>")).await;
    rejection(
        &images,
        post(Some("text/png"), "png"),
        ErrorKind::UnsupportedMediaType,
    )
    .await;

    let anything = ContentTypeLayer::new(["*/*"]).unwrap();
    assert_passes(&anything, post(Some("application/octet-stream"), "x")).await;
    // ... but a body still needs a Content-Type.
    rejection(&anything, post(None, "x"), ErrorKind::UnsupportedMediaType).await;

    let json = ContentTypeLayer::new(["application/json"]).unwrap();
    assert_passes(&json, post(Some("application/json; charset=utf-8"), "{}")).await;
    rejection(
        &json,
        post(Some("application/json; charset=latin1"), "{}"),
        ErrorKind::UnsupportedMediaType,
    )
    .await;
}

#[test]
fn new_and_accept_header_reject_invalid_configuration() {
    let err = ContentTypeLayer::new(Vec::<&str>::new()).unwrap_err();
    assert_eq!(err.input(), None);
    assert_eq!(err.to_string(), "at least one media type is required");
    for bad in ["nope", "text/", "text/csv; charset=utf-8", ""] {
        let err = ContentTypeLayer::new(["text/plain", bad]).unwrap_err();
        assert_eq!(err.input(), Some(bad));
    }
    assert!(ContentTypeLayer::json().accept_header(["json"]).is_err());
    assert!(ContentTypeLayer::json()
        .accept_header(Vec::<String>::new())
        .is_err());
    assert!(ContentTypeLayer::new(vec![String::from("application/xml")]).is_ok());
}

// ---- .accept_header(...) ---------------------------------------------------------------------------

#[tokio::test]
async fn accept_must_allow_a_produced_type() {
    let layer = ContentTypeLayer::json()
        .accept_header(["application/json"])
        .unwrap();
    for accept in [
        &[][..],
        &["*/*"],
        &["application/*"],
        &["APPLICATION/JSON"],
        &["text/html, application/json;q=0.1"],
        &["text/html", "application/json"],
        &["text/html;q=0.9, */*;q=0.1"],
        &["application/json; charset=utf-8; q=1.000"],
        // Nothing in it is a media range: disregarded.
        &["garbage"],
        &[""],
    ] {
        assert_passes(&layer, get(accept)).await;
    }
    for accept in [
        &["text/html"][..],
        &["application/json;q=0"],
        &["application/json;Q=0.000, text/html"],
        &["application/json;q=0, */*"],
        &["text/*, application/xml"],
        &["text/html, */*;q=0"],
        &["application/json;q=0", "text/html"],
    ] {
        let message = rejection(&layer, get(accept), ErrorKind::NotAcceptable).await;
        assert_eq!(
            message,
            format!(
                "Accept \"{}\" excludes every media type this endpoint produces (application/json)",
                accept[0]
            )
        );
    }
    // A range with an invalid q is skipped, not taken as q=1.
    rejection(
        &layer,
        get(&["application/json;q=2, text/html"]),
        ErrorKind::NotAcceptable,
    )
    .await;
}

#[tokio::test]
async fn accept_with_several_produced_types() {
    let layer = ContentTypeLayer::json()
        .accept_header(["application/json", "text/csv"])
        .unwrap();
    assert_passes(&layer, get(&["text/csv"])).await;
    assert_passes(&layer, get(&["application/json;q=0, text/*"])).await;
    assert_eq!(
        rejection(&layer, get(&["application/xml"]), ErrorKind::NotAcceptable).await,
        "Accept \"application/xml\" excludes every media type this endpoint produces (application/json, text/csv)"
    );
}

#[tokio::test]
async fn the_content_type_is_checked_before_accept() {
    let layer = ContentTypeLayer::json()
        .accept_header(["application/json"])
        .unwrap();
    let mut request = post(Some("text/plain"), "x");
    request
        .headers_mut()
        .insert(ACCEPT, "text/html".parse().unwrap());
    rejection(&layer, request, ErrorKind::UnsupportedMediaType).await;
}

// ---- .verify_json(..) ----------------------------------------------------------------------------

#[tokio::test]
async fn verified_json_reaches_the_inner_service_unchanged() {
    let layer = ContentTypeLayer::json().verify_json(1024);
    let json = "{ \"name\" : \"web\",\n  \"tags\": [1, 2.5e3, null] }\n";
    let response = send(layer.clone(), post(Some("application/json"), json)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-verified"], "true");
    assert_eq!(body_bytes(response).await, json);

    // Chunked, in 3-byte pieces, with a trailer: bytes and trailer arrive as sent.
    let mut trailers = HeaderMap::new();
    trailers.insert("checksum", "abc".parse().unwrap());
    let request = chunked("application/json", json, 3, Some(trailers));
    let response = send(layer, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-verified"], "true");
    assert_eq!(response.headers()["x-trailer"], "abc");
    assert_eq!(body_bytes(response).await, json);
}

#[tokio::test]
async fn invalid_json_is_an_invalid_request_body_with_line_and_column() {
    let layer = ContentTypeLayer::json().verify_json(1024);
    let cases = [
        ("{\"name\": }", "expected value at line 1 column 10"),
        (
            "{\n  \"name\": \"web\",\n  \"n\": @\n}",
            "expected value at line 3 column 8",
        ),
        ("{} {}", "trailing characters at line 1 column 4"),
        (
            "{\"a\": 1",
            "EOF while parsing an object at line 1 column 7",
        ),
    ];
    for (body, detail) in cases {
        assert_eq!(
            rejection(
                &layer,
                post(Some("application/json"), body),
                ErrorKind::InvalidRequestBody
            )
            .await,
            format!("The request body is not valid JSON: {detail}")
        );
        let request = chunked("application/json", body, 2, None);
        assert_eq!(
            rejection(&layer, request, ErrorKind::InvalidRequestBody).await,
            format!("The request body is not valid JSON: {detail}")
        );
    }
    // Deep nesting is checked without recursion: no stack overflow either way.
    let layer = ContentTypeLayer::json().verify_json(200_000);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_passes(&layer, post(Some("application/json"), &deep)).await;
    let unclosed = "[".repeat(100_000);
    assert_eq!(
        rejection(
            &layer,
            post(Some("application/json"), &unclosed),
            ErrorKind::InvalidRequestBody
        )
        .await,
        "The request body is not valid JSON: EOF while parsing a list at line 1 column 100000"
    );
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
        Poll::Ready(None)
    }
}

#[tokio::test]
async fn verify_json_has_a_bound() {
    let layer = ContentTypeLayer::json().verify_json(16);
    let exactly = r#"{"a":"xxxxxxxx"}"#;
    assert_eq!(exactly.len(), 16);
    assert_passes(&layer, post(Some("application/json"), exactly)).await;
    assert_passes(&layer, chunked("application/json", exactly, 5, None)).await;

    let over = r#"{"a":"xxxxxxxxx"}"#;
    assert_eq!(
        rejection(
            &layer,
            post(Some("application/json"), over),
            ErrorKind::PayloadTooLarge
        )
        .await,
        "Received: 17 bytes, allowed: 16 bytes"
    );
    assert_eq!(
        rejection(
            &layer,
            chunked("application/json", over, 5, None),
            ErrorKind::PayloadTooLarge
        )
        .await,
        "Received: more than 16 bytes, allowed: 16 bytes"
    );

    // A declared length over the bound is answered without reading the body or calling the
    // inner service.
    let polled = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let service =
        ServiceBuilder::new()
            .layer(layer)
            .service_fn(move |_: Request<RequestBody<Watched>>| {
                counted.fetch_add(1, Ordering::SeqCst);
                ready(Ok::<_, Infallible>(Response::new(Full::<Bytes>::default())))
            });
    let request = Request::post("/machines")
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, "17")
        .body(Watched {
            polled: polled.clone(),
        })
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!polled.load(Ordering::SeqCst), "body read");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "inner service called");
}

#[tokio::test]
async fn verify_json_leaves_other_bodies_alone() {
    let layer = ContentTypeLayer::new(["application/json", "text/csv"])
        .unwrap()
        .verify_json(1024);
    // A non-JSON type is not buffered.
    let response = send(layer.clone(), post(Some("text/csv"), "not json")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-verified"], "false");
    // A request without a body is not verified (an empty body is not JSON, but it passes).
    let response = send(layer.clone(), post(Some("application/json"), "")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-verified"], "false");
    // A JSON body is.
    let response = send(layer, post(Some("application/json"), "[]")).await;
    assert_eq!(response.headers()["x-verified"], "true");
}

#[tokio::test]
async fn a_body_that_fails_to_be_read_is_a_bad_request() {
    #[derive(Debug)]
    struct Broken;
    impl std::fmt::Display for Broken {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("connection reset")
        }
    }
    impl std::error::Error for Broken {}

    let frames: Vec<Result<Frame<Bytes>, Broken>> =
        vec![Ok(Frame::data(Bytes::from("{"))), Err(Broken)];
    let request = Request::post("/machines")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::new(StreamBody::new(futures_util::stream::iter(
            frames,
        ))))
        .unwrap();
    let layer = ContentTypeLayer::json().verify_json(1024);
    assert_eq!(
        rejection(&layer, request, ErrorKind::BadRequest).await,
        "The request body could not be read"
    );
}

#[tokio::test]
async fn an_outer_body_limit_while_verifying_is_payload_too_large() {
    // BodyLimitLayer outside: the body reaching ContentTypeLayer is already `Limited`.
    let service = ServiceBuilder::new()
        .layer(BodyLimitLayer::new(8))
        .layer(ContentTypeLayer::json().verify_json(1024))
        .service_fn(|_: Request<RequestBody<http_body_util::Limited<Body>>>| {
            ready(Ok::<_, Infallible>(Response::new(Full::<Bytes>::default())))
        });
    let response = service
        .oneshot(chunked("application/json", r#"{"a":"xxxxxxxx"}"#, 4, None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let error = response.extensions().get::<ApiError>().unwrap();
    assert_eq!(error.kind(), ErrorKind::PayloadTooLarge);
    // The outer limit (8) is not known here: the format's default message, rather than a
    // misleading "allowed: 1024 bytes".
    assert_eq!(error.message(), "");
    let body: Value = serde_json::from_slice(&body_bytes(response).await).unwrap();
    assert_eq!(body["status"], 413);
    assert!(!body["detail"].as_str().unwrap().contains("1024"));
}

// ---- under the envelope ------------------------------------------------------------------------

#[tokio::test]
async fn under_the_envelope_a_rejection_renders_as_defender() {
    let service = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(ContentTypeLayer::json())
        .service_fn(echo);
    let response = service
        .oneshot(post(Some("text/plain"), "hello"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
    let body: Value = serde_json::from_slice(&body_bytes(response).await).unwrap();
    assert_eq!(body["error"]["code"], "UnsupportedMediaType");
    assert_eq!(
        body["error"]["message"],
        "Content-Type \"text/plain\" is not supported; expected application/json or a +json type"
    );
}

// ---- allocations ---------------------------------------------------------------------------------

fn bare<B>(_: Request<B>) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
}

fn post_json(content_type: &'static str) -> Request<Full<Bytes>> {
    Request::post("/api/machines")
        .header(CONTENT_TYPE, content_type)
        .header(CONTENT_LENGTH, "14")
        .header(ACCEPT, "text/html, application/json;q=0.9, */*;q=0.1")
        .body(Full::new(Bytes::from_static(br#"{"name":"web"}"#)))
        .unwrap()
}

#[test]
fn a_passing_request_allocates_nothing() {
    let with_accept = ContentTypeLayer::json()
        .accept_header(["application/json"])
        .unwrap();
    for layer in [ContentTypeLayer::json(), with_accept] {
        let mut baseline = service_fn(bare::<Full<Bytes>>);
        let mut service = layer.layer(service_fn(bare::<RequestBody<Full<Bytes>>>));
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "application/problem+json",
        ] {
            let _ = allocations_of(&mut service, post_json(ct));
            let (bare_count, _) = allocations_of(&mut baseline, post_json(ct));
            let (count, status) = allocations_of(&mut service, post_json(ct));
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                count - bare_count,
                0,
                "extra allocations per passing request ({ct})"
            );
        }
        // The counter does see allocations: rendering a rejection needs some.
        let (count, status) = allocations_of(&mut service, post_json("text/plain"));
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(count > 0);
    }
}

// ---- properties --------------------------------------------------------------------------------

proptest::proptest! {
    /// Whatever `Content-Type` and `Accept` hold, the layer answers 200, 406 or 415 and never
    /// panics.
    #[test]
    fn arbitrary_headers_never_panic(
        content_type in "[a-zA-Z0-9/+*;=\"\\\\ ,.\t-]{0,40}",
        accept in "[a-zA-Z0-9/+*;=\"\\\\ ,.\t-]{0,40}",
    ) {
        let layer = ContentTypeLayer::json()
            .accept_header(["application/json"])
            .unwrap();
        let mut service = layer.layer(service_fn(bare::<RequestBody<Full<Bytes>>>));
        let mut request = post_json("application/json");
        if let Ok(value) = http::HeaderValue::from_str(&content_type) {
            request.headers_mut().insert(CONTENT_TYPE, value);
        }
        if let Ok(value) = http::HeaderValue::from_str(&accept) {
            request.headers_mut().insert(ACCEPT, value);
        }
        let (_, status) = allocations_of(&mut service, request);
        proptest::prop_assert!(matches!(status.as_u16(), 200 | 406 | 415), "{}", status);
    }
}
