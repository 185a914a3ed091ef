use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{
    envelope, json_code, keep_status, message, to_json, violation, Format, JsonCode, JsonCodeRef,
    Rendered, RequestContext, JSON,
};
use crate::error::{ApiError, ErrorKind};

/// Mandiant SecOps Integrations (MSI).
///
/// - The three upstream kinds answer **427** with the seed's titles ("Upstream Tech Timed Out",
///   "Upstream Tech Invalid Credentials", "Upstream Tech Query Invalid"), which are also the
///   HTTP/1 reason phrase; the `detail` starts with the title: `"Upstream Tech Timed Out: ..."`.
/// - Every request-validation kind ([`ErrorKind::is_validation`]) answers **422**; `Internal` 500;
///   the rest their standard status.
/// - The body is FastAPI-style: `{"detail": "<text>"}`, or for an error with field violations
///   `{"detail": [{"loc": ["body","name"], "msg": "field required", "type": "missing"}],
///   "message": "<text>"}`.
/// - `code` carries an explicit code; `kind` the kind's slug when the status alone does not name
///   it (422 is `unprocessable_entity` unless `kind` says otherwise); `target` the offending field.
///
/// ```
/// use tower_envelope::format::{Format, Msi, RequestContext};
/// use tower_envelope::{ApiError, ErrorKind};
/// use http::Method;
///
/// let err = ApiError::new(ErrorKind::UpstreamTimeout, "splunk.local did not answer");
/// let out = Msi.render(&err, &RequestContext::new("id", &Method::GET));
/// assert_eq!(out.status.as_u16(), 427);
/// assert_eq!(out.reason, Some("Upstream Tech Timed Out"));
/// assert_eq!(out.body, br#"{"detail":"Upstream Tech Timed Out: splunk.local did not answer"}"#);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Msi;

impl Msi {
    /// The title of a 427 for an upstream kind.
    pub fn title(kind: ErrorKind) -> Option<&'static str> {
        match kind {
            ErrorKind::UpstreamTimeout => Some("Upstream Tech Timed Out"),
            ErrorKind::UpstreamInvalidCredentials => Some("Upstream Tech Invalid Credentials"),
            ErrorKind::UpstreamQueryInvalid => Some("Upstream Tech Query Invalid"),
            _ => None,
        }
    }

    fn kind_of_status(status: StatusCode) -> Option<ErrorKind> {
        match status.as_u16() {
            422 => Some(ErrorKind::UnprocessableEntity),
            _ => ErrorKind::from_status(status),
        }
    }
}

fn status_427() -> StatusCode {
    StatusCode::from_u16(427).expect("427 is a valid status")
}

#[derive(Serialize)]
struct Envelope<'a> {
    detail: Detail<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<JsonCodeRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Detail<'a> {
    Text(&'a str),
    Titled(String),
    Violations(Vec<Loc<'a>>),
}

#[derive(Serialize)]
struct Loc<'a> {
    loc: &'a [std::borrow::Cow<'static, str>],
    msg: &'a str,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    detail: DetailIn,
    message: Option<String>,
    code: Option<JsonCode>,
    kind: Option<String>,
    target: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DetailIn {
    Text(String),
    Violations(Vec<LocIn>),
}

#[derive(Deserialize)]
struct LocIn {
    #[serde(default)]
    loc: Vec<serde_json::Value>,
    #[serde(default)]
    msg: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

impl Format for Msi {
    fn parse_json(&self, status: StatusCode, json: &serde_json::Value) -> Option<ApiError> {
        let b: EnvelopeIn = envelope(json)?;
        let titled = |text: &str| {
            [
                ErrorKind::UpstreamTimeout,
                ErrorKind::UpstreamInvalidCredentials,
                ErrorKind::UpstreamQueryInvalid,
            ]
            .into_iter()
            .find_map(|k| {
                let rest = text.strip_prefix(Msi::title(k)?)?.strip_prefix(": ")?;
                Some((k, rest.to_owned()))
            })
        };
        let (mut kind, text, violations) = match b.detail {
            DetailIn::Text(text) => match titled(&text).filter(|_| status.as_u16() == 427) {
                Some((k, rest)) => (Some(k), rest, Vec::new()),
                None => (None, text, Vec::new()),
            },
            DetailIn::Violations(locs) => (None, b.message.unwrap_or_default(), locs),
        };
        if let Some(slug) = b.kind.as_deref() {
            kind = ErrorKind::from_slug(slug).or(kind);
        }
        let kind = kind.or_else(|| Msi::kind_of_status(status))?;
        let mut error =
            ApiError::new(kind, text).with_violations(violations.into_iter().map(|l| {
                let loc = l
                    .loc
                    .into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect();
                violation(loc, l.msg, l.kind)
            }));
        if let Some(code) = b.code.and_then(JsonCode::into_code) {
            error = error.with_code(code);
        }
        if let Some(target) = b.target {
            error = error.with_target(target);
        }
        Some(keep_status(self, error, status))
    }

    fn status(&self, error: &ApiError) -> StatusCode {
        if let Some(status) = error.status_override() {
            return status;
        }
        let kind = error.kind();
        if kind.is_upstream() {
            status_427()
        } else if kind.is_validation() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            kind.status()
        }
    }

    fn render(&self, error: &ApiError, _cx: &RequestContext<'_>) -> Rendered {
        let status = self.status(error);
        let kind = error.kind();
        let text = message(self, error);
        let title = Msi::title(kind).filter(|_| status.as_u16() == 427);
        let violations = error.violations();
        let (detail, message) = if !violations.is_empty() {
            let locs = violations
                .iter()
                .map(|v| Loc {
                    loc: v.location(),
                    msg: v.message(),
                    kind: v.reason(),
                })
                .collect();
            (Detail::Violations(locs), Some(text))
        } else if let Some(title) = title {
            (Detail::Titled(format!("{title}: {text}")), None)
        } else {
            (Detail::Text(text), None)
        };
        // A 427's title names the upstream kind, but a violation list replaces the titled text.
        let titled = title.is_some() && violations.is_empty();
        let named = titled || Msi::kind_of_status(status) == Some(kind);
        let body = Envelope {
            detail,
            message,
            code: error.code().map(json_code),
            kind: (!named).then(|| kind.slug()),
            target: error.target(),
        };
        let out = to_json(&body);
        let mut rendered = Rendered::new(status, JSON, out);
        rendered.reason = title;
        rendered
    }

    #[cfg(feature = "utoipa")]
    fn error_schema(&self) -> Option<crate::openapi::ErrorSchema> {
        Some(crate::openapi::msi())
    }

    fn default_message(&self, kind: ErrorKind) -> &'static str {
        match kind {
            ErrorKind::UpstreamTimeout => {
                "The Upstream Tech timed out when MSI Sent a Request. Check the Hostname/IP."
            }
            ErrorKind::UpstreamInvalidCredentials => {
                "The Upstream Tech credentials were bad credentials/invalid."
            }
            ErrorKind::UpstreamQueryInvalid => "The Upstream Tech could not process the request.",
            ErrorKind::Internal => "MSI Encountered an Internal Service Error.",
            other => other.description(),
        }
    }
}
