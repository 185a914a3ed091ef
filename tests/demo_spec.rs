//! The demo's nested-body route, `PUT /api/machines/{id}/spec`, called in-process: the
//! extractors' answers as the demo renders them (Defender and Google).

#[allow(dead_code)]
#[path = "../examples/demo.rs"]
mod demo;

use axum::body::Body;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn put_spec(format: &str, id: &str, token: &str, body: &'static str) -> (StatusCode, Value) {
    let app = demo::app(demo::format(format).unwrap());
    let request = Request::put(format!("/api/machines/{id}/spec"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

const VALID: &str = r#"{"name":"web-1","tags":["prod","eu"],"owner":{"email":"ops@example.com"}}"#;

#[tokio::test]
async fn a_valid_spec_is_answered_back() {
    let (status, body) = put_spec("defender", "1", "write-token", VALID).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"name": "web-1", "tags": ["prod", "eu"], "owner": {"email": "ops@example.com"}})
    );
}

#[tokio::test]
async fn each_rejection_names_its_path() {
    let cases = [
        (
            r#"{"name":"web-1","tags":["prod",7],"owner":{"email":"ops@example.com"}}"#,
            "InvalidInput",
            "Invalid input tags[1]: expected a string.",
            "body.tags.1",
        ),
        (
            r#"{"name":"web-1","tags":[],"owner":{}}"#,
            "MissingRequiredParameter",
            "Parameter owner.email is missing.",
            "body.owner.email",
        ),
        (
            r#"{"name":"web-1","tags":[],"Owner":{"email":"ops@example.com"}}"#,
            "InvalidInput",
            r#"Invalid input Owner: unknown field. Body parameters are case-sensitive: received "Owner", expected "owner"."#,
            "body.Owner",
        ),
    ];
    for (body, code, message, target) in cases {
        let (status, json) = put_spec("defender", "1", "write-token", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(json["error"]["code"], code, "{body}");
        assert_eq!(json["error"]["message"], message, "{body}");
        assert_eq!(json["error"]["details"][0]["target"], target, "{body}");
    }

    let (status, json) = put_spec("google", "1", "write-token", cases[0].0).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let bad_request = json["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest")
        .unwrap();
    assert_eq!(bad_request["fieldViolations"][0]["field"], "tags.1");
}

#[tokio::test]
async fn the_id_is_a_number_and_the_route_needs_write() {
    let (status, json) = put_spec("defender", "web-1", "write-token", VALID).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["error"]["message"], "Invalid input id: expected u64.");
    assert_eq!(json["error"]["details"][0]["target"], "path.id");

    let (status, json) = put_spec("defender", "7", "write-token", VALID).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json["error"]["message"], "Machine 7 was not found");

    let (status, json) = put_spec("defender", "1", "read-token", VALID).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json["error"]["code"], "Forbidden");
}
