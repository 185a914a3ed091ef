//! JWT bearer tokens end to end: a JWKS served over real loopback HTTP, fetched by the built-in
//! fetcher, and requests through `ErrorEnvelopeLayer::defender()` + `AuthTokenLayer` with `auth::Async`.
//! No assertion is on elapsed time: the fetches are counted where the issuer sees them.
//!
//! This file is its own test binary with the counting allocator of `tests/common`.

mod common;
#[path = "common/jwt.rs"]
mod keys;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tower::BoxError;
use tower::{ServiceBuilder, ServiceExt};
use tower_envelope::auth::jwt::{JwksError, JwksValidator, JwtValidator};
use tower_envelope::auth::{
    AsyncTokenValidator, AuthTokenLayer, Principal, TokenError, TokenValidator,
};
use tower_envelope::ErrorEnvelopeLayer;

use keys::{b64_json, ed25519, forger, jwks, now_plus, p256, p384, rsa1, rsa2, TestKey};

const ISS: &str = "https://login.example.com/tenant-1/v2.0";
const AUD: &str = "api://machines";
const CHALLENGE: &str = r#"Bearer realm="api", error="invalid_token""#;

// ---- the issuer: a JWKS over loopback HTTP ------------------------------------------------

struct Document {
    status: StatusCode,
    body: String,
    cache_control: Option<&'static str>,
}

/// Serves `GET /keys` on 127.0.0.1, one request per connection, and counts the requests.
struct Issuer {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    document: Arc<Mutex<Document>>,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl Issuer {
    async fn start(keys: &[&TestKey]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let document = Arc::new(Mutex::new(Document {
            status: StatusCode::OK,
            body: jwks(keys),
            cache_control: None,
        }));
        let (served_hits, served) = (Arc::clone(&hits), Arc::clone(&document));
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (hits, document) = (Arc::clone(&served_hits), Arc::clone(&served));
                let service = hyper::service::service_fn(move |req: Request<_>| {
                    let response = if req.uri().path() == "/keys" {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let document = document.lock().unwrap();
                        let mut res = Response::builder()
                            .status(document.status)
                            .header(CONTENT_TYPE, "application/json");
                        if let Some(cache) = document.cache_control {
                            res = res.header(CACHE_CONTROL, cache);
                        }
                        res.body(Full::new(Bytes::from(document.body.clone())))
                    } else {
                        Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::default())
                    };
                    async move { response.map_err(|_| -> Infallible { unreachable!() }) }
                });
                tokio::spawn(
                    http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Self {
            addr,
            hits,
            document,
            server: Mutex::new(Some(server)),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/keys", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn publish(&self, keys: &[&TestKey]) {
        self.document.lock().unwrap().body = jwks(keys);
    }

    fn answer(&self, status: StatusCode) {
        self.document.lock().unwrap().status = status;
    }

    fn cache_control(&self, value: &'static str) {
        self.document.lock().unwrap().cache_control = Some(value);
    }

    /// Stops listening: connections are refused from now on.
    async fn go_down(&self) {
        let server = self.server.lock().unwrap().take().unwrap();
        server.abort();
        let _ = server.await; // the listener is closed once the task is gone
    }

    fn validator(&self) -> JwksValidator {
        self.validator_with(|jwks| jwks)
    }

    fn validator_with(
        &self,
        configure: impl FnOnce(JwksValidator) -> JwksValidator,
    ) -> JwksValidator {
        configure(JwksValidator::new(&self.url(), ISS, AUD).unwrap())
    }
}

// ---- the service: envelope + auth + a handler echoing the principal ----------------------

struct Reply {
    status: StatusCode,
    challenge: Option<String>,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }

    #[track_caller]
    fn assert_ok(&self, subject: &str) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        let body = self.json();
        assert_eq!(body["sub"], subject, "{body}");
        body
    }

    /// A 401 with `message` in Defender's envelope and the challenge describing it.
    #[track_caller]
    fn assert_invalid(&self, code: &str, message: &str) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{}", self.text);
        let body = self.json();
        assert_eq!(body["error"]["code"], "Unauthorized", "{body}");
        assert_eq!(body["error"]["message"], message, "{body}");
        if code != "Unauthorized" {
            assert_eq!(body["error"]["innererror"]["code"], code, "{body}");
        }
        assert_eq!(
            self.challenge.as_deref(),
            Some(format!(r#"{CHALLENGE}, error_description="{message}""#).as_str())
        );
    }

    #[track_caller]
    fn assert_unavailable(&self) {
        assert_eq!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            self.text
        );
        assert_eq!(self.challenge, None);
        let body = self.json();
        assert_eq!(body["error"]["code"], "ServiceUnavailable", "{body}");
    }
}

async fn handler(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let principal = req.extensions().get::<Principal>().unwrap();
    let body = json!({
        "sub": principal.subject(),
        "scopes": principal.scopes().collect::<Vec<_>>(),
        "tid": principal.claim::<String>("tid"),
    });
    Ok(Response::new(Full::new(Bytes::from(body.to_string()))))
}

fn request(method: Method, path: &str, token: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::default())
        .unwrap()
}

async fn reply<B>(res: Response<B>) -> Reply
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let status = res.status();
    let challenge = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        challenge,
        text: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// Writes need `write`; `/admin` needs `admin`.
fn admin_route(parts: &http::request::Parts) -> &'static [&'static str] {
    if parts.uri.path().starts_with("/admin") {
        &["admin"]
    } else {
        &[]
    }
}

async fn send<V>(validator: &V, method: Method, path: &str, token: &str) -> Reply
where
    V: AsyncTokenValidator + Clone + Send + Sync + 'static,
    V::Future: Send + 'static,
{
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(
            AuthTokenLayer::bearer_async(validator.clone())
                .require_scope(Method::POST, "write")
                .require_scopes_with(admin_route),
        )
        .service_fn(handler);
    reply(svc.oneshot(request(method, path, token)).await.unwrap()).await
}

async fn get<V>(validator: &V, token: &str) -> Reply
where
    V: AsyncTokenValidator + Clone + Send + Sync + 'static,
    V::Future: Send + 'static,
{
    send(validator, Method::GET, "/machines", token).await
}

/// Valid claims for `alice` of `contoso` with scope `read`, merged with `changes` (a `null`
/// removes a claim).
fn claims(changes: Value) -> Value {
    let mut claims = json!({
        "iss": ISS,
        "aud": AUD,
        "sub": "alice",
        "tid": "contoso",
        "scp": "read",
        "iat": now_plus(0),
        "exp": now_plus(3600),
    });
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

fn valid(key: &TestKey) -> String {
    key.mint(&claims(json!({})))
}

// ---- tokens that pass ---------------------------------------------------------------------

#[tokio::test]
async fn every_algorithm_passes_with_its_key_and_the_claims_reach_the_handler() {
    let rs384 = rsa2().with_kid("rsa-2-rs384").with_alg("RS384");
    let rs512 = rsa2().with_kid("rsa-2-rs512").with_alg("RS512");
    let ps256 = rsa2().with_kid("rsa-2-ps256").with_alg("PS256");
    let keys = [
        &rsa1(),
        &rs384,
        &rs512,
        &ps256,
        &p256(),
        &p384(),
        &ed25519(),
    ];
    let issuer = Issuer::start(&keys).await;
    let validator = issuer.validator();
    for key in keys {
        let body = get(&validator, &valid(key)).await.assert_ok("alice");
        assert_eq!(body["tid"], "contoso", "{}", key.alg);
        assert_eq!(body["scopes"], json!(["read"]), "{}", key.alg);
    }
    assert_eq!(issuer.hits(), 1, "one fetch serves every key");
}

#[tokio::test]
async fn tokens_minted_by_an_independent_implementation_pass() {
    let ps256 = rsa2().with_kid("rsa-2-ps256").with_alg("PS256");
    let keys = [&rsa1(), &ps256, &p256(), &p384(), &ed25519()];
    let issuer = Issuer::start(&keys).await;
    let validator = issuer.validator();
    for key in keys {
        let token = key.mint_by_hand(&claims(json!({"sub": key.alg})));
        get(&validator, &token).await.assert_ok(key.alg);

        // The same token with one claim changed after signing.
        let (input, signature) = token.rsplit_once('.').unwrap();
        let (header, _) = input.split_once('.').unwrap();
        let tampered = b64_json(&claims(json!({"sub": "mallory"})));
        let reply = get(&validator, &format!("{header}.{tampered}.{signature}")).await;
        reply.assert_invalid("Unauthorized", "token signature is invalid");
    }
}

#[tokio::test]
async fn scopes_come_from_scp_scope_and_roles() {
    let key = rsa1();
    let issuer = Issuer::start(&[&key]).await;
    let validator = issuer.validator();

    // Entra ID: delegated `scp` (space-separated), application `roles` (an array); RFC 8693
    // `scope`; `scp` as an array (other issuers).
    for changes in [
        json!({"scp": "read write"}),
        json!({"scp": null, "roles": ["write"]}),
        json!({"scp": null, "scope": "write openid"}),
        json!({"scp": ["read", "write"]}),
    ] {
        let token = key.mint(&claims(changes.clone()));
        let reply = send(&validator, Method::POST, "/machines", &token).await;
        let body = reply.assert_ok("alice");
        assert!(
            body["scopes"].as_array().unwrap().contains(&json!("write")),
            "{changes}: {body}"
        );
    }

    // Without `write` a POST is forbidden, naming the scope it needs.
    let read_only = valid(&key);
    let reply = send(&validator, Method::POST, "/machines", &read_only).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    assert_eq!(reply.json()["error"]["code"], "Forbidden");
    assert_eq!(
        reply.challenge.as_deref(),
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="write""#)
    );

    // A per-route requirement is met by an application role.
    let reply = send(&validator, Method::GET, "/admin/keys", &read_only).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    let admin = key.mint(&claims(json!({"roles": ["admin"]})));
    let body = send(&validator, Method::GET, "/admin/keys", &admin)
        .await
        .assert_ok("alice");
    assert_eq!(body["scopes"], json!(["read", "admin"]));
}

#[tokio::test]
async fn several_audiences_and_issuers_may_be_accepted() {
    let key = rsa1();
    let issuer = Issuer::start(&[&key]).await;
    let validator = issuer
        .validator()
        .accept_audience("00000000-0000-0000-0000-00000000abcd")
        .accept_issuer("https://sts.example.com/tenant-1/");
    for changes in [
        json!({}),
        json!({"aud": "00000000-0000-0000-0000-00000000abcd"}),
        json!({"aud": ["https://graph.example.com", AUD]}),
        json!({"iss": "https://sts.example.com/tenant-1/"}),
    ] {
        let token = key.mint(&claims(changes.clone()));
        get(&validator, &token).await.assert_ok("alice");
    }
    let other = key.mint(&claims(json!({"aud": ["https://graph.example.com"]})));
    get(&validator, &other)
        .await
        .assert_invalid("Unauthorized", "token is not intended for this audience");
}

#[tokio::test]
async fn exp_and_nbf_allow_the_clock_leeway() {
    let key = rsa1();
    let issuer = Issuer::start(&[&key]).await;
    let lenient = issuer.validator();
    let strict = lenient.clone().leeway(Duration::ZERO);
    let just_expired = key.mint(&claims(json!({"exp": now_plus(-20)})));
    let almost_valid = key.mint(&claims(json!({"nbf": now_plus(20)})));
    get(&lenient, &just_expired).await.assert_ok("alice");
    get(&lenient, &almost_valid).await.assert_ok("alice");
    get(&strict, &just_expired)
        .await
        .assert_invalid("TokenExpired", "token has expired");
    get(&strict, &almost_valid)
        .await
        .assert_invalid("Unauthorized", "token is not valid yet");
    let past = key.mint(&claims(json!({"nbf": now_plus(-20)})));
    get(&strict, &past).await.assert_ok("alice");
}

// ---- precise failures ----------------------------------------------------------------------

#[tokio::test]
async fn each_failure_is_precise_and_echoes_nothing() {
    let key = rsa1();
    let ec = p256();
    let issuer = Issuer::start(&[&key, &ec]).await;
    let validator = issuer.validator_with(|jwks| jwks.refetch_interval(Duration::from_secs(3600)));
    let secret_claims = json!({"sub": "secret-subject-7f3a", "tid": "secret-tenant-9c2e"});
    let mint = |changes: Value| {
        let mut all = claims(changes);
        all["sub"] = secret_claims["sub"].clone();
        all["tid"] = secret_claims["tid"].clone();
        key.mint(&all)
    };
    let header = b64_json(&json!({"alg": "RS256", "kid": "rsa-1"}));
    let body = b64_json(&claims(json!({})));
    let cases: Vec<(String, &str, &str)> = vec![
        ("not-a-jwt".into(), "Unauthorized", "token is malformed"),
        (
            format!("{header}.{body}"),
            "Unauthorized",
            "token is malformed",
        ),
        (
            format!("{header}.{body}.!!"),
            "Unauthorized",
            "token is malformed",
        ),
        // The signature is checked before the claims are read.
        (
            format!("{header}.bm90IGpzb24.c2ln"),
            "Unauthorized",
            "token signature is invalid",
        ),
        (
            format!(
                "{}.{body}.c2ln",
                b64_json(&json!({"alg": "RS256", "kid": 7}))
            ),
            "Unauthorized",
            "token is malformed",
        ),
        (
            mint(json!({"scp": 5})),
            "Unauthorized",
            "token is malformed",
        ),
        (
            mint(json!({"exp": "tomorrow"})),
            "Unauthorized",
            "token has no expiry (exp)",
        ),
        (
            format!(
                "{}.{body}.c2ln",
                b64_json(&json!({"alg": "RS256", "kid": "rsa-9"}))
            ),
            "Unauthorized",
            "token is signed by an unknown key",
        ),
        (
            // An RS256 token naming the ES256 key.
            key.clone().with_kid("ec-256").mint(&claims(json!({}))),
            "Unauthorized",
            "token is signed with an algorithm that is not accepted",
        ),
        (
            mint(json!({"exp": now_plus(-3600)})),
            "TokenExpired",
            "token has expired",
        ),
        (
            mint(json!({"nbf": now_plus(3600)})),
            "Unauthorized",
            "token is not valid yet",
        ),
        (
            mint(json!({"iss": "https://login.example.com/tenant-2/v2.0"})),
            "Unauthorized",
            "token is issued by an issuer that is not accepted",
        ),
        (
            mint(json!({"aud": "api://other"})),
            "Unauthorized",
            "token is not intended for this audience",
        ),
        (
            mint(json!({"exp": null})),
            "Unauthorized",
            "token has no expiry (exp)",
        ),
        (
            mint(json!({"iss": null})),
            "Unauthorized",
            "token names no issuer (iss)",
        ),
        (
            mint(json!({"aud": null})),
            "Unauthorized",
            "token names no audience (aud)",
        ),
    ];
    for (token, code, message) in &cases {
        let reply = get(&validator, token).await;
        reply.assert_invalid(code, message);
        for secret in [token.as_str(), "secret-subject-7f3a", "secret-tenant-9c2e"] {
            assert!(!reply.text.contains(secret), "{message}: {}", reply.text);
        }
    }
    assert_eq!(
        issuer.hits(),
        1,
        "an unknown kid within the refetch interval does not fetch"
    );
}

#[tokio::test]
async fn forged_tokens_are_refused_without_fetching() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let key = rsa1();
    let issuer = Issuer::start(&[&key]).await;
    let validator = issuer.validator();
    get(&validator, &valid(&key)).await.assert_ok("alice");
    assert_eq!(issuer.hits(), 1);

    let body = b64_json(&claims(json!({"sub": "mallory", "scp": "read write"})));
    let unsigned = |alg: &str| {
        let header = b64_json(&json!({"alg": alg, "kid": "rsa-1", "typ": "JWT"}));
        format!("{header}.{body}.")
    };
    // HS256 keyed with the RSA public key, as a verifier that lets the token pick the
    // algorithm would check it.
    let hs256_with_public_key = |secret: &[u8]| {
        let mut forged = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        forged.kid = Some("rsa-1".into());
        jsonwebtoken::encode(
            &forged,
            &claims(json!({"sub": "mallory"})),
            &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
        )
        .unwrap()
    };
    let jwk = key.jwk();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let cases = [
        unsigned("none"),
        unsigned("None"),
        format!("{}c2ln", unsigned("none")),
        // The public key as PKCS#1 DER, as JWK text, as the bare modulus.
        hs256_with_public_key(&key.rsa_public_der()),
        hs256_with_public_key(jwk.to_string().as_bytes()),
        hs256_with_public_key(&n),
    ];
    for token in &cases {
        get(&validator, token).await.assert_invalid(
            "Unauthorized",
            "token is signed with an algorithm that is not accepted",
        );
    }

    // A valid signature by an unpublished key that reuses the published kid.
    let reused = forger().with_kid("rsa-1");
    let token = reused.mint(&claims(json!({"sub": "mallory"})));
    get(&validator, &token)
        .await
        .assert_invalid("Unauthorized", "token signature is invalid");
    let token = reused.mint_by_hand(&claims(json!({"sub": "mallory"})));
    get(&validator, &token)
        .await
        .assert_invalid("Unauthorized", "token signature is invalid");

    assert_eq!(issuer.hits(), 1, "no forged token made the validator fetch");
}

// ---- rotation, rate limit, outage ----------------------------------------------------------

#[tokio::test]
async fn a_key_rotated_in_after_start_up_is_fetched_once() {
    let (old, new) = (rsa1(), rsa2());
    let issuer = Issuer::start(&[&old]).await;
    let validator = issuer.validator_with(|jwks| jwks.refetch_interval(Duration::ZERO));
    get(&validator, &valid(&old)).await.assert_ok("alice");
    assert_eq!(issuer.hits(), 1);

    issuer.publish(&[&old, &new]);
    get(&validator, &valid(&new)).await.assert_ok("alice");
    assert_eq!(
        issuer.hits(),
        2,
        "the unknown kid fetched the document again"
    );
    get(&validator, &valid(&new)).await.assert_ok("alice");
    get(&validator, &valid(&old)).await.assert_ok("alice");
    assert_eq!(issuer.hits(), 2, "both keys are cached");

    // The old key is retired: its tokens keep passing until the next fetch drops it (a token
    // verified before is verified again once the key set changed, and refused).
    issuer.publish(&[&new]);
    let unknown = rsa1().with_kid("rsa-3");
    get(&validator, &valid(&unknown))
        .await
        .assert_invalid("Unauthorized", "token is signed by an unknown key");
    assert_eq!(issuer.hits(), 3);
    get(&validator, &valid(&old))
        .await
        .assert_invalid("Unauthorized", "token is signed by an unknown key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_unknown_kids_hits_the_issuer_at_most_once_per_interval() {
    let key = rsa1();
    let issuer = Issuer::start(&[&key]).await;
    let interval = Duration::from_secs(3);
    let validator = issuer.validator_with(|jwks| jwks.refetch_interval(interval));
    // Unknown kids are refused before any signature is checked: these need none.
    let body = b64_json(&claims(json!({})));
    let forged_kid = |i: usize| {
        let header = b64_json(&json!({"alg": "RS256", "kid": format!("forged-{i}")}));
        format!("{header}.{body}.c2ln")
    };
    let burst = |from: usize| {
        let tokens: Vec<String> = (from..from + 40).map(forged_kid).collect();
        let mut set = JoinSet::new();
        for token in tokens {
            let validator = validator.clone();
            set.spawn(async move { get(&validator, &token).await });
        }
        set
    };

    // Before any key is cached: 40 concurrent unknown kids share one fetch.
    let replies = burst(0).join_all().await;
    for reply in &replies {
        reply.assert_invalid("Unauthorized", "token is signed by an unknown key");
    }
    assert_eq!(issuer.hits(), 1);
    // Within the interval, no unknown kid fetches; a cached kid never does.
    for reply in burst(100).join_all().await {
        reply.assert_invalid("Unauthorized", "token is signed by an unknown key");
    }
    get(&validator, &valid(&key)).await.assert_ok("alice");
    assert_eq!(issuer.hits(), 1);

    // Once the interval has passed, one more fetch for the next burst.
    tokio::time::sleep(interval + Duration::from_millis(500)).await;
    let before = issuer.hits();
    for reply in burst(200).join_all().await {
        reply.assert_invalid("Unauthorized", "token is signed by an unknown key");
    }
    assert_eq!(issuer.hits(), before + 1);
}

#[tokio::test]
async fn an_issuer_that_goes_down_keeps_cached_keys_working() {
    let (cached, rotated) = (rsa1(), rsa2());
    let issuer = Issuer::start(&[&cached]).await;
    let validator = issuer.validator_with(|jwks| jwks.refetch_interval(Duration::ZERO));
    get(&validator, &valid(&cached)).await.assert_ok("alice");

    // Answering 500: cached keys pass, an unknown kid cannot be checked.
    issuer.answer(StatusCode::INTERNAL_SERVER_ERROR);
    get(&validator, &valid(&rotated)).await.assert_unavailable();
    assert_eq!(issuer.hits(), 2);
    get(&validator, &valid(&cached)).await.assert_ok("alice");

    // Back, with the rotated key.
    issuer.answer(StatusCode::OK);
    issuer.publish(&[&cached, &rotated]);
    get(&validator, &valid(&rotated)).await.assert_ok("alice");

    // Unreachable.
    issuer.go_down().await;
    get(&validator, &valid(&cached)).await.assert_ok("alice");
    get(&validator, &valid(&rotated)).await.assert_ok("alice");
    let reply = get(&validator, &valid(&rsa1().with_kid("rsa-9"))).await;
    reply.assert_unavailable();
    // A bad token is still refused as such.
    get(&validator, "not-a-jwt")
        .await
        .assert_invalid("Unauthorized", "token is malformed");
}

#[tokio::test]
async fn an_issuer_unreachable_from_the_start_answers_503_not_500_nor_a_pass() {
    let key = rsa1();
    let issuer = Issuer::start(&[&key]).await;
    issuer.go_down().await;
    let validator = issuer.validator_with(|jwks| jwks.timeout(Duration::from_secs(5)));
    get(&validator, &valid(&key)).await.assert_unavailable();
    get(&validator, &valid(&key)).await.assert_unavailable();

    // A document that is not a key set, or has no usable key, is no better.
    for body in ["<html>", r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#] {
        let issuer = Issuer::start(&[&key]).await;
        issuer.document.lock().unwrap().body = body.into();
        get(&issuer.validator(), &valid(&key))
            .await
            .assert_unavailable();
    }
}

#[tokio::test]
async fn keys_are_refreshed_in_the_background_on_max_age() {
    let (old, new) = (rsa1(), rsa2());
    let issuer = Issuer::start(&[&old]).await;
    issuer.cache_control("public, max-age=1");
    let validator = issuer.validator_with(|jwks| {
        jwks.refetch_interval(Duration::from_millis(100))
            .refresh_interval(Duration::from_secs(3600))
    });
    get(&validator, &valid(&old)).await.assert_ok("alice");
    assert_eq!(issuer.hits(), 1);

    issuer.publish(&[&old, &new]);
    wait_for_hits(&issuer, 2).await;

    // From now on every fetch fails: the rotated key passes because the background refresh
    // cached it (fetching it now would answer 503), and failing refreshes keep the keys.
    issuer.answer(StatusCode::SERVICE_UNAVAILABLE);
    get(&validator, &valid(&new)).await.assert_ok("alice");
    let hits = issuer.hits();
    wait_for_hits(&issuer, hits + 1).await;
    get(&validator, &valid(&old)).await.assert_ok("alice");
    get(&validator, &valid(&new)).await.assert_ok("alice");
    get(&validator, &valid(&rsa1().with_kid("rsa-9")))
        .await
        .assert_unavailable();
}

#[tokio::test]
async fn keys_are_refreshed_on_the_interval_without_max_age() {
    let (old, new) = (rsa1(), rsa2());
    let issuer = Issuer::start(&[&old]).await;
    let validator = issuer.validator_with(|jwks| {
        jwks.refetch_interval(Duration::from_millis(100))
            .refresh_interval(Duration::from_millis(300))
    });
    get(&validator, &valid(&old)).await.assert_ok("alice");
    issuer.publish(&[&old, &new]);
    wait_for_hits(&issuer, 2).await;
    issuer.answer(StatusCode::SERVICE_UNAVAILABLE);
    get(&validator, &valid(&new)).await.assert_ok("alice");
}

#[tokio::test]
async fn a_fetch_that_hangs_or_overflows_fails_and_answers_503() {
    let key = rsa1();
    let hangs = served(std::future::pending).timeout(Duration::from_millis(200));
    get(&hangs, &valid(&key)).await.assert_unavailable();

    let issuer = Issuer::start(&[&key]).await;
    let validator = issuer.validator_with(|v| v.max_size(100));
    get(&validator, &valid(&key)).await.assert_unavailable();
    assert_eq!(issuer.hits(), 1);
}

/// Waits (10 s at most) until the issuer has served `hits` requests.
async fn wait_for_hits(issuer: &Issuer, hits: usize) {
    for _ in 0..200 {
        if issuer.hits() >= hits {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the issuer saw {} requests, not {hits}", issuer.hits());
}

/// The URL of the documents `served` answers.
const KEYS_URL: &str = "https://issuer.test/discovery/keys";

/// A validator whose client is a tower `Service` answering every request with `fetch()`.
fn served<F, Fut>(fetch: F) -> JwksValidator
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, BoxError>> + Send + 'static,
{
    let client = tower::service_fn(move |request: Request<Empty<Bytes>>| {
        assert_eq!(request.uri(), KEYS_URL);
        fetch()
    });
    JwksValidator::with_client(client, KEYS_URL, ISS, AUD).unwrap()
}

/// A validator whose client never answers, counting its calls.
fn hanging(calls: &Arc<AtomicUsize>) -> JwksValidator {
    let calls = Arc::clone(calls);
    served(move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending()
    })
}

/// A validator whose client answers `document`, counting its calls.
fn answering(document: String, calls: &Arc<AtomicUsize>) -> JwksValidator {
    let (document, calls) = (Bytes::from(document), Arc::clone(calls));
    served(move || {
        calls.fetch_add(1, Ordering::SeqCst);
        let document = document.clone();
        async move { Ok(Response::new(Full::new(document))) }
    })
}

/// Under tokio's paused clock: a request waits for a hanging issuer at most `max_wait`, not the
/// fetch timeout; the test's own 5 s bound would fire first otherwise.
#[tokio::test(start_paused = true)]
async fn a_request_waits_for_a_hanging_issuer_at_most_max_wait() {
    let calls = Arc::new(AtomicUsize::new(0));
    let validator = hanging(&calls)
        .timeout(Duration::from_secs(3600))
        .max_wait(Duration::from_secs(2));
    let token = valid(&rsa1());
    let outcome = tokio::time::timeout(Duration::from_secs(5), validator.validate(&token))
        .await
        .expect("answered before the fetch timeout");
    assert!(
        matches!(outcome, Err(TokenError::UnavailableFor(retry)) if retry <= Duration::from_secs(5)),
        "{outcome:?}"
    );
    // The default wait is at most 2 s as well.
    let default = hanging(&calls).timeout(Duration::from_secs(3600));
    let outcome = tokio::time::timeout(Duration::from_secs(3), default.validate(&token)).await;
    assert!(
        matches!(outcome, Ok(Err(TokenError::UnavailableFor(_)))),
        "{outcome:?}"
    );

    // Through the layer: 503 with Retry-After.
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(AuthTokenLayer::bearer_async(validator))
        .service_fn(handler);
    let res = svc
        .oneshot(request(Method::GET, "/", &token))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = res.headers()[http::header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after <= 5, "{retry_after}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one fetch per validator, still in flight"
    );
}

/// Under tokio's paused clock: after a fetch that timed out, the refetch interval counts from
/// its end, so fetches do not run back to back.
#[tokio::test(start_paused = true)]
async fn the_refetch_interval_counts_from_a_fetch_end() {
    let calls = Arc::new(AtomicUsize::new(0));
    let validator = hanging(&calls)
        .timeout(Duration::from_secs(10))
        .refetch_interval(Duration::from_secs(5))
        .refresh_interval(Duration::from_secs(3600))
        .max_wait(Duration::from_secs(1));
    let token = valid(&rsa1());
    let first = validator.validate(&token).await;
    assert!(
        matches!(first, Err(TokenError::UnavailableFor(_))),
        "{first:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The fetch times out at 10 s; at 11 s the next may not start before 15 s.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let second = validator.validate(&token).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no fetch 1 s after the last one ended"
    );
    assert!(
        matches!(second, Err(TokenError::UnavailableFor(retry)) if retry <= Duration::from_secs(4)),
        "{second:?}"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let _ = validator.validate(&token).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the interval after the end has passed"
    );
}

#[tokio::test]
async fn a_custom_client_is_a_tower_service() {
    let key = ed25519();
    let fetches = Arc::new(AtomicUsize::new(0));
    let validator = answering(jwks(&[&key]), &fetches);
    get(&validator, &valid(&key)).await.assert_ok("alice");
    get(&validator, &valid(&key)).await.assert_ok("alice");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[test]
fn the_built_in_client_refuses_what_it_cannot_fetch() {
    for url in [
        "not a url",
        "ftp://login.example.com/keys",
        "/keys",
        "http://login.example.com/keys",
        "http://10.0.0.7/keys",
    ] {
        let built_in = JwksValidator::new(url, ISS, AUD);
        assert!(matches!(built_in, Err(JwksError::Url(_))), "{url}");
    }
    for url in [
        "https://login.example.com/keys",
        "http://127.0.0.1:8080/keys",
        "http://localhost/keys",
        "http://[::1]:8080/keys",
    ] {
        assert!(JwksValidator::new(url, ISS, AUD).is_ok(), "{url}");
    }
    let client = tower::service_fn(|_: Request<Empty<Bytes>>| async {
        Ok::<_, BoxError>(Response::new(Full::new(Bytes::new())))
    });
    for url in ["not a url", "ftp://login.example.com/keys", "/keys"] {
        let custom = JwksValidator::with_client(client, url, ISS, AUD);
        assert!(matches!(custom, Err(JwksError::Url(_))), "{url}");
    }
    assert!(JwksValidator::with_client(client, "https://login.example.com/keys", ISS, AUD).is_ok());
}

#[tokio::test]
async fn a_key_that_cannot_verify_is_refused_when_read_so_no_token_reaches_it() {
    // An Ed25519 key whose `x` is 16 bytes, not 32: a verifier built from it panics.
    let short =
        json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed-short", "x": "11qYAYKxCrfVS_7TyWQHOg"});
    let key = rsa1();
    let document = json!({"keys": [short, key.jwk()]}).to_string();
    let forged = format!(
        "{}.{}.c2ln",
        b64_json(&json!({"alg": "EdDSA", "kid": "ed-short"})),
        b64_json(&claims(json!({})))
    );

    let fixed = JwtValidator::from_jwks(&document, ISS, AUD).unwrap();
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(AuthTokenLayer::bearer(fixed))
        .service_fn(handler);
    let res = svc
        .clone()
        .oneshot(request(Method::GET, "/", &forged))
        .await
        .unwrap();
    reply(res)
        .await
        .assert_invalid("Unauthorized", "token is signed by an unknown key");
    let res = svc
        .oneshot(request(Method::GET, "/", &valid(&key)))
        .await
        .unwrap();
    reply(res).await.assert_ok("alice");

    let fetches = Arc::new(AtomicUsize::new(0));
    let validator = answering(document, &fetches).refetch_interval(Duration::from_secs(3600));
    get(&validator, &forged)
        .await
        .assert_invalid("Unauthorized", "token is signed by an unknown key");
    get(&validator, &valid(&key)).await.assert_ok("alice");
}

#[tokio::test]
async fn iss_is_one_string_never_an_array() {
    let key = rsa1();
    let issuer = Issuer::start(&[&key]).await;
    let validator = issuer.validator();
    for iss in [
        json!(["https://evil.example", ISS]),
        json!([ISS]),
        json!(format!("{ISS}/")),
    ] {
        get(&validator, &key.mint(&claims(json!({ "iss": iss }))))
            .await
            .assert_invalid(
                "Unauthorized",
                "token is issued by an issuer that is not accepted",
            );
    }
    get(&validator, &valid(&key)).await.assert_ok("alice");
}

#[tokio::test]
async fn a_token_over_the_length_cap_is_refused_before_it_is_decoded() {
    let key = rsa1();
    let issuer = Issuer::start(&[&key]).await;
    // A forged header of thousands of fields, naming a kid the issuer does not have.
    let fields: serde_json::Map<String, Value> =
        (0..3000).map(|i| (format!("f{i}"), json!(i))).collect();
    let mut header = Value::Object(fields);
    header["alg"] = json!("RS256");
    header["kid"] = json!("unknown");
    let forged = format!(
        "{}.{}.c2ln",
        b64_json(&header),
        b64_json(&claims(json!({})))
    );
    assert!(forged.len() > 16 * 1024);
    let validator = issuer.validator();
    get(&validator, &forged)
        .await
        .assert_invalid("Unauthorized", "token is too long");
    assert_eq!(issuer.hits(), 0, "nothing was read to fetch for");
    get(&validator, &valid(&key)).await.assert_ok("alice");

    let roomy = issuer.validator_with(|jwks| jwks.refetch_interval(Duration::from_secs(3600)));
    let roomy = roomy.max_token_len(64 * 1024);
    get(&roomy, &forged)
        .await
        .assert_invalid("Unauthorized", "token is signed by an unknown key");
}

// ---- a fixed key set, synchronously ---------------------------------------------------------

#[tokio::test]
async fn a_fixed_key_set_validates_synchronously() {
    let (key, ec) = (rsa1(), p256());
    let validator = JwtValidator::from_jwks(jwks(&[&key, &ec]), ISS, AUD).unwrap();
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(AuthTokenLayer::bearer(validator.clone()).require_scope(Method::POST, "write"))
        .service_fn(handler);
    let res = svc
        .clone()
        .oneshot(request(Method::GET, "/", &valid(&ec)))
        .await
        .unwrap();
    reply(res).await.assert_ok("alice");
    let res = svc
        .clone()
        .oneshot(request(Method::POST, "/", &valid(&key)))
        .await
        .unwrap();
    assert_eq!(reply(res).await.status, StatusCode::FORBIDDEN);
    let res = svc
        .oneshot(request(Method::GET, "/", &valid(&rsa2())))
        .await
        .unwrap();
    reply(res)
        .await
        .assert_invalid("Unauthorized", "token is signed by an unknown key");

    let p = validator.validate(&valid(&key)).unwrap();
    assert_eq!(p.claim::<&str>("iss"), Some(ISS));
    assert_eq!(p.expires_at(), None);
    let debug = format!("{p:?} {validator:?}");
    for claim in ["contoso", "alice", "read"] {
        assert!(!debug.contains(claim), "{debug}");
    }
}

// ---- allocations ----------------------------------------------------------------------------

/// What the validators allocate for a token signed by a cached key, besides `jsonwebtoken`'s
/// own decoding: the principal (its `Arc`, the subject, the scope list and each scope).
#[tokio::test]
async fn a_cached_key_costs_only_jsonwebtoken_and_the_principal() {
    use common::count;
    let key = rsa1();
    let token = key.mint(&claims(json!({"scp": "read write"})));
    let scopes = 2;

    // jsonwebtoken alone, with the same key and checks.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk()).unwrap();
    let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.set_issuer(&[ISS]);
    validation.set_audience(&[AUD]);
    validation.validate_nbf = true;
    let decode = || {
        jsonwebtoken::decode::<Box<serde_json::value::RawValue>>(&token, &decoding, &validation)
            .unwrap()
    };
    decode();
    let (jsonwebtoken_alone, _) = count(decode);

    let fixed = JwtValidator::from_jwks(jwks(&[&key]), ISS, AUD).unwrap();
    fixed.validate(&token).unwrap();
    let (n, principal) = count(|| fixed.validate(&token));
    assert!(principal.unwrap().has_scope("write"));
    println!("JwtValidator: {n} allocations, jsonwebtoken alone {jsonwebtoken_alone}");
    assert!(n <= jsonwebtoken_alone + 3 + scopes, "{n}");

    let issuer = Issuer::start(&[&key]).await;
    let jwks_validator = issuer.validator();
    jwks_validator.validate(&token).await.unwrap();
    let (n, future) = count(|| {
        let mut future = std::pin::pin!(jwks_validator.validate(&token));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        future.as_mut().poll(&mut cx)
    });
    assert!(matches!(future, std::task::Poll::Ready(Ok(_))));
    println!("JwksValidator: {n} allocations");
    assert!(n <= jsonwebtoken_alone + 3 + scopes, "{n}");
}

use std::future::Future;

/// A token seen again is not verified again (no allocation: no header decoded, no signature
/// checked), but its time is: once its `exp` passes it is refused; without the cache every
/// request verifies it.
#[tokio::test]
async fn a_token_seen_again_is_not_verified_again_but_its_time_is() {
    use common::count;
    let key = p256();
    let soon = key.mint(&claims(json!({"exp": now_plus(2)})));
    let fixed = JwtValidator::from_jwks(jwks(&[&key]), ISS, AUD)
        .unwrap()
        .leeway(Duration::ZERO);
    assert_eq!(fixed.validate(&soon).unwrap().subject(), "alice");
    let (n, again) = count(|| fixed.validate(&soon));
    assert_eq!(again.unwrap().claim::<&str>("tid"), Some("contoso"));
    assert_eq!(n, 0, "a hit allocates nothing");

    let uncached = fixed.clone().max_cached_tokens(0);
    uncached.validate(&soon).unwrap();
    let (n, _) = count(|| uncached.validate(&soon));
    assert!(n > 0, "verified again");

    // Another token, even one differing in a signature byte, is verified.
    let other = if soon.ends_with('A') { 'Q' } else { 'A' };
    let forged = format!("{}{other}", &soon[..soon.len() - 1]);
    assert!(fixed.validate(&forged).is_err());

    let issuer = Issuer::start(&[&key]).await;
    let jwks_validator = issuer.validator().leeway(Duration::ZERO);
    get(&jwks_validator, &soon).await.assert_ok("alice");
    let (n, now) = count(|| jwks_validator.validate_now(&soon));
    assert!(matches!(now, Some(Ok(_))));
    assert_eq!(n, 0, "a hit allocates nothing");

    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        fixed.validate(&soon).unwrap_err(),
        TokenError::Invalid(tower_envelope::auth::InvalidToken::Expired)
    );
    get(&jwks_validator, &soon)
        .await
        .assert_invalid("TokenExpired", "token has expired");
}

/// A clone given other rules keeps no token the original verified: a token admitted by one
/// validator is checked again, and refused, by a stricter clone (and an empty client list
/// admits no client).
#[test]
fn a_clone_with_other_rules_does_not_reuse_verified_tokens() {
    let key = p256();
    let orders = JwtValidator::from_jwks(jwks(&[&key]), ISS, AUD).unwrap();
    let token = key.mint(&claims(json!({"azp": "other-app"})));
    assert!(orders.validate(&token).is_ok());
    let admin = orders.clone().accept_clients(["admin-portal"]);
    assert_eq!(
        admin.validate(&token).unwrap_err(),
        TokenError::Invalid(tower_envelope::auth::InvalidToken::WrongClient)
    );
    let audience = orders.clone().accept_audience("api://other");
    assert!(
        audience.validate(&token).is_ok(),
        "a wider rule still verifies"
    );
    let nobody = orders.clone().accept_clients(Vec::<String>::new());
    assert!(nobody.validate(&token).is_err());
    assert!(orders.validate(&token).is_ok(), "the original is unchanged");
}
