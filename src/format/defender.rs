use http::header::HeaderValue;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{
    buffer, code_text, dotted, is_json, json, keep_status, to_json, undotted, violation,
    write_message, Format, JsonCode, Rendered, RequestContext,
};
use crate::error::{ApiError, Code, ErrorKind};

/// Microsoft Defender for Endpoint: `{"error":{"code","message","target"}}`.
///
/// - `code` is the explicit code, or the seed table's code for the kind (`MissingParameter` →
///   `MissingRequiredParameter`, `Internal` → `InternalServerError`, `TokenExpired` →
///   `Unauthorized`, `InsufficientScope` → `Forbidden`), or the kind's name for kinds the table
///   does not list.
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
    #[doc(hidden)]
    pub fn code(kind: ErrorKind) -> &'static str {
        match kind {
            ErrorKind::MissingParameter => "MissingRequiredParameter",
            ErrorKind::TokenExpired => "Unauthorized",
            ErrorKind::InsufficientScope => "Forbidden",
            ErrorKind::Internal => "InternalServerError",
            other => other.name(),
        }
    }

    /// Whether the kind's own code ([`Defender::code`]) reads back as the kind: all but the
    /// kinds the seed table answers with another kind's code.
    fn own_code_names(kind: ErrorKind) -> bool {
        !matches!(kind, ErrorKind::TokenExpired | ErrorKind::InsufficientScope)
    }

    /// The kind a Defender code stands for, including the seed table's codes that have no kind of
    /// their own (`InvalidHashValue` is an `InvalidInput`, `DisabledFeature` a `Forbidden`).
    #[doc(hidden)]
    pub fn kind_of(code: &str) -> Option<ErrorKind> {
        Some(match code {
            "MissingRequiredParameter" => ErrorKind::MissingParameter,
            "InternalServerError" => ErrorKind::Internal,
            "ODataError"
            | "MaximumBatchSizeExceeded"
            | "OsPlatformNotSupported"
            | "ClientVersionNotSupported" => ErrorKind::BadRequest,
            "InvalidHashValue" | "InvalidDomainName" | "InvalidIpAddress" => {
                ErrorKind::InvalidInput
            }
            "DisabledFeature" | "DisallowedOperation" => ErrorKind::Forbidden,
            other => return ErrorKind::from_name(other),
        })
    }
}

/// The body, as the tests serialize it: what `render` writes.
#[cfg(test)]
#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[cfg(test)]
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

#[cfg(test)]
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
    #[serde(default)]
    code: Option<JsonCode>,
    message: String,
    #[serde(default)]
    details: Vec<DetailIn>,
    #[serde(default)]
    innererror: Option<InnerIn>,
}

#[derive(Deserialize)]
struct DetailIn {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    target: String,
}

#[derive(Deserialize)]
struct InnerIn {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    target: Option<String>,
}

impl Format for Defender {
    fn status(&self, error: &ApiError) -> StatusCode {
        error.status()
    }

    fn render(&self, error: &ApiError, cx: &RequestContext<'_>) -> Rendered {
        let kind = error.kind();
        let mut out = buffer(error, 64 + cx.request_id().len());
        // The members are written in `Envelope`'s order, each key with its punctuation as one
        // literal: the tests check the bytes against `Envelope` serialized by serde_json.
        let o = &mut out;
        o.extend_from_slice(b"{\"error\":{\"code\":");
        let named = match error.code() {
            None => {
                json::trusted(o, Defender::code(kind));
                Defender::own_code_names(kind)
            }
            Some(code) => {
                let code = code_text(code);
                json::string(o, &code);
                Defender::kind_of(&code) == Some(kind)
            }
        };
        o.extend_from_slice(b",\"message\":");
        write_message(o, self, error);
        o.extend_from_slice(b",\"target\":");
        json::string(o, cx.request_id());
        if !error.violations().is_empty() {
            o.extend_from_slice(b",\"details\":");
            to_json(&details(error), o);
        }
        match (named, error.target()) {
            (true, None) => {}
            (true, Some(target)) => {
                o.extend_from_slice(b",\"innererror\":{\"target\":");
                json::string(o, target);
                o.push(b'}');
            }
            (false, target) => {
                o.extend_from_slice(b",\"innererror\":{\"code\":");
                json::trusted(o, kind.name());
                if let Some(target) = target {
                    o.extend_from_slice(b",\"target\":");
                    json::string(o, target);
                }
                o.push(b'}');
            }
        }
        o.extend_from_slice(b"}}");
        Rendered::new(
            self.status(error),
            HeaderValue::from_static("application/json; charset=utf-8"),
            out,
        )
    }

    #[cfg(feature = "utoipa")]
    fn error_schema(&self) -> Option<crate::openapi::ErrorSchema> {
        Some(crate::openapi::defender())
    }

    fn parse(
        &self,
        status: StatusCode,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Option<ApiError> {
        if !is_json(content_type) {
            return None;
        }
        let EnvelopeIn { error: b } = serde_json::from_slice(body).ok()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::message;

    use http::Method;

    /// What `render` writes, built as the struct serde_json serializes.
    fn oracle(error: &ApiError, cx: &RequestContext<'_>) -> Vec<u8> {
        let kind = error.kind();
        let code = error.code().map_or(Defender::code(kind).into(), code_text);
        let named = Defender::kind_of(&code) == Some(kind);
        let innererror = (!named || error.target().is_some()).then(|| Inner {
            code: (!named).then(|| kind.name()),
            target: error.target(),
        });
        serde_json::to_vec(&Envelope {
            error: Body {
                code: &code,
                message: message(&Defender, error),
                target: cx.request_id(),
                details: details(error),
                innererror,
            },
        })
        .unwrap()
    }

    #[test]
    fn writes_the_members_serde_json_writes() {
        let mut errors: Vec<ApiError> = ErrorKind::ALL
            .iter()
            .map(|&kind| ApiError::from_kind(kind))
            .collect();
        errors.extend([
            ApiError::new(ErrorKind::InvalidInput, "bad \"name\"\\ \u{e9}")
                .with_code(Code::Number(-42))
                .with_target("na\"me"),
            ApiError::new(ErrorKind::TokenExpired, "expired").with_target("t"),
            ApiError::new(ErrorKind::BadRequest, "x")
                .with_code(Code::Text("InvalidHashValue".into())),
            ApiError::new(ErrorKind::Unauthorized, "no").with_code(Code::Text("E\u{1}x".into())),
            ApiError::new(ErrorKind::InvalidRequestBody, "invalid").with_violations([
                crate::error::FieldViolation::new(["body", "a", "0"], "must \"be\" set"),
                crate::error::FieldViolation::new(["query", "q"], "bad").with_reason("R"),
            ]),
        ]);
        for error in &errors {
            for id in ["1fa66c0f-18bd-4133-b378-36d76f3a2ba0", "a\"b\\c"] {
                let cx = RequestContext::new(id, &Method::POST);
                let out = Defender.render(error, &cx);
                assert_eq!(
                    String::from_utf8(out.body).unwrap(),
                    String::from_utf8(oracle(error, &cx)).unwrap()
                );
            }
        }
    }

    #[test]
    fn own_code_names_the_kind_exactly_when_it_reads_back() {
        for &kind in ErrorKind::ALL {
            assert_eq!(
                Defender::own_code_names(kind),
                Defender::kind_of(Defender::code(kind)) == Some(kind),
                "{kind:?}"
            );
        }
    }
}
