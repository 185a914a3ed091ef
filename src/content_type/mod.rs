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
//! A gRPC call (`Content-Type: application/grpc`, `+proto`, gRPC-Web) passes whatever types are
//! accepted, without the `Accept` check and the JSON verification: gRPC has its own framing,
//! codes and negotiation, so a server that serves REST and gRPC on one port keeps one stack, and
//! an [`ErrorEnvelopeLayer`](crate::ErrorEnvelopeLayer) above answers the call's failures as gRPC
//! statuses.
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
use std::sync::Arc;

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Request};
use http_body::Body;
use mediatype::{MediaTypeBuf, ReadParams};
use tower_layer::Layer;

use crate::check::{Check, Rejection, Validate, Verdict};
use crate::error::{echo, ApiError, ErrorKind};
use crate::format::grpc::is_grpc;
use crate::limit::{carries_body, content_length, too_large};
use crate::media::{
    acceptable, is_common_json, is_json, is_ows, parse_media_type, range_matches,
    value_eq_ignore_case,
};
use crate::BoxError;

mod body;
mod verify;

pub use body::RequestBody;
use verify::VerifyJson;

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
    ///   an outer [`Limited`](http_body_util::Limited)'s [`LengthLimitError`](http_body_util::LengthLimitError) (a
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

    /// Whether `Accept` is checked ([`ContentTypeLayer::accept_header`]) and JSON bodies are
    /// verified ([`ContentTypeLayer::verify_json`]).
    #[cfg(feature = "utoipa")]
    pub(crate) fn checks(&self) -> (bool, bool) {
        (self.produces.is_some(), self.verify_json.is_some())
    }

    /// Checks the request's `Content-Type`; `Ok(true)` for a JSON body, `Ok(false)` for another
    /// accepted type.
    #[inline]
    pub(crate) fn check_content_type(&self, headers: &HeaderMap) -> Result<bool, ApiError> {
        let Ok(value) = crate::headers::single(headers, &CONTENT_TYPE) else {
            return Err(unsupported(
                "Content-Type header must be sent exactly once".into(),
            ));
        };
        let Some(value) = value else {
            return Err(unsupported("Content-Type header is missing".into()));
        };
        // Fast path for what nearly every JSON client sends (the stack's guard rail shows it).
        if matches!(self.accepted, Accepted::Json) && is_common_json(value.as_bytes()) {
            return Ok(true);
        }
        let text = value.to_str().unwrap_or_default().trim_matches(is_ows);
        let parsed = parse_media_type(text).filter(|(t, _)| t.ty != "*" && t.subty != "*");
        let Some((media_type, params)) = parsed else {
            return Err(unsupported(
                format!(
                    "Content-Type \"{}\" is not a valid media type",
                    echo(&lossy(value))
                )
                .into(),
            ));
        };
        let json = is_json(&media_type);
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

/// Whether the request has exactly one `Content-Type`, a gRPC one.
fn is_grpc_call(headers: &HeaderMap) -> bool {
    matches!(crate::headers::single(headers, &CONTENT_TYPE), Ok(Some(value)) if is_grpc(Some(value)))
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

impl<S> Layer<S> for ContentTypeLayer {
    type Service = Validate<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        Validate::new(inner, self.clone())
    }
}

impl<S, B> Check<S, B> for ContentTypeLayer
where
    S: Clone,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Body = RequestBody<B>;
    type Pass = ();
    type Later = VerifyJson;

    #[inline]
    fn check(&self, request: &mut Request<B>) -> Verdict<(), VerifyJson> {
        let headers = request.headers();
        // A body stream not known to be empty carries a body whatever the headers say: the
        // headers are read only for a stream that says it is empty (a `Content-Length` or
        // `Transfer-Encoding` may still announce one), or for the JSON bound.
        let streaming = !request.body().is_end_stream();
        let mut declared = None;
        let has_body = streaming || {
            let length = content_length(headers);
            let has_body = carries_body(&length, headers, request.body());
            declared = Some(length);
            has_body
        };
        let json = if has_body {
            match self.check_content_type(headers) {
                Ok(json) => json,
                // gRPC carries its own framing, codes and negotiation: a server that serves REST
                // and gRPC on one port lets its calls through (the envelope answers their
                // failures as gRPC statuses).
                Err(_) if is_grpc_call(headers) => return Verdict::Pass(()),
                Err(error) => return Verdict::Reject(Rejection::new(error, headers)),
            }
        } else {
            false
        };
        if let Some(produces) = &self.produces {
            if !acceptable(headers, produces) {
                let error = not_acceptable(headers, produces);
                return Verdict::Reject(Rejection::new(error, headers));
            }
        }
        match self.verify_json {
            Some(bound) if json => {
                let declared = declared.unwrap_or_else(|| content_length(headers));
                match declared {
                    Ok(Some(length)) if length > u64::try_from(bound).unwrap_or(u64::MAX) => {
                        Verdict::Reject(Rejection::new(too_large(length, bound), headers))
                    }
                    _ => Verdict::Wait(VerifyJson(bound)),
                }
            }
            _ => Verdict::Pass(()),
        }
    }

    fn pass(&self, (): (), request: Request<B>) -> Request<RequestBody<B>> {
        request.map(RequestBody::new)
    }
}
