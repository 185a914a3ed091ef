//! Extracts one valid JSON body N times with one extractor, for instruction counting under
//! callgrind: the crate's `Json<T>` against axum's `Json<T>`, over `Bytes` (reading the body
//! alone) and `none` (building the requests alone).
//!
//! ```sh
//! cargo build --release -p tower-envelope-benches --bin extractor_instructions
//! for e in none bytes axum crate; do
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/extractor_instructions $e 10000 2>&1 | grep Collected
//! done
//! ```
//!
//! (instructions of `crate` − instructions of `none`) / N is the crate's cost per extraction;
//! the same for `axum`.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use futures_util::FutureExt;
use http::header::CONTENT_TYPE;
use serde::Deserialize;

#[allow(dead_code)] // Read by the extraction only.
#[derive(Deserialize)]
struct Machine {
    name: String,
    tags: Vec<String>,
    owner: Owner,
    count: u16,
}

#[allow(dead_code)]
#[derive(Deserialize)]
struct Owner {
    email: String,
}

const BODY: &str =
    r#"{"name":"web-1","tags":["prod","eu-west"],"owner":{"email":"ops@example.com"},"count":3}"#;

use tower_envelope_benches::service;

fn request() -> Request {
    Request::post("/api/machines")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(Bytes::from_static(BODY.as_bytes())))
        .unwrap()
}

/// Runs an extraction that completes at once (the body is in memory).
fn extract<E: FromRequest<()>>(request: Request) -> E {
    match E::from_request(request, &()).now_or_never() {
        Some(Ok(extracted)) => extracted,
        _ => panic!("the extraction failed or did not complete"),
    }
}

fn main() {
    let usage = "usage: extractor_instructions none|bytes|axum|crate N";
    let (which, n) = service::args(usage);
    let requests: Vec<Request> = (0..n).map(|_| request()).collect();
    for request in requests {
        match which.as_str() {
            "none" => drop(std::hint::black_box(request)),
            "bytes" => drop(std::hint::black_box(extract::<Bytes>(request))),
            "axum" => drop(std::hint::black_box(extract::<axum::Json<Machine>>(
                request,
            ))),
            "crate" => drop(std::hint::black_box(extract::<
                tower_envelope::extract::Json<Machine>,
            >(request))),
            _ => panic!("{usage}"),
        }
    }
}
