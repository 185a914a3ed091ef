use std::borrow::Cow;

use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::grpc::{self, field_path, reason, PARTS};
use super::{
    code_text, envelope, keep_status, message, to_json, undotted, violation, Format, Rendered,
    RequestContext, JSON,
};
use crate::error::{ApiError, Code, ErrorKind};

const ERROR_INFO: &str = "type.googleapis.com/google.rpc.ErrorInfo";
const REQUEST_INFO: &str = "type.googleapis.com/google.rpc.RequestInfo";
const BAD_REQUEST: &str = "type.googleapis.com/google.rpc.BadRequest";

/// Google AIP-193: `{"error":{"code","message","status","details"}}`.
///
/// `code` is the HTTP status, `status` the canonical gRPC code name of the kind
/// (the table of [`grpc`](super::grpc)). `details` holds exactly one `google.rpc.ErrorInfo` (`reason`: the kind's slug
/// in UPPER_SNAKE case, `domain`: the configured domain, `metadata`: the explicit `code` and the
/// `target` when set), a `google.rpc.RequestInfo` with the correlation id, and, when there are
/// field violations, one `google.rpc.BadRequest` with `fieldViolations` whose `field` is the path
/// into the request body (`name` for `["body", "name"]`; `query.page` for a query parameter).
///
/// ```
/// use tower_envelope::format::{Format, Google, RequestContext};
/// use tower_envelope::{ApiError, ErrorKind};
/// use http::Method;
///
/// let out = Google::new().with_domain("api.example.com")
///     .render(&ApiError::from_kind(ErrorKind::TokenExpired), &RequestContext::new("id", &Method::GET));
/// let body: serde_json::Value = serde_json::from_slice(&out.body).unwrap();
/// assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
/// assert_eq!(body["error"]["details"][0]["reason"], "TOKEN_EXPIRED");
/// ```
#[derive(Clone, Debug)]
pub struct Google {
    domain: Cow<'static, str>,
}

impl Default for Google {
    fn default() -> Self {
        Self::new()
    }
}

impl Google {
    /// AIP-193 errors with the domain `"localhost"`; set yours with [`Google::with_domain`].
    pub const fn new() -> Self {
        Self {
            domain: Cow::Borrowed(grpc::DEFAULT_DOMAIN),
        }
    }

    /// Sets the `ErrorInfo.domain` (the service's name, e.g. `"pubsub.googleapis.com"`).
    pub fn with_domain(mut self, domain: impl Into<Cow<'static, str>>) -> Self {
        self.domain = domain.into();
        self
    }
}

/// The location of a `field` path: as written when it starts with a part of the request, else
/// under `body`.
fn field_location(field: &str) -> Vec<String> {
    let mut location = undotted(field);
    let named = location
        .first()
        .is_some_and(|f| PARTS.contains(&f.as_str()));
    if !named && !location.is_empty() {
        location.insert(0, "body".to_owned());
    }
    location
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: u16,
    message: &'a str,
    status: &'static str,
    details: Vec<Detail<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Detail<'a> {
    ErrorInfo {
        #[serde(rename = "@type")]
        ty: &'static str,
        reason: String,
        domain: &'a str,
        #[serde(skip_serializing_if = "Metadata::is_empty")]
        metadata: Metadata<'a>,
    },
    RequestInfo {
        #[serde(rename = "@type")]
        ty: &'static str,
        #[serde(rename = "requestId")]
        request_id: &'a str,
    },
    BadRequest {
        #[serde(rename = "@type")]
        ty: &'static str,
        #[serde(rename = "fieldViolations")]
        field_violations: Vec<FieldViolationOut<'a>>,
    },
}

#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
}

impl Metadata<'_> {
    fn is_empty(&self) -> bool {
        self.code.is_none() && self.target.is_none()
    }
}

#[derive(Serialize)]
struct FieldViolationOut<'a> {
    field: String,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    error: BodyIn,
}

#[derive(Deserialize)]
struct BodyIn {
    code: u16,
    #[serde(default)]
    message: String,
    status: String,
    #[serde(default)]
    details: Vec<DetailIn>,
}

#[derive(Deserialize)]
struct DetailIn {
    #[serde(rename = "@type")]
    ty: String,
    reason: Option<String>,
    metadata: Option<MetadataIn>,
    #[serde(rename = "fieldViolations", default)]
    field_violations: Vec<FieldViolationIn>,
}

#[derive(Deserialize)]
struct MetadataIn {
    code: Option<String>,
    target: Option<String>,
}

#[derive(Deserialize)]
struct FieldViolationIn {
    #[serde(default)]
    field: String,
    #[serde(default)]
    description: String,
    reason: Option<String>,
}

impl Format for Google {
    fn parse_json(&self, status: StatusCode, json: &serde_json::Value) -> Option<ApiError> {
        let EnvelopeIn { error: b }: EnvelopeIn = envelope(json)?;
        let declared = StatusCode::from_u16(b.code).unwrap_or(status);
        let info = b.details.iter().find(|d| d.ty == ERROR_INFO);
        let kind = info
            .and_then(|d| d.reason.as_deref())
            .and_then(|r| ErrorKind::from_slug(&r.to_ascii_lowercase()))
            .or_else(|| ErrorKind::from_status(declared))?;
        if b.status.is_empty() {
            return None;
        }
        let metadata = info.and_then(|d| d.metadata.as_ref());
        let code = metadata.and_then(|m| m.code.clone()).map(Code::from);
        let target = metadata.and_then(|m| m.target.clone());
        let violations = b
            .details
            .into_iter()
            .filter(|d| d.ty == BAD_REQUEST)
            .flat_map(|d| d.field_violations)
            .map(|v| violation(field_location(&v.field), v.description, v.reason));
        let mut error = ApiError::new(kind, b.message).with_violations(violations);
        if let Some(code) = code {
            error = error.with_code(code);
        }
        if let Some(target) = target {
            error = error.with_target(target);
        }
        Some(keep_status(self, error, declared))
    }

    fn render(&self, error: &ApiError, cx: &RequestContext<'_>) -> Rendered {
        let status = self.status(error);
        let kind = error.kind();
        let mut details = Vec::with_capacity(3);
        details.push(Detail::ErrorInfo {
            ty: ERROR_INFO,
            reason: reason(kind),
            domain: &self.domain,
            metadata: Metadata {
                code: error.code().map(code_text),
                target: error.target(),
            },
        });
        details.push(Detail::RequestInfo {
            ty: REQUEST_INFO,
            request_id: cx.request_id(),
        });
        if !error.violations().is_empty() {
            details.push(Detail::BadRequest {
                ty: BAD_REQUEST,
                field_violations: error
                    .violations()
                    .iter()
                    .map(|v| FieldViolationOut {
                        field: field_path(v.location()),
                        description: v.message(),
                        reason: v.reason(),
                    })
                    .collect(),
            });
        }
        let body = Envelope {
            error: Body {
                code: status.as_u16(),
                message: message(self, error),
                status: grpc::code(kind).name(),
                details,
            },
        };
        let out = to_json(&body);
        Rendered::new(status, JSON, out)
    }

    #[cfg(feature = "utoipa")]
    fn error_schema(&self) -> Option<crate::openapi::ErrorSchema> {
        Some(crate::openapi::google(&self.domain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_path_reads_back_as_its_location() {
        for location in [
            &["body", "name"][..],
            &["body", "address", "city"],
            &["query", "page"],
            &["body", "query", "q"],
            &["body"],
            &["body", ""],
            &["body", "", "a"],
        ] {
            let location: Vec<Cow<'static, str>> = location
                .iter()
                .map(|s| Cow::Owned((*s).to_owned()))
                .collect();
            assert_eq!(
                field_location(&field_path(&location)),
                location,
                "{location:?}"
            );
        }
    }
}
