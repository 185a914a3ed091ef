//! The demo's OpenAPI document (feature `utoipa`): it validates as OpenAPI 3.1, and for each
//! format every error the demo answers matches the response documented for its operation (or,
//! for a request no route takes, the reusable response) under its status and content type, with
//! the headers documented, a JSON Schema validator as the oracle.

#[allow(dead_code)]
#[path = "../../examples/demo.rs"]
mod demo;

use axum::body::Body;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use tower_envelope::openapi::ErrorResponses;
use tower_envelope::{
    AuthTokenLayer, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, ErrorKind, StaticTokens,
};

/// The OpenAPI 3.1 schema for documents, without Schema Object validation: the OpenAPI
/// Initiative's `src/schemas/validation/schema.yaml` (Apache-2.0; branch v3.1-dev, last changed
/// in commit ddb29a7a1f2de831ba8cecb0bbbd1a20c992c976) converted to JSON. The document's schemas
/// are checked against the JSON Schema 2020-12 meta-schema instead.
const OAS_3_1: &str = include_str!("openapi-3.1.schema.json");

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn call(
    format: &str,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let app = demo::app(demo::format(format).unwrap());
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn document(format: &str) -> Value {
    let answer = call(format, Method::GET, "/openapi.json", &[], "").await;
    assert_eq!(answer.status, StatusCode::OK, "{format}");
    assert_eq!(answer.headers[CONTENT_TYPE], "application/json", "{format}");
    serde_json::from_slice(&answer.body).unwrap()
}

#[tokio::test]
async fn the_document_validates_as_openapi_3_1() {
    let oas: Value = serde_json::from_str(OAS_3_1).unwrap();
    let validator = jsonschema::draft202012::new(&oas).unwrap();
    for format in demo::FORMATS {
        let doc = document(format).await;
        assert_eq!(doc["openapi"], "3.1.0");
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{format}: {errors:?}");
        // Every component is a valid JSON Schema 2020-12 (what OpenAPI 3.1 schemas are).
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert_eq!(schemas.len(), 1, "{format}: one error body component");
        for (name, schema) in schemas {
            jsonschema::draft202012::meta::validate(schema)
                .unwrap_or_else(|e| panic!("{format} {name}: {e}"));
        }
    }
}

/// What the JSON Schema of OpenAPI 3.1 cannot say and `openapi-spec-validator` checks: each
/// `{name}` of a path is declared by each of its operations as a required `path` parameter, no
/// operation declares a path parameter its path lacks, and each security requirement names a
/// scheme of `components.securitySchemes`. Empty when the document keeps those rules.
fn semantic_errors(doc: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let schemes = &doc["components"]["securitySchemes"];
    for (path, item) in doc["paths"].as_object().unwrap() {
        let templated: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        for (method, operation) in item.as_object().unwrap() {
            let declared: Vec<&str> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(item["parameters"].as_array().into_iter().flatten())
                .filter(|p| p["in"] == "path")
                .inspect(|p| {
                    if p["required"] != true {
                        errors.push(format!("{method} {path}: path parameter not required"));
                    }
                })
                .filter_map(|p| p["name"].as_str())
                .collect();
            for name in &templated {
                if !declared.contains(name) {
                    errors.push(format!(
                        "{method} {path}: path parameter {name} not declared"
                    ));
                }
            }
            for name in &declared {
                if !templated.contains(name) {
                    errors.push(format!("{method} {path}: {name} is not in the path"));
                }
            }
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for name in requirement.as_object().unwrap().keys() {
                    if schemes.get(name).is_none() {
                        errors.push(format!("{method} {path}: no security scheme {name}"));
                    }
                }
            }
        }
    }
    errors
}

#[tokio::test]
async fn path_parameters_and_security_are_declared() {
    for format in demo::FORMATS {
        let doc = document(format).await;
        assert_eq!(semantic_errors(&doc), Vec::<String>::new(), "{format}");
        // The guarded operations name the bearer scheme and the scopes of their method; the
        // public ones need no token.
        assert_eq!(
            doc["components"]["securitySchemes"]["bearerAuth"],
            json!({"type": "http", "scheme": "bearer"}),
            "{format}"
        );
        let security = |path: &str, method: &str| doc["paths"][path][method]["security"].clone();
        assert_eq!(
            security("/api/machines", "post"),
            json!([{"bearerAuth": ["write"]}])
        );
        assert_eq!(
            security("/api/machines/{id}", "get"),
            json!([{"bearerAuth": ["read"]}])
        );
        assert_eq!(
            security("/api/machines/{id}", "delete"),
            json!([{"bearerAuth": ["admin"]}])
        );
        assert_eq!(security("/healthz", "get"), Value::Null);
    }
    // The checks are not vacuous.
    let mut doc = document("defender").await;
    doc["paths"]["/api/machines/{id}"]["get"]
        .as_object_mut()
        .unwrap()
        .remove("parameters");
    doc["paths"]["/api/machines"]["post"]["security"] = json!([{"apiKey": []}]);
    let mut errors = semantic_errors(&doc);
    errors.sort();
    assert_eq!(
        errors,
        [
            "get /api/machines/{id}: path parameter id not declared",
            "post /api/machines: no security scheme apiKey"
        ]
    );
}

#[tokio::test]
async fn the_document_does_not_validate_when_broken() {
    // The oracle is not vacuous: a response without a description is refused.
    let oas: Value = serde_json::from_str(OAS_3_1).unwrap();
    let validator = jsonschema::draft202012::new(&oas).unwrap();
    let mut doc = document("defender").await;
    doc["paths"]["/api/machines"]["post"]["responses"]["401"]
        .as_object_mut()
        .unwrap()
        .remove("description");
    assert!(!validator.is_valid(&doc));
}

/// A request: method, URI, headers, body.
type Case = (
    Method,
    &'static str,
    Vec<(&'static str, &'static str)>,
    String,
);

/// The error answers the demo gives: every validator, the router, the handlers, the timeout,
/// a panic.
fn requests() -> Vec<Case> {
    let read = ("authorization", "Bearer read-token");
    let write = ("authorization", "Bearer write-token");
    let json = ("content-type", "application/json");
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(5000));
    let spec = |s: &str| s.to_owned();
    vec![
        (Method::GET, "/api/machines/1", vec![], String::new()),
        (
            Method::GET,
            "/api/machines/1",
            vec![("authorization", "Bearer nope")],
            String::new(),
        ),
        (
            Method::GET,
            "/api/machines/1",
            vec![("authorization", "Bearer expired-token")],
            String::new(),
        ),
        (Method::DELETE, "/api/machines/1", vec![read], String::new()),
        (Method::GET, "/api/machines/7", vec![read], String::new()),
        (Method::GET, "/api/machines/%zz", vec![read], String::new()),
        (Method::GET, "/nowhere", vec![read], String::new()),
        (Method::PATCH, "/api/machines/1", vec![write], String::new()),
        (
            Method::POST,
            "/api/machines",
            vec![write, ("content-type", "text/plain")],
            spec("name"),
        ),
        (
            Method::POST,
            "/api/machines",
            vec![write],
            spec(r#"{"name":"web-1"}"#),
        ),
        (Method::POST, "/api/machines", vec![write, json], big),
        (
            Method::POST,
            "/api/machines",
            vec![write, json],
            spec(r#"{"name":"#),
        ),
        (
            Method::POST,
            "/api/machines",
            vec![write, json],
            spec(r#"{"Name":"web-1"}"#),
        ),
        (
            Method::POST,
            "/api/machines",
            vec![write, json],
            spec(r#"{"name":" "}"#),
        ),
        (
            Method::POST,
            "/api/machines",
            vec![write, json],
            spec(r#"{"name":7}"#),
        ),
        (
            Method::PUT,
            "/api/machines/abc/spec",
            vec![write, json],
            spec(VALID_SPEC),
        ),
        (
            Method::PUT,
            "/api/machines/2/spec",
            vec![write, json],
            spec(VALID_SPEC),
        ),
        (
            Method::PUT,
            "/api/machines/1/spec",
            vec![write, json],
            spec(r#"{"name":"web-1","tags":["prod",7],"owner":{}}"#),
        ),
        (Method::GET, "/api/slow", vec![read], String::new()),
        (
            Method::GET,
            "/api/upstream/credentials",
            vec![read],
            String::new(),
        ),
        (
            Method::GET,
            "/api/upstream/query",
            vec![read],
            String::new(),
        ),
        (Method::GET, "/api/panic", vec![read], String::new()),
    ]
}

const VALID_SPEC: &str = r#"{"name":"web-1","tags":["prod"],"owner":{"email":"ops@example.com"}}"#;

/// The operation of `doc` that `path` (a concrete path) and `method` name, if any.
fn operation<'d>(doc: &'d Value, path: &str, method: &Method) -> Option<&'d Value> {
    let path = path.split('?').next().unwrap();
    let segments: Vec<&str> = path.split('/').collect();
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .find_map(|(template, item)| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && t.ends_with('}')));
            matches
                .then(|| item.get(method.as_str().to_ascii_lowercase()))
                .flatten()
        })
}

/// The response documented for `status`: the operation's, else the reusable `Error<status>`.
fn documented<'d>(doc: &'d Value, op: Option<&'d Value>, status: StatusCode) -> &'d Value {
    let response = match op {
        Some(op) => &op["responses"][status.as_str()],
        None => &doc["components"]["responses"][format!("Error{}", status.as_u16())],
    };
    assert!(response.is_object(), "no response documented for {status}");
    response
}

async fn check_format(format: &'static str) -> Vec<u16> {
    let doc = document(format).await;
    let mut checked = Vec::new();
    for (method, uri, headers, body) in requests() {
        let answer = call(format, method.clone(), uri, &headers, &body).await;
        let what = format!("{format} {method} {uri} {body:.40} -> {}", answer.status);
        assert!(answer.status.as_u16() >= 400, "{what}");
        let op = operation(&doc, uri, &method);
        if uri != "/nowhere" && method != Method::PATCH {
            assert!(op.is_some(), "{what}: the operation is documented");
        }
        let response = documented(&doc, op, answer.status);
        let content_type = answer.headers[CONTENT_TYPE].to_str().unwrap();
        let schema = response["content"]
            .get(content_type)
            .unwrap_or_else(|| panic!("{what}: {content_type} not documented: {response}"))
            ["schema"]
            .clone();
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": doc["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::draft202012::new(&root).unwrap();
        let instance: Value = serde_json::from_slice(&answer.body).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{what}: {instance} {errors:?}");
        for name in response["headers"].as_object().unwrap().keys() {
            assert!(
                answer.headers.contains_key(name.as_str()),
                "{what}: header {name}"
            );
        }
        checked.push(answer.status.as_u16());
    }
    checked
}

#[tokio::test]
async fn every_error_the_demo_answers_matches_its_documented_response() {
    // One format after the other: checking the answers is CPU work on the test's one thread,
    // and while it runs the demo's timeout (1 s) and its slow handler (2 s) could both come due,
    // in which case the handler's answer wins (tower's `Timeout` polls it first).
    let mut checked = Vec::new();
    for format in demo::FORMATS {
        checked.push(check_format(format).await);
    }
    let [defender, qradar, msi, edgio, problem, google] = checked.try_into().unwrap();
    let standard = [
        401, 401, 401, 403, 404, 400, 404, 405, 415, 415, 413, 400, 400, 400, 400, 400, 404, 400,
        504, 502, 502, 500,
    ];
    assert_eq!(defender, standard);
    assert_eq!(problem, standard);
    assert_eq!(google, standard);
    // QRadar: a missing field is 419, a wrong value 422.
    let qradar_statuses = [
        401, 401, 401, 403, 404, 400, 404, 405, 415, 415, 413, 400, 419, 419, 422, 422, 404, 422,
        504, 502, 502, 500,
    ];
    assert_eq!(qradar, qradar_statuses);
    // MSI: validation failures 422, upstream failures 427.
    let msi_statuses = [
        401, 401, 401, 403, 404, 422, 404, 405, 422, 422, 413, 422, 422, 422, 422, 422, 404, 422,
        427, 427, 427, 500,
    ];
    assert_eq!(msi, msi_statuses);
    // Edgio: an insufficient scope is 401, a media type 400.
    let edgio_statuses = [
        401, 401, 401, 401, 404, 400, 404, 405, 400, 400, 413, 400, 400, 400, 400, 400, 404, 400,
        504, 502, 502, 500,
    ];
    assert_eq!(edgio, edgio_statuses);
}

#[tokio::test]
async fn a_body_that_breaks_the_schema_is_caught() {
    // The oracle is not vacuous: an extra member, a wrong status, a missing member are refused.
    let doc = document("qradar").await;
    let schema = &doc["paths"]["/api/machines/{id}"]["get"]["responses"]["404"]["content"]
        ["application/json"]["schema"];
    let root = json!({ "components": doc["components"], "allOf": [schema] });
    let validator = jsonschema::draft202012::new(&root).unwrap();
    let answer = call(
        "qradar",
        Method::GET,
        "/api/machines/7",
        &[("authorization", "Bearer read-token")],
        "",
    )
    .await;
    let good: Value = serde_json::from_slice(&answer.body).unwrap();
    assert!(validator.is_valid(&good));
    let mut extra = good.clone();
    extra["unexpected"] = json!(1);
    assert!(!validator.is_valid(&extra));
    let mut status = good.clone();
    status["http_response"]["code"] = json!(400);
    assert!(!validator.is_valid(&status));
    let mut missing = good;
    missing.as_object_mut().unwrap().remove("description");
    assert!(!validator.is_valid(&missing));
}

fn statuses(responses: &ErrorResponses<'_>, method: &Method) -> Vec<u16> {
    responses
        .responses(method)
        .keys()
        .map(StatusCode::as_u16)
        .collect()
}

#[test]
fn the_layers_configuration_decides_the_statuses() {
    let envelope = ErrorEnvelopeLayer::defender();
    let plain = ErrorResponses::envelope(&envelope)
        .layer(&ContentTypeLayer::json())
        .layer(&BodyLimitLayer::new(64));
    assert_eq!(statuses(&plain, &Method::POST), [400, 413, 415, 500]);

    // A quota answers 429 with Retry-After and the RateLimit fields.
    let quota =
        ErrorResponses::envelope(&envelope).layer(&tower_envelope::QuotaLayer::per_minute(5));
    assert_eq!(statuses(&quota, &Method::GET), [429, 500]);
    let headers = &quota.responses(&Method::GET)[&StatusCode::TOO_MANY_REQUESTS].headers;
    for name in ["Retry-After", "RateLimit-Policy", "RateLimit"] {
        assert!(headers.contains_key(name), "{name}");
    }

    let strict = ErrorResponses::envelope(&envelope)
        .layer(
            &ContentTypeLayer::json()
                .accept_header(["application/json"])
                .unwrap(),
        )
        .layer(&BodyLimitLayer::new(64).require_content_length());
    assert_eq!(
        statuses(&strict, &Method::POST),
        [400, 406, 411, 413, 415, 500]
    );

    // A scope only where one is required; the challenge header on 401 and 403.
    let tokens = StaticTokens::new().token("t", ["read"]);
    let auth = AuthTokenLayer::bearer(tokens).require_scope(Method::DELETE, "admin");
    let auth = ErrorResponses::envelope(&envelope).layer(&auth);
    assert_eq!(statuses(&auth, &Method::GET), [401, 500]);
    assert_eq!(statuses(&auth, &Method::DELETE), [401, 403, 500]);
    let delete = auth.responses(&Method::DELETE);
    for status in [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN] {
        assert!(delete[&status].headers.contains_key("WWW-Authenticate"));
        assert!(delete[&status].headers.contains_key("x-request-id"));
    }

    // The format decides the status: MSI answers validation failures 422, an upstream 427.
    let msi = ErrorEnvelopeLayer::msi();
    let msi = ErrorResponses::envelope(&msi)
        .layer(&tower_envelope::UrlEncodingLayer::new())
        .layer(&[ErrorKind::NotFound, ErrorKind::MethodNotAllowed])
        .error(ErrorKind::UpstreamTimeout);
    assert_eq!(statuses(&msi, &Method::GET), [404, 405, 422, 427, 500]);
    assert!(msi.responses(&Method::GET)[&StatusCode::METHOD_NOT_ALLOWED]
        .headers
        .contains_key("Allow"));
}

/// Every kind, with and without the optional parts, rendered by every built-in format (in each
/// configuration that changes its schema), validates against the format's component; the status
/// member, where there is one, holds the status.
#[test]
fn every_rendered_error_matches_its_format_schema() {
    use tower_envelope::format::{
        Defender, Edgio, Format, Google, Msi, Problem, QRadar, RequestContext,
    };
    use tower_envelope::{ApiError, FieldViolation};

    let formats: Vec<Box<dyn Format>> = vec![
        Box::new(Defender),
        Box::new(QRadar::new()),
        Box::new(Msi),
        Box::new(Edgio),
        Box::new(Problem::new()),
        Box::new(
            Problem::new()
                .with_type_base("https://example.com/errors/")
                .with_instance(),
        ),
        Box::new(Google::new().with_domain("example.com")),
    ];
    let mut rendered = 0;
    for format in &formats {
        let schema = format.error_schema().unwrap();
        let validator = jsonschema::draft202012::new(schema.json()).unwrap();
        for kind in ErrorKind::ALL {
            let violation =
                FieldViolation::new(["body", "name"], "field required").with_reason("missing");
            let variants = [
                ApiError::from_kind(*kind),
                ApiError::new(*kind, "a message")
                    .with_target("name")
                    .with_code("Custom"),
                ApiError::new(*kind, "a message")
                    .with_code(7)
                    .with_violation(violation.clone()),
                ApiError::new(*kind, "").with_violation(violation),
                ApiError::new(*kind, "teapot").with_status(StatusCode::IM_A_TEAPOT),
            ];
            for error in variants {
                let cx = RequestContext::new("5b1f9b4c-2d4b-4a8e-9a43-0a8c1f3f2f10", &Method::POST)
                    .with_path("/machines/1");
                let out = format.render(&error, &cx);
                let body: Value = serde_json::from_slice(&out.body).unwrap();
                let errors: Vec<String> = validator
                    .iter_errors(&body)
                    .map(|e| e.to_string())
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{} {error:?}: {body} {errors:?}",
                    schema.name()
                );
                let member = schema
                    .status_member()
                    .iter()
                    .fold(&body, |value, key| &value[*key]);
                if !schema.status_member().is_empty() {
                    assert_eq!(member, &json!(out.status.as_u16()), "{}", schema.name());
                }
                rendered += 1;
            }
        }
    }
    assert_eq!(rendered, formats.len() * ErrorKind::ALL.len() * 5);
}

#[test]
fn a_response_the_operation_documents_is_kept_and_completed() {
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
    use utoipa::openapi::{Info, OpenApiBuilder, RefOr, Response};

    let operation = OperationBuilder::new()
        .response("404", Response::new("No such machine."))
        .build();
    let mut doc = OpenApiBuilder::new()
        .info(Info::new("machines", "1.0.0"))
        .paths(
            PathsBuilder::new().path("/machines/{id}", PathItem::new(HttpMethod::Get, operation)),
        )
        .build();
    let envelope = ErrorEnvelopeLayer::problem();
    ErrorResponses::envelope(&envelope)
        .error(ErrorKind::ResourceNotFound)
        .apply_to(&mut doc, "/machines/{id}", &Method::GET);
    // Another operation's path is left alone.
    ErrorResponses::envelope(&envelope)
        .error(ErrorKind::Conflict)
        .apply_to(&mut doc, "/elsewhere", &Method::GET);

    let get = doc
        .paths
        .get_path_operation("/machines/{id}", HttpMethod::Get)
        .unwrap();
    let keys: Vec<&str> = get.responses.responses.keys().map(String::as_str).collect();
    assert_eq!(keys, ["404", "500"]);
    let RefOr::T(not_found) = &get.responses.responses["404"] else {
        panic!("an inline response")
    };
    assert_eq!(
        not_found.description,
        format!(
            "No such machine.\nResourceNotFound: {}",
            ErrorKind::ResourceNotFound.description()
        )
    );
    assert!(not_found.content.contains_key("application/problem+json"));
    assert!(not_found.headers.contains_key("x-request-id"));
    let schemas = &doc.components.as_ref().unwrap().schemas;
    assert!(schemas.contains_key("ProblemDetails"));
}

#[tokio::test]
async fn google_status_is_pinned_to_the_kinds_of_each_response() {
    let doc = document("google").await;
    let schema = &doc["paths"]["/api/machines/{id}"]["get"]["responses"]["401"]["content"]
        ["application/json"]["schema"];
    let root = json!({ "components": doc["components"], "allOf": [schema] });
    let validator = jsonschema::draft202012::new(&root).unwrap();
    let answer = call("google", Method::GET, "/api/machines/1", &[], "").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let good: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(good["error"]["status"], "UNAUTHENTICATED");
    assert!(validator.is_valid(&good));
    let mut other = good;
    other["error"]["status"] = json!("PERMISSION_DENIED");
    assert!(!validator.is_valid(&other));
}
