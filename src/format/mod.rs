//! Vendor error formats: the [`Format`] trait and the built-in formats.
//!
//! A format is a pure function from an [`ApiError`] and a [`RequestContext`] to a status, a
//! content type and body bytes ([`Rendered`]), and back: [`Format::parse`] recognises the
//! format's own envelope in a response body and rebuilds the `ApiError`, so an upstream's error
//! in any known format can be re-rendered in the chosen one.
//!
//! | format | body | content type |
//! |---|---|---|
//! | [`Defender`] | `{"error":{"code","message","target"}}` | `application/json; charset=utf-8` |
//! | [`QRadar`] | `{"message","details","description","code","http_response"}` | `application/json` |
//! | [`Msi`] | `{"detail": ...}`, 427 for upstream failures, 422 for invalid requests | `application/json` |
//! | [`Edgio`] | `{"Message"}` or `<Error><Message/></Error>` | `application/json` or `application/xml` |
//! | [`Problem`] | RFC 9457 problem details | `application/problem+json` |
//! | [`Google`] | AIP-193 `{"error":{"code","message","status","details"}}` | `application/json` |
//!
//! gRPC requests get a gRPC status instead, whatever the format: see [`grpc`].
//!
//! ```
//! use tower_envelope::format::{Defender, Format, RequestContext};
//! use tower_envelope::{ApiError, ErrorKind};
//! use http::{Method, StatusCode};
//!
//! let err = ApiError::new(ErrorKind::ResourceNotFound, "Machine 123123123 was not found");
//! let cx = RequestContext::new("43f4cb08-8fac-4b65-9db1-745c2ae65f3a", &Method::GET);
//! let out = Defender.render(&err, &cx);
//! assert_eq!(out.status, StatusCode::NOT_FOUND);
//! assert_eq!(Defender.parse(out.status, None, &out.body), Some(err));
//! ```

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, TRANSFER_ENCODING};
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;

use crate::error::{ApiError, Code, ErrorKind, FieldViolation};

mod defender;
mod edgio;
mod google;
pub mod grpc;
mod msi;
mod problem;
mod qradar;

pub use defender::Defender;
pub use edgio::Edgio;
pub use google::Google;
pub use msi::Msi;
pub use problem::Problem;
pub use qradar::QRadar;

/// The header that carries the correlation id, on requests and on error responses.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

use crate::request_id::RequestId;

/// [`REQUEST_ID_HEADER`] as a header name, built at compile time.
pub(crate) const X_REQUEST_ID: http::header::HeaderName =
    http::header::HeaderName::from_static(REQUEST_ID_HEADER);

/// What a format may know of the request whose error it renders.
#[derive(Clone, Copy, Debug)]
pub struct RequestContext<'a> {
    request_id: &'a str,
    method: &'a Method,
    path: Option<&'a str>,
    accept: Option<&'a HeaderValue>,
}

impl<'a> RequestContext<'a> {
    /// A context with the correlation id and the request method.
    pub fn new(request_id: &'a str, method: &'a Method) -> Self {
        Self {
            request_id,
            method,
            path: None,
            accept: None,
        }
    }

    /// Adds the request path (used by formats whose [`Format::uses_path`] is true).
    pub fn with_path(mut self, path: &'a str) -> Self {
        self.path = Some(path);
        self
    }

    /// Adds the request's `Accept` header (used by formats whose [`Format::uses_accept`] is true).
    pub fn with_accept(mut self, accept: Option<&'a HeaderValue>) -> Self {
        self.accept = accept;
        self
    }

    /// The correlation id of the request.
    pub fn request_id(&self) -> &'a str {
        self.request_id
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request path, if known.
    pub fn path(&self) -> Option<&'a str> {
        self.path
    }

    /// The request's `Accept` header, if known.
    pub fn accept(&self) -> Option<&'a HeaderValue> {
        self.accept
    }
}

/// A rendered error: what goes on the wire.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Rendered {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body's `Content-Type`.
    pub content_type: HeaderValue,
    /// A reason phrase for HTTP/1 status lines where the status has none of its own (MSI's 427,
    /// QRadar's 419).
    pub reason: Option<&'static str>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Rendered {
    /// A rendered error with no reason phrase.
    pub fn new(status: StatusCode, content_type: HeaderValue, body: Vec<u8>) -> Self {
        Self {
            status,
            content_type,
            reason: None,
            body,
        }
    }
}

/// A vendor error format.
///
/// The trait is object safe: [`crate::ErrorEnvelopeLayer`] is generic over `F: Format`, so the
/// built-in formats dispatch statically (each is a small `Clone` struct and the renderer is
/// inlined into the layer's future), while a format chosen at run time works as
/// `Arc<dyn Format>` or `Box<dyn Format>` at the cost of one indirect call per *error*, never per
/// request: a passing request never reaches the format.
pub trait Format: Send + Sync + 'static {
    /// The status this format answers `error` with (honours [`ApiError::status_override`]); by
    /// default the error's own, [`ApiError::status`].
    fn status(&self, error: &ApiError) -> StatusCode {
        error.status()
    }

    /// Renders `error` for the request described by `cx`.
    fn render(&self, error: &ApiError, cx: &RequestContext<'_>) -> Rendered;

    /// Recognises this format's envelope in a response `body` (with its `status` and
    /// `Content-Type`) and rebuilds the error; `None` when the body is not this format's. By
    /// default, a JSON body (no content type, `application/json` or `+json`) is read once and
    /// handed to [`Format::parse_json`].
    fn parse(
        &self,
        status: StatusCode,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Option<ApiError> {
        self.parse_json(status, &json_body(content_type, body)?)
    }

    /// Recognises this format's envelope in a JSON error body already read; `None` (the
    /// default) when it is not this format's.
    fn parse_json(&self, status: StatusCode, json: &serde_json::Value) -> Option<ApiError> {
        let _ = (status, json);
        None
    }

    /// The message rendered for an error whose message is empty.
    fn default_message(&self, kind: ErrorKind) -> &'static str {
        kind.description()
    }

    /// Whether [`Format::render`] reads [`RequestContext::accept`]; when false the envelope does
    /// not keep the header.
    fn uses_accept(&self) -> bool {
        false
    }

    /// Whether [`Format::render`] reads [`RequestContext::path`]; when false the envelope does not
    /// keep the path.
    fn uses_path(&self) -> bool {
        false
    }

    /// This format's error body as a JSON Schema, for OpenAPI documents (feature `utoipa`);
    /// `None` (the default) for a format that does not describe it.
    #[cfg(feature = "utoipa")]
    fn error_schema(&self) -> Option<crate::openapi::ErrorSchema> {
        None
    }
}

macro_rules! forward_format {
    ($($ptr:ident),*) => {$(
        impl<F: Format + ?Sized> Format for $ptr<F> {
            fn status(&self, error: &ApiError) -> StatusCode {
                (**self).status(error)
            }
            fn render(&self, error: &ApiError, cx: &RequestContext<'_>) -> Rendered {
                (**self).render(error, cx)
            }
            fn parse(
                &self,
                status: StatusCode,
                content_type: Option<&str>,
                body: &[u8],
            ) -> Option<ApiError> {
                (**self).parse(status, content_type, body)
            }
            fn parse_json(&self, status: StatusCode, json: &serde_json::Value) -> Option<ApiError> {
                (**self).parse_json(status, json)
            }
            fn default_message(&self, kind: ErrorKind) -> &'static str {
                (**self).default_message(kind)
            }
            fn uses_accept(&self) -> bool {
                (**self).uses_accept()
            }
            fn uses_path(&self) -> bool {
                (**self).uses_path()
            }
            #[cfg(feature = "utoipa")]
            fn error_schema(&self) -> Option<crate::openapi::ErrorSchema> {
                (**self).error_schema()
            }
        }
    )*};
}
forward_format!(Arc, Box);

/// Tries every built-in format's parser on an error body, most specific envelope first; a JSON
/// body is parsed once.
///
/// QRadar, Google, Defender and Problem bodies have distinctive shapes; MSI's `detail` and
/// Edgio's `Message` come last. An XML body can only be Edgio's.
pub fn parse_any(status: StatusCode, content_type: Option<&str>, body: &[u8]) -> Option<ApiError> {
    let Some(json) = json_body(content_type, body) else {
        return Edgio.parse(status, content_type, body);
    };
    QRadar::new()
        .parse_json(status, &json)
        .or_else(|| Google::new().parse_json(status, &json))
        .or_else(|| Defender.parse_json(status, &json))
        .or_else(|| Problem::new().parse_json(status, &json))
        .or_else(|| Msi.parse_json(status, &json))
        .or_else(|| Edgio.parse_json(status, &json))
}

/// Adds the headers every rendered error carries besides its content type: `Retry-After` when
/// the error asks for one.
pub(crate) fn error_headers(error: &ApiError, headers: &mut HeaderMap) {
    if let Some(secs) = error.retry_after_secs() {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
}

/// Renders `error` into a response head: status, `Content-Type`, `Retry-After`, the reason
/// phrase (MSI's 427); returns the body, written once. The head may be an error response's own,
/// kept with its other headers: the old body's `Content-Length` and `Transfer-Encoding` go.
///
/// Neither the correlation id nor the `ApiError` itself is inserted.
pub(crate) fn render_into<F: Format + ?Sized>(
    head: &mut http::response::Parts,
    format: &F,
    error: &ApiError,
    cx: &RequestContext<'_>,
) -> Bytes {
    let rendered = format.render(error, cx);
    head.status = rendered.status;
    let headers = &mut head.headers;
    drop_body_headers(headers);
    headers.insert(CONTENT_TYPE, rendered.content_type);
    error_headers(error, headers);
    // A reason phrase may hold only HTAB, SP, VCHAR and obs-text (RFC 9112): a custom format's
    // invalid one is left out rather than handed to hyper, which would panic on it.
    #[cfg(feature = "hyper")]
    if let Some(reason) = rendered.reason.filter(|r| {
        r.bytes()
            .all(|b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
    }) {
        head.extensions
            .insert(hyper::ext::ReasonPhrase::from_static(reason.as_bytes()));
    }
    Bytes::from(rendered.body)
}

/// Removes the headers that describe a body about to be replaced. A response carries a handful of
/// headers: one pass over their names costs less than two removals, which hash each name.
pub(crate) fn drop_body_headers(headers: &mut HeaderMap) {
    if headers
        .keys()
        .any(|name| name == CONTENT_LENGTH || name == TRANSFER_ENCODING)
    {
        headers.remove(CONTENT_LENGTH);
        headers.remove(TRANSFER_ENCODING);
    }
}

/// An error answered outside any request context (a handler's error, say): RFC 9457 problem
/// details with a fresh correlation id, tagged with the `ApiError` so that an
/// [`crate::ErrorEnvelopeLayer`] above renders it in its own format.
///
/// ```
/// use tower_envelope::{format::error_response, ApiError, ErrorKind};
/// let res = error_response(ApiError::new(ErrorKind::Conflict, "machine exists"));
/// assert_eq!(res.status(), http::StatusCode::CONFLICT);
/// assert_eq!(res.extensions().get::<ApiError>().unwrap().kind(), ErrorKind::Conflict);
/// ```
pub fn error_response(error: ApiError) -> http::Response<Bytes> {
    let id = RequestId::generate();
    let cx = RequestContext::new(id.as_str(), &Method::GET);
    let (mut head, ()) = http::Response::new(()).into_parts();
    let body = render_into(&mut head, &Problem::new(), &error, &cx);
    head.headers.insert(X_REQUEST_ID, id.into_header_value());
    head.extensions.insert(error);
    http::Response::from_parts(head, body)
}

// ---- helpers shared by the built-in formats -------------------------------------------------

pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(crate) const PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");

/// The message to render: the error's own, or the format's default when it is empty.
pub(crate) fn message<'e, F: Format + ?Sized>(format: &F, error: &'e ApiError) -> &'e str {
    error.message_or(format.default_message(error.kind()))
}

/// A built-in format's body as JSON.
pub(crate) fn to_json<T: Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).expect("an error body of strings and numbers serializes")
}

/// An error body as JSON, read once, when its content type allows JSON: what every built-in
/// format's parser starts from.
pub(crate) fn json_body(content_type: Option<&str>, body: &[u8]) -> Option<serde_json::Value> {
    if !is_json(content_type) {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// One format's envelope in a JSON body: `None` when the body has another shape.
pub(crate) fn envelope<'v, T: serde::Deserialize<'v>>(json: &'v serde_json::Value) -> Option<T> {
    T::deserialize(json).ok()
}

/// True when a body with this content type may be JSON: no content type, `application/json` or
/// a `+json` type.
pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| crate::media::family(ct) == crate::media::Family::Json)
}

/// The status a parsed envelope declares, kept as an override only when it differs from what
/// the format would answer for the kind anyway.
pub(crate) fn keep_status<F: Format + ?Sized>(
    format: &F,
    error: ApiError,
    status: StatusCode,
) -> ApiError {
    if status.as_u16() >= 400 && format.status(&error) != status {
        error.with_status(status)
    } else {
        error
    }
}

/// The code text of an explicit code: numbers as decimal strings.
pub(crate) fn code_text(code: &Code) -> std::borrow::Cow<'_, str> {
    match code {
        Code::Text(t) => std::borrow::Cow::Borrowed(t),
        Code::Number(n) => std::borrow::Cow::Owned(n.to_string()),
    }
}

/// A JSON code that may be a string or a number.
#[derive(serde::Deserialize, serde::Serialize, Debug)]
#[serde(untagged)]
pub(crate) enum JsonCode {
    Number(i64),
    Text(String),
}

impl JsonCode {
    pub(crate) fn into_code(self) -> Option<Code> {
        match self {
            JsonCode::Number(n) => Some(Code::Number(n)),
            JsonCode::Text(t) if t.is_empty() => None,
            JsonCode::Text(t) => Some(Code::from(t)),
        }
    }
}

/// Serializes an explicit code as JSON: numbers as numbers, text as strings.
pub(crate) fn json_code(code: &Code) -> JsonCodeRef<'_> {
    match code {
        Code::Text(t) => JsonCodeRef::Text(t),
        Code::Number(n) => JsonCodeRef::Number(*n),
    }
}

#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum JsonCodeRef<'a> {
    Number(i64),
    Text(&'a str),
}

/// A field violation as the formats without a vendor shape write it.
#[derive(Serialize)]
pub(crate) struct ViolationOut<'a> {
    pub location: &'a [std::borrow::Cow<'static, str>],
    pub message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

impl<'a> From<&'a FieldViolation> for ViolationOut<'a> {
    fn from(v: &'a FieldViolation) -> Self {
        Self {
            location: v.location(),
            message: v.message(),
            reason: v.reason(),
        }
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct ViolationIn {
    #[serde(default)]
    pub location: Vec<String>,
    #[serde(default)]
    pub message: String,
    pub reason: Option<String>,
}

impl ViolationIn {
    pub(crate) fn into_violation(self) -> FieldViolation {
        violation(self.location, self.message, self.reason)
    }
}

pub(crate) fn violation(
    location: Vec<String>,
    message: String,
    reason: Option<String>,
) -> FieldViolation {
    let v = FieldViolation::new(location, message);
    match reason {
        Some(r) => v.with_reason(r),
        None => v,
    }
}

/// A violation's location as one dotted path (`body.name`), the way Defender's `details[].target`
/// and Google's `fieldViolations[].field` name a field.
pub(crate) fn dotted(location: &[std::borrow::Cow<'static, str>]) -> String {
    location.join(".")
}

pub(crate) fn undotted(path: &str) -> Vec<String> {
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('.').map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json(None));
        assert!(is_json(Some("application/json; charset=utf-8")));
        assert!(is_json(Some("application/problem+json")));
        assert!(is_json(Some("APPLICATION/JSON")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("json")));
        assert!(!is_json(Some("a/xéjson")));
    }
}
