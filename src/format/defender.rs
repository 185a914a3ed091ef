use http::header::HeaderValue;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{
    code_text, dotted, envelope, keep_status, message, to_json, undotted, violation, Format,
    JsonCode, Rendered, RequestContext,
};
use crate::error::{ApiError, Code, ErrorKind};

/// Microsoft Defender for Endpoint: `{"error":{"code","message","target"}}`.
///
/// - `code` is the explicit code, or the seed table's code for the kind (`MissingParameter` →
///   `MissingRequiredParameter`, `Internal` → `InternalServerError`, `TokenExpired` →
///   `Unauthorized`, `InsufficientScope` → `Forbidden`, `UnknownParameter` → `InvalidInput`, `InvalidCase` → `NotFound`,
///   `InitializationFailure` → `ServiceUnavailable`), or the kind's name (every other code of
///   the table, `InvalidHashValue` to `DisallowedOperation`, is a kind's name).
/// - `target` is the request's correlation id, as in Defender.
/// - Field violations go in a `details` array of `{code, message, target}` (the field's dotted
///   path in `target`).
/// - When `code` alone does not name the kind (`TokenExpired` answers `Unauthorized`), or the error
///   names an offending field, an `innererror` object carries the kind's name and the field:
///   `{"code": "TokenExpired"}`, `{"target": "name"}`.
///
/// ```
/// use tower_envelope::format::{Defender, Format, RequestContext};
/// use tower_envelope::{ApiError, ErrorKind};
/// use http::{Method, StatusCode};
///
/// let err = ApiError::new(ErrorKind::InvalidRequestBody, "Request body is incorrect");
/// let out = Defender.render(&err, &RequestContext::new("1fa66c0f-18bd-4133-b378-36d76f3a2ba0", &Method::POST));
/// assert_eq!(out.status, StatusCode::BAD_REQUEST);
/// assert_eq!(
///     out.body,
///     br#"{"error":{"code":"InvalidRequestBody","message":"Request body is incorrect","target":"1fa66c0f-18bd-4133-b378-36d76f3a2ba0"}}"#
/// );
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Defender;

impl Defender {
    /// The Defender code for a kind (seed table; other kinds their name).
    ///
    /// ```
    /// use tower_envelope::{format::Defender, ErrorKind};
    /// assert_eq!(Defender::code(ErrorKind::MissingParameter), "MissingRequiredParameter");
    /// assert_eq!(Defender::code(ErrorKind::Conflict), "Conflict");
    /// ```
    pub fn code(kind: ErrorKind) -> &'static str {
        match kind {
            ErrorKind::MissingParameter => "MissingRequiredParameter",
            ErrorKind::TokenExpired => "Unauthorized",
            ErrorKind::InsufficientScope => "Forbidden",
            ErrorKind::Internal => "InternalServerError",
            ErrorKind::UnknownParameter => "InvalidInput",
            ErrorKind::InvalidCase => "NotFound",
            ErrorKind::InitializationFailure => "ServiceUnavailable",
            other => other.name(),
        }
    }

    /// The kind a Defender code stands for: the seed table's codes, every one a kind of its own
    /// (`InvalidHashValue`, `ODataError`, `DisabledFeature`, ...), and other kinds by name.
    pub fn kind_of(code: &str) -> Option<ErrorKind> {
        Some(match code {
            "MissingRequiredParameter" => ErrorKind::MissingParameter,
            "InternalServerError" => ErrorKind::Internal,
            other => return ErrorKind::from_name(other),
        })
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    target: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<Detail<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    innererror: Option<Inner<'a>>,
}

#[derive(Serialize)]
struct Detail<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    message: &'a str,
    target: String,
}

#[derive(Serialize)]
struct Inner<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
}

fn details(error: &ApiError) -> Vec<Detail<'_>> {
    error
        .violations()
        .iter()
        .map(|v| Detail {
            code: v.reason(),
            message: v.message(),
            target: dotted(v.location()),
        })
        .collect()
}

#[derive(Deserialize)]
struct EnvelopeIn {
    error: BodyIn,
}

#[derive(Deserialize)]
struct BodyIn {
    code: Option<JsonCode>,
    message: String,
    #[serde(default)]
    details: Vec<DetailIn>,
    innererror: Option<InnerIn>,
}

#[derive(Deserialize)]
struct DetailIn {
    code: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    target: String,
}

#[derive(Deserialize)]
struct InnerIn {
    code: Option<String>,
    target: Option<String>,
}

impl Format for Defender {
    fn parse_json(&self, status: StatusCode, json: &serde_json::Value) -> Option<ApiError> {
        let EnvelopeIn { error: b }: EnvelopeIn = envelope(json)?;
        let code = b.code.and_then(JsonCode::into_code);
        let code_str = code.as_ref().map(code_text);
        let inner = b.innererror.unwrap_or(InnerIn {
            code: None,
            target: None,
        });
        let kind = inner
            .code
            .as_deref()
            .and_then(ErrorKind::from_name)
            .or_else(|| code_str.as_deref().and_then(Defender::kind_of))
            .or_else(|| ErrorKind::from_status(status))?;
        let explicit = match code {
            Some(Code::Text(ref t)) if t == Defender::code(kind) => None,
            other => other,
        };
        let mut error = ApiError::new(kind, b.message).with_violations(
            b.details
                .into_iter()
                .map(|d| violation(undotted(&d.target), d.message, d.code)),
        );
        if let Some(code) = explicit {
            error = error.with_code(code);
        }
        if let Some(target) = inner.target {
            error = error.with_target(target);
        }
        Some(keep_status(self, error, status))
    }

    fn render(&self, error: &ApiError, cx: &RequestContext<'_>) -> Rendered {
        let kind = error.kind();
        let code = error.code().map_or(Defender::code(kind).into(), code_text);
        // `innererror.code` names the kind when `code` does not read back as it.
        let named = Defender::kind_of(&code) == Some(kind);
        let innererror = (!named || error.target().is_some()).then(|| Inner {
            code: (!named).then(|| kind.name()),
            target: error.target(),
        });
        let body = to_json(&Envelope {
            error: Body {
                code: &code,
                message: message(self, error),
                target: cx.request_id(),
                details: details(error),
                innererror,
            },
        });
        Rendered::new(
            self.status(error),
            HeaderValue::from_static("application/json; charset=utf-8"),
            body,
        )
    }

    #[cfg(feature = "utoipa")]
    fn error_schema(&self) -> Option<crate::openapi::ErrorSchema> {
        Some(crate::openapi::defender())
    }

    fn default_message(&self, kind: ErrorKind) -> &'static str {
        match kind {
            ErrorKind::BadRequest => "General Bad Request error message.",
            ErrorKind::InvalidRequestBody => "Invalid request body.",
            ErrorKind::Unauthorized | ErrorKind::TokenExpired => {
                "Unauthorized (invalid or expired authorization header)."
            }
            ErrorKind::InsufficientScope | ErrorKind::Forbidden => {
                "Forbidden (valid token but insufficient permission for the action)."
            }
            ErrorKind::NotFound => "General Not Found error message.",
            ErrorKind::TooManyRequests => {
                "Response will represent reaching quota limit either by number of requests or by CPU."
            }
            ErrorKind::Internal => "Internal server error. Retry the operation.",
            other => other.description(),
        }
    }
}
