//! Property tests (issue 8, part 1): the body limit, the Content-Type check against an
//! independent media-type parser (`mime`), every format's `parse(render(e))`, and the envelope
//! over arbitrary inner responses.
//!
//! (The URL validator's oracle property lives in `tests/url.rs`.)
//!
//! Case counts are bounded so that the whole file runs in a few seconds in a debug build. Every
//! future here is driven by [`drive`], which polls with a no-op waker and fails after a bounded
//! number of polls: every body and service in this file is always ready, so a `Pending` that
//! never resolves would be a hang in the code under test.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Limited;
use http_body_util::{BodyExt, Full, LengthLimitError};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_envelope::content_type::RequestBody;
use tower_envelope::format::{
    Defender, Edgio, Format, Google, Msi, Problem, QRadar, RequestContext,
};
use tower_envelope::{
    ApiError, BodyLimitLayer, Code, ContentTypeLayer, ErrorEnvelopeLayer, ErrorKind, FieldViolation,
};

// ---- shared helpers --------------------------------------------------------------------------

/// A bounded number of cases, and no regression files written next to the sources (a failing
/// case found here becomes an explicit test instead).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Polls `future` to completion with a no-op waker; panics when it is still pending after many
/// polls (everything in this file is always ready, so that would be a hang).
fn drive<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the future never completed although everything below it is always ready");
}

/// Every frame of a body: its data bytes (concatenated) and whether it ended in an error.
fn collect_frames<B: Body<Data = Bytes>>(body: B) -> (Vec<u8>, bool) {
    let mut body = pin!(body);
    let mut cx = Context::from_waker(Waker::noop());
    let mut data = Vec::new();
    for _ in 0..100_000 {
        match body.as_mut().poll_frame(&mut cx) {
            Poll::Ready(None) => return (data, false),
            Poll::Ready(Some(Err(_))) => return (data, true),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    data.extend_from_slice(d);
                }
            }
            Poll::Pending => {}
        }
    }
    panic!("the body never ended although its source is always ready");
}

/// A body that yields the given chunks (or an error in their place), always ready, and counts
/// the data bytes actually polled out of it.
struct Chunks {
    chunks: VecDeque<Result<Bytes, io::Error>>,
    polled: Arc<AtomicUsize>,
}

impl Chunks {
    fn new(chunks: Vec<Result<Bytes, io::Error>>) -> (Self, Arc<AtomicUsize>) {
        let polled = Arc::new(AtomicUsize::new(0));
        let body = Self {
            chunks: chunks.into(),
            polled: polled.clone(),
        };
        (body, polled)
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(self.chunks.pop_front().map(|chunk| {
            chunk.map(|data| {
                self.polled.fetch_add(data.len(), Ordering::SeqCst);
                Frame::data(data)
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Cuts `data` into chunks whose sizes cycle through `sizes`; a size of 0 yields an empty data
/// frame (which a body may legitimately send) followed by a one-byte chunk.
fn split(data: &[u8], sizes: &[usize]) -> Vec<Bytes> {
    let mut chunks = Vec::new();
    let mut rest = data;
    let mut sizes = sizes.iter().copied().cycle();
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(1);
        if size == 0 {
            chunks.push(Bytes::new());
        }
        let n = size.clamp(1, rest.len());
        chunks.push(Bytes::copy_from_slice(&rest[..n]));
        rest = &rest[n..];
    }
    chunks
}

// ---- 1. body limit ---------------------------------------------------------------------------

/// The request of the body-limit properties: `data` cut into chunks, with or without a
/// (truthful) `Content-Length`.
fn limited_request(data: &[u8], sizes: &[usize], declare: bool) -> Request<Chunks> {
    let chunks = split(data, sizes).into_iter().map(Ok).collect();
    let (body, _) = Chunks::new(chunks);
    let mut request = Request::post("/").body(body).unwrap();
    if declare {
        request
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(data.len()));
    }
    request
}

/// Body length and limit: anywhere in `0..4096`, and often within a few bytes of each other.
fn limit_and_length() -> impl Strategy<Value = (usize, usize)> {
    (0usize..2048).prop_flat_map(|limit| {
        let near = limit.saturating_sub(3)..=limit + 3;
        (Just(limit), prop_oneof![0usize..4096, near])
    })
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1 => Just(0usize), 8 => 1usize..700], 1..6)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

proptest! {
    #![proptest_config(config(256))]

    /// Through `BodyLimitLayer` and a service that collects the body: a body of N bytes passes
    /// iff N ≤ L, and then reaches the handler intact; over the limit, a declared length is
    /// refused before the handler runs, an undeclared one fails while it is read with
    /// `LengthLimitError`.
    #[test]
    fn body_limit_passes_iff_within_the_limit(
        (limit, len) in limit_and_length(),
        sizes in chunk_sizes(),
        declare in any::<bool>(),
        seed in any::<u8>(),
    ) {
        let data = pattern(len, seed);
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let service = ServiceBuilder::new()
            .layer(BodyLimitLayer::new(limit))
            .service_fn(move |req: Request<Limited<Chunks>>| {
                counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    let response = match req.into_body().collect().await {
                        Ok(collected) => Response::new(Full::new(collected.to_bytes())),
                        Err(error) => {
                            assert!(error.is::<LengthLimitError>(), "{error}");
                            let mut r = Response::new(Full::new(Bytes::new()));
                            *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                            r
                        }
                    };
                    Ok::<_, Infallible>(response)
                }
            });
        let response = drive(service.oneshot(limited_request(&data, &sizes, declare))).unwrap();
        if len <= limit {
            prop_assert_eq!(response.status(), StatusCode::OK);
            let (body, failed) = collect_frames(response.into_body());
            prop_assert!(!failed);
            prop_assert_eq!(body, data);
        } else {
            prop_assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
            let tagged = response.extensions().get::<ApiError>().map(ApiError::kind);
            if declare {
                prop_assert_eq!(calls.load(Ordering::SeqCst), 0);
                prop_assert_eq!(tagged, Some(ErrorKind::PayloadTooLarge));
            } else {
                prop_assert_eq!(calls.load(Ordering::SeqCst), 1);
                prop_assert_eq!(tagged, None);
            }
        }
    }

    /// The same through an axum router with a `Bytes` handler that echoes the body.
    #[test]
    fn body_limit_with_an_axum_bytes_handler(
        (limit, len) in limit_and_length(),
        sizes in chunk_sizes(),
        declare in any::<bool>(),
        seed in any::<u8>(),
    ) {
        let data = pattern(len, seed);
        let app = axum::Router::new()
            .route("/", axum::routing::post(|body: Bytes| async move { body }))
            .layer(BodyLimitLayer::new(limit));
        let response = drive(app.oneshot(limited_request(&data, &sizes, declare))).unwrap();
        if len <= limit {
            prop_assert_eq!(response.status(), StatusCode::OK);
            let (body, failed) = collect_frames(response.into_body());
            prop_assert!(!failed);
            prop_assert_eq!(body, data);
        } else {
            prop_assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        }
    }
}

// ---- 2. Content-Type against `mime` ------------------------------------------------------------
//
// The generator builds header values from realistic pieces. Where `mime` 0.3 and RFC 9110 part
// ways, the generator stays on ground where both say the same thing, and each such constraint is
// named here:
//
// - OWS (space or tab) *before* a `;` and HTAB anywhere: RFC 9110 §8.3.1 allows
//   `type "/" subtype *( OWS ";" OWS parameter )`; mime rejects a space before `;` and any tab.
//   So spaces only follow a `;`, and no tab appears inside the value.
// - Leading and trailing whitespace: RFC 9110 §5.5 says a field value excludes it (hyper strips
//   it); the layer trims it, mime rejects it. The generator adds it, and the oracle is given the
//   trimmed value, as a client sees the field value.
// - Empty parameters (`;;`): allowed by RFC 9110 (`[ parameter ]`), rejected by mime. Not
//   generated.
// - Empty parameter values (`name=`): RFC-invalid, accepted by mime. Empty quoted strings
//   (`name=""`): RFC-valid, rejected by mime; and mime reads `name=""v"` as the quoted value
//   `"v` (RFC-invalid). None is generated: no `""` anywhere.
// - Backslash escapes in quoted strings (quoted-pair): RFC-valid, mime does not unescape them
//   (`"utf\-8"` is not `utf-8` to mime, it is to the layer). Quoted values hold no backslash.
// - Type and subtype names: the layer follows RFC 6838's restricted-name (first character a
//   letter or digit; then letters, digits and `!#$&-^_.+`); mime takes any RFC 9110 token (also
//   `` ` ``, `|`, `~`, and any first character). Names are built from restricted-name characters.
// - `*` in a type or subtype: a Content-Type names one type, and the layer refuses wildcards
//   (`application/*+json` is a wildcard subtype with a suffix to it); mime reads `*` as an
//   ordinary token character. Not generated.
// - Several `charset` parameters: mime looks at the first, the layer requires all to be UTF-8
//   (RFC 6838 §4.3 forbids repeating a parameter). At most one `charset` is generated.
// - Bytes outside ASCII: RFC-valid as obs-text inside a quoted string; the layer refuses every
//   non-ASCII Content-Type (it reads the value with `HeaderValue::to_str`). Garbage below is ASCII.
//
// Garbage characters (quotes, backslashes, commas, slashes, `=`, `;`, `@`, `+`, `(`, `?`,
// braces, a space) are then inserted at random positions, keeping every value within the
// constraints above: a space only right after a `;`, no empty parameter or value, no `""`, no `+`
// first in a name, and backslashes inside a quoted string are removed.

fn media_type_value() -> impl Strategy<Value = String> {
    let ty = prop_oneof![
        3 => prop::sample::select(vec!["application", "APPLICATION", "Application"]),
        2 => prop::sample::select(vec!["text", "image", "multipart", "x-custom", "vnd"]),
    ];
    let subtype = prop_oneof![
        1 => prop::sample::select(vec!["json", "JSON", "Json"]),
        2 => prop::sample::select(vec![
            "xml", "plain", "problem", "vnd.api", "merge-patch", "ld", "x-ndjson", "jsonx",
            "json5", "vnd.example.v1", "geo", "a$b", "x_y", "j!s&o^n", "1",
        ]),
    ];
    let suffix = prop::option::of(prop_oneof![
        2 => prop::sample::select(vec!["json", "JSON", "Json"]),
        1 => prop::sample::select(vec!["xml", "jsonl", "js", "json1", "ber"]),
    ]);
    let param_name = prop::sample::select(vec![
        "charset", "Charset", "CHARSET", "q", "version", "profile", "boundary", "x", "charset1",
    ]);
    let param_value = prop_oneof![
        1 => prop::sample::select(vec!["utf-8", "UTF-8", "Utf-8"]),
        1 => prop::sample::select(vec![
            "utf8", "latin1", "iso-8859-1", "us-ascii", "1", "v2", "utf-16", "a.b", "utf-8x",
        ]),
    ];
    let param = (param_name, param_value, any::<bool>(), 0usize..3, 0usize..2);
    let params = prop::collection::vec(param, 0..3);
    let garbage = prop::collection::vec(
        (
            prop::sample::select(vec![
                '"', '\\', ',', '/', '=', ';', '@', '{', '}', ' ', '+', '(', '?',
            ]),
            any::<prop::sample::Index>(),
        ),
        0..2,
    );
    let garbage = prop_oneof![Just(Vec::new()), garbage];
    let surrounding = (
        prop::sample::select(vec!["", " ", "\t", "  \t"]),
        prop::sample::select(vec!["", " ", "\t", " \t "]),
    );
    (
        ty,
        subtype,
        suffix,
        params,
        any::<bool>(),
        garbage,
        surrounding,
    )
        .prop_map(
            |(ty, subtype, suffix, params, trailing_semicolon, garbage, (lead, trail))| {
                let mut value = format!("{ty}/{subtype}");
                if let Some(suffix) = suffix {
                    value.push('+');
                    value.push_str(suffix);
                }
                let mut charset_seen = false;
                for (name, val, quoted, spaces, _) in params {
                    if name.eq_ignore_ascii_case("charset") {
                        if charset_seen {
                            continue;
                        }
                        charset_seen = true;
                    }
                    value.push(';');
                    value.push_str(&" ".repeat(spaces));
                    value.push_str(name);
                    value.push('=');
                    if quoted {
                        value.push('"');
                        value.push_str(val);
                        value.push('"');
                    } else {
                        value.push_str(val);
                    }
                }
                if trailing_semicolon {
                    value.push(';');
                }
                for (c, at) in garbage {
                    let at = at.index(value.len() + 1);
                    let (before, after) = value.split_at(at);
                    // Only a space right after `;` (see above); never an empty parameter (`;;`,
                    // `; ;`) or an empty value (`name=;`).
                    if c == ' ' && !before.ends_with(';') {
                        continue;
                    }
                    let empty_param = before.trim_end_matches(' ').ends_with(';')
                        || after.trim_start_matches(' ').starts_with(';');
                    if c == ';' && (empty_param || before.ends_with('=')) {
                        continue;
                    }
                    // Never `+` first in a type or subtype name (restricted-name, see above).
                    if c == '+' && (before.is_empty() || before.ends_with('/')) {
                        continue;
                    }
                    // Never `""`: mime reads `x=""v"` as the quoted value `"v` (RFC-invalid), and
                    // rejects the empty quoted string `x=""` (RFC-valid).
                    if c == '"' && (before.ends_with('"') || after.starts_with('"')) {
                        continue;
                    }
                    value.insert(at, c);
                }
                format!("{lead}{}{trail}", without_quoted_pairs(&value))
            },
        )
}

/// Removes the backslashes that stand inside a quoted string (read as mime reads it, without
/// escapes), so that no quoted-pair is generated (see above). A backslash outside quotes stays:
/// it is invalid there for both parsers.
fn without_quoted_pairs(value: &str) -> String {
    let mut quoted = false;
    value
        .chars()
        .filter(|&c| {
            if c == '"' {
                quoted = !quoted;
            }
            !(quoted && c == '\\')
        })
        .collect()
}

/// The oracle: `mime` parses the field value (without surrounding whitespace) and it is JSON
/// (essence `application/json` or a `+json` suffix) with no charset or a UTF-8 one.
fn mime_accepts_as_json(value: &str) -> bool {
    let Ok(parsed) = value.trim_matches([' ', '\t']).parse::<mime::Mime>() else {
        return false;
    };
    let json = parsed.essence_str() == "application/json" || parsed.suffix() == Some(mime::JSON);
    let utf8 = parsed
        .get_param(mime::CHARSET)
        .is_none_or(|charset| charset == mime::UTF_8);
    json && utf8
}

/// Whether `ContentTypeLayer::json()` lets a POST with this `Content-Type` through.
fn layer_accepts(value: &str) -> bool {
    let mut service = ContentTypeLayer::json().layer(service_fn(
        |_req: Request<RequestBody<Full<Bytes>>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        },
    ));
    let request = Request::post("/")
        .header(CONTENT_TYPE, HeaderValue::from_str(value).unwrap())
        .header(CONTENT_LENGTH, 2)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    let response = drive(async {
        service.ready().await.unwrap();
        service.call(request).await
    })
    .unwrap();
    match response.status() {
        StatusCode::OK => true,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => false,
        other => panic!("unexpected status {other} for {value:?}"),
    }
}

proptest! {
    #![proptest_config(config(2048))]

    #[test]
    fn content_type_agrees_with_mime(value in media_type_value()) {
        let expected = mime_accepts_as_json(&value);
        prop_assert_eq!(layer_accepts(&value), expected, "Content-Type {:?}", value);
    }
}

/// The generator is not vacuous: a good share of its values is accepted, a good share rejected.
#[test]
fn content_type_generator_covers_both_outcomes() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = media_type_value();
    let accepted = (0..1000)
        .filter(|_| mime_accepts_as_json(&strategy.new_tree(&mut runner).unwrap().current()))
        .count();
    println!("{accepted} of 1000 generated values accepted");
    assert!(
        (150..=850).contains(&accepted),
        "{accepted} of 1000 accepted"
    );
}

/// The oracle and the layer on fixed values, then the differences that the generator stays
/// clear of (see the constraints above), each shown on one value.
#[test]
fn content_type_oracle_sanity() {
    for (value, both) in [
        ("application/json", true),
        ("APPLICATION/JSON; Charset=\"UTF-8\"", true),
        ("application/vnd.api+json;charset=utf-8", true),
        ("text/foo+json", true),
        ("application/json; charset=latin1", false),
        ("text/plain", false),
        ("application/json+xml", false),
        ("application/+json", false),
        ("application/json\"", false),
    ] {
        assert_eq!(mime_accepts_as_json(value), both, "mime: {value:?}");
        assert_eq!(layer_accepts(value), both, "layer: {value:?}");
    }
    // Known, documented differences (the generator avoids them):
    assert!(layer_accepts("application/json ; charset=utf-8")); // OWS before `;` (RFC-valid)
    assert!(!mime_accepts_as_json("application/json ; charset=utf-8"));
    assert!(layer_accepts("application/json;;a=b")); // empty parameter (RFC-valid)
    assert!(!mime_accepts_as_json("application/json;;a=b"));
    assert!(!layer_accepts("application/json; a=")); // empty value (RFC-invalid)
    assert!(mime_accepts_as_json("application/json; a="));
    assert!(layer_accepts("application/json; charset=\"utf\\-8\"")); // quoted-pair
    assert!(!mime_accepts_as_json(
        "application/json; charset=\"utf\\-8\""
    ));
    assert!(!layer_accepts("application/x|y+json")); // RFC 9110 token, not RFC 6838 name
    assert!(mime_accepts_as_json("application/x|y+json"));
    assert!(!layer_accepts("application/*+json")); // wildcard subtype
    assert!(mime_accepts_as_json("application/*+json"));
}

// ---- 3. every format: parse(render(e)) -----------------------------------------------------------

/// The formats under test, by name. Edgio is tested twice: JSON, and XML (`Accept:
/// application/xml`).
fn formats() -> Vec<(&'static str, Box<dyn Format>, bool)> {
    vec![
        ("defender", Box::new(Defender), false),
        ("qradar", Box::new(QRadar::new()), false),
        ("msi", Box::new(Msi), false),
        ("edgio-json", Box::new(Edgio), false),
        ("edgio-xml", Box::new(Edgio), true),
        ("problem", Box::new(Problem::new()), false),
        (
            "problem-typed",
            Box::new(Problem::new().with_type_base("https://errors.example.com/")),
            false,
        ),
        (
            "google",
            Box::new(Google::new().with_domain("api.example.com")),
            false,
        ),
    ]
}

/// Characters that stress every format: JSON escapes, XML entities, controls (stripped at
/// construction), non-ASCII, and anything at all now and then.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => prop::char::range('a', 'z'),
        4 => prop::sample::select(vec![
            '"', '\\', '\'', '<', '>', '&', '/', '.', ' ', ':', ';', '#', '%', '{', '}', '[', ']',
            '\u{0}', '\n', '\r', '\t', '\u{1b}', '\u{7f}', '\u{85}', '\u{9f}',
            'é', 'ü', 'ß', '中', '文', '😀', '\u{2028}', '\u{feff}', '\u{fffd}',
        ]),
        1 => any::<char>(),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(text_char(), 0..max).prop_map(|cs| cs.into_iter().collect())
}

/// A field name in a violation location: non-empty, no `.`, no control character. Defender and
/// Google write a location as one dotted path (`body.name`), so a name holding `.` cannot be told
/// from two names; a name of control characters only would be cleaned to `""`.
fn segment() -> impl Strategy<Value = String> {
    prop::collection::vec(
        text_char().prop_filter("no dot, no control", |c| *c != '.' && !c.is_control()),
        1..8,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

/// A violation location in the shape `FieldViolation` documents: the part of the request
/// (`body`, `query`, `path`, `header`), then field names (some named like a part, which Google's
/// body-relative `field` paths must still tell apart); the part alone; or no location at all.
fn location() -> impl Strategy<Value = Vec<String>> {
    let name = prop_oneof![
        4 => segment(),
        1 => prop::sample::select(vec!["body", "query", "path", "header"]).prop_map(str::to_owned),
    ];
    prop_oneof![
        1 => Just(Vec::new()),
        1 => prop::sample::select(vec!["body", "query", "path", "header"])
            .prop_map(|part| vec![part.to_owned()]),
        6 => (
            prop::sample::select(vec!["body", "query", "path", "header"]),
            prop::collection::vec(name, 1..3),
        )
            .prop_map(|(part, names)| {
                let mut location = vec![part.to_owned()];
                location.extend(names);
                location
            }),
    ]
}

fn violation() -> impl Strategy<Value = FieldViolation> {
    (location(), text(16), prop::option::of(text(8))).prop_map(|(location, message, reason)| {
        let v = FieldViolation::new(location, message);
        match reason {
            Some(r) => v.with_reason(r),
            None => v,
        }
    })
}

/// Explicit codes: realistic text codes (Defender's seed codes, kind names and slugs, which
/// collide with some format's default code), other text, and any `i64`.
fn code() -> impl Strategy<Value = Option<Code>> {
    let kind_text = prop::sample::select(ErrorKind::ALL)
        .prop_flat_map(|k| {
            prop::sample::select(vec![
                k.name(),
                k.slug(),
                Defender::code(k),
                "InvalidHashValue",
            ])
        })
        .prop_map(Code::from);
    prop_oneof![
        3 => Just(None),
        2 => kind_text.prop_map(Some),
        2 => "[A-Za-z][A-Za-z0-9_ é-]{0,12}".prop_map(|t| Some(Code::from(t))),
        1 => "0[0-9]{1,4}".prop_map(|t| Some(Code::from(t))),
        2 => any::<i64>().prop_map(|n| Some(Code::Number(n))),
        1 => (0i64..2000).prop_map(|n| Some(Code::Number(n))),
    ]
}

/// A random error: any kind, a message, maybe an explicit code, a target, a description, field
/// violations and a status override (≥ 400). No `Retry-After`: it travels in a header, not in
/// the body a format parses.
fn api_error() -> impl Strategy<Value = ApiError> {
    (
        prop::sample::select(ErrorKind::ALL),
        text(40),
        code(),
        prop::option::of(text(16)),
        prop::option::of(prop_oneof![
            3 => text(24),
            1 => prop::sample::select(ErrorKind::ALL).prop_map(|k| k.description().to_owned()),
        ]),
        prop::collection::vec(violation(), 0..3),
        prop::option::of(400u16..=599),
    )
        .prop_map(
            |(kind, message, code, target, description, violations, status)| {
                let mut e = ApiError::new(kind, message).with_violations(violations);
                if let Some(code) = code {
                    e = e.with_code(code);
                }
                if let Some(target) = target {
                    e = e.with_target(target);
                }
                if let Some(description) = description {
                    e = e.with_description(description);
                }
                if let Some(status) = status {
                    e = e.with_status(StatusCode::from_u16(status).unwrap());
                }
                e
            },
        )
}

/// What `format` can carry of `e`, i.e. what `parse(render(e))` must give back:
///
/// - an empty message is rendered (and so parsed) as the format's default message;
/// - a code equal to the format's own default code for the kind is not an explicit code
///   (Defender: `Defender::code(kind)`; QRadar: `QRadar::code(kind, status)`; Problem: the kind's
///   slug), and an empty text code is no code (Defender reads `"code": ""` as absent);
/// - a status override equal to the status the format answers for the kind anyway is no override;
/// - only QRadar has a description member, and a description equal to the kind's fixed
///   description is the default one.
fn expected(name: &str, format: &dyn Format, e: &ApiError) -> ApiError {
    let kind = e.kind();
    let mut plain = ApiError::new(kind, e.message().to_owned());
    if let Some(code) = e.code() {
        plain = plain.with_code(code.clone());
    }
    let status = format.status(e);
    let message = match e.message() {
        "" => format.default_message(kind).to_owned(),
        m => m.to_owned(),
    };
    let mut out = ApiError::new(kind, message).with_violations(e.violations().iter().cloned());
    let code = e.code().filter(|code| {
        let default = match name {
            "defender" => code.as_text() == Some(Defender::code(kind)),
            "qradar" => code.as_number() == Some(QRadar::code(kind, status)),
            "problem" | "problem-typed" => code.as_text() == Some(kind.slug()),
            _ => false,
        };
        !default && code.as_text() != Some("")
    });
    if let Some(code) = code {
        out = out.with_code(code.clone());
    }
    if let Some(target) = e.target() {
        out = out.with_target(target.to_owned());
    }
    if name == "qradar" {
        if let Some(d) = e.description().filter(|d| *d != kind.description()) {
            out = out.with_description(d.to_owned());
        }
    }
    if let Some(s) = e.status_override() {
        if format.status(&plain) != s {
            out = out.with_status(s);
        }
    }
    out
}

fn round_trip(format: &dyn Format, xml: bool, e: &ApiError) -> (StatusCode, Option<ApiError>) {
    let accept = HeaderValue::from_static("application/xml");
    let cx = RequestContext::new("4f1c-corr-id", &Method::GET);
    let cx = if xml {
        cx.with_accept(Some(&accept))
    } else {
        cx
    };
    let out = format.render(e, &cx);
    let ct = out.content_type.to_str().unwrap().to_owned();
    if xml {
        assert_eq!(ct, "application/xml");
    }
    (out.status, format.parse(out.status, Some(&ct), &out.body))
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn every_format_parses_what_it_renders(e in api_error()) {
        for (name, format, xml) in formats() {
            let (status, back) = round_trip(&*format, xml, &e);
            prop_assert!(status.as_u16() >= 400, "{}: {}", name, status);
            prop_assert_eq!(status, format.status(&e), "{}", name);
            prop_assert_eq!(back, Some(expected(name, &*format, &e)), "{} rendering {:?}", name, e);
        }
    }
}

/// Asserts `parse(render(e)) == e` for each error and each format in `names`, listing every
/// mismatch.
fn assert_round_trips(names: &[&str], errors: &[ApiError]) {
    let mut mismatches = Vec::new();
    for e in errors {
        for (name, format, xml) in formats() {
            if !names.contains(&name) {
                continue;
            }
            let back = round_trip(&*format, xml, e).1;
            if back.as_ref() != Some(e) {
                mismatches.push(format!("{name}:\n  in:  {e:?}\n  got: {back:?}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn qradar_keeps_the_kind_with_a_custom_description() {
    assert_round_trips(
        &["qradar"],
        &[
            // Parsed back as Unauthorized (from the numeric code 18, which both kinds share).
            ApiError::new(ErrorKind::TokenExpired, "m").with_description("Token revoked."),
            // Parsed back as BadRequest (from the status 400).
            ApiError::new(ErrorKind::InvalidUrl, "m").with_description("Bad path."),
            // Parsed back as BadRequest: the description is BadRequest's fixed description.
            ApiError::new(ErrorKind::NotFound, "m").with_description("The request is invalid."),
        ],
    );
}

#[test]
fn msi_keeps_an_upstream_kind_with_violations() {
    // Rendered 427 `{"detail":[{"loc":["body","a"],"msg":"m"}],"message":"x"}`: no title and no
    // `kind` member, so it is parsed back as BadRequest with a status override of 427.
    let e = ApiError::new(ErrorKind::UpstreamTimeout, "x")
        .with_violation(FieldViolation::new(["body", "a"], "m"));
    assert_round_trips(&["msi"], &[e]);
}

#[test]
fn negative_and_19_digit_numeric_codes_round_trip() {
    // Defender, Google and Edgio's XML write a code as text; `Code::from("-5")` and
    // `Code::from("9223372036854775807")` are text codes, so `Code::Number(-5)` and
    // `Code::Number(i64::MAX)` come back as `Code::Text`.
    let errors: Vec<_> = [-5, i64::MAX, 1_000_000_000_000_000_000]
        .into_iter()
        .map(|n| ApiError::new(ErrorKind::Conflict, "m").with_code(n))
        .collect();
    assert_round_trips(&["defender", "google", "edgio-xml"], &errors);
}

#[test]
fn google_keeps_body_locations_that_look_like_a_part() {
    // `["body"]` (FastAPI's location for a missing body) comes back as `["body", "body"]`;
    // a body field named `query` (`["body", "query", "q"]`) comes back as the query parameter
    // `["query", "q"]`; `["query"]` comes back as `["body", "query"]`.
    let errors: Vec<_> = [vec!["body"], vec!["body", "query", "q"], vec!["query"]]
        .into_iter()
        .map(|location| {
            ApiError::new(ErrorKind::InvalidInput, "m")
                .with_violation(FieldViolation::new(location, "bad"))
        })
        .collect();
    assert_round_trips(&["google"], &errors);
}

// ---- 4. the envelope over arbitrary inner responses -------------------------------------------

/// An inner response: any status but 101, random headers, a body in random chunks (maybe
/// failing midway), maybe an `ApiError` tag, maybe a vendor envelope as its body.
#[derive(Debug, Clone)]
struct Inner {
    status: u16,
    headers: Vec<(&'static str, String)>,
    content_type: Option<String>,
    declared_length: Option<usize>,
    body: Vec<u8>,
    sizes: Vec<usize>,
    fail_after: Option<usize>,
    tag: Option<ApiError>,
    /// The format and error whose rendering is the body, when it is a vendor envelope.
    vendor: Option<(&'static str, ApiError)>,
}

impl Inner {
    fn chunks(&self) -> Vec<Bytes> {
        split(&self.body, &self.sizes)
    }

    /// The chunks the inner body yields, the error (if any) in place of the rest.
    fn frames(&self) -> Vec<Result<Bytes, io::Error>> {
        let chunks = self.chunks();
        match self.fail_after {
            Some(n) if n <= chunks.len() => {
                let mut frames: Vec<_> = chunks.into_iter().take(n).map(Ok).collect();
                frames.push(Err(io::Error::other("inner body failed")));
                frames
            }
            _ => chunks.into_iter().map(Ok).collect(),
        }
    }

    fn response(&self) -> (Response<Chunks>, Arc<AtomicUsize>) {
        let (body, polled) = Chunks::new(self.frames());
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap();
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        if let Some(ct) = &self.content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        if let Some(n) = self.declared_length {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        if let Some(tag) = &self.tag {
            response.extensions_mut().insert(tag.clone());
        }
        (response, polled)
    }
}

/// A vendor envelope: some format's rendering of a random error, with its content type and
/// status, and the format's name and the error.
type Vendor = (Vec<u8>, String, u16, &'static str, ApiError);

fn vendor_body() -> impl Strategy<Value = Vendor> {
    (api_error(), 0usize..8).prop_map(|(e, which)| {
        let (name, format, xml) = formats().swap_remove(which);
        let accept = HeaderValue::from_static("application/xml");
        let cx = RequestContext::new("upstream-id", &Method::GET);
        let cx = if xml {
            cx.with_accept(Some(&accept))
        } else {
            cx
        };
        let out = format.render(&e, &cx);
        let ct = out.content_type.to_str().unwrap().to_owned();
        (out.body, ct, out.status.as_u16(), name, e)
    })
}

fn inner_response() -> impl Strategy<Value = Inner> {
    let status = (100u16..=599).prop_filter("101 switches protocols", |s| *s != 101);
    let header = (
        prop::sample::select(vec![
            "x-a",
            "x-request-id",
            "set-cookie",
            "cache-control",
            "allow",
            "retry-after",
            "www-authenticate",
            "x-trace",
        ]),
        "[ -~]{0,24}",
    );
    let content_type = prop::option::of(prop::sample::select(vec![
        "application/json".to_owned(),
        "application/json; charset=utf-8".to_owned(),
        "text/plain".to_owned(),
        "text/plain; charset=utf-8".to_owned(),
        "application/xml".to_owned(),
        "application/problem+json".to_owned(),
        "application/octet-stream".to_owned(),
        "image/png".to_owned(),
    ]));
    let body = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..3000).prop_map(|b| (b, None, None)),
        1 => "[ -~]{0,200}".prop_map(|t| (t.into_bytes(), None, None)),
        2 => vendor_body().prop_map(|(b, ct, status, name, e)| {
            (b, Some(ct), Some((status, name, e)))
        }),
    ];
    (
        status,
        prop::collection::vec(header, 0..5),
        content_type,
        prop::option::of(prop_oneof![Just(None), (0usize..100_000).prop_map(Some)]),
        body,
        chunk_sizes(),
        prop::option::of(0usize..6),
        prop::option::weighted(0.2, api_error()),
        any::<bool>(),
    )
        .prop_map(
            |(
                status,
                headers,
                ct,
                declared,
                (body, body_ct, vendor),
                sizes,
                fail_after,
                tag,
                keep_status,
            )| {
                let content_type = body_ct.or(ct);
                // A vendor body usually comes with its own error status.
                let status = match &vendor {
                    Some((s, _, _)) if keep_status => *s,
                    _ => status,
                };
                let vendor = vendor.map(|(_, name, e)| (name, e));
                let declared_length = declared.map(|d| d.unwrap_or(body.len()));
                Inner {
                    status,
                    headers,
                    content_type,
                    declared_length,
                    body,
                    sizes,
                    fail_after,
                    tag,
                    vendor,
                }
            },
        )
}

proptest! {
    #![proptest_config(config(768))]

    /// Behind `ErrorEnvelopeLayer::defender().max_error_body(bound)`, for any inner response:
    /// the envelope answers; below 400 it changes nothing (status, headers, every body byte and
    /// a body error where it happens); from 400 on it answers a Defender error that parses, and
    /// it never pulls more than `bound` bytes plus one chunk out of the error body.
    #[test]
    fn the_envelope_always_answers_and_reads_at_most_its_bound(
        inner in inner_response(),
        bound in prop_oneof![0usize..64, 0usize..4096],
    ) {
        let (response, polled) = inner.response();
        let expected_headers = response.headers().clone();
        let slot = std::sync::Mutex::new(Some(response));
        let service = ErrorEnvelopeLayer::defender()
            .max_error_body(bound)
            .layer(service_fn(move |_req: Request<Full<Bytes>>| {
                let response = slot.lock().unwrap().take().expect("called once");
                async move { Ok::<_, Infallible>(response) }
            }));
        let out = drive(service.oneshot(Request::new(Full::new(Bytes::new())))).unwrap();
        let status = out.status();
        if inner.status < 400 {
            prop_assert_eq!(status.as_u16(), inner.status);
            prop_assert_eq!(out.headers(), &expected_headers);
            prop_assert!(out.extensions().get::<ApiError>() == inner.tag.as_ref());
            let (body, failed) = collect_frames(out.into_body());
            let sent: Vec<u8> = inner
                .frames()
                .into_iter()
                .map_while(Result::ok)
                .flat_map(|b| b.to_vec())
                .collect();
            prop_assert_eq!(body, sent);
            prop_assert_eq!(failed, inner.frames().iter().any(Result::is_err));
            return Ok(());
        }
        prop_assert!(status.as_u16() >= 400, "{}", status);
        let headers: &HeaderMap = out.headers();
        prop_assert_eq!(&headers[CONTENT_TYPE], "application/json; charset=utf-8");
        prop_assert!(headers.contains_key("x-request-id"));
        let pulled = polled.load(Ordering::SeqCst);
        let biggest = inner.chunks().iter().map(Bytes::len).max().unwrap_or(0);
        prop_assert!(pulled <= bound + biggest, "pulled {} > {} + {}", pulled, bound, biggest);
        if inner.tag.is_some() || inner.declared_length.is_some_and(|n| n > bound) {
            prop_assert_eq!(pulled, 0);
        }
        let (body, failed) = collect_frames(out.into_body());
        prop_assert!(!failed);
        let parsed = Defender.parse(status, Some("application/json; charset=utf-8"), &body);
        prop_assert!(parsed.is_some(), "{}", String::from_utf8_lossy(&body));
        let parsed = parsed.unwrap();
        if let Some(tag) = &inner.tag {
            prop_assert_eq!(parsed.kind(), tag.kind());
            prop_assert_eq!(status, tag.status());
        } else if let Some((name, e)) = translated(&inner, bound) {
            // A vendor envelope read whole is translated: kind, message, target and violations
            // survive (the status and code are Defender's own for the kind).
            let (_, format, _) = formats().into_iter().find(|f| f.0 == name).unwrap();
            let want = expected(name, &*format, e);
            prop_assert_eq!(parsed.kind(), want.kind(), "{} body", name);
            if inner.status >= 500 {
                // A server error keeps only kind and code: no free text leaves.
                prop_assert_eq!(parsed.message(), Defender.default_message(want.kind()), "{} body", name);
                prop_assert_eq!(parsed.target(), None, "{} body", name);
                prop_assert!(parsed.violations().is_empty(), "{} body", name);
            } else {
                prop_assert_eq!(parsed.message(), want.message(), "{} body", name);
                prop_assert_eq!(parsed.target(), want.target(), "{} body", name);
                prop_assert_eq!(parsed.violations(), want.violations(), "{} body", name);
            }
        }
    }
}

/// The vendor error of an inner response that the envelope reads whole, with the status it was
/// rendered with: no tag, the whole body within the bound and no body error.
fn translated(inner: &Inner, bound: usize) -> Option<(&'static str, &ApiError)> {
    let (name, e) = inner.vendor.as_ref()?;
    let (_, format, _) = formats().into_iter().find(|f| f.0 == *name)?;
    let whole = inner.tag.is_none()
        && inner.body.len() <= bound
        && inner.declared_length.is_none_or(|n| n <= bound)
        && !inner.frames().iter().any(Result::is_err)
        && inner.status == format.status(e).as_u16();
    whole.then_some((*name, e))
}

#[test]
fn defender_envelope_translates_a_google_body() {
    // The envelope tries its own format's parser before `parse_any`, and Defender's accepts any
    // `{"error":{"message":..}}`: the Google error's kind is taken from the status alone,
    // its numeric `code` (the HTTP status) becomes an explicit code, the target is lost and each
    // entry of `details` becomes an empty violation.
    let e = ApiError::new(ErrorKind::TokenExpired, "token expired").with_target("Authorization");
    let out = Google::new().render(&e, &RequestContext::new("upstream-id", &Method::GET));
    let (status, ct, body) = (out.status, out.content_type, out.body);
    let service =
        ErrorEnvelopeLayer::defender().layer(service_fn(move |_: Request<Full<Bytes>>| {
            let mut r = Response::new(Full::new(Bytes::from(body.clone())));
            *r.status_mut() = status;
            r.headers_mut().insert(CONTENT_TYPE, ct.clone());
            async move { Ok::<_, Infallible>(r) }
        }));
    let res = drive(service.oneshot(Request::new(Full::new(Bytes::new())))).unwrap();
    let status = res.status();
    let (body, _) = collect_frames(res.into_body());
    let back = Defender.parse(status, None, &body).unwrap();
    assert_eq!(
        (back.kind(), back.code(), back.target(), back.violations()),
        (
            ErrorKind::TokenExpired,
            None,
            Some("Authorization"),
            &[][..]
        ),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

// ---- the seeds' values, OData options and route hints ----------------------------------------

proptest! {
    #![proptest_config(config(512))]

    /// A value parses, or is refused with its kind and the Defender wording, whatever the input;
    /// a parsed value reads back as it was accepted.
    #[test]
    fn values_accept_or_refuse_in_their_words(input in "\\PC{0,80}|[0-9a-fA-F]{30,66}|[0-9.:]{0,40}") {
        use std::str::FromStr;
        use tower_envelope::values::{DomainName, FileHash, IpAddress, Url};
        fn check<T: FromStr<Err = ApiError>>(input: &str, kind: ErrorKind, words: &str) {
            if let Err(error) = input.parse::<T>() {
                assert_eq!(error.kind(), kind, "{input:?}");
                assert!(error.message().starts_with(words), "{input:?}: {}", error.message());
                assert!(error.message().ends_with(" is invalid."), "{input:?}");
            }
        }
        check::<FileHash>(&input, ErrorKind::InvalidHashValue, "Hash value ");
        check::<DomainName>(&input, ErrorKind::InvalidDomainName, "Domain name ");
        check::<IpAddress>(&input, ErrorKind::InvalidIpAddress, "IP address ");
        check::<Url>(&input, ErrorKind::InvalidUrl, "URL ");
        if let Ok(hash) = input.parse::<FileHash>() {
            prop_assert_eq!(hash.as_str(), input.to_ascii_lowercase());
        }
        if let Ok(ip) = input.parse::<IpAddress>() {
            prop_assert_eq!(ip.0, input.parse::<std::net::IpAddr>().unwrap());
        }
    }

    /// OData options are read, or refused `ODataError` naming a `$` option of the query.
    #[test]
    fn odata_reads_or_names_the_option(
        pairs in prop::collection::vec(("\\$?[a-z]{0,8}", "\\PC{0,12}"), 0..6)
    ) {
        use tower_envelope::extract::OData;
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(['&', '=', '%', '+', '#'], "")))
            .collect::<Vec<_>>()
            .join("&");
        match OData::<100>::from_query(&query) {
            Ok(odata) => prop_assert!(odata.top.is_none_or(|top| top <= 100)),
            Err(error) => {
                prop_assert_eq!(error.kind(), ErrorKind::ODataError);
                let target = error.target().unwrap_or_default();
                prop_assert!(target.starts_with('$'), "{}", target);
                prop_assert!(query.contains(target), "{} in {}", target, query);
            }
        }
    }

    /// A route hint names a route only for a path that matches it but for a trailing `/` or
    /// letter case, and the route it names matches the path without regard to those.
    #[test]
    fn route_hints_name_only_a_near_miss(path in "(/[a-zA-Z0-9]{0,6}){0,4}/{0,2}") {
        use tower_envelope::RouteHints;
        let hints = RouteHints::new(["/api/machines/{id}", "/api/machines", "/healthz"]);
        let error = hints.error(&path);
        match error.target() {
            Some(route) => {
                prop_assert!(matches!(error.kind(), ErrorKind::NotFound | ErrorKind::InvalidCase));
                prop_assert_eq!(
                    route.to_ascii_lowercase(),
                    path.trim_end_matches('/').to_ascii_lowercase()
                );
                prop_assert_ne!(route, path.as_str());
            }
            None => {
                prop_assert_eq!(error.kind(), ErrorKind::NotFound);
                prop_assert_eq!(error.message(), "");
            }
        }
    }
}
