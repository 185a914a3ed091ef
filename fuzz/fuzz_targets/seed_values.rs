#![no_main]
//! The seeds' values, OData options and route hints on arbitrary text: each accepts, or refuses
//! with its kind and words, and never panics.

use libfuzzer_sys::fuzz_target;
use tower_envelope::extract::OData;
use tower_envelope::values::{DomainName, FileHash, IpAddress, Url};
use tower_envelope::{ErrorKind, RouteHints};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (kind, result) in [
        (ErrorKind::InvalidHashValue, text.parse::<FileHash>().err()),
        (
            ErrorKind::InvalidDomainName,
            text.parse::<DomainName>().err(),
        ),
        (ErrorKind::InvalidIpAddress, text.parse::<IpAddress>().err()),
        (ErrorKind::InvalidUrl, text.parse::<Url>().err()),
    ] {
        if let Some(error) = result {
            assert_eq!(error.kind(), kind);
            assert!(!error.message().chars().any(char::is_control));
        }
    }
    if let Err(error) = OData::<10_000>::from_query(text) {
        assert_eq!(error.kind(), ErrorKind::ODataError);
        assert!(!error.message().chars().any(char::is_control));
    }
    let hints = RouteHints::new(["/api/machines/{id}", "/api/machines", "/files/{*path}"]);
    let error = hints.error(text);
    assert!(matches!(
        error.kind(),
        ErrorKind::NotFound | ErrorKind::InvalidCase
    ));
    assert!(!error.message().chars().any(char::is_control));
});
