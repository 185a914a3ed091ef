//! Each built-in format's error body as a JSON Schema: the members its `render` writes, which of
//! them it always writes (`required`), their types, and no others (`additionalProperties: false`).

use std::borrow::Cow;

use serde_json::{json, Value};
use utoipa::openapi::{RefOr, Schema};

use crate::error::ErrorKind;
use crate::format::grpc;

/// A format's error body as an OpenAPI component: its name under `components/schemas`, the
/// JSON Schema, and where in the body the HTTP status is repeated (so that each documented
/// response can pin it).
///
/// The built-in formats return theirs from [`crate::Format::error_schema`]; a custom format
/// builds one with [`ErrorSchema::new`].
#[derive(Clone, Debug)]
pub struct ErrorSchema {
    name: Cow<'static, str>,
    schema: Value,
    status_member: &'static [&'static str],
    kind_member: Option<KindMember>,
}

/// A member whose value follows from the error's kind alone (its path of object keys), and the
/// function giving that value ([`ErrorSchema::with_kind_member`]).
pub(crate) type KindMember = (&'static [&'static str], fn(ErrorKind) -> &'static str);

impl ErrorSchema {
    /// A component named `name` with the JSON Schema `schema` (a JSON Schema 2020-12 object, as
    /// OpenAPI 3.1 takes it).
    pub fn new(name: impl Into<Cow<'static, str>>, schema: Value) -> Self {
        Self {
            name: name.into(),
            schema,
            status_member: &[],
            kind_member: None,
        }
    }

    /// Names the member that repeats the HTTP status, as a path of object keys
    /// (`["http_response", "code"]`): each response documents it with its own status.
    pub fn with_status_member(mut self, path: &'static [&'static str]) -> Self {
        self.status_member = path;
        self
    }

    /// Names a string member whose value follows from the error's kind alone (Google's
    /// `["error", "status"]`, the canonical code), and the function giving it: each response
    /// documents it with the values of its kinds.
    pub fn with_kind_member(
        mut self,
        path: &'static [&'static str],
        value: fn(ErrorKind) -> &'static str,
    ) -> Self {
        self.kind_member = Some((path, value));
        self
    }

    /// The path of the member that follows from the kind, and the function giving its value.
    pub(crate) fn kind_member(&self) -> Option<KindMember> {
        self.kind_member
    }

    /// The component's name under `components/schemas`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The JSON Schema, as JSON.
    pub fn json(&self) -> &Value {
        &self.schema
    }

    /// The path of the member that repeats the HTTP status; empty when there is none.
    pub fn status_member(&self) -> &'static [&'static str] {
        self.status_member
    }

    /// The JSON Schema as a `utoipa` schema.
    ///
    /// # Panics
    ///
    /// When the JSON is not a schema `utoipa` can hold (never for the built-in formats).
    pub fn to_schema(&self) -> RefOr<Schema> {
        serde_json::from_value(self.schema.clone()).expect("the error schema is a JSON Schema")
    }
}

fn closed(required: &[&str], properties: Value) -> Value {
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn strings() -> Value {
    json!({ "type": "array", "items": string() })
}

/// An explicit code as the formats without a code of their own write it: a number or a string.
fn code() -> Value {
    json!({ "type": ["string", "integer"] })
}

/// `{location, message, reason?}`: a field violation where the vendor has no shape for one.
fn violation() -> Value {
    closed(
        &["location", "message"],
        json!({ "location": strings(), "message": string(), "reason": string() }),
    )
}

pub(crate) fn defender() -> ErrorSchema {
    let detail = closed(
        &["message", "target"],
        json!({ "code": string(), "message": string(), "target": string() }),
    );
    let inner = closed(&[], json!({ "code": string(), "target": string() }));
    let body = closed(
        &["code", "message", "target"],
        json!({
            "code": string(),
            "message": string(),
            "target": string(),
            "details": { "type": "array", "items": detail },
            "innererror": inner,
        }),
    );
    ErrorSchema::new(
        "DefenderError",
        closed(&["error"], json!({ "error": body })),
    )
}

pub(crate) fn qradar() -> ErrorSchema {
    let details = closed(
        &[],
        json!({
            "kind": string(),
            "code": string(),
            "target": string(),
            "fields": { "type": "array", "items": violation() },
        }),
    );
    let http = closed(
        &["message", "code"],
        json!({ "message": string(), "code": { "type": "integer" } }),
    );
    let schema = closed(
        &["message", "details", "description", "code", "http_response"],
        json!({
            "message": string(),
            "details": details,
            "description": string(),
            "code": { "type": "integer" },
            "http_response": http,
        }),
    );
    ErrorSchema::new("QRadarError", schema).with_status_member(&["http_response", "code"])
}

pub(crate) fn msi() -> ErrorSchema {
    let loc = closed(
        &["loc", "msg"],
        json!({ "loc": strings(), "msg": string(), "type": string() }),
    );
    let schema = closed(
        &["detail"],
        json!({
            "detail": { "type": ["string", "array"], "items": loc },
            "message": string(),
            "code": code(),
            "kind": string(),
            "target": string(),
        }),
    );
    ErrorSchema::new("MsiError", schema)
}

pub(crate) fn edgio() -> ErrorSchema {
    let schema = closed(
        &["Message"],
        json!({
            "Message": string(),
            "Code": code(),
            "Kind": string(),
            "Target": string(),
            "Errors": { "type": "array", "items": violation() },
        }),
    );
    ErrorSchema::new("EdgioError", schema)
}

pub(crate) fn problem(type_base: Option<&str>, instance: bool) -> ErrorSchema {
    let ty = match type_base {
        None => json!({ "type": "string", "enum": ["about:blank"] }),
        Some(_) => json!({ "type": "string", "format": "uri-reference" }),
    };
    let error = closed(
        &["detail", "location"],
        json!({
            "detail": string(),
            "pointer": string(),
            "location": strings(),
            "reason": string(),
        }),
    );
    let mut properties = json!({
        "type": ty,
        "title": string(),
        "status": { "type": "integer" },
        "detail": string(),
        "code": code(),
        "kind": string(),
        "target": string(),
        "request_id": string(),
        "errors": { "type": "array", "items": error },
    });
    if instance {
        properties["instance"] = string();
    }
    let schema = closed(
        &["type", "title", "status", "detail", "code", "request_id"],
        properties,
    );
    ErrorSchema::new("ProblemDetails", schema).with_status_member(&["status"])
}

pub(crate) fn google(domain: &str) -> ErrorSchema {
    let mut statuses: Vec<&str> = ErrorKind::ALL
        .iter()
        .map(|kind| grpc::code(*kind).name())
        .collect();
    statuses.sort_unstable();
    statuses.dedup();
    let type_of = |ty: &str| json!({ "type": "string", "enum": [ty] });
    let error_info = closed(
        &["@type", "reason", "domain"],
        json!({
            "@type": type_of("type.googleapis.com/google.rpc.ErrorInfo"),
            "reason": string(),
            "domain": { "type": "string", "enum": [domain] },
            "metadata": closed(&[], json!({ "code": string(), "target": string() })),
        }),
    );
    let request_info = closed(
        &["@type", "requestId"],
        json!({
            "@type": type_of("type.googleapis.com/google.rpc.RequestInfo"),
            "requestId": string(),
        }),
    );
    let field_violation = closed(
        &["field", "description"],
        json!({ "field": string(), "description": string(), "reason": string() }),
    );
    let bad_request = closed(
        &["@type", "fieldViolations"],
        json!({
            "@type": type_of("type.googleapis.com/google.rpc.BadRequest"),
            "fieldViolations": { "type": "array", "items": field_violation },
        }),
    );
    // Exactly one ErrorInfo, first; the request id; field violations when there are any.
    let details = json!({
        "type": "array",
        "prefixItems": [error_info, request_info, bad_request],
        "minItems": 2,
        "items": false,
    });
    let body = closed(
        &["code", "message", "status", "details"],
        json!({
            "code": { "type": "integer" },
            "message": string(),
            "status": { "type": "string", "enum": statuses },
            "details": details,
        }),
    );
    ErrorSchema::new("GoogleError", closed(&["error"], json!({ "error": body })))
        .with_status_member(&["error", "code"])
        .with_kind_member(&["error", "status"], |kind| grpc::code(kind).name())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `utoipa` holds every keyword of the built-in schemas: nothing is lost on the way into the
    /// document.
    #[test]
    fn utoipa_keeps_every_keyword() {
        for schema in [
            defender(),
            qradar(),
            msi(),
            edgio(),
            problem(None, false),
            problem(Some("https://example.com/errors/"), true),
            google("example.com"),
        ] {
            let back = serde_json::to_value(schema.to_schema()).unwrap();
            assert_eq!(&back, schema.json(), "{}", schema.name());
        }
    }
}
