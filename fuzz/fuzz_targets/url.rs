#![no_main]
//! The URL validator on arbitrary path and query strings, and through the layer on every input
//! `http::Uri` accepts.

use libfuzzer_sys::fuzz_target;
use tower::Layer;
use tower_envelope::UrlEncodingLayer;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text, None),
    };
    let strict = UrlEncodingLayer::new()
        .reject_encoded_slash(true)
        .reject_dot_segments(true);
    for layer in [UrlEncodingLayer::new(), strict] {
        if let Err(e) = layer.check_path_and_query(path, query) {
            // The reported position lies inside the path and query.
            let target = path.len() + query.map_or(0, |q| q.len() + 1);
            assert!(e.position() <= target, "{e}");
            let message = e.to_string();
            assert!(!message.chars().any(char::is_control), "{message:?}");
        }
    }
    if let Ok(uri) = http::Uri::try_from(data) {
        let request = http::Request::builder()
            .uri(uri)
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let mut svc = UrlEncodingLayer::new().layer(common::OK_200);
        let (response, body) = common::drive(&mut svc, request);
        common::assert_clean_headers(&response);
        assert!(response.status() == 200 || response.status() == 400);
        if response.status() == 400 {
            // The rejection is a problem+json object.
            assert!(body.starts_with(b"{") && body.ends_with(b"}"), "{body:?}");
        }
    }
});
