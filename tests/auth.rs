//! `AuthTokenLayer`: the EdgeCast token checklist (seed 001), one test per check, on its own
//! (RFC 9457 problem+json) and under the Defender, Edgio and QRadar envelopes, plus the
//! principal reaching an axum handler, the async validator, the token never echoed, and the
//! allocations of a passing request.
//!
//! This file is its own test binary with a counting global allocator (per-thread counters, so
//! tests running in parallel do not disturb each other).

mod common;
use common::allocations;

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tower_envelope::auth::{AuthTokenLayer, Principal, StaticTokens, TokenError};
use tower_envelope::{ErrorEnvelopeLayer, ErrorKind};

// ---- counting allocator -------------------------------------------------------------------

// ---- fixtures ------------------------------------------------------------------------------

/// A distinctive token, to search for in every output.
const SECRET: &str = "s3cr3t-T0KEN-9f8e7d";

fn tokens() -> StaticTokens {
    StaticTokens::new()
        .token("read-token", ["read"])
        .token("write-token", ["read", "write"])
        .token_expiring_at("old-token", ["read"], SystemTime::UNIX_EPOCH)
        .principal(Principal::new("ci", ["read"]), ["ci-primary", "ci-backup"])
        .token(SECRET, ["read", "write", "admin"])
}

/// The handler: 200 with the principal's subject and scopes, or `anonymous`.
async fn whoami(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = match request.extensions().get::<Principal>() {
        Some(p) => format!(
            "{} [{}]",
            p.subject(),
            p.scopes().collect::<Vec<_>>().join(" ")
        ),
        None => "anonymous".to_owned(),
    };
    Ok(Response::new(Full::new(Bytes::from(text))))
}

fn request(method: Method, path: &str, headers: &[(&str, &[u8])]) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

fn get(headers: &[(&str, &[u8])]) -> Request<Full<Bytes>> {
    request(Method::GET, "/api/machines/1", headers)
}

fn bearer(token: &str) -> Request<Full<Bytes>> {
    get(&[("authorization", format!("Bearer {token}").as_bytes())])
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    async fn read<B>(response: Response<B>) -> Self
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: std::fmt::Debug,
    {
        let (parts, body) = response.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    fn challenge(&self) -> Option<&str> {
        self.headers
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap())
    }

    fn content_type(&self) -> &str {
        self.headers[CONTENT_TYPE].to_str().unwrap()
    }

    /// A problem+json rejection: status, `code` (kind slug), `detail` and challenge.
    #[track_caller]
    fn assert_problem(
        &self,
        status: StatusCode,
        kind: ErrorKind,
        detail: &str,
        challenge: Option<&str>,
    ) {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.content_type(), "application/problem+json");
        let body = self.json();
        assert_eq!(body["status"], status.as_u16(), "{body}");
        assert_eq!(body["code"], kind.slug(), "{body}");
        assert_eq!(body["detail"], detail, "{body}");
        assert_eq!(self.challenge(), challenge);
    }

    /// Asserts no header value and no body byte holds `needle`.
    #[track_caller]
    fn assert_absent(&self, needle: &str) {
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            assert!(!value.contains(needle), "{name}: {value}");
        }
        assert!(!self.text().contains(needle), "{}", self.text());
    }
}

/// Sends `request` through `ServiceBuilder::new().layer(layer).service_fn(whoami)`.
macro_rules! send {
    ($layer:expr, $request:expr) => {{
        let response = ServiceBuilder::new()
            .layer($layer)
            .service_fn(whoami)
            .oneshot($request)
            .await
            .unwrap();
        Reply::read(response).await
    }};
}

const BEARER: &str = r#"Bearer realm="api""#;
const BEARER_INVALID: &str = r#"Bearer realm="api", error="invalid_token""#;

// ---- Bearer: happy path ---------------------------------------------------------------------

#[tokio::test]
async fn bearer_valid_token_reaches_the_handler_with_its_principal() {
    let reply = send!(AuthTokenLayer::bearer(tokens()), bearer("read-token"));
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "token-1 [read]");
    assert_eq!(reply.challenge(), None);
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let value = format!("{scheme} write-token");
        let reply = send!(
            AuthTokenLayer::bearer(tokens()),
            get(&[("authorization", value.as_bytes())])
        );
        assert_eq!(reply.status, StatusCode::OK, "{scheme}");
        assert_eq!(reply.text(), "token-2 [read write]");
    }
}

#[tokio::test]
async fn bearer_accepts_several_spaces_after_the_scheme() {
    // RFC 7235: credentials = auth-scheme [ 1*SP token68 ].
    let reply = send!(
        AuthTokenLayer::bearer(tokens()),
        get(&[("authorization", b"Bearer   read-token")])
    );
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn primary_and_backup_tokens_map_to_one_principal() {
    for token in ["ci-primary", "ci-backup"] {
        let reply = send!(AuthTokenLayer::bearer(tokens()), bearer(token));
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text(), "ci [read]");
    }
}

#[tokio::test]
async fn insert_principal_false_leaves_the_extensions_alone() {
    let layer = AuthTokenLayer::bearer(tokens()).insert_principal(false);
    let reply = send!(layer, bearer("read-token"));
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "anonymous");
}

// ---- Bearer: every failure of the checklist ---------------------------------------------------

#[tokio::test]
async fn missing_header_is_unauthorized_without_error_attribute() {
    let reply = send!(AuthTokenLayer::bearer(tokens()), get(&[]));
    reply.assert_problem(
        StatusCode::UNAUTHORIZED,
        ErrorKind::Unauthorized,
        "Authorization header is missing",
        Some(BEARER),
    );
    assert_eq!(reply.json()["target"], "Authorization");
}

/// One test per malformed `Authorization` value: 401, the defect named, `invalid_token`.
macro_rules! malformed {
    ($($name:ident: [$($value:expr),+] => $detail:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let headers: Vec<(&str, &[u8])> = vec![$(("authorization", $value)),+];
            let reply = send!(AuthTokenLayer::bearer(tokens()), get(&headers));
            reply.assert_problem(
                StatusCode::UNAUTHORIZED,
                ErrorKind::Unauthorized,
                $detail,
                Some(BEARER_INVALID),
            );
        }
    )*};
}

malformed! {
    several_authorization_headers: [b"Bearer read-token", b"Bearer write-token"]
        => "several Authorization headers";
    empty_authorization_header: [b""] => "Authorization header is empty";
    header_value_wrapped_in_quotes: [b"\"Bearer read-token\""]
        => "Authorization header value is wrapped in quotes";
    wrong_scheme_basic: [b"Basic cmVhZDp0b2tlbg=="] => "wrong scheme: expected Bearer";
    wrong_scheme_tok: [b"TOK:read-token"] => "wrong scheme: expected Bearer";
    bare_token_without_scheme: [b"read-token"] => "wrong scheme: expected Bearer";
    empty_token: [b"Bearer"] => "token is empty";
    empty_token_after_space: [b"Bearer "] => "token is empty";
    token_wrapped_in_double_quotes: [b"Bearer \"read-token\""] => "token is wrapped in quotes";
    token_wrapped_in_single_quotes: [b"Bearer 'read-token'"] => "token is wrapped in quotes";
    token_with_trailing_whitespace: [b"Bearer read-token "] => "token has surrounding whitespace";
    token_with_leading_tab: [b"Bearer \tread-token"] => "token has surrounding whitespace";
    token_with_inner_space: [b"Bearer read token"] => "token contains non-visible characters";
    token_with_non_ascii: [b"Bearer read-t\xc3\xb6ken"] => "token contains non-visible characters";
    unknown_token: [b"Bearer guessed-token"] => "token is not recognised";
    token_differing_in_case: [b"Bearer READ-TOKEN"] => "token is not recognised";
    token_prefix: [b"Bearer read-toke"] => "token is not recognised";
}

#[tokio::test]
async fn expired_token_is_token_expired() {
    let reply = send!(AuthTokenLayer::bearer(tokens()), bearer("old-token"));
    reply.assert_problem(
        StatusCode::UNAUTHORIZED,
        ErrorKind::TokenExpired,
        "token has expired",
        Some(BEARER_INVALID),
    );
}

#[tokio::test]
async fn token_expiring_in_the_future_passes() {
    let tokens = StaticTokens::new().token_expiring_at(
        "fresh-token",
        ["read"],
        SystemTime::now() + Duration::from_secs(300),
    );
    let reply = send!(AuthTokenLayer::bearer(tokens), bearer("fresh-token"));
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn missing_method_scope_is_insufficient_scope() {
    let layer = AuthTokenLayer::bearer(tokens()).require_scope(Method::POST, "write");
    let reply = send!(
        layer.clone(),
        request(
            Method::POST,
            "/api/machines",
            &[("authorization", b"Bearer read-token")]
        )
    );
    reply.assert_problem(
        StatusCode::FORBIDDEN,
        ErrorKind::InsufficientScope,
        "token lacks the required scope \"write\"",
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="write""#),
    );
    // Same token, a method without requirement; and a token with the scope.
    assert_eq!(
        send!(layer.clone(), bearer("read-token")).status,
        StatusCode::OK
    );
    let reply = send!(
        layer,
        request(
            Method::POST,
            "/api/machines",
            &[("authorization", b"Bearer write-token")]
        )
    );
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn every_scope_of_a_method_is_required() {
    let layer = AuthTokenLayer::bearer(tokens())
        .require_scope(Method::DELETE, "write")
        .require_scope(Method::DELETE, "admin");
    let delete = |token: &str| {
        let value = format!("Bearer {token}");
        request(
            Method::DELETE,
            "/api/machines/1",
            &[("authorization", value.as_bytes())],
        )
    };
    let reply = send!(layer.clone(), delete("write-token"));
    reply.assert_problem(
        StatusCode::FORBIDDEN,
        ErrorKind::InsufficientScope,
        "token lacks the required scope \"admin\"",
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="write admin""#),
    );
    assert_eq!(send!(layer, delete(SECRET)).status, StatusCode::OK);
}

#[tokio::test]
async fn a_scope_required_for_get_also_guards_head() {
    let tokens = StaticTokens::new()
        .token("list-token", ["list"])
        .token("read-token", ["read"])
        .token("both-token", ["read", "list"]);
    let layer = AuthTokenLayer::bearer(tokens)
        .require_scope(Method::GET, "read")
        .require_scope(Method::HEAD, "list")
        .require_scope(Method::HEAD, "read");
    let head = |token: &str| {
        let value = format!("Bearer {token}");
        request(
            Method::HEAD,
            "/api/machines/1",
            &[("authorization", value.as_bytes())],
        )
    };
    let reply = send!(layer.clone(), head("list-token"));
    reply.assert_problem(
        StatusCode::FORBIDDEN,
        ErrorKind::InsufficientScope,
        "token lacks the required scope \"read\"",
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="list read""#),
    );
    let reply = send!(layer.clone(), head("read-token"));
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.json()["detail"],
        "token lacks the required scope \"list\""
    );
    assert_eq!(
        send!(layer.clone(), head("both-token")).status,
        StatusCode::OK
    );
    // GET needs only its own scope.
    assert_eq!(send!(layer, bearer("read-token")).status, StatusCode::OK);
}

#[tokio::test]
async fn route_scopes_come_from_a_closure_over_the_request_parts() {
    let layer = AuthTokenLayer::bearer(tokens())
        .require_scope(Method::POST, "write")
        .require_scopes_with(|parts| {
            if parts.uri.path().starts_with("/admin") {
                &["admin"]
            } else {
                &[]
            }
        });
    let reply = send!(
        layer.clone(),
        request(
            Method::POST,
            "/admin/users",
            &[("authorization", b"Bearer write-token")]
        )
    );
    reply.assert_problem(
        StatusCode::FORBIDDEN,
        ErrorKind::InsufficientScope,
        "token lacks the required scope \"admin\"",
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="write admin""#),
    );
    let reply = send!(
        layer.clone(),
        get(&[("authorization", b"Bearer write-token")])
    );
    assert_eq!(reply.status, StatusCode::OK);
    let admin = format!("Bearer {SECRET}");
    let reply = send!(
        layer,
        request(
            Method::POST,
            "/admin/users",
            &[("authorization", admin.as_bytes())]
        )
    );
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn realm_is_configurable_and_quoted() {
    let layer = AuthTokenLayer::bearer(tokens()).realm(r#"edge "cast"\api"#);
    let reply = send!(layer, get(&[]));
    assert_eq!(
        reply.challenge(),
        Some(r#"Bearer realm="edge \"cast\"\\api""#)
    );
}

// ---- TOK (EdgeCast) --------------------------------------------------------------------------

#[tokio::test]
async fn tok_valid_token_with_and_without_space() {
    for value in ["TOK:read-token", "TOK: read-token", "tok: read-token"] {
        let reply = send!(
            AuthTokenLayer::tok(tokens()),
            get(&[("authorization", value.as_bytes())])
        );
        assert_eq!(reply.status, StatusCode::OK, "{value}");
        assert_eq!(reply.text(), "token-1 [read]");
    }
}

#[tokio::test]
async fn tok_failures_name_the_defect_with_a_tok_challenge() {
    let cases: [(&[u8], ErrorKind, &str); 6] = [
        (
            b"Bearer read-token",
            ErrorKind::Unauthorized,
            "wrong scheme: expected TOK",
        ),
        (
            b"\"TOK: read-token\"",
            ErrorKind::Unauthorized,
            "Authorization header value is wrapped in quotes",
        ),
        (
            b"TOK: \"read-token\"",
            ErrorKind::Unauthorized,
            "token is wrapped in quotes",
        ),
        (b"TOK:", ErrorKind::Unauthorized, "token is empty"),
        (
            b"TOK: nope",
            ErrorKind::Unauthorized,
            "token is not recognised",
        ),
        (
            b"TOK: old-token",
            ErrorKind::TokenExpired,
            "token has expired",
        ),
    ];
    for (value, kind, detail) in cases {
        let reply = send!(
            AuthTokenLayer::tok(tokens()),
            get(&[("authorization", value)])
        );
        reply.assert_problem(
            StatusCode::UNAUTHORIZED,
            kind,
            detail,
            Some(r#"TOK realm="api", error="invalid_token""#),
        );
    }
    let reply = send!(AuthTokenLayer::tok(tokens()), get(&[]));
    reply.assert_problem(
        StatusCode::UNAUTHORIZED,
        ErrorKind::Unauthorized,
        "Authorization header is missing",
        Some(r#"TOK realm="api""#),
    );
}

#[tokio::test]
async fn tok_insufficient_scope() {
    let layer = AuthTokenLayer::tok(tokens()).require_scope(Method::PUT, "write");
    let reply = send!(
        layer,
        request(
            Method::PUT,
            "/api/machines/1",
            &[("authorization", b"TOK: read-token")]
        )
    );
    reply.assert_problem(
        StatusCode::FORBIDDEN,
        ErrorKind::InsufficientScope,
        "token lacks the required scope \"write\"",
        Some(r#"TOK realm="api", error="insufficient_scope", scope="write""#),
    );
}

// ---- named header (QRadar SEC) -----------------------------------------------------------------

#[tokio::test]
async fn header_valid_token() {
    let reply = send!(
        AuthTokenLayer::header("SEC", tokens()),
        get(&[("sec", b"write-token")])
    );
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "token-2 [read write]");
}

#[tokio::test]
async fn header_failures_name_the_header() {
    let reply = send!(AuthTokenLayer::header("SEC", tokens()), get(&[]));
    reply.assert_problem(
        StatusCode::UNAUTHORIZED,
        ErrorKind::Unauthorized,
        "SEC header is missing",
        Some(r#"SEC realm="api""#),
    );
    assert_eq!(reply.json()["target"], "SEC");

    let invalid = Some(r#"SEC realm="api", error="invalid_token""#);
    type Headers<'a> = &'a [(&'a str, &'a [u8])];
    let cases: [(Headers<'_>, ErrorKind, &str); 7] = [
        (
            &[("sec", b"read-token"), ("sec", b"write-token")],
            ErrorKind::Unauthorized,
            "several SEC headers",
        ),
        (&[("sec", b"")], ErrorKind::Unauthorized, "token is empty"),
        (
            &[("sec", b"\"read-token\"")],
            ErrorKind::Unauthorized,
            "token is wrapped in quotes",
        ),
        (
            &[("sec", b"read-token\t")],
            ErrorKind::Unauthorized,
            "token has surrounding whitespace",
        ),
        (
            &[("sec", b"Bearer read-token")],
            ErrorKind::Unauthorized,
            "token contains non-visible characters",
        ),
        (
            &[("sec", b"nope")],
            ErrorKind::Unauthorized,
            "token is not recognised",
        ),
        (
            &[("sec", b"old-token")],
            ErrorKind::TokenExpired,
            "token has expired",
        ),
    ];
    for (headers, kind, detail) in cases {
        let reply = send!(AuthTokenLayer::header("SEC", tokens()), get(headers));
        reply.assert_problem(StatusCode::UNAUTHORIZED, kind, detail, invalid);
    }
}

#[tokio::test]
async fn header_insufficient_scope() {
    let layer = AuthTokenLayer::header("SEC", tokens()).require_scope(Method::POST, "write");
    let reply = send!(
        layer,
        request(
            Method::POST,
            "/api/reference_data/sets",
            &[("sec", b"ci-backup")]
        )
    );
    reply.assert_problem(
        StatusCode::FORBIDDEN,
        ErrorKind::InsufficientScope,
        "token lacks the required scope \"write\"",
        Some(r#"SEC realm="api", error="insufficient_scope", scope="write""#),
    );
}

// ---- any TokenValidator -------------------------------------------------------------------------

fn revoking_validator(token: &str) -> Result<Principal, TokenError> {
    match token {
        "live" => Ok(Principal::new("svc", ["read"])),
        "stale" => Ok(Principal::new("svc", ["read"]).with_expiry(SystemTime::UNIX_EPOCH)),
        "revoked" => Err(TokenError::Rejected("token was revoked")),
        "down" => Err(TokenError::Unavailable),
        _ => Err(TokenError::Unknown),
    }
}

#[tokio::test]
async fn closure_validator_and_its_typed_failures() {
    let layer = || AuthTokenLayer::bearer(|token: &str| revoking_validator(token));
    let reply = send!(layer(), bearer("live"));
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "svc [read]");

    send!(layer(), bearer("revoked")).assert_problem(
        StatusCode::UNAUTHORIZED,
        ErrorKind::Unauthorized,
        "token was revoked",
        Some(BEARER_INVALID),
    );
    // The layer checks the expiry of any validator's principal.
    send!(layer(), bearer("stale")).assert_problem(
        StatusCode::UNAUTHORIZED,
        ErrorKind::TokenExpired,
        "token has expired",
        Some(BEARER_INVALID),
    );
    send!(layer(), bearer("down")).assert_problem(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::ServiceUnavailable,
        "token could not be verified: the authorization server is unavailable",
        None,
    );
}

// ---- async validator ----------------------------------------------------------------------------

/// An introspection stand-in: yields once (so the future is really pending), counts its calls
/// and records that it finished.
#[derive(Clone, Default)]
struct Introspect {
    calls: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
}

impl Introspect {
    fn validate(&self, token: &str) -> impl Future<Output = Result<Principal, TokenError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let token = token.to_owned();
        let done = self.done.clone();
        async move {
            tokio::task::yield_now().await;
            done.store(true, Ordering::SeqCst);
            revoking_validator(&token)
        }
    }
}

#[tokio::test]
async fn async_validator_runs_before_the_inner_service() {
    let introspect = Introspect::default();
    let validator = {
        let introspect = introspect.clone();
        move |token: &str| introspect.validate(token)
    };
    let done = introspect.done.clone();
    let svc = ServiceBuilder::new()
        .layer(AuthTokenLayer::bearer_async(validator).require_scope(Method::POST, "write"))
        .service_fn(move |req: Request<Full<Bytes>>| {
            // The validation finished before the inner service was called.
            assert!(
                done.load(Ordering::SeqCst),
                "inner service called before validation"
            );
            whoami(req)
        });

    let reply = Reply::read(svc.clone().oneshot(bearer("live")).await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "svc [read]");

    let reply = Reply::read(svc.clone().oneshot(bearer("nope")).await.unwrap()).await;
    reply.assert_problem(
        StatusCode::UNAUTHORIZED,
        ErrorKind::Unauthorized,
        "token is not recognised",
        Some(BEARER_INVALID),
    );

    let post = request(Method::POST, "/", &[("authorization", b"Bearer live")]);
    let reply = Reply::read(svc.clone().oneshot(post).await.unwrap()).await;
    reply.assert_problem(
        StatusCode::FORBIDDEN,
        ErrorKind::InsufficientScope,
        "token lacks the required scope \"write\"",
        Some(r#"Bearer realm="api", error="insufficient_scope", scope="write""#),
    );

    let reply = Reply::read(svc.clone().oneshot(bearer("stale")).await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["code"], "token_expired");

    // A malformed header is refused before the validator runs.
    let calls = introspect.calls.load(Ordering::SeqCst);
    let reply = Reply::read(svc.oneshot(bearer("\"live\"")).await.unwrap()).await;
    reply.assert_problem(
        StatusCode::UNAUTHORIZED,
        ErrorKind::Unauthorized,
        "token is wrapped in quotes",
        Some(BEARER_INVALID),
    );
    assert_eq!(introspect.calls.load(Ordering::SeqCst), calls);
}

/// A service that must be called on the very instance `poll_ready` readied: a clone starts
/// unready, as a clone of a buffer or a concurrency limit does.
struct ReadyOnce {
    ready: bool,
}

impl Clone for ReadyOnce {
    fn clone(&self) -> Self {
        Self { ready: false }
    }
}

impl Service<Request<Full<Bytes>>> for ReadyOnce {
    type Response = Response<Full<Bytes>>;
    type Error = &'static str;
    type Future = Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        let was_ready = std::mem::replace(&mut self.ready, false);
        ready(if was_ready {
            Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
        } else {
            Err("called without poll_ready")
        })
    }
}

#[tokio::test]
async fn async_layer_calls_the_service_it_readied() {
    let validator = |token: &str| {
        let token = token.to_owned();
        async move {
            tokio::task::yield_now().await;
            revoking_validator(&token)
        }
    };
    let mut svc = AuthTokenLayer::bearer_async(validator).layer(ReadyOnce { ready: false });
    for _ in 0..3 {
        let response = svc.ready().await.unwrap().call(bearer("live")).await;
        assert_eq!(response.unwrap().status(), StatusCode::OK);
    }
}

// ---- the token is never echoed ------------------------------------------------------------------

/// Requests presenting `SECRET` in every way the layer refuses (and once validly).
fn secret_requests() -> Vec<Request<Full<Bytes>>> {
    let s = SECRET;
    let values = [
        format!("Basic {s}"),
        s.to_owned(),
        format!("\"Bearer {s}\""),
        format!("Bearer \"{s}\""),
        format!("Bearer '{s}'"),
        format!("Bearer {s} "),
        format!("Bearer {s}\t"),
        format!("Bearer {s}x"),
        format!("Bearer x{s}"),
        format!("Bearer {s} {s}"),
        format!("TOK: {s}"),
        format!("Bearer {s}"),
    ];
    let mut requests: Vec<_> = values
        .iter()
        .map(|v| {
            request(
                Method::POST,
                "/api/machines",
                &[("authorization", v.as_bytes())],
            )
        })
        .collect();
    requests.push(request(
        Method::POST,
        "/api/machines",
        &[
            ("authorization", format!("Bearer {s}").as_bytes()),
            ("authorization", format!("Bearer {s}").as_bytes()),
        ],
    ));
    requests
}

#[tokio::test]
async fn the_token_appears_in_no_response() {
    // A layer under which even the valid SECRET is refused (scope), so every request fails.
    let layer = || AuthTokenLayer::bearer(tokens()).require_scope(Method::POST, "root");
    let mut failures = 0;
    for req in secret_requests() {
        let reply = send!(layer(), req);
        assert!(reply.status.is_client_error(), "{}", reply.status);
        reply.assert_absent(SECRET);
        reply.assert_absent(&SECRET[4..16]);
        failures += 1;
    }
    for req in secret_requests() {
        let reply = send!(
            ServiceBuilder::new()
                .layer(ErrorEnvelopeLayer::defender())
                .layer(layer()),
            req
        );
        assert!(reply.status.is_client_error());
        reply.assert_absent(SECRET);
    }
    for req in secret_requests() {
        let reply = send!(
            ServiceBuilder::new()
                .layer(ErrorEnvelopeLayer::edgio())
                .layer(layer()),
            req
        );
        reply.assert_absent(SECRET);
    }
    for req in secret_requests() {
        let reply = send!(
            ServiceBuilder::new()
                .layer(ErrorEnvelopeLayer::qradar())
                .layer(layer()),
            req
        );
        reply.assert_absent(SECRET);
    }
    assert_eq!(failures, 13);
}

#[test]
fn the_token_appears_in_no_debug_output() {
    let layer = AuthTokenLayer::bearer(tokens()).require_scope(Method::POST, "write");
    let principal = tower_envelope::auth::TokenValidator::validate(&tokens(), SECRET).unwrap();
    let service = layer.layer(tower::service_fn(whoami));
    let outputs = [
        format!("{layer:?}"),
        format!("{layer:#?}"),
        format!("{:?}", tokens()),
        format!("{principal:?}"),
        format!("{service:?}"),
    ];
    for out in &outputs {
        assert!(!out.contains(SECRET), "{out}");
        assert!(!out.contains(&SECRET[4..16]), "{out}");
    }
    // The Debug output is still useful.
    assert!(outputs[0].contains("tokens: 6"), "{}", outputs[0]);
    assert!(outputs[0].contains("\"write\""), "{}", outputs[0]);
    assert!(outputs[3].contains("token-5"), "{}", outputs[3]);
}

// ---- under the envelopes -----------------------------------------------------------------------

/// The request → expected result table every envelope test walks: missing header, malformed,
/// unknown, expired, insufficient scope, and a pass.
fn envelope_cases() -> Vec<(Request<Full<Bytes>>, &'static str)> {
    let post =
        |value: &'static [u8]| request(Method::POST, "/api/machines", &[("authorization", value)]);
    vec![
        (get(&[]), "missing"),
        (get(&[("authorization", b"Bearer 'read-token'")]), "quoted"),
        (bearer("nope"), "unknown"),
        (bearer("old-token"), "expired"),
        (post(b"Bearer read-token"), "scope"),
        (post(b"Bearer write-token"), "pass"),
    ]
}

fn enveloped_layer() -> AuthTokenLayer {
    AuthTokenLayer::bearer(tokens()).require_scope(Method::POST, "write")
}

const SCOPE_CHALLENGE: &str = r#"Bearer realm="api", error="insufficient_scope", scope="write""#;

#[tokio::test]
async fn under_defender() {
    for (req, case) in envelope_cases() {
        let reply = send!(
            ServiceBuilder::new()
                .layer(ErrorEnvelopeLayer::defender())
                .layer(enveloped_layer()),
            req
        );
        if case == "pass" {
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(reply.text(), "token-2 [read write]");
            continue;
        }
        let (status, code, message, challenge) = match case {
            "missing" => (
                401,
                "Unauthorized",
                "Authorization header is missing",
                BEARER,
            ),
            "quoted" => (
                401,
                "Unauthorized",
                "token is wrapped in quotes",
                BEARER_INVALID,
            ),
            "unknown" => (
                401,
                "Unauthorized",
                "token is not recognised",
                BEARER_INVALID,
            ),
            "expired" => (401, "Unauthorized", "token has expired", BEARER_INVALID),
            _ => (
                403,
                "Forbidden",
                "token lacks the required scope \"write\"",
                SCOPE_CHALLENGE,
            ),
        };
        assert_eq!(reply.status.as_u16(), status, "{case}: {}", reply.text());
        assert_eq!(reply.challenge(), Some(challenge), "{case}");
        assert!(
            reply.content_type().starts_with("application/json"),
            "{case}"
        );
        let body = reply.json();
        assert_eq!(body["error"]["code"], code, "{case}: {body}");
        assert_eq!(body["error"]["message"], message, "{case}: {body}");
        assert!(body["error"]["target"].is_string(), "{case}: {body}");
        if case == "expired" {
            assert_eq!(
                body["error"]["innererror"]["code"], "TokenExpired",
                "{body}"
            );
        }
    }
}

#[tokio::test]
async fn under_edgio() {
    for (req, case) in envelope_cases() {
        let reply = send!(
            ServiceBuilder::new()
                .layer(ErrorEnvelopeLayer::edgio())
                .layer(enveloped_layer()),
            req
        );
        if case == "pass" {
            assert_eq!(reply.status, StatusCode::OK);
            continue;
        }
        // Edgio answers every token failure, insufficient scope included, with 401.
        let (message, challenge) = match case {
            "missing" => ("Authorization header is missing", BEARER),
            "quoted" => ("token is wrapped in quotes", BEARER_INVALID),
            "unknown" => ("token is not recognised", BEARER_INVALID),
            "expired" => ("token has expired", BEARER_INVALID),
            _ => ("token lacks the required scope \"write\"", SCOPE_CHALLENGE),
        };
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{case}: {}",
            reply.text()
        );
        assert_eq!(reply.challenge(), Some(challenge), "{case}");
        let body = reply.json();
        assert_eq!(body["Message"], message, "{case}: {body}");
        match case {
            "expired" => assert_eq!(body["Kind"], "token_expired", "{body}"),
            "scope" => assert_eq!(body["Kind"], "insufficient_scope", "{body}"),
            _ => assert!(body.get("Kind").is_none(), "{case}: {body}"),
        }
    }
}

#[tokio::test]
async fn under_qradar() {
    for (req, case) in envelope_cases() {
        let reply = send!(
            ServiceBuilder::new()
                .layer(ErrorEnvelopeLayer::qradar())
                .layer(enveloped_layer()),
            req
        );
        if case == "pass" {
            assert_eq!(reply.status, StatusCode::OK);
            continue;
        }
        let (status, code, message, challenge) = match case {
            "missing" => (401, 18, "Authorization header is missing", BEARER),
            "quoted" => (401, 18, "token is wrapped in quotes", BEARER_INVALID),
            "unknown" => (401, 18, "token is not recognised", BEARER_INVALID),
            "expired" => (401, 18, "token has expired", BEARER_INVALID),
            _ => (
                403,
                1009,
                "token lacks the required scope \"write\"",
                SCOPE_CHALLENGE,
            ),
        };
        assert_eq!(reply.status.as_u16(), status, "{case}: {}", reply.text());
        assert_eq!(reply.challenge(), Some(challenge), "{case}");
        let body = reply.json();
        assert_eq!(body["code"], code, "{case}: {body}");
        assert_eq!(body["message"], message, "{case}: {body}");
        assert_eq!(body["http_response"]["code"], status, "{case}: {body}");
    }
}

#[tokio::test]
async fn tok_and_header_forms_under_edgio_and_qradar() {
    // EdgeCast's own form under its envelope.
    let reply = send!(
        ServiceBuilder::new()
            .layer(ErrorEnvelopeLayer::edgio())
            .layer(AuthTokenLayer::tok(tokens())),
        get(&[("authorization", b"TOK: \"read-token\"")])
    );
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.challenge(),
        Some(r#"TOK realm="api", error="invalid_token""#)
    );
    assert_eq!(reply.json()["Message"], "token is wrapped in quotes");

    // QRadar's SEC form under its envelope.
    let reply = send!(
        ServiceBuilder::new()
            .layer(ErrorEnvelopeLayer::qradar())
            .layer(AuthTokenLayer::header("SEC", tokens())),
        get(&[])
    );
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge(), Some(r#"SEC realm="api""#));
    let body = reply.json();
    assert_eq!(body["code"], 18, "{body}");
    assert_eq!(body["message"], "SEC header is missing", "{body}");
}

// ---- axum -----------------------------------------------------------------------------------

#[tokio::test]
async fn the_principal_is_an_axum_extractor() {
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;

    async fn me(principal: Principal) -> String {
        format!("hello {}", principal.subject())
    }
    async fn maybe(principal: Option<Principal>) -> String {
        principal.map_or("anonymous".into(), |p| p.subject().to_owned())
    }

    let auth = AuthTokenLayer::bearer(tokens());
    let app = Router::new()
        .route("/me", get(me).route_layer(auth.clone()))
        .route("/unguarded", get(me))
        .route("/maybe", get(maybe))
        .layer(ErrorEnvelopeLayer::defender());
    let get = |path: &str| {
        Request::get(path)
            .header(AUTHORIZATION, "Bearer ci-backup")
            .body(Body::empty())
            .unwrap()
    };
    let reply = Reply::read(app.clone().oneshot(get("/me")).await.unwrap()).await;
    assert_eq!((reply.status, reply.text()), (StatusCode::OK, "hello ci"));
    // A route without a token check has no principal: the server's mistake, a 500.
    let reply = Reply::read(app.clone().oneshot(get("/unguarded")).await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.json()["error"]["code"], "InternalServerError");
    let reply = Reply::read(app.oneshot(get("/maybe")).await.unwrap()).await;
    assert_eq!((reply.status, reply.text()), (StatusCode::OK, "anonymous"));
}

#[tokio::test]
async fn the_principal_reaches_an_axum_handler() {
    use axum::body::Body;
    use axum::routing::{get, post};
    use axum::{Extension, Router};

    async fn me(Extension(principal): Extension<Principal>) -> String {
        format!("hello {}", principal.subject())
    }

    let app = Router::new()
        .route("/me", get(me))
        .route("/machines", post(me))
        .layer(
            ServiceBuilder::new()
                .layer(ErrorEnvelopeLayer::defender())
                .layer(AuthTokenLayer::bearer(tokens()).require_scope(Method::POST, "write")),
        );

    let send = |method: Method, path: &str, token: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };

    let reply = Reply::read(
        app.clone()
            .oneshot(send(Method::GET, "/me", "ci-backup"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "hello ci");

    let reply = Reply::read(
        app.clone()
            .oneshot(send(Method::POST, "/machines", "write-token"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "hello token-2");

    let reply = Reply::read(
        app.oneshot(send(Method::POST, "/machines", "read-token"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.challenge(), Some(SCOPE_CHALLENGE));
    assert_eq!(reply.json()["error"]["code"], "Forbidden");
}

// ---- allocations of a passing request -----------------------------------------------------------

/// Readies `svc`, calls it and polls the future to completion on this thread; returns the
/// allocations made in between and the status.
fn drive<S, B, RB>(svc: &mut S, request: Request<B>) -> (usize, StatusCode)
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: std::fmt::Debug,
{
    common::count(|| common::service::drive(svc, request).status())
}

#[test]
fn a_passing_request_allocates_nothing_without_the_principal_insert() {
    for make in [
        || (AuthTokenLayer::bearer(tokens()), bearer("write-token")),
        || {
            (
                AuthTokenLayer::tok(tokens()),
                get(&[("authorization", b"TOK: write-token")]),
            )
        },
        || {
            (
                AuthTokenLayer::header("SEC", tokens()),
                get(&[("sec", b"write-token")]),
            )
        },
    ] {
        let (layer, _) = make();
        let mut svc = layer
            .require_scope(Method::GET, "read")
            .insert_principal(false)
            .layer(common::service::BARE);
        let _ = drive(&mut svc, make().1); // warm up process-wide lazies
        let (n, status) = drive(&mut svc, make().1);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(n, 0, "allocations per passing request");
    }
}

#[test]
fn the_principal_insert_costs_what_extensions_cost() {
    let mut svc = AuthTokenLayer::bearer(tokens()).layer(common::service::BARE);
    let _ = drive(&mut svc, bearer("write-token"));
    let (n, status) = drive(&mut svc, bearer("write-token"));
    assert_eq!(status, StatusCode::OK);
    // Into empty extensions: the map's box, its table and the boxed `Principal`.
    assert_eq!(
        n, 3,
        "allocations per passing request with the principal inserted"
    );

    // The same three allocations, made by `Extensions::insert` alone.
    let mut extensions = http::Extensions::new();
    let principal = Principal::new("p", ["read"]);
    let before = allocations();
    extensions.insert(principal);
    assert_eq!(allocations() - before, n);
}

#[tokio::test]
async fn allow_anonymous_passes_chosen_requests_without_a_token() {
    let layer = AuthTokenLayer::bearer(tokens())
        .require_scope(Method::GET, "read")
        .allow_anonymous(|parts| parts.uri.path() == "/healthz");
    // No token, anonymous route: reaches the handler without a principal.
    let reply = send!(layer.clone(), request(Method::GET, "/healthz", &[]));
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "anonymous");
    // A token on an anonymous route is not checked (even a bad one) and adds no principal.
    let reply = send!(
        layer.clone(),
        request(
            Method::GET,
            "/healthz",
            &[("authorization", b"Bearer nope")]
        )
    );
    assert_eq!((reply.status, reply.text()), (StatusCode::OK, "anonymous"));
    // Every other route still needs a token.
    let reply = send!(layer.clone(), get(&[]));
    reply.assert_problem(
        StatusCode::UNAUTHORIZED,
        ErrorKind::Unauthorized,
        "Authorization header is missing",
        Some(BEARER),
    );
    let reply = send!(layer, bearer("read-token"));
    assert_eq!(reply.status, StatusCode::OK);
    assert_ne!(reply.text(), "anonymous");
}
