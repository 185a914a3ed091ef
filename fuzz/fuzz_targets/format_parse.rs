#![no_main]
//! Every format's `parse` (and `parse_any`) on arbitrary bodies; whatever parses renders again
//! and parses back to the same error.

use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower_envelope::format::{
    parse_any, Defender, Edgio, Format, Google, Msi, Problem, QRadar, RequestContext,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let status =
        StatusCode::from_u16(400 + u16::from(selector % 200)).unwrap_or(StatusCode::BAD_REQUEST);
    let content_type = match selector % 4 {
        0 => None,
        1 => Some("application/json"),
        2 => Some("application/xml"),
        _ => Some("application/problem+json"),
    };
    let formats: [&dyn Format; 6] = [
        &Defender,
        &QRadar::new(),
        &Msi,
        &Edgio,
        &Problem::new(),
        &Google::new(),
    ];
    let method = Method::GET;
    let cx = RequestContext::new("fuzz", &method);
    for format in formats {
        if let Some(error) = format.parse(status, content_type, body) {
            let out = format.render(&error, &cx);
            let ct = out.content_type.to_str().unwrap().to_owned();
            let again = format
                .parse(out.status, Some(&ct), &out.body)
                .expect("re-parse");
            assert_eq!(again.kind(), error.kind());
            // An empty message renders as the format's default message for the kind.
            let shown = match error.message() {
                "" => format.default_message(error.kind()),
                m => m,
            };
            assert_eq!(again.message(), shown);
        }
    }
    if let Some(error) = parse_any(status, content_type, body) {
        assert!(!error.message().chars().any(char::is_control));
    }
});
