#![no_main]
//! The `Authorization` parsers (Bearer, TOK, a named header) and the whole layer on arbitrary
//! header bytes: no panic, and the token never appears in the answer.

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::Empty;
use libfuzzer_sys::fuzz_target;
use tower::Layer;
use tower_envelope::auth::{AuthTokenLayer, Scheme, StaticTokens, TokenValidator};

#[path = "common.rs"]
mod common;

const SECRET: &str = "s3cr3t-fuzz-token";

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    // Whatever the header, a validator sees one or more visible ASCII characters.
    let tokens = StaticTokens::new().token(SECRET, ["read"]);
    let validator = move |token: &str| {
        assert!(!token.is_empty());
        assert!(
            token.bytes().all(|b| (0x21..0x7f).contains(&b)),
            "{token:?}"
        );
        tokens.validate(token)
    };
    for (header, scheme) in [
        ("authorization", Scheme::bearer()),
        ("authorization", Scheme::tok()),
        ("sec", Scheme::header("SEC")),
    ] {
        let layer = AuthTokenLayer::new(scheme, validator.clone());
        let request = http::Request::get("/")
            .header(header, value.clone())
            .body(Empty::<Bytes>::new())
            .unwrap();
        let mut svc = layer
            .require_scope(http::Method::GET, "read")
            .layer(common::OK_200);
        let (response, body) = common::drive(&mut svc, request);
        common::assert_clean_headers(&response);
        if response.status() != 200 {
            let text = String::from_utf8_lossy(&body);
            assert!(!text.contains(SECRET));
            for (_, v) in response.headers() {
                assert!(!String::from_utf8_lossy(v.as_bytes()).contains(SECRET));
            }
        }
    }
});
