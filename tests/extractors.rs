//! `tower_envelope::extract::{Json, Query, Path}` behind a real axum `Router` under
//! `ErrorEnvelopeLayer::defender()` and `::google()`: status, code, message and the field's path
//! as each format renders it.

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tower::ServiceExt;
use tower_envelope::extract::{Json, Path, Query};
use tower_envelope::prelude::*;
use tower_envelope::values::{Batch, DomainName, FileHash, IpAddress};

// ---- the application -------------------------------------------------------------------------

#[derive(Deserialize, Serialize)]
struct Machine {
    name: String,
    #[serde(default)]
    tags: Vec<String>,
    owner: Option<Owner>,
    #[serde(default)]
    count: u16,
}

#[derive(Deserialize, Serialize)]
struct Owner {
    email: String,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    name: String,
    colour: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    page: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StrictPage {
    page: Option<u32>,
}

#[derive(Deserialize)]
struct PartParams {
    id: u32,
    part: u8,
}

async fn create(Json(machine): Json<Machine>) -> Json<Machine> {
    Json(machine)
}

async fn strict(Json(strict): Json<Strict>) -> Json<Strict> {
    Json(strict)
}

async fn list(Query(page): Query<Page>) -> String {
    format!("page {}", page.page)
}

async fn strict_list(Query(page): Query<StrictPage>) -> String {
    format!("page {:?}", page.page)
}

async fn machine(Path(id): Path<u32>) -> String {
    format!("machine {id}")
}

async fn part(Path((name, index)): Path<(String, u8)>) -> String {
    format!("{name} part {index}")
}

async fn maybe(body: Option<Json<Machine>>) -> String {
    match body {
        Some(Json(machine)) => machine.name,
        None => "no body".to_owned(),
    }
}

async fn part_by_name(Path(params): Path<PartParams>) -> String {
    format!("machine {} part {}", params.id, params.part)
}

async fn file(Path(hash): Path<FileHash>) -> String {
    hash.algorithm().to_owned()
}

async fn ip(Path(ip): Path<IpAddress>) -> String {
    ip.to_string()
}

async fn domain(Path(domain): Path<DomainName>) -> String {
    domain.as_str().to_owned()
}

#[derive(Deserialize)]
struct Import {
    #[serde(rename = "Indicators")]
    indicators: Batch<String, 3>,
}

async fn import(Json(import): Json<Import>) -> String {
    format!("{} indicators", import.indicators.len())
}

fn routes() -> Router {
    Router::new()
        .route("/files/{hash}", get(file))
        .route("/ips/{ip}", get(ip))
        .route("/domains/{domain}", get(domain))
        .route("/indicators", post(import))
        .route("/machines", post(create).get(list))
        .route("/strict", post(strict).get(strict_list))
        .route("/maybe", post(maybe))
        .route("/machines/{id}", get(machine))
        .route("/named/{name}/parts/{index}", get(part))
        .route("/machines/{id}/parts/{part}", get(part_by_name))
        // The handler takes one parameter, the route captures two.
        .route("/mismatch/{a}/{b}", get(machine))
        .route("/small", post(create).layer(DefaultBodyLimit::max(16)))
}

fn defender() -> Router {
    routes().layer(ErrorEnvelopeLayer::defender())
}

fn google() -> Router {
    routes().layer(ErrorEnvelopeLayer::google())
}

// ---- harness ---------------------------------------------------------------------------------

struct Reply {
    status: StatusCode,
    content_type: Option<String>,
    json: Value,
}

async fn call(app: Router, request: Request<Body>) -> Reply {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    // Errors and `Json` answers are JSON; the other handlers answer text.
    let json = match content_type.as_deref() {
        Some(ct) if ct.contains("json") => serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body))),
        _ => Value::String(String::from_utf8_lossy(&body).into_owned()),
    };
    Reply {
        status,
        content_type,
        json,
    }
}

fn post_json(path: &str, body: &'static str) -> Request<Body> {
    Request::post(path)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap()
}

fn get_path(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

/// What a Defender error says: code, message, and its field violations as `details`.
#[derive(Debug, PartialEq)]
struct DefenderError {
    status: StatusCode,
    code: String,
    message: String,
    /// `details[].target` (the dotted location) of each violation.
    fields: Vec<String>,
}

async fn defender_error(request: Request<Body>) -> DefenderError {
    let reply = call(defender(), request).await;
    let error = &reply.json["error"];
    DefenderError {
        status: reply.status,
        code: error["code"].as_str().unwrap().to_owned(),
        message: error["message"].as_str().unwrap().to_owned(),
        fields: error["details"]
            .as_array()
            .map(|details| {
                details
                    .iter()
                    .map(|d| d["target"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// What a Google error says: status, canonical code, message, ErrorInfo reason and the
/// `BadRequest` field violations (field, description).
#[derive(Debug, PartialEq)]
struct GoogleError {
    status: StatusCode,
    canonical: String,
    message: String,
    reason: String,
    violations: Vec<(String, String)>,
}

async fn google_error(request: Request<Body>) -> GoogleError {
    let reply = call(google(), request).await;
    let error = &reply.json["error"];
    let details = error["details"].as_array().unwrap();
    let detail = |kind: &str| {
        details
            .iter()
            .find(|d| d["@type"] == format!("type.googleapis.com/google.rpc.{kind}"))
    };
    GoogleError {
        status: reply.status,
        canonical: error["status"].as_str().unwrap().to_owned(),
        message: error["message"].as_str().unwrap().to_owned(),
        reason: detail("ErrorInfo").unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_owned(),
        violations: detail("BadRequest")
            .map(|bad| {
                bad["fieldViolations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| {
                        (
                            v["field"].as_str().unwrap().to_owned(),
                            v["description"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn defender_expect(
    status: StatusCode,
    code: &str,
    message: &str,
    fields: &[&str],
) -> DefenderError {
    DefenderError {
        status,
        code: code.to_owned(),
        message: message.to_owned(),
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    }
}

fn google_expect(
    status: StatusCode,
    reason: &str,
    message: &str,
    violations: &[(&str, &str)],
) -> GoogleError {
    GoogleError {
        status,
        canonical: if status == StatusCode::BAD_REQUEST {
            "INVALID_ARGUMENT".to_owned()
        } else {
            panic!("no canonical code for {status} in these tests")
        },
        message: message.to_owned(),
        reason: reason.to_owned(),
        violations: violations
            .iter()
            .map(|(f, d)| ((*f).to_owned(), (*d).to_owned()))
            .collect(),
    }
}

// ---- Json: passing -----------------------------------------------------------------------------

#[tokio::test]
async fn a_valid_body_reaches_the_handler_and_json_answers_json() {
    let body = r#"{"name":"web-1","tags":["a","b"],"owner":{"email":"ops@example.com"},"count":3}"#;
    let reply = call(defender(), post_json("/machines", body)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        reply.json,
        json!({"name": "web-1", "tags": ["a", "b"], "owner": {"email": "ops@example.com"}, "count": 3})
    );
    // `+json` types and a UTF-8 charset are JSON too.
    for content_type in [
        "application/merge-patch+json",
        "application/json; charset=utf-8",
    ] {
        let request = Request::post("/machines")
            .header(CONTENT_TYPE, content_type)
            .body(Body::from(r#"{"name":"web-2"}"#))
            .unwrap();
        let reply = call(defender(), request).await;
        assert_eq!(reply.status, StatusCode::OK, "{content_type}");
        assert_eq!(reply.json["name"], "web-2", "{content_type}");
    }
}

// ---- Json: missing fields ----------------------------------------------------------------------

#[tokio::test]
async fn a_missing_field_is_missing_parameter_naming_it() {
    let message = "Parameter name is missing.";
    assert_eq!(
        defender_error(post_json("/machines", r#"{"tags":[]}"#)).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            message,
            &["body.name"]
        )
    );
    assert_eq!(
        google_error(post_json("/machines", r#"{"tags":[]}"#)).await,
        google_expect(
            StatusCode::BAD_REQUEST,
            "MISSING_PARAMETER",
            message,
            &[("name", "field required")]
        )
    );
}

#[tokio::test]
async fn a_missing_nested_field_names_its_path() {
    let body = r#"{"name":"web-1","owner":{}}"#;
    let message = "Parameter owner.email is missing.";
    assert_eq!(
        defender_error(post_json("/machines", body)).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            message,
            &["body.owner.email"]
        )
    );
    assert_eq!(
        google_error(post_json("/machines", body)).await,
        google_expect(
            StatusCode::BAD_REQUEST,
            "MISSING_PARAMETER",
            message,
            &[("owner.email", "field required")]
        )
    );
}

#[tokio::test]
async fn null_for_a_required_field_is_missing() {
    let body = r#"{"name":null}"#;
    assert_eq!(
        defender_error(post_json("/machines", body)).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            "Parameter name is missing.",
            &["body.name"]
        )
    );
    // In an array, `null` is a value of the wrong type.
    let body = r#"{"name":"web-1","tags":[null]}"#;
    assert_eq!(
        defender_error(post_json("/machines", body)).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "Invalid input tags[0]: expected a string.",
            &["body.tags.0"]
        )
    );
}

#[tokio::test]
async fn a_field_sent_in_another_case_is_named_with_the_expected_one() {
    let message = r#"Parameter name is missing. Body parameters are case-sensitive: received "Name", expected "name"."#;
    let body = r#"{"Name":"web-1"}"#;
    assert_eq!(
        defender_error(post_json("/machines", body)).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            message,
            &["body.name"]
        )
    );
    assert_eq!(
        google_error(post_json("/machines", body)).await,
        google_expect(
            StatusCode::BAD_REQUEST,
            "MISSING_PARAMETER",
            message,
            &[("name", "field required")]
        )
    );

    // Nested: the hint looks in the object the field is missing from.
    let body = r#"{"name":"web-1","owner":{"EMAIL":"ops@example.com"}}"#;
    let error = defender_error(post_json("/machines", body)).await;
    assert_eq!(
        error.message,
        r#"Parameter owner.email is missing. Body parameters are case-sensitive: received "EMAIL", expected "email"."#
    );
    assert_eq!(error.fields, ["body.owner.email"]);
}

// ---- Json: wrong types and values -------------------------------------------------------------

#[tokio::test]
async fn a_value_of_the_wrong_type_is_invalid_input_with_its_full_path() {
    let body = r#"{"name":"web-1","tags":["a",12345]}"#;
    let message = "Invalid input tags[1]: expected a string.";
    let error = defender_error(post_json("/machines", body)).await;
    assert_eq!(
        error,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            message,
            &["body.tags.1"]
        )
    );
    // The value received is not echoed.
    assert!(!error.message.contains("12345"));
    // AIP-193 paths are dotted segments of the violation's location.
    assert_eq!(
        google_error(post_json("/machines", body)).await,
        google_expect(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            message,
            &[("tags.1", "expected a string")]
        )
    );

    let body = r#"{"name":"web-1","owner":{"email":["ops@example.com"]}}"#;
    let error = defender_error(post_json("/machines", body)).await;
    assert_eq!(
        error.message,
        "Invalid input owner.email: expected a string."
    );
    assert_eq!(error.fields, ["body.owner.email"]);
}

#[tokio::test]
async fn a_value_out_of_range_is_invalid_input() {
    let body = r#"{"name":"web-1","count":70000}"#;
    assert_eq!(
        defender_error(post_json("/machines", body)).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "Invalid input count: expected u16.",
            &["body.count"]
        )
    );
}

// ---- Json: unknown fields ------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_field_is_invalid_input_naming_it() {
    let body = r#"{"name":"web-1","color":"red"}"#;
    let message = r#"Invalid input color: unknown field, expected "name" or "colour"."#;
    assert_eq!(
        defender_error(post_json("/strict", body)).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            message,
            &["body.color"]
        )
    );
    assert_eq!(
        google_error(post_json("/strict", body)).await,
        google_expect(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            message,
            &[("color", "unknown field")]
        )
    );
}

#[tokio::test]
async fn an_unknown_field_in_another_case_gets_the_hint() {
    let body = r#"{"Name":"web-1"}"#;
    let message = r#"Invalid input Name: unknown field. Body parameters are case-sensitive: received "Name", expected "name"."#;
    assert_eq!(
        defender_error(post_json("/strict", body)).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            message,
            &["body.Name"]
        )
    );
    assert_eq!(
        google_error(post_json("/strict", body)).await,
        google_expect(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            message,
            &[("Name", "unknown field")]
        )
    );
}

// ---- Json: not JSON, not an object ---------------------------------------------------------------

#[tokio::test]
async fn a_syntax_error_is_invalid_request_body_with_line_and_column() {
    let cases = [
        (
            r#"{"name":"#,
            "Request body is not valid JSON (line 1, column 8): EOF while parsing a value",
        ),
        (
            "{\n  \"name\": web-1\n}",
            "Request body is not valid JSON (line 2, column 11): expected value",
        ),
        (
            r#"{"name":"web-1"} x"#,
            "Request body is not valid JSON (line 1, column 18): trailing characters",
        ),
    ];
    for (body, message) in cases {
        assert_eq!(
            defender_error(post_json("/machines", body)).await,
            defender_expect(StatusCode::BAD_REQUEST, "InvalidRequestBody", message, &[]),
            "{body}"
        );
        assert_eq!(
            google_error(post_json("/machines", body)).await,
            google_expect(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST_BODY",
                message,
                &[]
            ),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_invalid_request_body() {
    // serde would read a struct from an array of its fields; a body never means that.
    for body in [r#"["web-1"]"#, r#""web-1""#, "42", "null"] {
        assert_eq!(
            defender_error(post_json("/machines", body)).await,
            defender_expect(
                StatusCode::BAD_REQUEST,
                "InvalidRequestBody",
                "Request body must be a JSON object",
                &[]
            ),
            "{body}"
        );
    }
}

// ---- Json: the request around the body ---------------------------------------------------------

#[tokio::test]
async fn a_missing_or_other_content_type_is_unsupported_media_type() {
    let request = Request::post("/machines")
        .body(Body::from(r#"{"name":"web-1"}"#))
        .unwrap();
    let error = defender_error(request).await;
    assert_eq!(error.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error.code, "UnsupportedMediaType");
    assert_eq!(error.message, "Content-Type header is missing");

    let request = Request::post("/machines")
        .header(CONTENT_TYPE, "text/plain")
        .body(Body::from(r#"{"name":"web-1"}"#))
        .unwrap();
    let error = defender_error(request).await;
    assert_eq!(error.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(error.code, "UnsupportedMediaType");
    assert!(error.message.contains("text/plain"), "{}", error.message);
}

#[tokio::test]
async fn a_body_over_a_limit_is_payload_too_large() {
    // axum's own limit on the route.
    let error = defender_error(post_json("/small", r#"{"name":"a-rather-long-name"}"#)).await;
    assert_eq!(error.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error.code, "PayloadTooLarge");
    assert_eq!(error.message, "Request body is over the size limit");

    // The crate's BodyLimitLayer, on a streamed body without a Content-Length.
    let app = routes().layer(
        tower::ServiceBuilder::new()
            .layer(ErrorEnvelopeLayer::defender())
            .layer(BodyLimitLayer::new(16)),
    );
    let chunks = futures_util::stream::iter(
        [r#"{"name":"#, r#""a-rather-long-name"}"#]
            .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
    );
    let request = Request::post("/machines")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from_stream(chunks))
        .unwrap();
    let reply = call(app, request).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json["error"]["code"], "PayloadTooLarge");
    assert_eq!(
        reply.json["error"]["message"],
        "Request body is over the size limit"
    );
}

#[tokio::test]
async fn an_optional_json_body_is_none_without_content_type() {
    let request = Request::post("/maybe").body(Body::empty()).unwrap();
    let reply = call(defender(), request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, "no body");

    let reply = call(defender(), post_json("/maybe", r#"{"name":"web-1"}"#)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, "web-1");

    // A body that is there is checked as `Json<T>` checks it.
    let error = defender_error(post_json("/maybe", "{}")).await;
    assert_eq!(error.code, "MissingRequiredParameter");
    let request = Request::post("/maybe")
        .header(CONTENT_TYPE, "text/plain")
        .body(Body::from("web-1"))
        .unwrap();
    let error = defender_error(request).await;
    assert_eq!(error.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

// ---- Query -----------------------------------------------------------------------------------------

#[tokio::test]
async fn query_parameters_are_fields() {
    let reply = call(defender(), get_path("/machines?page=2")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, "page 2");

    assert_eq!(
        defender_error(get_path("/machines")).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            "Parameter page is missing.",
            &["query.page"]
        )
    );
    let message = r#"Parameter page is missing. Query parameters are case-sensitive: received "Page", expected "page"."#;
    assert_eq!(
        google_error(get_path("/machines?Page=2")).await,
        google_expect(
            StatusCode::BAD_REQUEST,
            "MISSING_PARAMETER",
            message,
            &[("query.page", "field required")]
        )
    );
    let message = "Invalid input page: invalid digit found in string.";
    assert_eq!(
        defender_error(get_path("/machines?page=two")).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            message,
            &["query.page"]
        )
    );
    assert_eq!(
        google_error(get_path("/machines?page=two")).await,
        google_expect(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            message,
            &[("query.page", "invalid digit found in string")]
        )
    );
}

#[tokio::test]
async fn an_unknown_query_parameter_is_unknown_parameter() {
    // Google names the kind; Defender's code is its table's `InvalidInput`, QRadar answers 420.
    let reply = call(google(), get_path("/strict?colour=red")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json["error"]["details"][0]["reason"],
        "UNKNOWN_PARAMETER"
    );
    let qradar = routes().layer(ErrorEnvelopeLayer::qradar());
    let reply = call(qradar, get_path("/strict?colour=red")).await;
    assert_eq!(reply.status.as_u16(), 420);
    assert_eq!(
        reply.json["message"],
        r#"Invalid input colour: unknown field, expected "page"."#
    );
}

#[tokio::test]
async fn values_reject_in_defenders_words() {
    let cases = [
        (
            get_path("/files/xyz"),
            "InvalidHashValue",
            "Hash value xyz is invalid.",
            "path.hash",
        ),
        (
            get_path("/ips/999.1.1.1"),
            "InvalidIpAddress",
            "IP address 999.1.1.1 is invalid.",
            "path.ip",
        ),
        (
            get_path("/domains/-bad-"),
            "InvalidDomainName",
            "Domain name -bad- is invalid.",
            "path.domain",
        ),
        (
            post_json("/indicators", r#"{"Indicators":["a","b","c","d"]}"#),
            "MaximumBatchSizeExceeded",
            "Maximum batch size exceeded. Received: 4, allowed: 3.",
            "body.Indicators",
        ),
    ];
    for (request, code, message, field) in cases {
        assert_eq!(
            defender_error(request).await,
            defender_expect(StatusCode::BAD_REQUEST, code, message, &[field])
        );
    }
    let reply = call(
        defender(),
        get_path("/files/44d88612fea8a8f36de82e1278abb02f"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, "MD5");
    let reply = call(
        defender(),
        post_json("/indicators", r#"{"Indicators":["a","b"]}"#),
    )
    .await;
    assert_eq!(reply.json, "2 indicators");
}

#[tokio::test]
async fn an_unknown_query_parameter_is_invalid_input() {
    assert_eq!(
        defender_error(get_path("/strict?PAGE=2")).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            r#"Invalid input PAGE: unknown field. Query parameters are case-sensitive: received "PAGE", expected "page"."#,
            &["query.PAGE"]
        )
    );
    let reply = call(defender(), get_path("/strict?page=2")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, "page Some(2)");
}

// ---- Path ------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_path_segment_that_does_not_parse_names_its_parameter() {
    let reply = call(defender(), get_path("/machines/7")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json, "machine 7");

    let message = "Invalid input id: expected u32.";
    assert_eq!(
        defender_error(get_path("/machines/web-1")).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            message,
            &["path.id"]
        )
    );
    assert_eq!(
        google_error(get_path("/machines/web-1")).await,
        google_expect(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            message,
            &[("path.id", "expected u32")]
        )
    );
    // A tuple names the parameter by its position in the route.
    assert_eq!(
        defender_error(get_path("/named/web-1/parts/x")).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "Invalid input index: expected u8.",
            &["path.index"]
        )
    );
    // A struct by its field.
    assert_eq!(
        defender_error(get_path("/machines/1/parts/300")).await,
        defender_expect(
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            "Invalid input part: expected u8.",
            &["path.part"]
        )
    );
}

#[tokio::test]
async fn a_route_that_does_not_fit_the_type_is_internal() {
    let error = defender_error(get_path("/mismatch/1/2")).await;
    assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error.code, "InternalServerError");
    assert!(error.fields.is_empty());
}

// ---- the other formats, with no extra code ---------------------------------------------------------

#[tokio::test]
async fn qradar_and_msi_carry_the_violation_in_their_details() {
    let body = r#"{"name":"web-1","owner":{}}"#;
    let qradar = routes().layer(ErrorEnvelopeLayer::qradar());
    let reply = call(qradar, post_json("/machines", body)).await;
    assert_eq!(reply.status.as_u16(), 419);
    assert_eq!(reply.json["message"], "Parameter owner.email is missing.");
    assert_eq!(
        reply.json["details"]["fields"][0]["location"],
        json!(["body", "owner", "email"])
    );

    let msi = routes().layer(ErrorEnvelopeLayer::msi());
    let reply = call(msi, post_json("/machines", body)).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.json["detail"][0]["loc"],
        json!(["body", "owner", "email"])
    );
    assert_eq!(reply.json["detail"][0]["msg"], "field required");
    assert_eq!(reply.json["detail"][0]["type"], "missing");
}
