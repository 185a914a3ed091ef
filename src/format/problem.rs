use std::borrow::Cow;

use http::header::HeaderValue;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{
    code_text, envelope, json_code, keep_status, message, to_json, violation, Format, JsonCode,
    JsonCodeRef, Rendered, RequestContext,
};
use crate::error::{ApiError, Code, ErrorKind, FieldViolation};

/// RFC 9457 problem details, `application/problem+json`; the validators' standalone format.
///
/// Members: `type` (`about:blank`, or the configured base URI followed by the kind's slug),
/// `title` (for `about:blank` the status's reason phrase, else the kind's description), `status`
/// (always the HTTP status), `detail` (the message) and, with [`Problem::with_instance`], `instance`
/// (the request path). Extensions: `code` (an explicit code, or the kind's slug), `kind` (the
/// kind's slug, when `code` is an explicit code), `target`, `request_id` (the correlation id) and
/// `errors` (`[{"detail", "pointer", "location", "reason"}]` for field violations; `pointer` is a
/// JSON pointer for body fields, as in the RFC's validation example).
///
/// ```
/// use tower_envelope::format::{Format, Problem, RequestContext};
/// use tower_envelope::{ApiError, ErrorKind};
/// use http::Method;
///
/// let format = Problem::new().with_type_base("https://errors.example.com/");
/// let out = format.render(&ApiError::from_kind(ErrorKind::NotFound), &RequestContext::new("id", &Method::GET));
/// let body: serde_json::Value = serde_json::from_slice(&out.body).unwrap();
/// assert_eq!(body["type"], "https://errors.example.com/not_found");
/// assert_eq!(body["status"], 404);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Problem {
    type_base: Option<Cow<'static, str>>,
    instance: bool,
}

impl Problem {
    /// Problem details with `type: "about:blank"`.
    pub const fn new() -> Self {
        Self {
            type_base: None,
            instance: false,
        }
    }

    /// Sets the base URI of `type`: the kind's slug is appended to it.
    pub fn with_type_base(mut self, base: impl Into<Cow<'static, str>>) -> Self {
        self.type_base = Some(base.into());
        self
    }

    /// Renders the request path as `instance`.
    pub fn with_instance(mut self) -> Self {
        self.instance = true;
        self
    }
}

/// The members of a problem, in order.
#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    ty: Cow<'a, str>,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<Cow<'a, str>>,
    code: JsonCodeRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<Violation<'a>>,
}

#[derive(Serialize)]
struct Violation<'a> {
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<String>,
    location: &'a [Cow<'static, str>],
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    #[serde(rename = "type", default)]
    ty: Option<String>,
    title: Option<String>,
    status: u16,
    detail: Option<String>,
    code: Option<JsonCode>,
    kind: Option<String>,
    target: Option<String>,
    #[serde(default)]
    errors: Vec<ViolationIn>,
}

#[derive(Deserialize)]
struct ViolationIn {
    #[serde(default)]
    detail: String,
    pointer: Option<String>,
    location: Option<Vec<String>>,
    reason: Option<String>,
}

/// The status's reason phrase as RFC 9110 names it (413 "Content Too Large", 422 "Unprocessable
/// Content", where `http` keeps the names of RFC 7231 and RFC 4918).
fn reason_phrase(status: StatusCode) -> Option<&'static str> {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Some("Content Too Large"),
        StatusCode::UNPROCESSABLE_ENTITY => Some("Unprocessable Content"),
        _ => status.canonical_reason(),
    }
}

fn violations(error: &ApiError) -> Vec<Violation<'_>> {
    error
        .violations()
        .iter()
        .map(|v| Violation {
            detail: v.message(),
            pointer: pointer(v),
            location: v.location(),
            reason: v.reason(),
        })
        .collect()
}

/// `#/a/b` for a body field `["body","a","b"]` (RFC 6901 escapes); `None` for other locations.
fn pointer(v: &FieldViolation) -> Option<String> {
    let (first, rest) = v.location().split_first()?;
    if first != "body" {
        return None;
    }
    let mut p = String::from("#");
    for segment in rest {
        p.push('/');
        p.push_str(&segment.replace('~', "~0").replace('/', "~1"));
    }
    Some(p)
}

fn unpointer(p: &str) -> Option<Vec<String>> {
    let rest = p.strip_prefix('#').unwrap_or(p);
    let mut location = vec!["body".to_owned()];
    if !rest.is_empty() {
        for segment in rest.strip_prefix('/')?.split('/') {
            location.push(segment.replace("~1", "/").replace("~0", "~"));
        }
    }
    Some(location)
}

impl Format for Problem {
    fn parse_json(&self, status: StatusCode, json: &serde_json::Value) -> Option<ApiError> {
        let b: EnvelopeIn = envelope(json)?;
        if b.ty.is_none() && b.title.is_none() {
            return None;
        }
        let declared = StatusCode::from_u16(b.status).unwrap_or(status);
        let code = b.code.and_then(JsonCode::into_code);
        let from_type =
            b.ty.as_deref()
                .and_then(|t| t.rsplit('/').next())
                .and_then(ErrorKind::from_slug);
        let kind = b
            .kind
            .as_deref()
            .and_then(ErrorKind::from_slug)
            .or_else(|| {
                code.as_ref()
                    .and_then(|c| ErrorKind::from_slug(&code_text(c)))
            })
            .or(from_type)
            .or_else(|| ErrorKind::from_status(declared))?;
        let mut error = ApiError::new(kind, b.detail.unwrap_or_default()).with_violations(
            b.errors.into_iter().map(|v| {
                let location = v
                    .location
                    .or_else(|| v.pointer.as_deref().and_then(unpointer))
                    .unwrap_or_default();
                violation(location, v.detail, v.reason)
            }),
        );
        match code {
            Some(Code::Text(t)) if t == kind.slug() => {}
            Some(code) => error = error.with_code(code),
            None => {}
        }
        if let Some(target) = b.target {
            error = error.with_target(target);
        }
        Some(keep_status(self, error, declared))
    }

    fn render(&self, error: &ApiError, cx: &RequestContext<'_>) -> Rendered {
        let status = self.status(error);
        let kind = error.kind();
        let (ty, title) = match &self.type_base {
            Some(base) => (
                Cow::Owned(format!("{base}{}", kind.slug())),
                kind.description(),
            ),
            None => (
                Cow::Borrowed("about:blank"),
                reason_phrase(status).unwrap_or(kind.name()),
            ),
        };
        let body = to_json(&Envelope {
            ty,
            title,
            status: status.as_u16(),
            detail: message(self, error),
            instance: cx.path().filter(|_| self.instance).map(crate::error::echo),
            code: error
                .code()
                .map_or(JsonCodeRef::Text(kind.slug()), json_code),
            kind: error.code().map(|_| kind.slug()),
            target: error.target(),
            request_id: cx.request_id(),
            errors: violations(error),
        });
        Rendered::new(
            status,
            HeaderValue::from_static("application/problem+json"),
            body,
        )
    }

    #[cfg(feature = "utoipa")]
    fn error_schema(&self) -> Option<crate::openapi::ErrorSchema> {
        Some(crate::openapi::problem(
            self.type_base.as_deref(),
            self.instance,
        ))
    }

    fn uses_path(&self) -> bool {
        self.instance
    }
}
