use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{
    envelope, keep_status, message, to_json, Format, JsonCode, Rendered, RequestContext,
    ViolationIn, ViolationOut, JSON,
};
use crate::error::{ApiError, Code, ErrorKind};

/// IBM QRadar: `{"message","details","description","code","http_response":{"message","code"}}`.
///
/// Always JSON. `http_response.code` is the HTTP status and `http_response.message` the QRadar
/// table's text for it ([`QRadar::http_message`]). `description` is the error's description,
/// by default the kind's ([`ErrorKind::description`]). `code` is the explicit numeric code or the
/// kind's QRadar code ([`QRadar::code`]). `details` is `{}` unless the error names a target, has
/// field violations or a textual explicit code, or a custom description hides its kind:
/// `{"kind": .., "code": "..", "target": .., "fields": [..]}`.
///
/// `MissingParameter` answers 419 (QRadar's MISSING ARGUMENTS), `UnknownParameter` 420
/// (INVALID ARGUMENTS), `InvalidInput` and `UnprocessableEntity` 422, `InitializationFailure`
/// 550 (INITIALIZATION FAILURE); on HTTP/1 (feature `hyper`) with those names as reason phrases.
///
/// ```
/// use tower_envelope::format::{Format, QRadar, RequestContext};
/// use tower_envelope::{ApiError, ErrorKind};
/// use http::Method;
///
/// let err = ApiError::new(ErrorKind::MissingParameter, "name is missing");
/// let out = QRadar::new().render(&err, &RequestContext::new("id", &Method::GET));
/// assert_eq!(out.status.as_u16(), 419);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct QRadar {
    _private: (),
}

impl QRadar {
    /// The QRadar format.
    pub const fn new() -> Self {
        Self { _private: () }
    }

    /// QRadar's numeric code for a kind answered with `status` (observed QRadar codes; other
    /// kinds the status number).
    pub fn code(kind: ErrorKind, status: StatusCode) -> i64 {
        match kind {
            ErrorKind::MissingParameter => 8,
            ErrorKind::Unauthorized | ErrorKind::TokenExpired => 18,
            ErrorKind::InvalidRequestBody => 1001,
            ErrorKind::ResourceNotFound => 1002,
            ErrorKind::Conflict => 1004,
            ErrorKind::InvalidInput => 1005,
            ErrorKind::Forbidden | ErrorKind::InsufficientScope => 1009,
            ErrorKind::ServiceUnavailable => 1010,
            ErrorKind::Internal => 1020,
            _ => i64::from(status.as_u16()),
        }
    }

    fn kind_of(code: i64) -> Option<ErrorKind> {
        Some(match code {
            8 => ErrorKind::MissingParameter,
            18 => ErrorKind::Unauthorized,
            1001 => ErrorKind::InvalidRequestBody,
            1002 => ErrorKind::ResourceNotFound,
            1004 => ErrorKind::Conflict,
            1005 => ErrorKind::InvalidInput,
            1009 => ErrorKind::Forbidden,
            1010 => ErrorKind::ServiceUnavailable,
            1020 => ErrorKind::Internal,
            _ => return None,
        })
    }

    /// The kind a body names without `details.kind`: by its fixed description, else its code,
    /// else its status.
    fn infer_kind(
        description: Option<&str>,
        code: Option<i64>,
        status: StatusCode,
    ) -> Option<ErrorKind> {
        description
            .and_then(ErrorKind::from_description)
            .or_else(|| code.and_then(QRadar::kind_of))
            .or_else(|| match status.as_u16() {
                419 => Some(ErrorKind::MissingParameter),
                420 => Some(ErrorKind::UnknownParameter),
                550 => Some(ErrorKind::InitializationFailure),
                _ => ErrorKind::from_status(status),
            })
    }

    /// QRadar's `http_response.message` for a status: the text of the QRadar error table, exactly.
    pub fn http_message(status: StatusCode) -> Option<&'static str> {
        Some(match status.as_u16() {
            300 => "The requested resource corresponds to any one of a set of representations, each with its own specific location.",
            301 => "The resource has moved permanently. Please refer to the documentation.",
            302 => "The resource has moved temporarily. Please refer to the documentation.",
            303 => "The resource can be found under a different URI.",
            304 => "The resource is available and not modified.",
            305 => "The requested resource must be accessed through the proxy given by the Location field.",
            307 => "The resource resides temporarily under a different URI.",
            400 => "Invalid syntax for this request was provided.",
            401 => "You are unauthorized to access the requested resource. Please log in.",
            403 => "Your account is not authorized to access the requested resource.",
            404 => "We could not find the resource you requested. Please refer to the documentation for the list of resources.",
            405 => "This method type is not currently supported.",
            406 => "Acceptance header is invalid for this endpoint resource.",
            407 => "Authentication with proxy is required.",
            408 => "Client did not produce a request within the time that the server was prepared to wait.",
            409 => "The request could not be completed due to a conflict with the current state of the resource.",
            410 => "The requested resource is no longer available and has been permanently removed.",
            411 => "Length of the content is required, please include it with the request.",
            412 => "The request did not match the pre-conditions of the requested resource.",
            413 => "The request entity is larger than the server is willing or able to process.",
            414 => "The request URI is longer than the server is willing to interpret.",
            415 => "The requested resource does not support the media type provided.",
            416 => "The requested range for the resource is not available.",
            417 => "Unable to meet the expectation given in the Expect request header.",
            419 => "The requested resource is missing required arguments.",
            420 => "The requested resource does not support one or more of the given parameters.",
            422 => "The request was well-formed but was unable to be followed due to semantic errors.",
            500 => "Unexpected internal server error.",
            501 => "The requested resource is recognized but not implemented.",
            502 => "Invalid response received when acting as a proxy or gateway.",
            503 => "The server is currently unavailable.",
            504 => "Did not receive a timely response from upstream server while acting as a gateway or proxy.",
            505 => "The HTTP protocol version used in the request message is not supported.",
            550 => "A failure occurred during initialization of services. API will be unavailable.",
            _ => return None,
        })
    }

    fn response_message(kind: ErrorKind, status: StatusCode) -> &'static str {
        // A missing entity behind an existing endpoint answers with the shorter 404 text of
        // QRadar's own example response; an unknown endpoint with the table's text.
        if kind == ErrorKind::ResourceNotFound && status == StatusCode::NOT_FOUND {
            return "We could not find the resource you requested.";
        }
        QRadar::http_message(status)
            .or(status.canonical_reason())
            .unwrap_or("")
    }
}

/// One of QRadar's own statuses (419, 420, 550).
fn qradar_status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).expect("QRadar's statuses are valid")
}

#[derive(Serialize)]
struct Envelope<'a> {
    message: &'a str,
    details: Details<'a>,
    description: &'a str,
    code: i64,
    http_response: HttpResponse,
}

#[derive(Serialize)]
struct Details<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<ViolationOut<'a>>,
}

#[derive(Serialize)]
struct HttpResponse {
    message: &'static str,
    code: u16,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    message: String,
    details: Option<serde_json::Value>,
    description: Option<String>,
    code: Option<JsonCode>,
    http_response: HttpResponseIn,
}

#[derive(Deserialize)]
struct HttpResponseIn {
    code: u16,
}

#[derive(Deserialize, Default)]
struct DetailsIn {
    kind: Option<String>,
    code: Option<String>,
    target: Option<String>,
    #[serde(default)]
    fields: Vec<ViolationIn>,
}

impl Format for QRadar {
    fn parse_json(&self, status: StatusCode, json: &serde_json::Value) -> Option<ApiError> {
        let b: EnvelopeIn = envelope(json)?;
        let declared = StatusCode::from_u16(b.http_response.code).unwrap_or(status);
        let number = match b.code {
            Some(JsonCode::Number(n)) => Some(n),
            Some(JsonCode::Text(t)) => t.parse().ok(),
            None => None,
        };
        let details: DetailsIn = b
            .details
            .and_then(|d| serde_json::from_value(d).ok())
            .unwrap_or_default();
        let kind = details
            .kind
            .as_deref()
            .and_then(ErrorKind::from_slug)
            .or_else(|| QRadar::infer_kind(b.description.as_deref(), number, declared))?;
        let mut error = ApiError::new(kind, b.message)
            .with_violations(details.fields.into_iter().map(ViolationIn::into_violation));
        if let Some(description) = b.description {
            if description != kind.description() {
                error = error.with_description(description);
            }
        }
        if let Some(target) = details.target {
            error = error.with_target(target);
        }
        let error = keep_status(self, error, declared);
        let status = self.status(&error);
        if let Some(text) = details.code {
            Some(error.with_code(text))
        } else {
            match number {
                Some(n) if n != QRadar::code(kind, status) => Some(error.with_code(n)),
                _ => Some(error),
            }
        }
    }

    fn status(&self, error: &ApiError) -> StatusCode {
        if let Some(status) = error.status_override() {
            return status;
        }
        match error.kind() {
            ErrorKind::MissingParameter => qradar_status(419),
            ErrorKind::UnknownParameter => qradar_status(420),
            ErrorKind::InitializationFailure => qradar_status(550),
            ErrorKind::InvalidInput | ErrorKind::UnprocessableEntity => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            kind => kind.status(),
        }
    }

    fn render(&self, error: &ApiError, _cx: &RequestContext<'_>) -> Rendered {
        let status = self.status(error);
        let kind = error.kind();
        let code = match error.code() {
            Some(Code::Number(n)) => *n,
            _ => QRadar::code(kind, status),
        };
        let description = error.description().unwrap_or(kind.description());
        let body = Envelope {
            message: message(self, error),
            details: Details {
                // Spelled out only when description, code and status do not name the kind (a
                // custom description with a code several kinds share).
                kind: (QRadar::infer_kind(Some(description), Some(code), status) != Some(kind))
                    .then(|| kind.slug()),
                code: error.code().and_then(Code::as_text),
                target: error.target(),
                fields: error.violations().iter().map(Into::into).collect(),
            },
            description,
            code,
            http_response: HttpResponse {
                message: QRadar::response_message(kind, status),
                code: status.as_u16(),
            },
        };
        let out = to_json(&body);
        let mut rendered = Rendered::new(status, JSON, out);
        // 419, 420 and 550 have no reason phrase of their own: QRadar's names for them
        // (feature `hyper`).
        rendered.reason = match status.as_u16() {
            419 => Some("Missing Arguments"),
            420 => Some("Invalid Arguments"),
            550 => Some("Initialization Failure"),
            _ => None,
        };
        rendered
    }

    #[cfg(feature = "utoipa")]
    fn error_schema(&self) -> Option<crate::openapi::ErrorSchema> {
        Some(crate::openapi::qradar())
    }

    fn default_message(&self, kind: ErrorKind) -> &'static str {
        kind.description()
    }
}
