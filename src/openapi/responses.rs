//! The error responses of a stack, written into an OpenAPI document.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{AllOfBuilder, Object, ObjectBuilder, Ref, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{
    Components, Content, Header, OpenApi, RefOr, Response, ResponseBuilder, Schema,
};

use super::describe::{DescribeErrors, DocHeader, Errors, ExtractorErrors};
use super::ErrorSchema;
use crate::error::{ApiError, ErrorKind};
use crate::format::{Format, RequestContext, REQUEST_ID_HEADER};

/// The methods an OpenAPI path item can hold an operation for.
const METHODS: [Method; 8] = [
    Method::GET,
    Method::PUT,
    Method::POST,
    Method::DELETE,
    Method::OPTIONS,
    Method::HEAD,
    Method::PATCH,
    Method::TRACE,
];

/// The error responses a stack can answer, in one format, for an OpenAPI document.
///
/// Built from the format and the very layers (or any [`DescribeErrors`]) the stack is built
/// with, it adds to each operation one response per status those layers can answer with: the
/// format's content type, a schema referring to the format's component (with the status member
/// pinned where the format repeats the status), and the headers the answer carries
/// (`WWW-Authenticate`, `Allow`, the correlation id). A response the operation documents already
/// is kept, its description completed.
///
/// See the [module](super) for an example.
#[derive(Clone)]
pub struct ErrorResponses<'f> {
    format: &'f dyn Format,
    schema: ErrorSchema,
    by_method: Vec<(Method, Errors)>,
}

impl std::fmt::Debug for ErrorResponses<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorResponses")
            .field("schema", &self.schema.name())
            .field("by_method", &self.by_method)
            .finish()
    }
}

impl<'f> ErrorResponses<'f> {
    /// No errors yet, rendered in `format`. A format without an
    /// [`error_schema`](Format::error_schema) is documented with an open schema named `Error`.
    pub fn new(format: &'f dyn Format) -> Self {
        let schema = format
            .error_schema()
            .unwrap_or_else(|| ErrorSchema::new("Error", serde_json::json!({})));
        Self {
            format,
            schema,
            by_method: METHODS
                .iter()
                .map(|m| (m.clone(), Errors::default()))
                .collect(),
        }
    }

    /// The errors of `envelope`, in its own format (and its correlation id header).
    pub fn envelope<F: Format>(envelope: &'f crate::ErrorEnvelopeLayer<F>) -> Self {
        let (format, _) = envelope.format_and_id_header();
        Self::new(format).layer(envelope)
    }

    /// Adds the errors `layer` can answer.
    pub fn layer(mut self, layer: &impl DescribeErrors) -> Self {
        for (method, errors) in &mut self.by_method {
            layer.describe_errors(method, errors);
        }
        self
    }

    /// Adds errors of `kind` (what a handler answers itself: `ResourceNotFound`, `Conflict`).
    pub fn error(self, kind: ErrorKind) -> Self {
        self.layer(&[kind])
    }

    /// Adds the errors the extractor `E` rejects requests with
    /// (`.extractor::<Json<NewMachine>>()`).
    pub fn extractor<E: ExtractorErrors>(mut self) -> Self {
        for (_, errors) in &mut self.by_method {
            for kind in E::ERRORS {
                errors.error(*kind);
            }
        }
        self
    }

    /// The format's error body component.
    pub fn schema(&self) -> &ErrorSchema {
        &self.schema
    }

    /// The errors documented for requests with `method`.
    pub fn errors(&self, method: &Method) -> Option<&Errors> {
        self.by_method
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, e)| e)
    }

    /// The responses, by status, for an operation with `method`.
    pub fn responses(&self, method: &Method) -> BTreeMap<StatusCode, Response> {
        let Some(errors) = self.errors(method) else {
            return BTreeMap::new();
        };
        let id_header = errors
            .request_id_header
            .as_deref()
            .unwrap_or(REQUEST_ID_HEADER);
        let mut by_status: BTreeMap<StatusCode, Vec<(ErrorKind, &[DocHeader])>> = BTreeMap::new();
        for (kind, headers) in &errors.kinds {
            let status = self.format.status(&ApiError::from_kind(*kind));
            by_status.entry(status).or_default().push((*kind, headers));
        }
        by_status
            .into_iter()
            .map(|(status, kinds)| {
                let response = self.response(method, status, &kinds, id_header);
                (status, response)
            })
            .collect()
    }

    fn response(
        &self,
        method: &Method,
        status: StatusCode,
        kinds: &[(ErrorKind, &[DocHeader])],
        id_header: &str,
    ) -> Response {
        let mut builder = ResponseBuilder::new().description(description(kinds));
        // The content type is the one the format renders the error with.
        let mut content_types: Vec<String> = Vec::new();
        for (kind, _) in kinds {
            let cx = RequestContext::new("00000000-0000-4000-8000-000000000000", method);
            let rendered = self.format.render(&ApiError::from_kind(*kind), &cx);
            let ct = rendered
                .content_type
                .to_str()
                .unwrap_or_default()
                .to_owned();
            if !content_types.contains(&ct) {
                content_types.push(ct);
            }
        }
        let schema = self.body_schema(
            status.as_u16(),
            &kinds.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        );
        for ct in content_types {
            builder = builder.content(ct, Content::new(Some(schema.clone())));
        }
        builder = builder.header(
            id_header,
            header("The correlation id: the request's own when well formed, else a fresh UUID."),
        );
        for (_, headers) in kinds {
            for h in *headers {
                builder = builder.header(h.name.clone(), header(h.description));
            }
        }
        builder.build()
    }

    /// The schema of a body answered with `status` for `kinds`: the component, with the members
    /// that repeat the status or follow from the kind pinned to their values.
    fn body_schema(&self, status: u16, kinds: &[ErrorKind]) -> RefOr<Schema> {
        let reference = Ref::from_schema_name(self.schema.name());
        let mut pins = Pin::default();
        let status_path = self.schema.status_member();
        if !status_path.is_empty() {
            pins.insert(status_path, Type::Integer, vec![status.into()]);
        }
        if let Some((path, value)) = self.schema.kind_member() {
            let mut values: Vec<&str> = kinds.iter().map(|k| value(*k)).collect();
            values.sort_unstable();
            values.dedup();
            pins.insert(
                path,
                Type::String,
                values.into_iter().map(Into::into).collect(),
            );
        }
        if pins.0.is_empty() {
            return RefOr::Ref(reference);
        }
        RefOr::T(Schema::AllOf(
            AllOfBuilder::new()
                .item(reference)
                .item(pins.into_schema())
                .build(),
        ))
    }

    /// Adds the format's component to `openapi`, and every error response (for any method) to
    /// its reusable responses, named `Error<status>`: the answers to requests no operation
    /// takes (a router's `NotFound` and `MethodNotAllowed`, added with
    /// [`ErrorResponses::error`]) are documented there.
    pub fn components(&self, openapi: &mut OpenApi) {
        let components = self.add_schema(openapi);
        for method in &METHODS {
            for (status, response) in self.responses(method) {
                let name = format!("Error{}", status.as_u16());
                match components.responses.get_mut(&name) {
                    Some(RefOr::T(existing)) => merge(existing, response),
                    Some(RefOr::Ref(_)) => {}
                    None => {
                        components.responses.insert(name, RefOr::T(response));
                    }
                }
            }
        }
    }

    /// Adds the format's component to `openapi`, and the error responses to every operation.
    pub fn apply(&self, openapi: &mut OpenApi) {
        self.apply_where(openapi, |_, _| true);
    }

    /// Adds the format's component to `openapi`, and the error responses to every operation
    /// for which `filter(path, method)` is true (the routes an [`crate::AuthTokenLayer`]
    /// guards, say).
    pub fn apply_where(&self, openapi: &mut OpenApi, filter: impl Fn(&str, &Method) -> bool) {
        self.add_schema(openapi);
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                if let Some(operation) = operation.as_mut().filter(|_| filter(path, &method)) {
                    self.add_to(operation, &method);
                }
            }
        }
    }

    /// Adds the format's component to `openapi`, and the error responses to the operation
    /// `method` `path` (a handler's own errors), if the document has it.
    pub fn apply_to(&self, openapi: &mut OpenApi, path: &str, method: &Method) {
        self.apply_where(openapi, |p, m| p == path && m == method);
    }

    /// Adds the format's component, and the security scheme a token check documents.
    fn add_schema<'o>(&self, openapi: &'o mut OpenApi) -> &'o mut Components {
        let components = openapi.components.get_or_insert_with(Components::new);
        components
            .schemas
            .entry(self.schema.name().to_owned())
            .or_insert_with(|| self.schema.to_schema());
        for (_, errors) in &self.by_method {
            if let Some((scheme, _)) = &errors.security {
                components
                    .security_schemes
                    .entry(scheme.name())
                    .or_insert_with(|| RefOr::T(scheme.to_scheme()));
            }
        }
        components
    }

    fn add_to(&self, operation: &mut Operation, method: &Method) {
        // An operation that declares `security: []` is public: it is left so.
        let public = operation.security.as_ref().is_some_and(Vec::is_empty);
        if let Some((scheme, scopes)) = self.errors(method).and_then(|e| e.security.as_ref()) {
            let requirement = SecurityRequirement::new(scheme.name(), scopes.clone());
            let security = operation.security.get_or_insert_with(Vec::new);
            if !public && !security.contains(&requirement) {
                security.push(requirement);
            }
        }
        for (status, response) in self.responses(method) {
            let key = status.as_u16().to_string();
            match operation.responses.responses.get_mut(&key) {
                Some(RefOr::T(existing)) => merge(existing, response),
                Some(RefOr::Ref(_)) => {}
                None => {
                    operation
                        .responses
                        .responses
                        .insert(key, RefOr::T(response));
                }
            }
        }
    }
}

/// Completes a documented response with what `new` adds: the kinds its description lacks, its
/// headers and content types.
fn merge(existing: &mut Response, new: Response) {
    for line in new.description.lines() {
        if !existing.description.lines().any(|l| l == line) {
            if !existing.description.is_empty() {
                existing.description.push('\n');
            }
            existing.description.push_str(line);
        }
    }
    for (name, header) in new.headers {
        existing.headers.entry(name).or_insert(header);
    }
    for (ct, content) in new.content {
        existing.content.entry(ct).or_insert(content);
    }
}

/// One line per kind: `InvalidUrl: The URL is not valid.`
fn description(kinds: &[(ErrorKind, &[DocHeader])]) -> String {
    let mut text = String::new();
    for (kind, _) in kinds {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(kind.name());
        text.push_str(": ");
        text.push_str(kind.description());
    }
    text
}

fn header(description: &str) -> Header {
    let mut header = Header::new(Object::with_type(Type::String));
    header.description = Some(description.to_owned());
    header
}

fn operations(item: &mut PathItem) -> [(Method, &mut Option<Operation>); 8] {
    [
        (Method::GET, &mut item.get),
        (Method::PUT, &mut item.put),
        (Method::POST, &mut item.post),
        (Method::DELETE, &mut item.delete),
        (Method::OPTIONS, &mut item.options),
        (Method::HEAD, &mut item.head),
        (Method::PATCH, &mut item.patch),
        (Method::TRACE, &mut item.trace),
    ]
}

/// The members a response pins, as a tree of object keys.
#[derive(Default)]
struct Pin(BTreeMap<&'static str, PinNode>);

enum PinNode {
    Leaf(Type, Vec<serde_json::Value>),
    Object(Pin),
}

impl Pin {
    fn insert(&mut self, path: &'static [&'static str], ty: Type, values: Vec<serde_json::Value>) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut pin = self;
        for key in parents {
            let node = pin
                .0
                .entry(key)
                .or_insert_with(|| PinNode::Object(Pin::default()));
            pin = match node {
                PinNode::Object(inner) => inner,
                // A member both pinned and holding others: keep the pin.
                PinNode::Leaf(..) => return,
            };
        }
        pin.0.insert(last, PinNode::Leaf(ty, values));
    }

    fn into_schema(self) -> Schema {
        let mut object = ObjectBuilder::new().schema_type(Type::Object);
        for (key, node) in self.0 {
            let schema = match node {
                PinNode::Leaf(ty, values) => ObjectBuilder::new()
                    .schema_type(ty)
                    .enum_values(Some(values))
                    .build()
                    .into(),
                PinNode::Object(inner) => inner.into_schema(),
            };
            object = object.property(key, schema);
        }
        object.build().into()
    }
}
