#![no_main]
//! `ContentTypeLayer` on arbitrary `Content-Type` and `Accept` values.

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::HeaderValue;
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use tower::Layer;
use tower_envelope::ContentTypeLayer;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let (content_type, accept) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(content_type) = HeaderValue::from_bytes(content_type) else {
        return;
    };
    let mut builder = http::Request::post("/")
        .header(CONTENT_TYPE, content_type)
        .header(CONTENT_LENGTH, "2");
    if let Some(accept) = accept.and_then(|a| HeaderValue::from_bytes(a).ok()) {
        builder = builder.header(ACCEPT, accept);
    }
    let request = builder.body(Full::new(Bytes::from_static(b"{}"))).unwrap();
    let layer = ContentTypeLayer::json()
        .accept_header(["application/json", "application/problem+json"])
        .unwrap()
        .verify_json(1024);
    let mut svc = layer.layer(common::OK_200);
    let (response, body) = common::drive(&mut svc, request);
    common::assert_clean_headers(&response);
    match response.status().as_u16() {
        200 => assert_eq!(body, b"ok"),
        406 | 415 => assert!(body.starts_with(b"{")),
        other => panic!("unexpected status {other}"),
    }
});
