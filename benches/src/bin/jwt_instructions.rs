//! Drives `AuthTokenLayer` with a JWT validator N times over one valid token signed by a cached
//! key, for instruction counting under callgrind (subtract the `bare` run, divide by N).
//!
//! ```sh
//! cargo build --release -p tower-envelope-benches --features jwt --bin jwt_instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/jwt_instructions rs256 1000
//! ```
//!
//! `rs256`, `es256`, `eddsa`: [`JwtValidator`] over a fixed key set; `jwks_rs256`,
//! `jwks_es256`: [`JwksValidator`] with the keys already fetched; `bare`: the service alone.
//! After the first request the token is a verified one seen again. `static` is the same layer
//! over `StaticTokens` and a short token, over its own bare service `bare_static`: the check a
//! repeated JWT is compared with. Take the difference of two runs (N and 3N) to leave out the
//! one-time costs (the key, the first verification).

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{Method, Request, Response};
use http_body_util::{Empty, Full};
use serde_json::json;
use tower::BoxError;
use tower::{Layer, Service};
use tower_envelope::auth::jwt::{JwksValidator, JwtValidator};
use tower_envelope::auth::{AsyncTokenValidator, AuthTokenLayer, StaticTokens};

use tower_envelope_benches::keys::{self, ed25519, jwks, p256, rsa1, TestKey};
use tower_envelope_benches::service::{self, drive, BARE};

const ISS: &str = "https://login.example.com/tenant-1/v2.0";
/// The static token, of the length of the other benchmarks'.
const STATIC_TOKEN: &str = "read-token-5f2a9c";
const AUD: &str = "api://machines";

fn token(key: &TestKey) -> String {
    key.mint(&json!({
        "iss": ISS,
        "aud": AUD,
        "sub": "3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f",
        "tid": "contoso",
        "scp": "read write",
        "iat": keys::now_plus(0),
        "exp": keys::now_plus(3600),
    }))
}

fn req(token: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::GET)
        .uri("/api/machines")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn run<S, RB>(mut svc: S, token: &str, n: usize)
where
    S: Service<Request<Full<Bytes>>, Response = Response<RB>>,
    S::Error: std::fmt::Debug,
{
    let reqs: Vec<_> = (0..n).map(|_| req(token)).collect();
    let mut out = Vec::with_capacity(n);
    for r in reqs {
        let res = drive(&mut svc, r);
        assert!(res.status().is_success(), "{}", res.status());
        out.push(res);
    }
    std::hint::black_box(&out);
    std::mem::forget(out);
}

fn fixed(key: &TestKey, n: usize) {
    let validator = JwtValidator::from_jwks(jwks(&[key]), ISS, AUD).unwrap();
    let layer = AuthTokenLayer::bearer(validator);
    run(layer.layer(BARE), &token(key), n);
}

fn fetched(key: &TestKey, n: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let document = Bytes::from(jwks(&[key]));
    let client = tower::service_fn(move |_: Request<Empty<Bytes>>| {
        let document = document.clone();
        async move { Ok::<_, BoxError>(Response::new(Full::new(document))) }
    });
    let url = "https://issuer.test/keys";
    let validator = JwksValidator::with_client(client, url, ISS, AUD).unwrap();
    let token = token(key);
    runtime.block_on(validator.validate(&token)).unwrap();
    run(
        AuthTokenLayer::bearer_async(validator).layer(BARE),
        &token,
        n,
    );
}

fn main() {
    let usage =
        "usage: jwt_instructions bare|bare_static|static|rs256|es256|eddsa|jwks_rs256|jwks_es256 N";
    let (which, n) = service::args(usage);
    match which.as_str() {
        "bare" => run(BARE, &token(&rsa1()), n),
        "bare_static" => run(BARE, STATIC_TOKEN, n),
        "static" => {
            let tokens = StaticTokens::new().token(STATIC_TOKEN, ["read", "write"]);
            run(AuthTokenLayer::bearer(tokens).layer(BARE), STATIC_TOKEN, n)
        }
        "rs256" => fixed(&rsa1(), n),
        "es256" => fixed(&p256(), n),
        "eddsa" => fixed(&ed25519(), n),
        "jwks_rs256" => fetched(&rsa1(), n),
        "jwks_es256" => fetched(&p256(), n),
        _ => panic!("{usage}"),
    }
}
