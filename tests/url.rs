//! `UrlEncodingLayer`: RFC 3986 percent-encoding of the raw path and query.

mod common;
use common::allocations_of;

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use serde_json::Value;
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_envelope::body::ResponseBody;
use tower_envelope::url_encoding::{UrlError, UrlErrorKind};
use tower_envelope::{ApiError, ErrorEnvelopeLayer, ErrorKind, UrlEncodingLayer};

// ---- helpers ---------------------------------------------------------------------------------

/// The inner service: answers 200 with the URI it received.
async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from(
        request.uri().to_string(),
    ))))
}

fn request(uri: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .uri(uri)
        .body(Full::default())
        .unwrap_or_else(|e| panic!("http::Uri rejects {uri:?} itself: {e}"))
}

async fn send(layer: UrlEncodingLayer, uri: &str) -> Response<ResponseBody<Full<Bytes>>> {
    ServiceBuilder::new()
        .layer(layer)
        .service_fn(echo)
        .oneshot(request(uri))
        .await
        .unwrap()
}

async fn body_json<B>(response: Response<B>) -> Value
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).expect("JSON body")
}

async fn assert_passes(layer: UrlEncodingLayer, uri: &str) {
    let response = send(layer, uri).await;
    assert_eq!(response.status(), StatusCode::OK, "{uri}");
    assert!(response.extensions().get::<ApiError>().is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        body,
        uri.as_bytes(),
        "the inner service sees the URI unchanged"
    );
}

/// Sends `uri`, asserts a problem+json `InvalidUrl` rejection and returns its message.
async fn rejection(layer: UrlEncodingLayer, uri: &str) -> String {
    let response = send(layer, uri).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
    assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
    let error = response.extensions().get::<ApiError>().cloned().unwrap();
    assert_eq!(error.kind(), ErrorKind::InvalidUrl);
    let body = body_json(response).await;
    assert_eq!(body["status"], 400);
    assert_eq!(body["code"], "invalid_url");
    assert_eq!(body["detail"], error.message());
    error.message().to_owned()
}

fn check(uri_path: &str, query: Option<&str>) -> Result<(), UrlError> {
    UrlEncodingLayer::new().check_path_and_query(uri_path, query)
}

// ---- what passes -----------------------------------------------------------------------------

#[tokio::test]
async fn unreserved_sub_delims_colon_at_and_slash_pass_in_the_path() {
    let layer = UrlEncodingLayer::new();
    // unreserved
    assert_passes(layer, "/ABCXYZabcxyz0189-._~").await;
    // sub-delims
    assert_passes(layer, "/!$&'()*+,;=").await;
    // ":" and "@", and "/" between (possibly empty) segments
    assert_passes(layer, "/user:name@host/a//b/").await;
    // the asterisk form of OPTIONS is a path too
    assert_passes(layer, "*").await;
}

#[tokio::test]
async fn the_query_allows_pchar_slash_and_question_mark() {
    let layer = UrlEncodingLayer::new();
    assert_passes(layer, "/s?ABCXYZabcxyz0189-._~").await;
    assert_passes(layer, "/s?!$&'()*+,;=:@").await;
    assert_passes(layer, "/s?redirect=/a/b?c=d&e").await;
    assert_passes(layer, "/s?").await;
}

#[tokio::test]
async fn percent_encodings_pass_with_upper_or_lower_case_hex() {
    let layer = UrlEncodingLayer::new();
    assert_passes(layer, "/caf%C3%A9/caf%c3%a9/%F0%9F%A6%80/a%20b").await;
    assert_passes(layer, "/s?q=caf%C3%A9&r=%7B%7d&s=%25").await;
}

// ---- characters that must be encoded -----------------------------------------------------------

#[tokio::test]
async fn characters_that_must_be_encoded_are_rejected_in_the_path() {
    // Each of these is accepted by `http::Uri` in a path, so it reaches the service.
    let cases = [
        ("\"", r#"\""#, "%22"),
        ("[", "[", "%5B"),
        ("\\", r"\\", "%5C"),
        ("]", "]", "%5D"),
        ("^", "^", "%5E"),
        ("{", "{", "%7B"),
        ("|", "|", "%7C"),
        ("}", "}", "%7D"),
        ("é", "é", "%C3%A9"),
        ("€", "\\u{20ac}", "%E2%82%AC"),
    ];
    for (raw, shown, encoded) in cases {
        let uri = format!("/api/{raw}x");
        let message = rejection(UrlEncodingLayer::new(), &uri).await;
        assert_eq!(
            message,
            format!(
                "character \"{shown}\" at byte 5 of the path must be percent-encoded as \"{encoded}\""
            ),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn characters_that_must_be_encoded_are_rejected_in_the_query() {
    // Each of these is accepted by `http::Uri` in a query, so it reaches the service.
    let cases = [
        ("[", "[", "%5B"),
        ("\\", r"\\", "%5C"),
        ("]", "]", "%5D"),
        ("^", "^", "%5E"),
        ("`", "`", "%60"),
        ("{", "{", "%7B"),
        ("|", "|", "%7C"),
        ("}", "}", "%7D"),
        ("é", "é", "%C3%A9"),
    ];
    for (raw, shown, encoded) in cases {
        let uri = format!("/api?q={raw}");
        let message = rejection(UrlEncodingLayer::new(), &uri).await;
        assert_eq!(
            message,
            format!(
                "character \"{shown}\" at byte 2 of the query must be percent-encoded as \"{encoded}\""
            ),
            "{uri}"
        );
    }
}

#[test]
fn bytes_that_http_uri_rejects_itself_are_rejected_by_the_check_too() {
    // `http::Uri` refuses these bytes in a path, so no request carrying them reaches the layer;
    // the check (used directly here) rejects them as well, escaping control bytes in the message.
    let path_cases = [
        (" ", r"\x20"),
        ("<", "<"),
        (">", ">"),
        ("`", "`"),
        ("\0", r"\x00"),
        ("\x1f", r"\x1F"),
        ("\x7f", r"\x7F"),
    ];
    for (raw, shown) in path_cases {
        let path = format!("/a{raw}");
        assert!(
            Uri::from_maybe_shared(Bytes::from(path.clone())).is_err(),
            "http::Uri now accepts {path:?} in a path"
        );
        let err = check(&path, None).unwrap_err();
        assert_eq!(err.kind(), UrlErrorKind::UnencodedCharacter);
        assert_eq!(err.position(), 2);
        assert_eq!(err.sequence(), raw.as_bytes());
        let message = err.to_string();
        assert!(message.starts_with(&format!("character \"{shown}\" at byte 2 of the path")));
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }
    // In a query, `http::Uri` also refuses `"` (which it lets through in a path).
    for (raw, shown) in [
        (" ", r"\x20"),
        ("\"", "\\\""),
        ("<", "<"),
        (">", ">"),
        ("\0", r"\x00"),
    ] {
        let uri = format!("/a?q={raw}");
        assert!(
            Uri::from_maybe_shared(Bytes::from(uri.clone())).is_err(),
            "http::Uri now accepts {uri:?}"
        );
        let err = check("/a", Some(&format!("q={raw}"))).unwrap_err();
        assert_eq!(
            (err.kind(), err.position()),
            (UrlErrorKind::UnencodedCharacter, "/a?".len() + 2)
        );
        assert!(err
            .to_string()
            .starts_with(&format!("character \"{shown}\" at byte 2 of the query")));
    }
    // `?` cannot be in a path that went through `http::Uri` (it starts the query), nor `#` (it
    // starts the fragment, which `http::Uri` drops); a raw path holding them is rejected.
    assert_eq!(Uri::from_static("/a#frag").path(), "/a");
    assert_eq!(
        check("/a?b", None).unwrap_err().kind(),
        UrlErrorKind::UnencodedCharacter
    );
    assert_eq!(check("/a#b", None).unwrap_err().position(), 2);
    assert_eq!(
        check("/a", Some("b#")).unwrap_err().position(),
        "/a?b".len()
    );
}

// ---- percent-encoding --------------------------------------------------------------------------

#[tokio::test]
async fn a_percent_not_followed_by_two_hex_digits_is_rejected() {
    let layer = UrlEncodingLayer::new();
    assert_eq!(
        rejection(layer, "/api/v1/%zz").await,
        r#"invalid percent-encoding "%zz" at byte 8 of the path"#
    );
    assert_eq!(
        rejection(layer, "/api/v1/%2").await,
        r#"invalid percent-encoding "%2" at byte 8 of the path"#
    );
    assert_eq!(
        rejection(layer, "/api/v1/%").await,
        r#"invalid percent-encoding "%" at byte 8 of the path"#
    );
    assert_eq!(
        rejection(layer, "/a%2x/b").await,
        r#"invalid percent-encoding "%2x" at byte 2 of the path"#
    );
    assert_eq!(
        rejection(layer, "/a?q=%G0").await,
        r#"invalid percent-encoding "%G0" at byte 2 of the query"#
    );
    assert_eq!(
        rejection(layer, "/a?q=1&r=%2").await,
        r#"invalid percent-encoding "%2" at byte 6 of the query"#
    );
    assert_eq!(
        rejection(layer, "/a/%%41").await,
        r#"invalid percent-encoding "%%4" at byte 3 of the path"#
    );
}

#[tokio::test]
async fn a_decoded_path_that_is_not_utf8_is_rejected() {
    let layer = UrlEncodingLayer::new();
    assert_eq!(
        rejection(layer, "/%C3%28").await,
        r#"percent-encoded sequence "%C3%28" at byte 1 of the path is not valid UTF-8"#
    );
    // Truncated at the end of the path.
    assert_eq!(
        rejection(layer, "/caf%C3").await,
        r#"percent-encoded sequence "%C3" at byte 4 of the path is not valid UTF-8"#
    );
    // Interrupted by a raw character.
    assert_eq!(
        rejection(layer, "/%E2%82x").await,
        r#"percent-encoded sequence "%E2%82x" at byte 1 of the path is not valid UTF-8"#
    );
    // A lone continuation byte, an overlong "/", an encoded surrogate, beyond U+10FFFF.
    for (uri, seq) in [
        ("/%80", "%80"),
        ("/%C0%AF", "%C0"),
        ("/%ED%A0%80", "%ED%A0"),
        ("/%F4%90%80%80", "%F4%90"),
        ("/%FF", "%FF"),
    ] {
        assert_eq!(
            rejection(layer, uri).await,
            format!("percent-encoded sequence \"{seq}\" at byte 1 of the path is not valid UTF-8"),
        );
    }
}

#[tokio::test]
async fn the_utf8_check_can_be_disabled_and_never_applies_to_the_query() {
    assert_passes(
        UrlEncodingLayer::new().require_utf8_path(false),
        "/%C3%28/%FF",
    )
    .await;
    // Queries may be form-encoded in another charset.
    assert_passes(UrlEncodingLayer::new(), "/a?name=%E9t%E9").await;
}

#[tokio::test]
async fn encoded_control_characters_are_rejected_by_default() {
    let layer = UrlEncodingLayer::new();
    assert_eq!(
        rejection(layer, "/a%00b").await,
        r#"encoded control character "%00" at byte 2 of the path"#
    );
    assert_eq!(
        rejection(layer, "/a/%1f").await,
        r#"encoded control character "%1f" at byte 3 of the path"#
    );
    assert_eq!(
        rejection(layer, "/a%7F").await,
        r#"encoded control character "%7F" at byte 2 of the path"#
    );
    assert_eq!(
        rejection(layer, "/a?q=x%0D%0Ay").await,
        r#"encoded control character "%0D" at byte 3 of the query"#
    );
    // A space and DEL's neighbours are not controls.
    assert_passes(layer, "/a%20b%7E%21?q=%20").await;
}

#[tokio::test]
async fn encoded_control_characters_can_be_allowed() {
    let layer = UrlEncodingLayer::new().reject_encoded_controls(false);
    assert_passes(layer, "/a%00b%1F%7F?q=%0D%0A").await;
}

#[tokio::test]
async fn an_encoded_slash_is_allowed_by_default_and_rejected_on_request() {
    assert_passes(UrlEncodingLayer::new(), "/files/a%2Fb?path=a%2Fb").await;
    let layer = UrlEncodingLayer::new().reject_encoded_slash(true);
    assert_eq!(
        rejection(layer, "/files/a%2Fb").await,
        r#"encoded slash "%2F" at byte 8 of the path"#
    );
    assert_eq!(
        rejection(layer, "/files/a%2fb").await,
        r#"encoded slash "%2f" at byte 8 of the path"#
    );
    // Only the path: a slash is ordinary data in a query.
    assert_passes(layer, "/files?path=a%2Fb").await;
}

#[tokio::test]
async fn dot_segments_are_allowed_by_default_and_rejected_on_request() {
    assert_passes(UrlEncodingLayer::new(), "/a/../b/./c/%2e%2e").await;
    let layer = UrlEncodingLayer::new().reject_dot_segments(true);
    assert_eq!(
        rejection(layer, "/a/../b").await,
        r#"dot segment ".." at byte 3 of the path"#
    );
    assert_eq!(
        rejection(layer, "/a/./b").await,
        r#"dot segment "." at byte 3 of the path"#
    );
    assert_eq!(
        rejection(layer, "/a/%2e%2E").await,
        r#"dot segment "%2e%2E" at byte 3 of the path"#
    );
    assert_eq!(
        rejection(layer, "/a/.%2E/b").await,
        r#"dot segment ".%2E" at byte 3 of the path"#
    );
    // Not dot segments: more dots, dots inside a name, dots in the query.
    assert_passes(layer, "/.well-known/a.b/.../c.?q=../..").await;
}

// ---- the rejection -----------------------------------------------------------------------------

#[tokio::test]
async fn a_rejection_never_calls_the_inner_service_and_keeps_the_request_id() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let service = ServiceBuilder::new()
        .layer(UrlEncodingLayer::new())
        .service_fn(move |request: Request<Full<Bytes>>| {
            counted.fetch_add(1, Ordering::SeqCst);
            echo(request)
        });
    let request = Request::builder()
        .uri("/machines/%zz")
        .header("x-request-id", "req-42")
        .body(Full::default())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["x-request-id"], "req-42");
    let error = response.extensions().get::<ApiError>().unwrap();
    assert_eq!(error.target(), Some("path"));
    let body = body_json(response).await;
    assert_eq!(body["type"], "about:blank");
    assert_eq!(body["title"], "Bad Request");
    assert_eq!(body["request_id"], "req-42");
    assert_eq!(body["target"], "path");
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    service.oneshot(request_ok()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

fn request_ok() -> Request<Full<Bytes>> {
    request("/machines/1")
}

#[tokio::test]
async fn under_the_envelope_a_rejection_renders_as_defender() {
    let service = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(UrlEncodingLayer::new())
        .service_fn(echo);
    let request = Request::builder()
        .uri("/api/v1/%zz")
        .header("x-request-id", "43f4cb08-8fac-4b65-9db1-745c2ae65f3a")
        .body(Full::default())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/json; charset=utf-8"
    );
    let body = body_json(response).await;
    assert_eq!(body["error"]["code"], "InvalidUrl");
    assert_eq!(
        body["error"]["message"],
        r#"invalid percent-encoding "%zz" at byte 8 of the path"#
    );
    assert_eq!(
        body["error"]["target"],
        "43f4cb08-8fac-4b65-9db1-745c2ae65f3a"
    );
}

#[test]
fn the_error_names_kind_part_position_and_sequence() {
    let uri: Uri = "/a/b?x=1&y=%C3%28&z={".parse().unwrap();
    let err = UrlEncodingLayer::new().check(&uri).unwrap_err();
    assert_eq!(err.kind(), UrlErrorKind::UnencodedCharacter);
    assert_eq!(err.position(), "/a/b?x=1&y=%C3%28&z=".len());
    assert_eq!(err.sequence(), b"{");
    let api: ApiError = err.into();
    assert_eq!(api.kind(), ErrorKind::InvalidUrl);
    assert_eq!(api.target(), Some("query"));
    assert_eq!(
        UrlEncodingLayer::default(),
        UrlEncodingLayer::new(),
        "the default is new()"
    );
}

// ---- properties --------------------------------------------------------------------------------

/// Characters a generated path or query is made of: every class, plus `%` and hex digits so
/// that valid and broken percent-encodings both occur.
const ALPHABET: &str = "aZ09-._~!$&'()*+,;=:@/%%%2fFeE\"[\\]^`{|}<> é";

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(ALPHABET.chars().collect::<Vec<_>>()),
        0..max,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    /// The syntax rules (other options off) agree with `fluent-uri`'s RFC 3986 parser on a URI
    /// `http://h` + path + `?` + query, and a rejection names a position where it went wrong.
    #[test]
    fn the_syntax_check_agrees_with_fluent_uri(path in text(24), query in proptest::option::of(text(24))) {
        let path = format!("/{path}");
        let syntax_only = UrlEncodingLayer::new()
            .reject_encoded_controls(false)
            .require_utf8_path(false);
        let ours = syntax_only.check_path_and_query(&path, query.as_deref());
        let full = match &query {
            Some(q) => format!("http://h{path}?{q}"),
            None => format!("http://h{path}"),
        };
        let theirs = fluent_uri::Uri::parse(full.as_str());
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: {:?} vs {:?}", full, ours, theirs.as_ref().err());
        if let (Err(ours), Err(theirs)) = (ours, theirs) {
            prop_assert_eq!(ours.position() + "http://h".len(), theirs.index());
        }
    }

    /// Any string at all, with every option on: no panic, and the message carries no control
    /// character.
    #[test]
    fn the_check_never_panics(path in ".{0,40}", query in proptest::option::of(".{0,40}")) {
        let strict = UrlEncodingLayer::new().reject_encoded_slash(true).reject_dot_segments(true);
        if let Err(err) = strict.check_path_and_query(&path, query.as_deref()) {
            let message = err.to_string();
            prop_assert!(!message.chars().any(char::is_control), "{:?}", message);
            prop_assert!(err.sequence().len() <= 12);
        }
    }
}

// ---- allocations ---------------------------------------------------------------------------------

fn bare(_: Request<Full<Bytes>>) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
}

#[test]
fn a_passing_request_allocates_nothing() {
    let uri = "/api/caf%C3%A9/1?expand=true&q=a%20b";
    let mut baseline = service_fn(bare);
    let mut service = UrlEncodingLayer::new().layer(service_fn(bare));
    let _ = allocations_of(&mut service, request(uri));
    let (bare_count, _) = allocations_of(&mut baseline, request(uri));
    let (count, status) = allocations_of(&mut service, request(uri));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        count - bare_count,
        0,
        "extra allocations per passing request"
    );
    // The counter does see allocations: rendering a rejection needs some.
    let (count, status) = allocations_of(&mut service, request("/api/%zz"));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(count > 0);
}

/// `max_length`: a request target over the bound is `UriTooLong` (414), whatever it holds; off by
/// default.
#[tokio::test]
async fn a_target_over_max_length_is_uri_too_long() {
    let long = format!("/files/{}?q=1", "a".repeat(100));
    let layer = UrlEncodingLayer::new().max_length(64);
    let svc = layer.layer(tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    }));
    let request = Request::get(long.as_str()).body(Full::default()).unwrap();
    let response = svc.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    let error = response.extensions().get::<ApiError>().cloned().unwrap();
    assert_eq!(error.kind(), ErrorKind::UriTooLong);
    assert_eq!(
        error.message(),
        "The request URI is 111 bytes long; at most 64 are accepted."
    );
    let short = Request::get("/files/a?q=1").body(Full::default()).unwrap();
    assert_eq!(svc.oneshot(short).await.unwrap().status(), StatusCode::OK);
    let unbounded =
        UrlEncodingLayer::new().layer(tower::service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));
    let request = Request::get(long.as_str()).body(Full::default()).unwrap();
    assert_eq!(
        unbounded.oneshot(request).await.unwrap().status(),
        StatusCode::OK
    );
}
