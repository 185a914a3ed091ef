use http::header::HeaderValue;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{
    envelope, json_body, json_code, keep_status, message, to_json, Format, JsonCode, JsonCodeRef,
    Rendered, RequestContext, ViolationIn, ViolationOut, JSON,
};
use crate::error::{ApiError, Code, ErrorKind};
use crate::media::{self, prefers_xml, Family};

const XMLNS: &str = "http://www.whitecdn.com/schemas/apiservices/";

/// EdgeCast / Edgio: `{"Message":"Access Denied"}`, or, when the request's `Accept` prefers XML,
/// `<Error xmlns="http://www.whitecdn.com/schemas/apiservices/"><Message>Access Denied</Message></Error>`
/// as `application/xml`.
///
/// Statuses follow EdgeCast's troubleshooting guide: request-validation kinds (bad URL or
/// parameter, missing field, body not matching its `Content-Type`) answer 400; token failures
/// (`Unauthorized`, `TokenExpired`, `InsufficientScope`) 401; `Forbidden` 403 ("Access Denied");
/// `NotFound` 404 ("Endpoint not found"); `Internal` 500 ("Method Error"). The customer account
/// in the URI answers 400, as everywhere: `InvalidCustomerId` ("Invalid Customer ID Value") and
/// `InactiveCustomer` ("Cannot update or retrieve information of a deleted customer."); a known
/// endpoint in the wrong letter case 403 (`InvalidCase`, "Invalid Case").
///
/// Besides `Message`, a body carries `Code` (an explicit code), `Kind` (the kind's slug, only when
/// the status does not name it: a 401 is `unauthorized` unless `Kind` says `token_expired`),
/// `Target` and `Errors` (field violations), each only when there is something to say.
///
/// ```
/// use tower_envelope::format::{Edgio, Format, RequestContext};
/// use tower_envelope::{ApiError, ErrorKind};
/// use http::{HeaderValue, Method, StatusCode};
///
/// let err = ApiError::from_kind(ErrorKind::Forbidden);
/// let cx = RequestContext::new("id", &Method::GET);
/// let out = Edgio.render(&err, &cx);
/// assert_eq!((out.status, &out.body[..]), (StatusCode::FORBIDDEN, &br#"{"Message":"Access Denied"}"#[..]));
///
/// let xml = HeaderValue::from_static("application/xml");
/// let out = Edgio.render(&err, &cx.with_accept(Some(&xml)));
/// assert_eq!(out.content_type, "application/xml");
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Edgio;

impl Edgio {
    fn kind_of_status(status: StatusCode) -> Option<ErrorKind> {
        ErrorKind::from_status(status)
    }

    /// The error an envelope read from XML or JSON describes.
    fn error(&self, status: StatusCode, b: EnvelopeIn) -> Option<ApiError> {
        let kind = b
            .kind
            .as_deref()
            .and_then(ErrorKind::from_slug)
            .or_else(|| Edgio::kind_of_status(status))?;
        let mut error = ApiError::new(kind, b.message)
            .with_violations(b.errors.into_iter().map(ViolationIn::into_violation));
        if let Some(code) = b.code.and_then(JsonCode::into_code) {
            error = error.with_code(code);
        }
        if let Some(target) = b.target {
            error = error.with_target(target);
        }
        Some(keep_status(self, error, status))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope<'a> {
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<JsonCodeRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ViolationOut<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnvelopeIn {
    message: String,
    code: Option<JsonCode>,
    kind: Option<String>,
    target: Option<String>,
    #[serde(default)]
    errors: Vec<ViolationIn>,
}

impl Format for Edgio {
    fn parse_json(&self, status: StatusCode, json: &serde_json::Value) -> Option<ApiError> {
        self.error(status, envelope(json)?)
    }

    fn status(&self, error: &ApiError) -> StatusCode {
        if let Some(status) = error.status_override() {
            return status;
        }
        match error.kind() {
            k if k.is_validation() && k != ErrorKind::UnprocessableEntity => {
                StatusCode::BAD_REQUEST
            }
            ErrorKind::Unauthorized | ErrorKind::TokenExpired | ErrorKind::InsufficientScope => {
                StatusCode::UNAUTHORIZED
            }
            // EdgeCast lists a URI's letter case under 403.
            ErrorKind::InvalidCase => StatusCode::FORBIDDEN,
            k => k.status(),
        }
    }

    fn render(&self, error: &ApiError, cx: &RequestContext<'_>) -> Rendered {
        let status = self.status(error);
        let kind = error.kind();
        let body = Envelope {
            message: message(self, error),
            code: error.code().map(json_code),
            kind: (Edgio::kind_of_status(status) != Some(kind)).then(|| kind.slug()),
            target: error.target(),
            errors: error.violations().iter().map(Into::into).collect(),
        };
        if prefers_xml(cx.accept()) {
            let mut out = Vec::new();
            write_xml(&body, &mut out);
            Rendered::new(status, HeaderValue::from_static("application/xml"), out)
        } else {
            Rendered::new(status, JSON, to_json(&body))
        }
    }

    #[cfg(feature = "utoipa")]
    fn error_schema(&self) -> Option<crate::openapi::ErrorSchema> {
        Some(crate::openapi::edgio())
    }

    fn parse(
        &self,
        status: StatusCode,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Option<ApiError> {
        if is_xml(content_type) {
            let b = read_xml(std::str::from_utf8(body).ok()?)?;
            return self.error(status, b);
        }
        self.parse_json(status, &json_body(content_type, body)?)
    }

    fn default_message(&self, kind: ErrorKind) -> &'static str {
        match kind {
            ErrorKind::Unauthorized => "Missing/Invalid Token",
            ErrorKind::TokenExpired => "Expired Token",
            ErrorKind::InsufficientScope => "Insufficient Permissions",
            ErrorKind::Forbidden => "Access Denied",
            ErrorKind::NotFound => "Endpoint not found",
            ErrorKind::InvalidCase => "Invalid Case",
            ErrorKind::InvalidCustomerId => "Invalid Customer ID Value",
            ErrorKind::Internal => "Method Error",
            other => other.description(),
        }
    }

    fn uses_accept(&self) -> bool {
        true
    }
}

fn is_xml(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| media::family(ct) == Family::Xml)
}

fn write_xml(b: &Envelope<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<Error xmlns=\"");
    out.extend_from_slice(XMLNS.as_bytes());
    out.extend_from_slice(b"\">");
    element(out, "Message", b.message);
    if let Some(code) = &b.code {
        let text = match code {
            JsonCodeRef::Text(t) => std::borrow::Cow::Borrowed(*t),
            JsonCodeRef::Number(n) => std::borrow::Cow::Owned(n.to_string()),
        };
        element(out, "Code", &text);
    }
    if let Some(kind) = b.kind {
        element(out, "Kind", kind);
    }
    if let Some(target) = b.target {
        element(out, "Target", target);
    }
    if !b.errors.is_empty() {
        out.extend_from_slice(b"<Errors>");
        for v in &b.errors {
            out.extend_from_slice(b"<FieldError>");
            element(out, "Message", v.message);
            if let Some(reason) = v.reason {
                element(out, "Reason", reason);
            }
            out.extend_from_slice(b"<Location>");
            for segment in v.location {
                element(out, "Segment", segment);
            }
            out.extend_from_slice(b"</Location></FieldError>");
        }
        out.extend_from_slice(b"</Errors>");
    }
    out.extend_from_slice(b"</Error>");
}

fn element(out: &mut Vec<u8>, name: &str, text: &str) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
    for c in text.chars() {
        match c {
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '&' => out.extend_from_slice(b"&amp;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\'' => out.extend_from_slice(b"&apos;"),
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// Reads back the XML this format writes (and the plain EdgeCast `<Error><Message>` form).
fn read_xml(xml: &str) -> Option<EnvelopeIn> {
    let xml = xml.trim_start();
    let xml = match xml.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>")?.1.trim_start(),
        None => xml,
    };
    let rest = xml.strip_prefix("<Error")?;
    let rest = &rest[rest.find('>')? + 1..];
    let (top, errors) = match rest.split_once("<Errors>") {
        Some((top, errors)) => (top, errors.split_once("</Errors>")?.0),
        None => (rest, ""),
    };
    let mut violations = Vec::new();
    for field in errors.split("</FieldError>") {
        let Some(field) = field.trim().strip_prefix("<FieldError>") else {
            continue;
        };
        let (head, location) = field.split_once("<Location>")?;
        violations.push(ViolationIn {
            message: text_of(head, "Message")?,
            reason: text_of(head, "Reason"),
            location: location
                .split("</Segment>")
                .filter_map(|s| s.split_once("<Segment>").map(|(_, t)| unescape(t)))
                .collect::<Option<_>>()?,
        });
    }
    Some(EnvelopeIn {
        message: text_of(top, "Message")?,
        code: text_of(top, "Code").map(|c| match Code::from(c) {
            Code::Number(n) => JsonCode::Number(n),
            Code::Text(t) => JsonCode::Text(t.into_owned()),
        }),
        kind: text_of(top, "Kind"),
        target: text_of(top, "Target"),
        errors: violations,
    })
}

fn text_of(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    unescape(&xml[start..start + len])
}

fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let (entity, tail) = rest[i + 1..].split_once(';')?;
        out.push(match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let n = match entity.strip_prefix("#x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => entity.strip_prefix('#')?.parse().ok()?,
                };
                char::from_u32(n)?
            }
        });
        rest = tail;
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_reads_what_it_writes() {
        let e = Envelope {
            message: "a <b> & \"c\"",
            code: Some(JsonCodeRef::Number(7)),
            kind: Some("token_expired"),
            target: None,
            errors: Vec::new(),
        };
        let mut out = Vec::new();
        write_xml(&e, &mut out);
        let back = read_xml(std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(back.message, "a <b> & \"c\"");
        assert_eq!(back.kind.as_deref(), Some("token_expired"));
        assert!(matches!(back.code, Some(JsonCode::Number(7))));
    }
}
