//! [`ContentTypeLayer`]: requires request bodies to declare an accepted media type.
//!
//! A request that carries a body (a non-zero `Content-Length`, a `Transfer-Encoding`, or —
//! without either header, as in HTTP/2 — a body stream not known to be empty) must have exactly
//! one `Content-Type` naming an accepted media type; requests without a body pass. Otherwise the
//! answer is [`ErrorKind::UnsupportedMediaType`] (415):
//!
//! - no `Content-Type`: `Content-Type header is missing`;
//! - another type: the message names the type received and the types accepted;
//! - JSON (`application/json` or any `+json` type) with a `charset` other than UTF-8;
//! - several `Content-Type` headers, or one that is not a media type.
//!
//! Type, subtype, suffix and parameter names compare case-insensitively (`APPLICATION/JSON;
//! Charset="UTF-8"` is JSON in UTF-8).
//!
//! Options:
//!
//! - [`ContentTypeLayer::accept_header`]: the media types the endpoint produces; a request whose
//!   `Accept` excludes all of them gets [`ErrorKind::NotAcceptable`] (406). A missing `Accept`
//!   passes; `q=0` excludes.
//! - [`ContentTypeLayer::verify_json`]: a JSON body is buffered (up to a bound, over which the
//!   answer is [`ErrorKind::PayloadTooLarge`], 413) and must be syntactically valid JSON, else
//!   [`ErrorKind::InvalidRequestBody`] (400) with serde_json's line and column. The verified
//!   bytes then reach the inner service unchanged.
//!
//! The inner service receives `Request<`[`RequestBody<B>`]`>`: the original body, or (after
//! `verify_json`) the verified bytes. Without an `ErrorEnvelopeLayer` above, a rejection is
//! rendered as RFC 9457 problem details; the [`ApiError`] is in the response extensions either
//! way. With the default options a passing request costs no allocation (the header is parsed by
//! borrowing it).
//!
//! ```
//! use bytes::Bytes;
//! use http::{header::CONTENT_TYPE, Request, Response, StatusCode};
//! use http_body_util::Full;
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_envelope::content_type::RequestBody;
//! use tower_envelope::{ApiError, ContentTypeLayer, ErrorKind};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let service = ServiceBuilder::new()
//!     .layer(ContentTypeLayer::json())
//!     .service_fn(|_req: Request<RequestBody<Full<Bytes>>>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
//!     });
//!
//! let request = Request::post("/machines")
//!     .header(CONTENT_TYPE, "text/plain")
//!     .body(Full::new(Bytes::from("hello")))
//!     .unwrap();
//! let response = service.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
//! let error = response.extensions().get::<ApiError>().unwrap();
//! assert_eq!(error.kind(), ErrorKind::UnsupportedMediaType);
//!
//! let request = Request::post("/machines")
//!     .header(CONTENT_TYPE, "application/json; charset=utf-8")
//!     .body(Full::new(Bytes::from("{}")))
//!     .unwrap();
//! assert_eq!(service.oneshot(request).await.unwrap().status(), StatusCode::OK);
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::LengthLimitError;
use mediatype::{MediaType, MediaTypeBuf, ReadParams};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::error::{echo, ApiError, ErrorKind};
use crate::format::tagged_response;
use crate::limit::{carries_body, content_length, too_large, too_large_streamed};
use crate::BoxError;

/// Requires request bodies to declare an accepted media type; see the [module docs](self).
///
/// Cloning is cheap: the JSON configuration holds no heap data, a list of types is shared.
#[derive(Clone, Debug)]
pub struct ContentTypeLayer {
    accepted: Accepted,
    produces: Option<Arc<[MediaTypeBuf]>>,
    verify_json: Option<usize>,
}

#[derive(Clone, Debug)]
enum Accepted {
    /// `application/json` and every `+json` type.
    Json,
    /// Explicit types; `type/*` and `*/*` are wildcards.
    Types(Arc<[MediaTypeBuf]>),
}

impl ContentTypeLayer {
    /// Accepts `application/json` and every type with a `+json` suffix
    /// (`application/problem+json`, `application/merge-patch+json`, ...), in UTF-8.
    pub const fn json() -> Self {
        Self {
            accepted: Accepted::Json,
            produces: None,
            verify_json: None,
        }
    }

    /// Accepts the given media types (`type/subtype`, `type/subtype+suffix`, or the wildcards
    /// `type/*` and `*/*`), without parameters. A JSON body (`application/json`, `+json`) still
    /// has to be UTF-8.
    ///
    /// Fails on an empty list and on anything that is not a media type without parameters.
    ///
    /// ```
    /// use tower_envelope::ContentTypeLayer;
    ///
    /// let layer = ContentTypeLayer::new(["application/xml", "text/csv", "image/*"]).unwrap();
    /// assert!(ContentTypeLayer::new(["text/csv; charset=utf-8"]).is_err());
    /// # let _ = layer;
    /// ```
    pub fn new<I>(types: I) -> Result<Self, InvalidMediaType>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Ok(Self {
            accepted: Accepted::Types(parse_list(types)?),
            produces: None,
            verify_json: None,
        })
    }

    /// Answers [`ErrorKind::NotAcceptable`] (406) to a request whose `Accept` header excludes
    /// every one of `produces` (the media types this endpoint responds with).
    ///
    /// Each produced type takes the `q` of the most specific matching range (`type/subtype`,
    /// then `type/*`, then `*/*`); `q=0` excludes it. A request without `Accept` passes, and so
    /// does one whose `Accept` holds no valid media range (the header is then disregarded, as
    /// RFC 9110 §12.5.1 allows). Media range parameters other than `q` are ignored.
    ///
    /// Fails on an empty list and on anything that is not a media type without parameters.
    ///
    /// ```
    /// use tower_envelope::ContentTypeLayer;
    ///
    /// let layer = ContentTypeLayer::json().accept_header(["application/json"]).unwrap();
    /// # let _ = layer;
    /// ```
    pub fn accept_header<I>(mut self, produces: I) -> Result<Self, InvalidMediaType>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.produces = Some(parse_list(produces)?);
        Ok(self)
    }

    /// Buffers every JSON body (up to `max_bytes`) and requires it to be syntactically valid
    /// JSON, before the inner service is called.
    ///
    /// - invalid JSON: [`ErrorKind::InvalidRequestBody`] (400), the message giving serde_json's
    ///   error with its line and column;
    /// - a declared `Content-Length` over `max_bytes`: [`ErrorKind::PayloadTooLarge`] (413)
    ///   without reading the body; a streamed body over `max_bytes`: the same, once the bound is
    ///   passed;
    /// - a body that fails to be read: [`ErrorKind::BadRequest`] (400); or, when the failure is
    ///   an outer [`Limited`](http_body_util::Limited)'s [`LengthLimitError`] (a
    ///   [`BodyLimitLayer`](crate::BodyLimitLayer) above this layer),
    ///   [`ErrorKind::PayloadTooLarge`] with the format's default message, since the outer limit
    ///   is not known here.
    ///
    /// The verified bytes (and trailers, if any) reach the inner service unchanged, as a
    /// [`RequestBody`] holding them. Bodies of non-JSON types accepted by
    /// [`ContentTypeLayer::new`] are not buffered. This option allocates the buffer by design.
    pub fn verify_json(mut self, max_bytes: usize) -> Self {
        self.verify_json = Some(max_bytes);
        self
    }

    /// Checks the request's `Content-Type`; `Ok(true)` for a JSON body, `Ok(false)` for another
    /// accepted type.
    pub(crate) fn check_content_type(&self, headers: &HeaderMap) -> Result<bool, ApiError> {
        let mut values = headers.get_all(CONTENT_TYPE).iter();
        let Some(value) = values.next() else {
            return Err(unsupported("Content-Type header is missing".into()));
        };
        if values.next().is_some() {
            return Err(unsupported(
                "Content-Type header must be sent exactly once".into(),
            ));
        }
        // Fast path for the two values nearly every JSON client sends, under `::json()`: no
        // parsing at all (callgrind: about 400 fewer instructions a request than the full
        // parse below, which gives the same answer for them).
        if matches!(self.accepted, Accepted::Json) {
            let b = value.as_bytes();
            if b.eq_ignore_ascii_case(b"application/json")
                || b.eq_ignore_ascii_case(b"application/json; charset=utf-8")
            {
                return Ok(true);
            }
        }
        let text = value.to_str().unwrap_or_default().trim_matches(is_ows);
        let parsed = parse_media_type(text)
            .filter(|(t, _, plain_json)| *plain_json || (t.ty != "*" && t.subty != "*"));
        let Some((media_type, params, plain_json)) = parsed else {
            return Err(unsupported(
                format!(
                    "Content-Type \"{}\" is not a valid media type",
                    echo(&lossy(value))
                )
                .into(),
            ));
        };
        let json = plain_json || is_json(&media_type);
        let accepted = match &self.accepted {
            Accepted::Json => json,
            Accepted::Types(types) => types.iter().any(|t| range_matches(t, &media_type)),
        };
        if !accepted {
            return Err(unsupported(
                format!(
                    "Content-Type \"{}\" is not supported; expected {}",
                    echo(text),
                    self.accepted
                )
                .into(),
            ));
        }
        if json {
            let not_utf8 = params.filter_map(Result::ok).any(|(name, value)| {
                name.eq_ignore_ascii_case("charset") && !value_eq_ignore_case(value, "utf-8")
            });
            if not_utf8 {
                return Err(unsupported(
                    format!(
                        "Content-Type \"{}\" is not supported: JSON must be UTF-8",
                        echo(text)
                    )
                    .into(),
                ));
            }
        }
        Ok(json)
    }
}

impl fmt::Display for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Accepted::Json => f.write_str("application/json or a +json type"),
            Accepted::Types(types) => write_list(f, types, " or "),
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, types: &[MediaTypeBuf], sep: &str) -> fmt::Result {
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        f.write_str(t.as_str())?;
    }
    Ok(())
}

fn unsupported(message: std::borrow::Cow<'static, str>) -> ApiError {
    ApiError::new(ErrorKind::UnsupportedMediaType, message).with_target("Content-Type")
}

fn lossy(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// Parses configured media types (at configuration time; allocation is fine here).
fn parse_list<I>(types: I) -> Result<Arc<[MediaTypeBuf]>, InvalidMediaType>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let list = types
        .into_iter()
        .map(|t| {
            let t = t.as_ref();
            match MediaTypeBuf::from_string(t.trim().to_owned()) {
                Ok(parsed) if parsed.params().next().is_none() => Ok(parsed),
                _ => Err(InvalidMediaType {
                    input: Some(t.to_owned()),
                }),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if list.is_empty() {
        return Err(InvalidMediaType { input: None });
    }
    Ok(list.into())
}

/// A configured media type that is not `type/subtype` without parameters, or an empty list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidMediaType {
    input: Option<String>,
}

impl InvalidMediaType {
    /// The rejected text; `None` when the list was empty.
    pub fn input(&self) -> Option<&str> {
        self.input.as_deref()
    }
}

impl fmt::Display for InvalidMediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.input {
            Some(input) => write!(
                f,
                "invalid media type {input:?}: expected type/subtype without parameters"
            ),
            None => f.write_str("at least one media type is required"),
        }
    }
}

impl std::error::Error for InvalidMediaType {}

// ---- borrowed media type parsing ---------------------------------------------------------
//
// `mediatype::MediaType::parse` borrows its input, but collects the parameters into a `Vec`
// (two allocations for `application/json; charset=utf-8`). So it only parses the essence
// (`type/subtype+suffix`, which has no parameters and allocates nothing) and the parameters are
// read by the small iterator below (RFC 9110 §5.6.6), which borrows.

const fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 9110 `tchar`.
const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Splits `type/subtype+suffix; params` into the parsed essence and a parameter iterator.
/// `None` when the essence is not a media type or its parameters are malformed.
/// The media type, its parameters, and whether it is plain `application/json` (any case).
fn parse_media_type(text: &str) -> Option<(MediaType<'_>, Params<'_>, bool)> {
    let (essence, params) = match text.find(';') {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    let essence = essence.trim_end_matches(is_ows);
    // Fast path for the type nearly every JSON client sends: `application/json` (any case) is
    // known valid, so it skips mediatype's grammar check, which costs about 800 instructions a
    // request here against about 20 for this comparison (callgrind, benches/overhead.rs
    // `happy/content_type`).
    let plain_json = essence.eq_ignore_ascii_case("application/json");
    let media_type = if plain_json {
        MediaType::new(mediatype::names::APPLICATION, mediatype::names::JSON)
    } else {
        // The essence has no `;`, so mediatype parses no parameter and allocates nothing.
        MediaType::parse(essence).ok()?
    };
    let params = Params { rest: params };
    if params.clone().any(|p| p.is_err()) {
        return None;
    }
    Some((media_type, params, plain_json))
}

/// True for `application/json` and any `+json` type.
fn is_json(media_type: &MediaType<'_>) -> bool {
    match media_type.suffix {
        Some(suffix) => suffix == "json",
        None => media_type.ty == "application" && media_type.subty == "json",
    }
}

/// Whether the configured `range` (maybe a wildcard) matches a received media type.
fn range_matches(range: &MediaTypeBuf, media_type: &MediaType<'_>) -> bool {
    if range.ty() == "*" {
        return range.subty() == "*";
    }
    if range.ty() != media_type.ty {
        return false;
    }
    range.subty() == "*"
        || (range.subty() == media_type.subty && range.suffix() == media_type.suffix)
}

/// The parameters after a media type's essence, borrowed: `(name, raw value)` pairs, a quoted
/// value with its quotes. `Err(())` on malformed syntax, after which iteration stops.
#[derive(Clone)]
struct Params<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<(&'a str, &'a str), ()>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = self.rest.trim_start_matches(is_ows);
            if s.is_empty() {
                self.rest = s;
                return None;
            }
            let Some(s) = s.strip_prefix(';') else {
                self.rest = "";
                return Some(Err(()));
            };
            let s = s.trim_start_matches(is_ows);
            if s.is_empty() || s.starts_with(';') {
                // An empty parameter (`text/plain;;a=b`) is allowed.
                self.rest = s;
                continue;
            }
            let name_len = s.bytes().take_while(|b| is_tchar(*b)).count();
            let (name, s) = s.split_at(name_len);
            let Some(s) = s.strip_prefix('=').filter(|_| !name.is_empty()) else {
                self.rest = "";
                return Some(Err(()));
            };
            let value_len = if s.starts_with('"') {
                match quoted_len(s) {
                    Some(len) => len,
                    None => {
                        self.rest = "";
                        return Some(Err(()));
                    }
                }
            } else {
                s.bytes().take_while(|b| is_tchar(*b)).count()
            };
            if value_len == 0 {
                self.rest = "";
                return Some(Err(()));
            }
            let (value, rest) = s.split_at(value_len);
            self.rest = rest;
            return Some(Ok((name, value)));
        }
    }
}

/// The length of the quoted string at the start of `s` (quotes included), if it is closed.
fn quoted_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Compares a raw parameter value (token or quoted string) with `expected`, ignoring ASCII case.
fn value_eq_ignore_case(raw: &str, expected: &str) -> bool {
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        None => raw.eq_ignore_ascii_case(expected),
        Some(inner) => {
            let mut unescaped = inner.bytes();
            let mut expected = expected.bytes();
            loop {
                let got = match unescaped.next() {
                    Some(b'\\') => unescaped.next(),
                    other => other,
                };
                match (got, expected.next()) {
                    (None, None) => return true,
                    (Some(a), Some(b)) if a.eq_ignore_ascii_case(&b) => {}
                    _ => return false,
                }
            }
        }
    }
}

/// The elements of a comma-separated header list, outside quoted strings, trimmed, non-empty.
fn list_elements(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = value;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let bytes = rest.as_bytes();
        let mut i = 0;
        let mut quoted = false;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b',' if !quoted => break,
                _ => {}
            }
            i += 1;
        }
        let end = i.min(rest.len());
        let element = rest.get(..end).unwrap_or_default().trim_matches(is_ows);
        rest = rest.get(end + 1..).unwrap_or_default();
        if !element.is_empty() {
            return Some(element);
        }
    })
}

/// An RFC 9110 qvalue in thousandths (`1` → 1000, `0.5` → 500, `0` → 0).
fn qvalue(raw: &str) -> Option<u16> {
    let (int, frac) = match raw.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (raw, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether the request's `Accept` lets the endpoint answer with one of `produces`.
fn acceptable(headers: &HeaderMap, produces: &[MediaTypeBuf]) -> bool {
    let ranges = || {
        headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(list_elements)
            .filter_map(|element| {
                let (range, params, _) = parse_media_type(element)?;
                let mut q = 1000;
                for (name, value) in params.flatten() {
                    if name.eq_ignore_ascii_case("q") {
                        q = qvalue(value)?;
                        break;
                    }
                }
                Some((range, q))
            })
    };
    if ranges().next().is_none() {
        // No `Accept`, or none of its elements is a media range: disregarded.
        return true;
    }
    produces.iter().any(|produced| {
        let mut best: Option<(u8, u16)> = None;
        for (range, q) in ranges() {
            let specificity = if range.ty == "*" && range.subty == "*" {
                0
            } else if range.ty != produced.ty() {
                continue;
            } else if range.subty == "*" {
                1
            } else if range.subty == produced.subty() && range.suffix == produced.suffix() {
                2
            } else {
                continue;
            };
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, q));
            }
        }
        best.is_some_and(|(_, q)| q > 0)
    })
}

fn not_acceptable(headers: &HeaderMap, produces: &[MediaTypeBuf]) -> ApiError {
    struct Produced<'a>(&'a [MediaTypeBuf]);
    impl fmt::Display for Produced<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_list(f, self.0, ", ")
        }
    }
    let accept = headers.get(ACCEPT).map(lossy).unwrap_or_default();
    ApiError::new(
        ErrorKind::NotAcceptable,
        format!(
            "Accept \"{}\" excludes every media type this endpoint produces ({})",
            echo(&accept),
            Produced(produces)
        ),
    )
    .with_target("Accept")
}

// ---- layer and service ---------------------------------------------------------------------

impl<S> Layer<S> for ContentTypeLayer {
    type Service = ContentType<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ContentType {
            inner,
            config: self.clone(),
        }
    }
}

/// The service of [`ContentTypeLayer`].
///
/// It hands the inner service `Request<`[`RequestBody<B>`]`>`, and needs the inner service to be
/// `Clone` (for [`ContentTypeLayer::verify_json`], which calls a ready clone once the body is
/// verified).
#[derive(Clone, Debug)]
pub struct ContentType<S> {
    inner: S,
    config: ContentTypeLayer,
}

impl<S> ContentType<S> {
    /// Wraps `inner` with the check configured by `config`.
    pub fn new(inner: S, config: ContentTypeLayer) -> Self {
        Self { inner, config }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ContentType<S>
where
    S: Service<Request<RequestBody<ReqBody>>, Response = Response<ResBody>> + Clone,
    ReqBody: Body,
    ReqBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let has_body = carries_body(request.headers(), request.body());
        let json = if has_body {
            match self.config.check_content_type(request.headers()) {
                Ok(json) => json,
                Err(error) => return ResponseFuture::rejected(tagged_response(error, &request)),
            }
        } else {
            false
        };
        if let Some(produces) = &self.config.produces {
            if !acceptable(request.headers(), produces) {
                let error = not_acceptable(request.headers(), produces);
                return ResponseFuture::rejected(tagged_response(error, &request));
            }
        }
        match self.config.verify_json {
            Some(bound) if json => {
                let declared = content_length(request.headers()).ok().flatten();
                if let Some(length) = declared {
                    if length > u64::try_from(bound).unwrap_or(u64::MAX) {
                        let error = too_large(length, bound);
                        return ResponseFuture::rejected(tagged_response(error, &request));
                    }
                }
                // The ready service goes with the future; this one keeps a fresh clone.
                let clone = self.inner.clone();
                let service = std::mem::replace(&mut self.inner, clone);
                let (head, body) = request.into_parts();
                ResponseFuture {
                    state: State::Buffering {
                        body,
                        head: Some(head),
                        service: Some(service),
                        buffer: Buffer::Empty,
                        trailers: None,
                        bound,
                    },
                }
            }
            _ => ResponseFuture {
                state: State::Inner {
                    future: self.inner.call(request.map(RequestBody::new)),
                },
            },
        }
    }
}

// ---- request body --------------------------------------------------------------------------

pin_project! {
    /// The request body the inner service of [`ContentType`] receives: the original body, or
    /// the bytes (and trailers) that [`ContentTypeLayer::verify_json`] buffered and verified.
    ///
    /// An enum rather than a boxed body, so that a passing request costs no allocation.
    pub struct RequestBody<B> {
        #[pin]
        kind: BodyKind<B>,
    }
}

pin_project! {
    #[project = BodyKindProj]
    enum BodyKind<B> {
        Inner { #[pin] body: B },
        Verified { data: Option<Bytes>, trailers: Option<HeaderMap> },
    }
}

impl<B> RequestBody<B> {
    /// Wraps an original body.
    pub fn new(body: B) -> Self {
        Self {
            kind: BodyKind::Inner { body },
        }
    }

    fn verified(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            kind: BodyKind::Verified {
                data: (!data.is_empty()).then_some(data),
                trailers,
            },
        }
    }

    /// True when the body holds bytes buffered and verified by
    /// [`ContentTypeLayer::verify_json`].
    pub fn is_verified(&self) -> bool {
        matches!(self.kind, BodyKind::Verified { .. })
    }
}

impl<B> fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Inner { .. } => f.write_str("RequestBody::Inner"),
            BodyKind::Verified { data, .. } => f
                .debug_tuple("RequestBody::Verified")
                .field(&data.as_ref().map_or(0, Bytes::len))
                .finish(),
        }
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            BodyKindProj::Inner { body } => body.poll_frame(cx),
            BodyKindProj::Verified { data, trailers } => Poll::Ready(
                data.take()
                    .map(Frame::data)
                    .or_else(|| trailers.take().map(Frame::trailers))
                    .map(Ok),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Inner { body } => body.is_end_stream(),
            BodyKind::Verified { data, trailers } => data.is_none() && trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Inner { body } => body.size_hint(),
            BodyKind::Verified { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

/// The bytes buffered so far: one chunk is kept as it is, several are copied together.
#[derive(Default)]
enum Buffer {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Buffer {
    fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        *self = match std::mem::take(self) {
            Buffer::Empty => Buffer::One(chunk),
            Buffer::One(first) => {
                let mut all = BytesMut::with_capacity(first.len() + chunk.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&chunk);
                Buffer::Many(all)
            }
            Buffer::Many(mut all) => {
                all.extend_from_slice(&chunk);
                Buffer::Many(all)
            }
        };
    }

    fn len(&self) -> usize {
        match self {
            Buffer::Empty => 0,
            Buffer::One(bytes) => bytes.len(),
            Buffer::Many(all) => all.len(),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Buffer::Empty => Bytes::new(),
            Buffer::One(bytes) => bytes,
            Buffer::Many(all) => all.freeze(),
        }
    }
}

/// True when `error` or one of its sources is a [`LengthLimitError`].
fn is_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

// ---- response future -----------------------------------------------------------------------

pin_project! {
    /// The response future of [`ContentType`].
    pub struct ResponseFuture<S, B, R>
    where
        S: Service<Request<RequestBody<B>>>,
    {
        #[pin]
        state: State<S, B, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B, R>
    where
        S: Service<Request<RequestBody<B>>>,
    {
        Inner { #[pin] future: S::Future },
        Rejected { response: Option<Response<ResponseBody<R>>> },
        Buffering {
            #[pin]
            body: B,
            head: Option<http::request::Parts>,
            service: Option<S>,
            buffer: Buffer,
            trailers: Option<HeaderMap>,
            bound: usize,
        },
    }
}

impl<S, B, R> ResponseFuture<S, B, R>
where
    S: Service<Request<RequestBody<B>>>,
{
    fn rejected(response: Response<ResponseBody<R>>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<S, B, R> Future for ResponseFuture<S, B, R>
where
    S: Service<Request<RequestBody<B>>, Response = Response<R>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody<R>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let (head, service, bytes, trailers) = match state.as_mut().project() {
                StateProj::Inner { future } => {
                    return future
                        .poll(cx)
                        .map_ok(|response| response.map(ResponseBody::new));
                }
                StateProj::Rejected { response } => {
                    return Poll::Ready(Ok(response
                        .take()
                        .expect("ResponseFuture polled after completion")));
                }
                StateProj::Buffering {
                    mut body,
                    head,
                    service,
                    buffer,
                    trailers,
                    bound,
                } => {
                    let failure = loop {
                        match body.as_mut().poll_frame(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(None) => break None,
                            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                                Ok(mut data) => {
                                    // The bound is checked here rather than with `Limited`, so
                                    // that an outer `Limited`'s error is told apart from ours.
                                    if data.remaining() > bound.saturating_sub(buffer.len()) {
                                        break Some(too_large_streamed(*bound));
                                    }
                                    buffer.push(data.copy_to_bytes(data.remaining()));
                                }
                                Err(frame) => {
                                    if let Ok(more) = frame.into_trailers() {
                                        match trailers {
                                            Some(t) => t.extend(more),
                                            None => *trailers = Some(more),
                                        }
                                    }
                                }
                            },
                            Poll::Ready(Some(Err(error))) => {
                                let error: BoxError = error.into();
                                break Some(if is_length_limit(&*error) {
                                    ApiError::from_kind(ErrorKind::PayloadTooLarge)
                                } else {
                                    ApiError::new(
                                        ErrorKind::BadRequest,
                                        "The request body could not be read",
                                    )
                                });
                            }
                        }
                    };
                    let head = head.take().expect("ResponseFuture polled after completion");
                    let bytes = std::mem::take(buffer).into_bytes();
                    let failure = failure.or_else(|| {
                        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
                            .err()
                            .map(|e| {
                                ApiError::new(
                                    ErrorKind::InvalidRequestBody,
                                    format!("The request body is not valid JSON: {e}"),
                                )
                            })
                    });
                    if let Some(error) = failure {
                        let response = tagged_response(error, &Request::from_parts(head, ()));
                        state.set(State::Rejected { response: None });
                        return Poll::Ready(Ok(response));
                    }
                    (head, service.take(), bytes, trailers.take())
                }
            };
            let mut service = service.expect("ResponseFuture polled after completion");
            let request = Request::from_parts(head, RequestBody::verified(bytes, trailers));
            let future = service.call(request);
            state.set(State::Inner { future });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> Result<Vec<(&str, &str)>, ()> {
        Params { rest: s }.collect()
    }

    #[test]
    fn parameters() {
        assert_eq!(params(""), Ok(vec![]));
        assert_eq!(params(" ; "), Ok(vec![]));
        assert_eq!(params("; charset=utf-8"), Ok(vec![("charset", "utf-8")]));
        assert_eq!(
            params(";a=1;;B=\"x;\\\"y\" ;c=2"),
            Ok(vec![("a", "1"), ("B", "\"x;\\\"y\""), ("c", "2")])
        );
        for bad in [
            "charset=utf-8",
            "; charset",
            "; =x",
            "; a=",
            "; a=\"x",
            "; a=b c",
        ] {
            assert!(params(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quoted_values() {
        assert!(value_eq_ignore_case("UTF-8", "utf-8"));
        assert!(value_eq_ignore_case("\"utf-8\"", "utf-8"));
        assert!(value_eq_ignore_case("\"utf\\-8\"", "utf-8"));
        assert!(!value_eq_ignore_case("\"utf-8", "utf-8"));
        assert!(!value_eq_ignore_case("latin1", "utf-8"));
        assert!(!value_eq_ignore_case("\"utf-8x\"", "utf-8"));
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("0.000"), Some(0));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.123"), Some(123));
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        for bad in ["", "1.5", "2", "0.1234", "-0", ".5", "0.a", "\"1\""] {
            assert_eq!(qvalue(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn list_splitting() {
        let v: Vec<_> = list_elements(" a/b , c/d;x=\"1,2\",, e/f ,").collect();
        assert_eq!(v, ["a/b", "c/d;x=\"1,2\"", "e/f"]);
        assert_eq!(list_elements("\"\\").count(), 1);
    }
}
