//! Golden tests: each built-in format against its sources (the vendor documents and
//! the contract in the crate's format docs).

use http::{HeaderValue, Method, StatusCode};
use serde_json::{json, Value};
use tower_envelope::format::{
    parse_any, Defender, Edgio, Format, Google, Msi, Problem, QRadar, RequestContext,
};
use tower_envelope::{ApiError, Code, ErrorKind, FieldViolation};

fn cx(id: &str) -> RequestContext<'_> {
    RequestContext::new(id, &Method::GET)
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("body is JSON")
}

fn formats() -> Vec<(&'static str, Box<dyn Format>)> {
    vec![
        ("defender", Box::new(Defender)),
        ("qradar", Box::new(QRadar::new())),
        ("msi", Box::new(Msi)),
        ("edgio", Box::new(Edgio)),
        ("problem", Box::new(Problem::new())),
        (
            "problem-typed",
            Box::new(Problem::new().with_type_base("https://errors.example.com/")),
        ),
        (
            "google",
            Box::new(Google::new().with_domain("api.example.com")),
        ),
    ]
}

// ---- Defender (seed 002) ----------------------------------------------------------------

#[test]
fn defender_seed_resource_not_found() {
    let err = ApiError::new(
        ErrorKind::ResourceNotFound,
        "Machine 123123123 was not found",
    );
    let out = Defender.render(&err, &cx("43f4cb08-8fac-4b65-9db1-745c2ae65f3a"));
    assert_eq!(out.status, StatusCode::NOT_FOUND);
    assert_eq!(out.content_type, "application/json; charset=utf-8");
    assert_eq!(
        json_of(&out.body),
        json!({"error": {
            "code": "ResourceNotFound",
            "message": "Machine 123123123 was not found",
            "target": "43f4cb08-8fac-4b65-9db1-745c2ae65f3a"
        }})
    );
}

#[test]
fn defender_seed_invalid_request_body() {
    let err = ApiError::new(ErrorKind::InvalidRequestBody, "Request body is incorrect");
    let out = Defender.render(&err, &cx("1fa66c0f-18bd-4133-b378-36d76f3a2ba0"));
    assert_eq!(out.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(&out.body),
        json!({"error": {
            "code": "InvalidRequestBody",
            "message": "Request body is incorrect",
            "target": "1fa66c0f-18bd-4133-b378-36d76f3a2ba0"
        }})
    );
}

#[test]
fn defender_codes_follow_the_seed_table() {
    let cases = [
        (ErrorKind::MissingParameter, "MissingRequiredParameter", 400),
        (ErrorKind::InvalidInput, "InvalidInput", 400),
        (ErrorKind::InvalidUrl, "InvalidUrl", 400),
        (ErrorKind::Unauthorized, "Unauthorized", 401),
        (ErrorKind::TokenExpired, "Unauthorized", 401),
        (ErrorKind::InsufficientScope, "Forbidden", 403),
        (ErrorKind::NotFound, "NotFound", 404),
        (ErrorKind::TooManyRequests, "TooManyRequests", 429),
        (ErrorKind::Internal, "InternalServerError", 500),
        (ErrorKind::UnsupportedMediaType, "UnsupportedMediaType", 415),
        (ErrorKind::PayloadTooLarge, "PayloadTooLarge", 413),
        (ErrorKind::MethodNotAllowed, "MethodNotAllowed", 405),
        (ErrorKind::ODataError, "ODataError", 400),
        (ErrorKind::InvalidHashValue, "InvalidHashValue", 400),
        (ErrorKind::InvalidDomainName, "InvalidDomainName", 400),
        (ErrorKind::InvalidIpAddress, "InvalidIpAddress", 400),
        (
            ErrorKind::MaximumBatchSizeExceeded,
            "MaximumBatchSizeExceeded",
            400,
        ),
        (
            ErrorKind::OsPlatformNotSupported,
            "OsPlatformNotSupported",
            400,
        ),
        (
            ErrorKind::ClientVersionNotSupported,
            "ClientVersionNotSupported",
            400,
        ),
        (ErrorKind::DisabledFeature, "DisabledFeature", 403),
        (ErrorKind::DisallowedOperation, "DisallowedOperation", 403),
        (ErrorKind::UnknownParameter, "InvalidInput", 400),
        (ErrorKind::InvalidCustomerId, "InvalidCustomerId", 400),
        (ErrorKind::InactiveCustomer, "InactiveCustomer", 400),
        (ErrorKind::InvalidCase, "NotFound", 404),
        (ErrorKind::InitializationFailure, "ServiceUnavailable", 503),
    ];
    for (kind, code, status) in cases {
        let out = Defender.render(&ApiError::from_kind(kind), &cx("id"));
        assert_eq!(out.status.as_u16(), status, "{kind:?}");
        assert_eq!(json_of(&out.body)["error"]["code"], code, "{kind:?}");
    }
    let out = Defender.render(&ApiError::from_kind(ErrorKind::Unauthorized), &cx("id"));
    assert_eq!(
        json_of(&out.body)["error"]["message"],
        "Unauthorized (invalid or expired authorization header)."
    );
    let out = Defender.render(&ApiError::from_kind(ErrorKind::Forbidden), &cx("id"));
    assert_eq!(
        json_of(&out.body)["error"]["message"],
        "Forbidden (valid token but insufficient permission for the action)."
    );
}

#[test]
fn defender_value_codes_are_kinds() {
    let err = ApiError::new(ErrorKind::InvalidHashValue, "Hash value abc is invalid.");
    let out = Defender.render(&err, &cx("id"));
    let body = json_of(&out.body);
    assert_eq!(body["error"]["code"], "InvalidHashValue");
    assert!(body["error"].get("innererror").is_none());
    assert_eq!(Defender.parse(out.status, None, &out.body), Some(err));
    // A code of the table that is not the kind's stays an explicit code.
    let err = ApiError::new(ErrorKind::InvalidInput, "Hash value abc is invalid.")
        .with_code("InvalidHashValue");
    let out = Defender.render(&err, &cx("id"));
    let body = json_of(&out.body);
    assert_eq!(body["error"]["code"], "InvalidHashValue");
    assert_eq!(body["error"]["innererror"]["code"], "InvalidInput");
    assert_eq!(Defender.parse(out.status, None, &out.body), Some(err));
}

#[test]
fn defender_parses_real_world_variants() {
    // Numeric code as a string.
    let e = Defender
        .parse(
            StatusCode::TOO_MANY_REQUESTS,
            Some("application/json"),
            br#"{"error":{"code":"429","message":"Rate limit is exceeded. Try again in 5 seconds.","target":"x"}}"#,
        )
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::TooManyRequests);
    assert_eq!(e.code(), Some(&Code::Number(429)));
    assert_eq!(
        e.message(),
        "Rate limit is exceeded. Try again in 5 seconds."
    );
    // Empty code.
    let e = Defender
        .parse(
            StatusCode::FORBIDDEN,
            None,
            br#"{"error":{"code":"","message":"denied","target":"x"}}"#,
        )
        .unwrap();
    assert_eq!((e.kind(), e.code()), (ErrorKind::Forbidden, None));
    // Extra details array.
    let e = Defender
        .parse(
            StatusCode::BAD_REQUEST,
            None,
            br#"{"error":{"code":"InvalidRequestBody","message":"bad","target":"x","details":[{"code":"missing","message":"Name is required","target":"body.name"}]}}"#,
        )
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::InvalidRequestBody);
    assert_eq!(e.violations().len(), 1);
    assert_eq!(e.violations()[0].location(), ["body", "name"]);
    assert_eq!(e.violations()[0].reason(), Some("missing"));
    // Missing target.
    let e = Defender
        .parse(
            StatusCode::NOT_FOUND,
            None,
            br#"{"error":{"code":"ResourceNotFound","message":"Machine 1 was not found"}}"#,
        )
        .unwrap();
    assert_eq!(e.kind(), ErrorKind::ResourceNotFound);
    assert_eq!(e.message(), "Machine 1 was not found");
    // Not a Defender body.
    assert!(Defender
        .parse(StatusCode::NOT_FOUND, None, br#"{"message":"x"}"#)
        .is_none());
    assert!(Defender
        .parse(StatusCode::NOT_FOUND, Some("text/plain"), b"not found")
        .is_none());
}

// ---- QRadar (seed 003) -------------------------------------------------------------------

#[test]
fn qradar_seed_example_renders_exactly() {
    let err = ApiError::new(ErrorKind::ResourceNotFound, "test_set does not exist")
        .with_description("The reference set does not exist.");
    let out = QRadar::new().render(&err, &cx("id"));
    assert_eq!(out.status, StatusCode::NOT_FOUND);
    assert_eq!(out.content_type, "application/json");
    assert_eq!(
        json_of(&out.body),
        json!({
            "message": "test_set does not exist",
            "details": {},
            "description": "The reference set does not exist.",
            "code": 1002,
            "http_response": {
                "message": "We could not find the resource you requested.",
                "code": 404
            }
        })
    );
    assert_eq!(QRadar::new().parse(out.status, None, &out.body), Some(err));
}

const QRADAR_TABLE: &[(u16, &str)] = &[
    (300, "The requested resource corresponds to any one of a set of representations, each with its own specific location."),
    (301, "The resource has moved permanently. Please refer to the documentation."),
    (302, "The resource has moved temporarily. Please refer to the documentation."),
    (303, "The resource can be found under a different URI."),
    (304, "The resource is available and not modified."),
    (305, "The requested resource must be accessed through the proxy given by the Location field."),
    (307, "The resource resides temporarily under a different URI."),
    (400, "Invalid syntax for this request was provided."),
    (401, "You are unauthorized to access the requested resource. Please log in."),
    (403, "Your account is not authorized to access the requested resource."),
    (404, "We could not find the resource you requested. Please refer to the documentation for the list of resources."),
    (405, "This method type is not currently supported."),
    (406, "Acceptance header is invalid for this endpoint resource."),
    (407, "Authentication with proxy is required."),
    (408, "Client did not produce a request within the time that the server was prepared to wait."),
    (409, "The request could not be completed due to a conflict with the current state of the resource."),
    (410, "The requested resource is no longer available and has been permanently removed."),
    (411, "Length of the content is required, please include it with the request."),
    (412, "The request did not match the pre-conditions of the requested resource."),
    (413, "The request entity is larger than the server is willing or able to process."),
    (414, "The request URI is longer than the server is willing to interpret."),
    (415, "The requested resource does not support the media type provided."),
    (416, "The requested range for the resource is not available."),
    (417, "Unable to meet the expectation given in the Expect request header."),
    (419, "The requested resource is missing required arguments."),
    (420, "The requested resource does not support one or more of the given parameters."),
    (422, "The request was well-formed but was unable to be followed due to semantic errors."),
    (500, "Unexpected internal server error."),
    (501, "The requested resource is recognized but not implemented."),
    (502, "Invalid response received when acting as a proxy or gateway."),
    (503, "The server is currently unavailable."),
    (504, "Did not receive a timely response from upstream server while acting as a gateway or proxy."),
    (505, "The HTTP protocol version used in the request message is not supported."),
    (550, "A failure occurred during initialization of services. API will be unavailable."),
];

#[test]
fn qradar_http_response_message_is_the_table_text_for_every_status() {
    for &(status, text) in QRADAR_TABLE {
        let status = StatusCode::from_u16(status).unwrap();
        assert_eq!(QRadar::http_message(status), Some(text));
        if status.as_u16() < 400 {
            continue; // an error is never rendered with a success status
        }
        let kind = ErrorKind::from_status(status).unwrap();
        let out = QRadar::new().render(&ApiError::new(kind, "x").with_status(status), &cx("id"));
        let body = json_of(&out.body);
        assert_eq!(out.status, status);
        assert_eq!(body["http_response"]["code"], status.as_u16(), "{status}");
        assert_eq!(body["http_response"]["message"], text, "{status}");
    }
}

#[test]
fn qradar_statuses_and_codes() {
    let cases = [
        (ErrorKind::MissingParameter, 419, 8),
        (ErrorKind::InvalidInput, 422, 1005),
        (ErrorKind::UnprocessableEntity, 422, 422),
        (ErrorKind::InvalidRequestBody, 400, 1001),
        (ErrorKind::Conflict, 409, 1004),
        (ErrorKind::Forbidden, 403, 1009),
        (ErrorKind::InsufficientScope, 403, 1009),
        (ErrorKind::Unauthorized, 401, 18),
        (ErrorKind::TokenExpired, 401, 18),
        (ErrorKind::Internal, 500, 1020),
        (ErrorKind::ServiceUnavailable, 503, 1010),
        (ErrorKind::UnsupportedMediaType, 415, 415),
        (ErrorKind::NotFound, 404, 404),
    ];
    for (kind, status, code) in cases {
        let out = QRadar::new().render(&ApiError::new(kind, "m"), &cx("id"));
        let body = json_of(&out.body);
        assert_eq!(out.status.as_u16(), status, "{kind:?}");
        assert_eq!(body["code"], code, "{kind:?}");
        assert_eq!(body["description"], kind.description(), "{kind:?}");
        assert_eq!(body["details"], json!({}), "{kind:?}");
    }
}

// ---- MSI (seed 000) ------------------------------------------------------------------------

#[test]
fn msi_upstream_kinds_answer_427_with_their_titles() {
    let cases = [
        (ErrorKind::UpstreamTimeout, "Upstream Tech Timed Out"),
        (
            ErrorKind::UpstreamInvalidCredentials,
            "Upstream Tech Invalid Credentials",
        ),
        (
            ErrorKind::UpstreamQueryInvalid,
            "Upstream Tech Query Invalid",
        ),
    ];
    for (kind, title) in cases {
        let out = Msi.render(&ApiError::new(kind, "splunk: 10.0.0.1"), &cx("id"));
        assert_eq!(out.status.as_u16(), 427);
        assert_eq!(out.reason, Some(title));
        assert_eq!(
            json_of(&out.body),
            json!({ "detail": format!("{title}: splunk: 10.0.0.1") })
        );
    }
}

#[test]
fn msi_validation_kinds_answer_422_with_precise_details() {
    for &kind in ErrorKind::ALL.iter().filter(|k| k.is_validation()) {
        let out = Msi.render(&ApiError::new(kind, "m"), &cx("id"));
        assert_eq!(out.status, StatusCode::UNPROCESSABLE_ENTITY, "{kind:?}");
    }
    let err = ApiError::new(ErrorKind::MissingParameter, "name is required").with_violation(
        FieldViolation::new(["body", "name"], "field required").with_reason("missing"),
    );
    let out = Msi.render(&err, &cx("id"));
    assert_eq!(
        json_of(&out.body),
        json!({
            "detail": [{"loc": ["body", "name"], "msg": "field required", "type": "missing"}],
            "message": "name is required",
            "kind": "missing_parameter"
        })
    );
    let out = Msi.render(&ApiError::new(ErrorKind::Internal, "x"), &cx("id"));
    assert_eq!(out.status, StatusCode::INTERNAL_SERVER_ERROR);
}

// ---- Edgio (seed 001) ----------------------------------------------------------------------

#[test]
fn edgio_statuses_and_messages() {
    let cases = [
        (
            ErrorKind::InvalidUrl,
            400,
            "The request URL is not properly encoded.",
        ),
        (
            ErrorKind::MissingParameter,
            400,
            "A required parameter is missing.",
        ),
        (
            ErrorKind::UnsupportedMediaType,
            400,
            "The media type of the request body is not supported.",
        ),
        (ErrorKind::Unauthorized, 401, "Missing/Invalid Token"),
        (ErrorKind::TokenExpired, 401, "Expired Token"),
        (
            ErrorKind::InsufficientScope,
            401,
            "Insufficient Permissions",
        ),
        (ErrorKind::Forbidden, 403, "Access Denied"),
        (ErrorKind::NotFound, 404, "Endpoint not found"),
        (
            ErrorKind::MethodNotAllowed,
            405,
            "The method is not allowed for this endpoint.",
        ),
        (
            ErrorKind::Conflict,
            409,
            "The request conflicts with the current state of the resource.",
        ),
        (ErrorKind::Internal, 500, "Method Error"),
    ];
    for (kind, status, message) in cases {
        let out = Edgio.render(&ApiError::from_kind(kind), &cx("id"));
        assert_eq!(out.status.as_u16(), status, "{kind:?}");
        assert_eq!(json_of(&out.body)["Message"], message, "{kind:?}");
    }
    let out = Edgio.render(&ApiError::from_kind(ErrorKind::Forbidden), &cx("id"));
    assert_eq!(out.body, br#"{"Message":"Access Denied"}"#);
}

#[test]
fn edgio_renders_xml_when_the_client_prefers_it() {
    let accept = HeaderValue::from_static("application/xml, application/json;q=0.9");
    let c = cx("id").with_accept(Some(&accept));
    let out = Edgio.render(&ApiError::from_kind(ErrorKind::Forbidden), &c);
    assert_eq!(out.content_type, "application/xml");
    assert_eq!(
        std::str::from_utf8(&out.body).unwrap(),
        r#"<Error xmlns="http://www.whitecdn.com/schemas/apiservices/"><Message>Access Denied</Message></Error>"#
    );
    let err = ApiError::new(ErrorKind::TokenExpired, "token <expired> & gone")
        .with_target("Authorization")
        .with_violation(FieldViolation::new(["header", "Authorization"], "expired"));
    let out = Edgio.render(&err, &c);
    assert_eq!(
        Edgio.parse(out.status, Some("application/xml"), &out.body),
        Some(err)
    );
}

// ---- Problem (RFC 9457) and Google (AIP-193) -------------------------------------------------

#[test]
fn problem_members() {
    let err = ApiError::new(ErrorKind::MissingParameter, "name is missing")
        .with_violation(FieldViolation::new(["body", "name"], "must not be blank"));
    let out = Problem::new().render(&err, &cx("req-1"));
    assert_eq!(out.content_type, "application/problem+json");
    assert_eq!(
        json_of(&out.body),
        json!({
            "type": "about:blank",
            "title": "Bad Request",
            "status": 400,
            "detail": "name is missing",
            "code": "missing_parameter",
            "request_id": "req-1",
            "errors": [{"detail": "must not be blank", "pointer": "#/name", "location": ["body", "name"]}]
        })
    );
    let typed = Problem::new()
        .with_type_base("https://errors.example.com/")
        .with_instance();
    let c = cx("req-1").with_path("/api/x");
    let body = json_of(&typed.render(&err, &c).body);
    assert_eq!(body["type"], "https://errors.example.com/missing_parameter");
    assert_eq!(body["title"], ErrorKind::MissingParameter.description());
    assert_eq!(body["instance"], "/api/x");
}

/// `about:blank` problems are titled with RFC 9110's reason phrases, which renamed 413 and 422.
#[test]
fn problem_titles_are_rfc_9110_reason_phrases() {
    for (kind, title) in [
        (ErrorKind::PayloadTooLarge, "Content Too Large"),
        (ErrorKind::UnprocessableEntity, "Unprocessable Content"),
        (ErrorKind::UnsupportedMediaType, "Unsupported Media Type"),
        (ErrorKind::NotFound, "Not Found"),
    ] {
        let out = Problem::new().render(&ApiError::from_kind(kind), &cx("req-1"));
        assert_eq!(json_of(&out.body)["title"], title, "{kind:?}");
    }
}

#[test]
fn google_has_exactly_one_error_info() {
    let err = ApiError::new(ErrorKind::InvalidInput, "bad")
        .with_code("E42")
        .with_violation(FieldViolation::new(["body", "ip"], "not an IP").with_reason("format"));
    let out = Google::new()
        .with_domain("api.example.com")
        .render(&err, &cx("req-2"));
    let body = json_of(&out.body);
    assert_eq!(body["error"]["code"], 400);
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    let details = body["error"]["details"].as_array().unwrap();
    let infos: Vec<_> = details
        .iter()
        .filter(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
        .collect();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0]["reason"], "INVALID_INPUT");
    assert_eq!(infos[0]["domain"], "api.example.com");
    assert_eq!(infos[0]["metadata"]["code"], "E42");
    let bad = details
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest")
        .unwrap();
    assert_eq!(
        bad["fieldViolations"],
        json!([{"field": "ip", "description": "not an IP", "reason": "format"}])
    );
}

// ---- every format × every kind ------------------------------------------------------------

#[test]
fn every_format_parses_what_it_renders_for_every_kind() {
    for (name, format) in formats() {
        for &kind in ErrorKind::ALL {
            let err = ApiError::new(kind, format!("{name} says \"{kind}\" \\ é"));
            let out = format.render(&err, &cx("0c2f8e2a-corr"));
            assert!(out.status.as_u16() >= 400, "{name} {kind:?}");
            assert_eq!(out.status, format.status(&err), "{name} {kind:?}");
            let ct = out.content_type.to_str().unwrap();
            let back = format
                .parse(out.status, Some(ct), &out.body)
                .unwrap_or_else(|| panic!("{name} cannot parse its own {kind:?}"));
            assert_eq!(back.kind(), kind, "{name}");
            assert_eq!(back.message(), err.message(), "{name} {kind:?}");
            assert_eq!(back.status_override(), None, "{name} {kind:?}");
            // The status member of the body, where the format has one, equals the HTTP status.
            let body = json_of(&out.body);
            let member = match name {
                "qradar" => Some(&body["http_response"]["code"]),
                "problem" | "problem-typed" => Some(&body["status"]),
                "google" => Some(&body["error"]["code"]),
                _ => None,
            };
            if let Some(member) = member {
                assert_eq!(member, &json!(out.status.as_u16()), "{name} {kind:?}");
            }
        }
    }
}

#[test]
fn details_survive_a_round_trip_where_the_format_has_a_slot() {
    let err = ApiError::new(ErrorKind::InvalidInput, "bad \"input\"")
        .with_code(7001)
        .with_target("ip")
        .with_violation(FieldViolation::new(["query", "ip"], "not an IP").with_reason("format"))
        .with_violation(FieldViolation::new(["body", "a", "b"], "too long"));
    for (name, format) in formats() {
        let out = format.render(&err, &cx("id"));
        let ct = out.content_type.to_str().unwrap().to_owned();
        let back = format.parse(out.status, Some(&ct), &out.body).unwrap();
        assert_eq!(back, err, "{name}");
    }
}

#[test]
fn status_overrides_survive_a_round_trip() {
    let err = ApiError::new(ErrorKind::BadRequest, "gone").with_status(StatusCode::GONE);
    for (name, format) in formats() {
        let out = format.render(&err, &cx("id"));
        assert_eq!(out.status, StatusCode::GONE, "{name}");
        let ct = out.content_type.to_str().unwrap().to_owned();
        assert_eq!(
            format.parse(out.status, Some(&ct), &out.body),
            Some(err.clone()),
            "{name}"
        );
    }
}

#[test]
fn parse_any_recognises_every_format() {
    let err = ApiError::new(ErrorKind::Conflict, "machine exists").with_target("name");
    for (name, format) in formats() {
        let out = format.render(&err, &cx("id"));
        let ct = out.content_type.to_str().unwrap().to_owned();
        let back = parse_any(out.status, Some(&ct), &out.body).unwrap();
        assert_eq!(back.kind(), ErrorKind::Conflict, "{name}");
        assert_eq!(back.message(), "machine exists", "{name}");
    }
    assert!(parse_any(StatusCode::NOT_FOUND, Some("text/plain"), b"Not Found").is_none());
    assert!(parse_any(StatusCode::NOT_FOUND, None, b"{}").is_none());
}

// ---- gRPC (§8) -------------------------------------------------------------------------------

/// The `grpc-status` (and `grpc-message`) the envelope answers a gRPC request failing with
/// `error` with.
fn grpc_answer(error: ApiError) -> http::HeaderMap {
    use http::Request;
    use http_body_util::{Empty, Full};
    use tower::{Layer, ServiceExt};
    let inner = tower::service_fn(move |_: Request<Empty<bytes::Bytes>>| {
        let error = error.clone();
        async move {
            Ok::<_, std::convert::Infallible>(
                tower_envelope::format::error_response(error).map(Full::new),
            )
        }
    });
    let request = Request::post("/api.Machines/Get")
        .header("content-type", "application/grpc")
        .body(Empty::new())
        .unwrap();
    let svc = tower_envelope::ErrorEnvelopeLayer::defender().layer(inner);
    let response = tokio_test::block_on(svc.oneshot(request)).unwrap();
    response.headers().clone()
}

#[test]
fn grpc_codes() {
    // INVALID_ARGUMENT 3, UNAUTHENTICATED 16, PERMISSION_DENIED 7, NOT_FOUND 5,
    // UNIMPLEMENTED 12, ALREADY_EXISTS 6, RESOURCE_EXHAUSTED 8, DEADLINE_EXCEEDED 4,
    // UNAVAILABLE 14, INTERNAL 13.
    let cases = [
        (ErrorKind::InvalidUrl, 3),
        (ErrorKind::MissingParameter, 3),
        (ErrorKind::Unauthorized, 16),
        (ErrorKind::TokenExpired, 16),
        (ErrorKind::InsufficientScope, 7),
        (ErrorKind::Forbidden, 7),
        (ErrorKind::ResourceNotFound, 5),
        (ErrorKind::NotFound, 12),
        (ErrorKind::MethodNotAllowed, 12),
        (ErrorKind::NotImplemented, 12),
        (ErrorKind::Conflict, 6),
        (ErrorKind::PayloadTooLarge, 8),
        (ErrorKind::TooManyRequests, 8),
        (ErrorKind::UpstreamTimeout, 4),
        (ErrorKind::RequestTimeout, 4),
        (ErrorKind::ServiceUnavailable, 14),
        (ErrorKind::BadGateway, 14),
        (ErrorKind::UpstreamInvalidCredentials, 14),
        (ErrorKind::UpstreamQueryInvalid, 14),
        (ErrorKind::Internal, 13),
    ];
    for (kind, code) in cases {
        let headers = grpc_answer(ApiError::from_kind(kind));
        assert_eq!(headers["grpc-status"], code.to_string(), "{kind:?}");
    }
    let h = grpc_answer(ApiError::new(ErrorKind::Unauthorized, "token é missing"));
    assert_eq!(h["content-type"], "application/grpc");
    assert_eq!(h["grpc-status"], "16");
    assert_eq!(h["grpc-message"], "token %C3%A9 missing");
}

/// Found by the `format_parse` fuzz target: a vendor body with an empty message parses to an
/// error with an empty message, which every format renders as its default message for the kind
/// (and which then parses back as that default).
#[test]
fn an_empty_parsed_message_renders_as_the_default() {
    for (name, format) in formats() {
        let err = ApiError::from_kind(ErrorKind::BadRequest);
        let out = format.render(&err, &cx("id"));
        let ct = out.content_type.to_str().unwrap().to_owned();
        let back = format.parse(out.status, Some(&ct), &out.body).unwrap();
        assert_eq!(back.kind(), ErrorKind::BadRequest, "{name}");
        assert_eq!(
            back.message(),
            format.default_message(ErrorKind::BadRequest),
            "{name}"
        );
    }
    let e = Defender
        .parse(
            StatusCode::BAD_REQUEST,
            None,
            br#"{"error":{"code":"BadRequest","message":""}}"#,
        )
        .unwrap();
    assert_eq!(e.message(), "");
    let out = Defender.render(&e, &cx("id"));
    assert_eq!(
        json_of(&out.body)["error"]["message"],
        "General Bad Request error message."
    );
}

// ---- the seeds' value codes, customer, case and QRadar's statuses ---------------------------

/// Each kind added for the seeds' remaining rows, in every format: the status, and what names
/// the kind in the body (Defender's `code` and `innererror.code`, QRadar's `http_response`,
/// Edgio's `Message`, RFC 9457's `code`, AIP-193's `status` and `ErrorInfo.reason`).
#[test]
fn the_seed_kinds_in_every_format() {
    use ErrorKind as K;
    // kind, Defender code, its innererror, QRadar status, MSI, Edgio, others, gRPC status name
    let table = [
        (
            K::InvalidHashValue,
            "InvalidHashValue",
            None,
            400,
            422,
            400,
            400,
            "INVALID_ARGUMENT",
        ),
        (
            K::InvalidDomainName,
            "InvalidDomainName",
            None,
            400,
            422,
            400,
            400,
            "INVALID_ARGUMENT",
        ),
        (
            K::InvalidIpAddress,
            "InvalidIpAddress",
            None,
            400,
            422,
            400,
            400,
            "INVALID_ARGUMENT",
        ),
        (
            K::MaximumBatchSizeExceeded,
            "MaximumBatchSizeExceeded",
            None,
            400,
            422,
            400,
            400,
            "INVALID_ARGUMENT",
        ),
        (
            K::ODataError,
            "ODataError",
            None,
            400,
            422,
            400,
            400,
            "INVALID_ARGUMENT",
        ),
        (
            K::UnknownParameter,
            "InvalidInput",
            Some("UnknownParameter"),
            420,
            422,
            400,
            400,
            "INVALID_ARGUMENT",
        ),
        (
            K::OsPlatformNotSupported,
            "OsPlatformNotSupported",
            None,
            400,
            400,
            400,
            400,
            "FAILED_PRECONDITION",
        ),
        (
            K::ClientVersionNotSupported,
            "ClientVersionNotSupported",
            None,
            400,
            400,
            400,
            400,
            "FAILED_PRECONDITION",
        ),
        (
            K::InvalidCustomerId,
            "InvalidCustomerId",
            None,
            400,
            400,
            400,
            400,
            "INVALID_ARGUMENT",
        ),
        (
            K::InactiveCustomer,
            "InactiveCustomer",
            None,
            400,
            400,
            400,
            400,
            "FAILED_PRECONDITION",
        ),
        (
            K::DisabledFeature,
            "DisabledFeature",
            None,
            403,
            403,
            403,
            403,
            "PERMISSION_DENIED",
        ),
        (
            K::DisallowedOperation,
            "DisallowedOperation",
            None,
            403,
            403,
            403,
            403,
            "PERMISSION_DENIED",
        ),
        (
            K::InvalidCase,
            "NotFound",
            Some("InvalidCase"),
            404,
            404,
            403,
            404,
            "UNIMPLEMENTED",
        ),
        (
            K::InitializationFailure,
            "ServiceUnavailable",
            Some("InitializationFailure"),
            550,
            503,
            503,
            503,
            "UNAVAILABLE",
        ),
    ];
    for (kind, code, inner, qradar, msi, edgio, others, grpc) in table {
        let error = ApiError::new(kind, "the message");
        let render = |format: &dyn Format| {
            let out = format.render(&error, &cx("id-1"));
            let back = format.parse(out.status, out.content_type.to_str().ok(), &out.body);
            assert_eq!(back.map(|e| e.kind()), Some(kind), "{kind:?} parses back");
            (out.status.as_u16(), out.reason, json_of(&out.body))
        };
        let (status, _, body) = render(&Defender);
        assert_eq!(
            (status, &body["error"]["code"]),
            (others, &json!(code)),
            "{kind:?}"
        );
        assert_eq!(
            body["error"]["innererror"]["code"].as_str(),
            inner,
            "{kind:?}"
        );
        let (status, reason, body) = render(&QRadar::new());
        assert_eq!(status, qradar, "{kind:?}");
        assert_eq!(body["http_response"]["code"], qradar, "{kind:?}");
        let expected_reason = match qradar {
            420 => Some("Invalid Arguments"),
            550 => Some("Initialization Failure"),
            _ => None,
        };
        assert_eq!(reason, expected_reason, "{kind:?}");
        assert_eq!(
            body["http_response"]["message"].as_str(),
            QRadar::http_message(StatusCode::from_u16(qradar).unwrap()),
            "{kind:?}"
        );
        let (status, _, body) = render(&Msi);
        assert_eq!(
            (status, &body["kind"]),
            (msi, &json!(kind.slug())),
            "{kind:?}"
        );
        let (status, _, body) = render(&Edgio);
        assert_eq!(
            (status, &body["Message"]),
            (edgio, &json!("the message")),
            "{kind:?}"
        );
        let (status, _, body) = render(&Problem::new());
        assert_eq!(
            (status, &body["code"]),
            (others, &json!(kind.slug())),
            "{kind:?}"
        );
        let (status, _, body) = render(&Google::new());
        assert_eq!(
            (status, &body["error"]["status"]),
            (others, &json!(grpc)),
            "{kind:?}"
        );
        let reason = kind.slug().to_ascii_uppercase();
        assert_eq!(
            body["error"]["details"][0]["reason"],
            json!(reason),
            "{kind:?}"
        );
    }
    // EdgeCast's own words when the message is left to the format.
    let words = |kind| {
        let out = Edgio.render(&ApiError::from_kind(kind), &cx("id-1"));
        json_of(&out.body)["Message"].as_str().unwrap().to_owned()
    };
    assert_eq!(words(K::InvalidCustomerId), "Invalid Customer ID Value");
    assert_eq!(
        words(K::InactiveCustomer),
        "Cannot update or retrieve information of a deleted customer."
    );
    assert_eq!(words(K::InvalidCase), "Invalid Case");
}
