//! The load-test server's API: one small JSON API, bare, behind the full stack of this crate's
//! layers or behind the stack a user assembles from the peers, on every route (`Router::layer`)
//! or around the whole router. `bench_server` serves them; `router_instructions` drives them in
//! process.

use std::convert::Infallible;
use std::future::Future;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use http::Request;
use tower::layer::util::{Identity, Stack};
use tower::{Service, ServiceBuilder};
use tower_envelope::format::Defender;
use tower_envelope::{
    AuthTokenLayer, BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, StaticTokens,
    UrlEncodingLayer,
};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::validate_request::ValidateRequestHeaderLayer;

/// The API: `GET /api/machines/{id}` answers a small JSON object, `POST /api/machines` echoes
/// its body.
pub fn router() -> Router {
    Router::new()
        .route(
            "/api/machines/{id}",
            get(|Path(id): Path<String>| async move {
                let mut body = String::with_capacity(32 + id.len());
                body.push_str("{\"id\":\"");
                body.push_str(&id);
                body.push_str("\",\"name\":\"machine\"}");
                ([("content-type", "application/json")], body)
            }),
        )
        .route(
            "/api/machines",
            post(|body: Bytes| async move { ([("content-type", "application/json")], body) }),
        )
}

/// The layers of the full stack, innermost first, with the token checked by `V`.
type Layers<V = StaticTokens> = Stack<
    BodyLimitLayer,
    Stack<
        ContentTypeLayer,
        Stack<UrlEncodingLayer, Stack<AuthTokenLayer<V>, Stack<Envelope, Identity>>>,
    >,
>;
type Envelope = ErrorEnvelopeLayer<Defender>;

/// The full stack: envelope, bearer auth with scopes (the principal inserted), URL,
/// Content-Type and body-limit checks.
pub fn layers() -> ServiceBuilder<Layers> {
    let tokens = StaticTokens::new()
        .token("read-token", ["read"])
        .token("write-token", ["read", "write"]);
    layers_with(tokens)
}

/// The full stack with the tokens checked by `validator`.
pub fn layers_with<V>(validator: V) -> ServiceBuilder<Layers<V>> {
    ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender().catch_panic())
        .layer(
            AuthTokenLayer::bearer(validator)
                .require_scope(http::Method::GET, "read")
                .require_scope(http::Method::POST, "write"),
        )
        .layer(UrlEncodingLayer::new())
        .layer(ContentTypeLayer::json())
        .layer(BodyLimitLayer::new(4096))
}

/// The full stack on every route with JWT bearer tokens (a fixed RS256 key), and a token it
/// accepts, valid for an hour: what a client reuses request after request.
#[cfg(feature = "jwt")]
pub fn jwt_stacked() -> (Router, String) {
    use crate::keys::{jwks, now_plus, rsa1};
    use tower_envelope::auth::jwt::JwtValidator;
    const ISS: &str = "https://login.example.com/tenant-1/v2.0";
    let key = rsa1();
    let validator = JwtValidator::from_jwks(jwks(&[&key]), ISS, "api://machines").unwrap();
    let token = key.mint(&serde_json::json!({
        "iss": ISS,
        "aud": "api://machines",
        "sub": "3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f",
        "scp": "read write",
        "exp": now_plus(3600),
    }));
    (router().layer(layers_with(validator)), token)
}

/// The full stack on every route with a quota per principal after the token check, large enough
/// for every request to pass: counted in this process, or (feature `redis`) in the Redis at
/// `redis_url`.
pub fn quota_stacked(redis_url: Option<&str>) -> Router {
    let quota = tower_envelope::QuotaLayer::per_second(u32::MAX);
    let quota = match redis_url {
        #[cfg(feature = "redis")]
        Some(url) => quota.redis(url).expect("a redis:// URL"),
        #[cfg(not(feature = "redis"))]
        Some(_) => panic!("a quota in Redis needs the redis feature"),
        None => quota,
    };
    router().layer(layers().layer(quota))
}

/// The stack on every route (`Router::layer`).
pub fn stacked() -> Router {
    router().layer(layers())
}

/// The stack around the whole router: routing (and its 404s and 405s) below it, and axum's
/// response type above it, as `axum::serve` wants.
pub fn around() -> impl Service<
    Request<Body>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send,
> + Clone
       + Send
       + 'static {
    ServiceBuilder::new()
        // The router's body itself on a passing response, not boxed again.
        .map_response(|response: http::Response<_>| response.map(Body::from))
        .service(layers().service(router().with_state(())))
}

/// The peer stack on every route (`Router::layer`): tower-http 0.7's bearer check and body limit
/// under axum-problem's `ProblemLayer`, which renders their bare 401 and 413 (and axum's 404 and
/// 405) as problem+json. Two checks against the full stack's five, with one token and no scopes.
// `ValidateRequestHeaderLayer::bearer` is deprecated since tower-http 0.6.7 ("too basic"), but it
// is what a tower-http user reaches for first.
#[allow(deprecated)]
pub fn peer() -> Router {
    // tower-http's limit outermost: its response body is not `Default`, which the bearer check
    // needs of the body it wraps. axum-problem is written for axum 0.7 and takes only responses
    // with axum 0.7's body: the body below it is boxed into one, as an axum 0.8 user must.
    let layers = ServiceBuilder::new()
        .layer(axum_problem::ProblemLayer)
        .map_response(|response: http::Response<_>| response.map(axum07::body::Body::new))
        .layer(RequestBodyLimitLayer::new(4096))
        .layer(ValidateRequestHeaderLayer::bearer("read-token"));
    router().layer(layers)
}

/// The peer stack around the whole router, and axum 0.8's response type above it, as
/// `axum::serve` wants.
#[allow(deprecated)]
pub fn peer_around() -> impl Service<
    Request<Body>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send,
> + Clone
       + Send
       + 'static {
    ServiceBuilder::new()
        .map_response(|response: http::Response<axum07::body::Body>| response.map(Body::new))
        .layer(axum_problem::ProblemLayer)
        .map_response(|response: http::Response<_>| response.map(axum07::body::Body::new))
        .layer(RequestBodyLimitLayer::new(4096))
        .layer(ValidateRequestHeaderLayer::bearer("read-token"))
        .service(router().with_state(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{AUTHORIZATION, CONTENT_TYPE};
    use http::StatusCode;
    use tower::ServiceExt;

    fn get(token: Option<&str>) -> Request<Body> {
        let mut request = Request::get("/api/machines/1");
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        request.body(Body::empty()).unwrap()
    }

    fn post_over_the_limit(token: &str) -> Request<Body> {
        Request::post("/api/machines")
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(vec![b' '; 5000]))
            .unwrap()
    }

    /// Status and content type of the answer of `app` to `request`.
    async fn answer<S>(app: S, request: Request<Body>) -> (StatusCode, String)
    where
        S: Service<Request<Body>, Response = Response, Error = Infallible>,
    {
        let response = app.oneshot(request).await.unwrap();
        let content_type = response.headers().get(CONTENT_TYPE);
        let content_type = content_type.map_or("", |v| v.to_str().unwrap()).to_owned();
        (response.status(), content_type)
    }

    #[tokio::test]
    async fn every_server_answers_the_load_test_request() {
        let json = "application/json".to_owned();
        assert_eq!(
            answer(router(), get(None)).await,
            (StatusCode::OK, json.clone())
        );
        assert_eq!(
            answer(stacked(), get(Some("read-token"))).await,
            (StatusCode::OK, json.clone())
        );
        assert_eq!(
            answer(around(), get(Some("read-token"))).await,
            (StatusCode::OK, json.clone())
        );
        assert_eq!(
            answer(peer(), get(Some("read-token"))).await,
            (StatusCode::OK, json.clone())
        );
        assert_eq!(
            answer(peer_around(), get(Some("read-token"))).await,
            (StatusCode::OK, json)
        );
    }

    #[tokio::test]
    async fn the_peer_stack_rejects_in_problem_json() {
        let problem = "application/problem+json".to_owned();
        for token in [None, Some("nope")] {
            let unauthorized = (StatusCode::UNAUTHORIZED, problem.clone());
            assert_eq!(answer(peer(), get(token)).await, unauthorized);
            assert_eq!(answer(peer_around(), get(token)).await, unauthorized);
        }
        let too_large = (StatusCode::PAYLOAD_TOO_LARGE, problem.clone());
        assert_eq!(
            answer(peer(), post_over_the_limit("read-token")).await,
            too_large
        );
        assert_eq!(
            answer(peer_around(), post_over_the_limit("read-token")).await,
            too_large
        );
        let unrouted = Request::get("/nope")
            .header(AUTHORIZATION, "Bearer read-token")
            .body(Body::empty())
            .unwrap();
        let not_found = (StatusCode::NOT_FOUND, problem);
        assert_eq!(answer(peer_around(), unrouted).await, not_found);
    }

    #[tokio::test]
    async fn the_full_stack_rejects_in_the_defender_format() {
        let defender = "application/json; charset=utf-8".to_owned();
        let unauthorized = (StatusCode::UNAUTHORIZED, defender.clone());
        assert_eq!(answer(stacked(), get(None)).await, unauthorized);
        assert_eq!(answer(around(), get(None)).await, unauthorized);
        let too_large = (StatusCode::PAYLOAD_TOO_LARGE, defender);
        assert_eq!(
            answer(stacked(), post_over_the_limit("write-token")).await,
            too_large
        );
        assert_eq!(
            answer(around(), post_over_the_limit("write-token")).await,
            too_large
        );
    }
}
