//! The demo server (`examples/demo.rs`) driven over TCP by a real HTTP client, once per format.
//!
//! Each test starts the demo with `demo::serve` on an ephemeral port for each of the six formats
//! at once, runs the same check against every server concurrently, shuts each server down through
//! its shutdown future and reports the failing formats together. The expected status of an error
//! is the format's own ([`Format::status`]), checked against `reference/vendors.md` as well; the
//! body is parsed back with the format's [`Format::parse`] and a few raw members are checked per
//! format.

#[allow(dead_code)]
#[path = "../examples/demo.rs"]
mod demo;
#[cfg(feature = "redis")]
#[path = "common/redis_server.rs"]
mod redis_server;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tower_envelope::{ApiError, ErrorKind, Format};

/// The text of the demo's panicking handler, which must never reach a client.
const PANIC_TEXT: &str = "panicked on purpose";

/// How long one request may take before the test gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

// ---- harness ---------------------------------------------------------------------------------

/// One running demo server and a client for it.
struct Demo {
    name: &'static str,
    format: Arc<dyn Format>,
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A response, read whole.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    /// The HTTP/1 reason phrase, when it is not the status's canonical one.
    reason: Option<String>,
    body: Bytes,
    /// The `x-request-id` the request carried, if any.
    sent_request_id: Option<String>,
    /// What was sent, for failure messages.
    what: String,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| {
            v.to_str()
                .unwrap_or_else(|_| panic!("{}: a header is not text", self.what))
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {}", self.what, self.text()))
    }
}

/// Runs `check` against a demo server of each format, concurrently; fails listing every format
/// whose check failed (or whose server did not shut down cleanly).
async fn each_format<F, Fut>(check: F)
where
    F: Fn(Demo) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut runs = JoinSet::new();
    for name in demo::FORMATS {
        let check = check.clone();
        runs.spawn(async move { (name, run(name, check).await) });
    }
    let mut failures = Vec::new();
    while let Some(joined) = runs.join_next().await {
        let (name, outcome) = joined.expect("the harness task itself does not panic");
        if let Err(message) = outcome {
            failures.push(format!("[{name}] {message}"));
        }
    }
    failures.sort();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Serves the demo in `name`'s format on 127.0.0.1:0, runs `check` in its own task (so that a
/// failed assertion is caught), then shuts the server down and awaits it.
async fn run<F, Fut>(name: &'static str, check: F) -> Result<(), String>
where
    F: Fn(Demo) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let format = demo::format(name).ok_or_else(|| format!("demo::format({name:?}) is None"))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("addr: {e}"))?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(demo::serve(listener, format.clone(), async {
        let _ = stopped.await;
    }));
    let demo = Demo {
        name,
        format,
        base: format!("http://{addr}"),
        client: Client::builder(TokioExecutor::new()).build_http(),
    };
    // The client moves into the check and is dropped with it, closing its pooled connections.
    let checked = tokio::spawn(check(demo)).await;
    let _ = stop.send(());
    let served = tokio::time::timeout(Duration::from_secs(5), server).await;
    if let Err(e) = checked {
        return Err(match e.try_into_panic() {
            Ok(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "the check panicked".to_owned()),
            Err(e) => format!("the check was cancelled: {e}"),
        });
    }
    match served {
        Err(_) => Err("the server did not shut down within 5 s of its shutdown signal".into()),
        Ok(Err(e)) => Err(format!("the server task failed: {e}")),
        Ok(Ok(Err(e))) => Err(format!("demo::serve returned an error: {e}")),
        Ok(Ok(Ok(()))) => Ok(()),
    }
}

impl Demo {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        // A long body is named by its length.
        let shown = match body.len() {
            0..=200 => format!("{body:?}"),
            n => format!("<{n} bytes>"),
        };
        let what = format!("{} {method} {path} {headers:?} {shown}", self.name);
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        let mut sent_request_id = None;
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("x-request-id") {
                sent_request_id = Some((*value).to_owned());
            }
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .unwrap_or_else(|e| panic!("{what}: cannot build the request: {e}"));
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request))
            .await
            .unwrap_or_else(|_| panic!("{what}: no response within {REQUEST_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("{what}: request failed: {e:?}"));
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(REQUEST_TIMEOUT, body.collect())
            .await
            .unwrap_or_else(|_| panic!("{what}: body not read within {REQUEST_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("{what}: reading the body failed: {e}"))
            .to_bytes();
        Reply {
            status: parts.status,
            reason: parts
                .extensions
                .get::<hyper::ext::ReasonPhrase>()
                .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned()),
            headers: parts.headers,
            body,
            sent_request_id,
            what,
        }
    }

    /// `GET path`, with `Authorization: Bearer <token>` when a token is given.
    async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        match token {
            Some(token) => {
                let auth = format!("Bearer {token}");
                self.send(Method::GET, path, &[("authorization", &auth)], "")
                    .await
            }
            None => self.send(Method::GET, path, &[], "").await,
        }
    }

    /// `POST path` with a token and a JSON body (`Content-Type: application/json`).
    async fn post_json(&self, path: &str, token: &str, body: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.send(
            Method::POST,
            path,
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    }

    /// `method path` with a token and no body.
    async fn call(&self, method: Method, path: &str, token: &str) -> Reply {
        let auth = format!("Bearer {token}");
        self.send(method, path, &[("authorization", &auth)], "")
            .await
    }

    /// Asserts that `reply` is `kind` rendered in this server's format, and returns the error
    /// parsed back with the format's own parser.
    fn error(&self, reply: &Reply, kind: ErrorKind) -> ApiError {
        let what = &reply.what;
        let body = reply.text();
        let expected = self.format.status(&ApiError::from_kind(kind));
        assert_eq!(
            reply.status, expected,
            "{what}: status for {kind:?} (Format::status); body {body}"
        );
        assert_eq!(
            reply.status.as_u16(),
            spec_status(self.name, kind),
            "{what}: status for {kind:?} (vendors.md); body {body}"
        );
        assert!(
            !body.contains(PANIC_TEXT),
            "{what}: the panic text leaked: {body}"
        );

        let request_id = reply
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{what}: error response without x-request-id"))
            .to_owned();
        match &reply.sent_request_id {
            Some(sent) => assert_eq!(&request_id, sent, "{what}: x-request-id not kept"),
            None => assert!(
                is_uuid_v4(&request_id),
                "{what}: generated x-request-id {request_id:?} is not a UUID v4"
            ),
        }

        let content_type = reply
            .header(CONTENT_TYPE)
            .unwrap_or_else(|| panic!("{what}: error response without Content-Type"));
        assert_eq!(
            content_type,
            match self.name {
                "defender" => "application/json; charset=utf-8",
                "problem" => "application/problem+json",
                _ => "application/json",
            },
            "{what}: Content-Type"
        );
        let parsed = self
            .format
            .parse(reply.status, Some(content_type), &reply.body)
            .unwrap_or_else(|| panic!("{what}: the format cannot parse its own body: {body}"));
        assert_eq!(parsed.kind(), kind, "{what}: parsed kind; body {body}");
        assert!(
            !parsed.message().is_empty(),
            "{what}: empty message; body {body}"
        );

        let json = reply.json();
        self.raw_members(reply, kind, &request_id, &json, &parsed);
        parsed
    }

    /// A few members of each vendor's body, read from the raw JSON.
    fn raw_members(
        &self,
        reply: &Reply,
        kind: ErrorKind,
        request_id: &str,
        json: &Value,
        parsed: &ApiError,
    ) {
        let what = &reply.what;
        let status = reply.status.as_u16();
        let message = parsed.message();
        match self.name {
            "defender" => {
                assert_eq!(
                    json["error"]["code"],
                    defender_code(kind),
                    "{what}: error.code in {json}"
                );
                assert_eq!(
                    json["error"]["target"], request_id,
                    "{what}: error.target in {json}"
                );
                assert_eq!(
                    json["error"]["message"], message,
                    "{what}: error.message in {json}"
                );
            }
            "qradar" => {
                assert_eq!(
                    json["http_response"]["code"], status,
                    "{what}: http_response.code in {json}"
                );
                assert_eq!(
                    json["http_response"]["message"],
                    qradar_http_message(kind, status),
                    "{what}: http_response.message in {json}"
                );
                assert_eq!(
                    json["code"],
                    qradar_code(kind, status),
                    "{what}: code in {json}"
                );
                assert_eq!(json["message"], message, "{what}: message in {json}");
                assert!(json["details"].is_object(), "{what}: details in {json}");
                assert!(
                    json["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{what}: description in {json}"
                );
                // 419, 420 and 550 have no reason phrase of their own: QRadar's names for them.
                let reason = match status {
                    419 => Some("Missing Arguments"),
                    420 => Some("Invalid Arguments"),
                    550 => Some("Initialization Failure"),
                    _ => None,
                };
                assert_eq!(
                    reply.reason.as_deref(),
                    reason,
                    "{what}: HTTP/1 reason phrase"
                );
            }
            "msi" => {
                let title = msi_title(kind);
                assert_eq!(
                    reply.reason.as_deref(),
                    title,
                    "{what}: HTTP/1 reason phrase"
                );
                if let Some(title) = title {
                    let detail = json["detail"].as_str().unwrap_or_default();
                    assert_eq!(
                        detail,
                        format!("{title}: {message}"),
                        "{what}: detail in {json}"
                    );
                } else if parsed.violations().is_empty() {
                    assert_eq!(json["detail"], message, "{what}: detail in {json}");
                } else {
                    assert!(json["detail"].is_array(), "{what}: detail in {json}");
                }
            }
            "edgio" => {
                assert_eq!(json["Message"], message, "{what}: Message in {json}");
                // `Kind` appears only when the status alone does not name the kind.
                let named = ErrorKind::from_status(reply.status) == Some(kind);
                let expected = if named {
                    Value::Null
                } else {
                    kind.slug().into()
                };
                assert_eq!(json["Kind"], expected, "{what}: Kind in {json}");
            }
            "problem" => {
                assert_eq!(json["status"], status, "{what}: status in {json}");
                assert_eq!(json["code"], kind.slug(), "{what}: code in {json}");
                assert_eq!(json["detail"], message, "{what}: detail in {json}");
                assert_eq!(json["type"], "about:blank", "{what}: type in {json}");
                // RFC 9110's reason phrases, which renamed 413 and 422.
                let title = match reply.status.as_u16() {
                    413 => "Content Too Large",
                    422 => "Unprocessable Content",
                    _ => reply.status.canonical_reason().unwrap_or_default(),
                };
                assert_eq!(json["title"], title, "{what}: title in {json}");
                assert_eq!(
                    json["request_id"], request_id,
                    "{what}: request_id in {json}"
                );
            }
            "google" => {
                assert_eq!(
                    json["error"]["code"], status,
                    "{what}: error.code in {json}"
                );
                assert_eq!(
                    json["error"]["status"],
                    google_status(kind),
                    "{what}: error.status in {json}"
                );
                assert_eq!(
                    json["error"]["message"], message,
                    "{what}: error.message in {json}"
                );
                let details = json["error"]["details"].as_array().cloned();
                let details = details.unwrap_or_default();
                let infos: Vec<&Value> = details
                    .iter()
                    .filter(|d| d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo")
                    .collect();
                assert_eq!(infos.len(), 1, "{what}: exactly one ErrorInfo in {json}");
                assert_eq!(
                    infos[0]["reason"],
                    kind.slug().to_ascii_uppercase(),
                    "{what}: ErrorInfo.reason in {json}"
                );
                assert_eq!(
                    infos[0]["domain"], "demo.example.com",
                    "{what}: ErrorInfo.domain in {json}"
                );
                assert!(
                    details.iter().any(|d| d["requestId"] == request_id),
                    "{what}: RequestInfo.requestId in {json}"
                );
            }
            other => panic!("no expectations for format {other}"),
        }
    }
}

/// The status `reference/vendors.md` gives each format for the kinds the demo produces.
fn spec_status(format: &str, kind: ErrorKind) -> u16 {
    use ErrorKind as K;
    let standard = match kind {
        K::MissingParameter
        | K::InvalidRequestBody
        | K::InvalidUrl
        | K::InvalidHashValue
        | K::InvalidIpAddress
        | K::InvalidDomainName
        | K::MaximumBatchSizeExceeded
        | K::ODataError
        | K::UnknownParameter
        | K::InvalidCustomerId
        | K::InactiveCustomer => 400,
        K::InitializationFailure => 503,
        K::Unauthorized | K::TokenExpired => 401,
        K::InsufficientScope => 403,
        K::NotFound | K::ResourceNotFound | K::InvalidCase => 404,
        K::MethodNotAllowed => 405,
        K::PayloadTooLarge => 413,
        K::UriTooLong => 414,
        K::UnsupportedMediaType => 415,
        K::Internal => 500,
        K::UpstreamInvalidCredentials | K::UpstreamQueryInvalid => 502,
        K::UpstreamTimeout => 504,
        other => panic!("no expected status for {other:?}"),
    };
    match (format, kind) {
        ("qradar", K::MissingParameter) => 419,
        ("qradar", K::UnknownParameter) => 420,
        ("qradar", K::InitializationFailure) => 550,
        (
            "msi",
            K::InvalidHashValue
            | K::InvalidIpAddress
            | K::InvalidDomainName
            | K::MaximumBatchSizeExceeded
            | K::ODataError
            | K::UnknownParameter,
        ) => 422,
        ("msi", K::UpstreamTimeout | K::UpstreamInvalidCredentials | K::UpstreamQueryInvalid) => {
            427
        }
        (
            "msi",
            K::MissingParameter | K::InvalidRequestBody | K::InvalidUrl | K::UnsupportedMediaType,
        ) => 422,
        ("edgio", K::Unauthorized | K::TokenExpired | K::InsufficientScope) => 401,
        ("edgio", K::UnsupportedMediaType) => 400,
        ("edgio", K::InvalidCase) => 403,
        _ => standard,
    }
}

/// Defender's `error.code` (vendors.md §2).
fn defender_code(kind: ErrorKind) -> &'static str {
    use ErrorKind as K;
    match kind {
        K::MissingParameter => "MissingRequiredParameter",
        K::Unauthorized | K::TokenExpired => "Unauthorized",
        K::InsufficientScope => "Forbidden",
        K::Internal => "InternalServerError",
        K::ResourceNotFound => "ResourceNotFound",
        K::NotFound | K::InvalidCase => "NotFound",
        K::InvalidRequestBody => "InvalidRequestBody",
        K::InvalidUrl => "InvalidUrl",
        K::UnsupportedMediaType => "UnsupportedMediaType",
        K::PayloadTooLarge => "PayloadTooLarge",
        K::UriTooLong => "UriTooLong",
        K::MethodNotAllowed => "MethodNotAllowed",
        K::UnknownParameter => "InvalidInput",
        K::InitializationFailure => "ServiceUnavailable",
        K::InvalidHashValue
        | K::InvalidIpAddress
        | K::InvalidDomainName
        | K::MaximumBatchSizeExceeded
        | K::ODataError
        | K::InvalidCustomerId
        | K::InactiveCustomer => kind.name(),
        K::UpstreamTimeout => "UpstreamTimeout",
        K::UpstreamInvalidCredentials => "UpstreamInvalidCredentials",
        K::UpstreamQueryInvalid => "UpstreamQueryInvalid",
        other => panic!("no expected Defender code for {other:?}"),
    }
}

/// QRadar's numeric `code` (vendors.md §3).
fn qradar_code(kind: ErrorKind, status: u16) -> i64 {
    use ErrorKind as K;
    match kind {
        K::MissingParameter => 8,
        K::Unauthorized | K::TokenExpired => 18,
        K::InvalidRequestBody => 1001,
        K::ResourceNotFound => 1002,
        K::InsufficientScope => 1009,
        K::Internal => 1020,
        _ => i64::from(status),
    }
}

/// QRadar's `http_response.message` (seed 003's table; a missing entity behind an existing
/// endpoint uses the shorter text of the seed's own example response).
fn qradar_http_message(kind: ErrorKind, status: u16) -> &'static str {
    match status {
        400 => "Invalid syntax for this request was provided.",
        401 => "You are unauthorized to access the requested resource. Please log in.",
        403 => "Your account is not authorized to access the requested resource.",
        404 if kind == ErrorKind::ResourceNotFound => {
            "We could not find the resource you requested."
        }
        404 => "We could not find the resource you requested. Please refer to the documentation for the list of resources.",
        405 => "This method type is not currently supported.",
        413 => "The request entity is larger than the server is willing or able to process.",
        414 => "The request URI is longer than the server is willing to interpret.",
        415 => "The requested resource does not support the media type provided.",
        419 => "The requested resource is missing required arguments.",
        420 => "The requested resource does not support one or more of the given parameters.",
        550 => "A failure occurred during initialization of services. API will be unavailable.",
        500 => "Unexpected internal server error.",
        502 => "Invalid response received when acting as a proxy or gateway.",
        504 => "Did not receive a timely response from upstream server while acting as a gateway or proxy.",
        other => panic!("no expected QRadar text for {other}"),
    }
}

/// MSI's 427 title, which is also the reason phrase (vendors.md §4).
fn msi_title(kind: ErrorKind) -> Option<&'static str> {
    match kind {
        ErrorKind::UpstreamTimeout => Some("Upstream Tech Timed Out"),
        ErrorKind::UpstreamInvalidCredentials => Some("Upstream Tech Invalid Credentials"),
        ErrorKind::UpstreamQueryInvalid => Some("Upstream Tech Query Invalid"),
        _ => None,
    }
}

/// Google's canonical `error.status` (vendors.md §7, §8).
fn google_status(kind: ErrorKind) -> &'static str {
    use ErrorKind as K;
    match kind {
        K::MissingParameter
        | K::InvalidRequestBody
        | K::InvalidUrl
        | K::UriTooLong
        | K::UnsupportedMediaType
        | K::InvalidHashValue
        | K::InvalidIpAddress
        | K::InvalidDomainName
        | K::MaximumBatchSizeExceeded
        | K::ODataError
        | K::UnknownParameter
        | K::InvalidCustomerId => "INVALID_ARGUMENT",
        K::InactiveCustomer => "FAILED_PRECONDITION",
        K::InitializationFailure => "UNAVAILABLE",
        K::Unauthorized | K::TokenExpired => "UNAUTHENTICATED",
        K::InsufficientScope => "PERMISSION_DENIED",
        K::PayloadTooLarge => "RESOURCE_EXHAUSTED",
        K::ResourceNotFound => "NOT_FOUND",
        K::NotFound | K::InvalidCase | K::MethodNotAllowed => "UNIMPLEMENTED",
        K::UpstreamTimeout => "DEADLINE_EXCEEDED",
        K::UpstreamInvalidCredentials | K::UpstreamQueryInvalid => "UNAVAILABLE",
        K::Internal => "INTERNAL",
        other => panic!("no expected Google status for {other:?}"),
    }
}

fn is_uuid_v4(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
        && b.iter()
            .enumerate()
            .all(|(i, c)| [8, 13, 18, 23].contains(&i) || matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// The `Bearer` challenge the demo's auth layer sends (RFC 6750 §3).
fn challenge(reply: &Reply) -> &str {
    reply
        .header(WWW_AUTHENTICATE)
        .unwrap_or_else(|| panic!("{}: no WWW-Authenticate", reply.what))
}

// ---- the contract ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_ok_without_a_token() {
    each_format(|demo| async move {
        let reply = demo.get("/healthz", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.what);
        assert_eq!(reply.text(), "ok", "{}", reply.what);
        assert!(reply.header(WWW_AUTHENTICATE).is_none(), "{}", reply.what);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_1_is_served_to_the_read_token() {
    each_format(|demo| async move {
        let reply = demo.get("/api/machines/1", Some("read-token")).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}: {}",
            reply.what,
            reply.text()
        );
        assert!(
            reply
                .header(CONTENT_TYPE)
                .is_some_and(|ct| ct.starts_with("application/json")),
            "{}: Content-Type {:?}",
            reply.what,
            reply.header(CONTENT_TYPE)
        );
        assert_eq!(reply.json(), json!({"id": "1", "name": "machine-1"}));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_machines_are_resource_not_found() {
    each_format(|demo| async move {
        for id in ["7", "123123123", "web-1"] {
            let reply = demo
                .get(&format!("/api/machines/{id}"), Some("read-token"))
                .await;
            let error = demo.error(&reply, ErrorKind::ResourceNotFound);
            assert_eq!(
                error.message(),
                format!("Machine {id} was not found"),
                "{}",
                reply.what
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_controls_and_xml_noncharacters_are_not_echoed() {
    each_format(|demo| async move {
        for (id, echoed) in [
            ("%E2%80%AEevil", "evil"),
            ("a%E2%81%A6b%E2%80%8Fc", "abc"),
            ("a%EF%BF%BFb%EF%BF%BEc", "abc"),
        ] {
            let reply = demo
                .get(&format!("/api/machines/{id}"), Some("read-token"))
                .await;
            let error = demo.error(&reply, ErrorKind::ResourceNotFound);
            assert_eq!(
                error.message(),
                format!("Machine {echoed} was not found"),
                "{}",
                reply.what
            );
            let auth = [
                ("authorization", "Bearer read-token"),
                ("accept", "application/xml"),
            ];
            let xml = demo
                .send(Method::GET, &format!("/api/machines/{id}"), &auth, "")
                .await;
            assert_eq!(xml.status, StatusCode::NOT_FOUND, "{}", xml.what);
            for reply in [&reply, &xml] {
                for c in ['\u{202E}', '\u{2066}', '\u{200F}', '\u{FFFF}', '\u{FFFE}'] {
                    assert!(
                        !reply.text().contains(c),
                        "{}: {}",
                        reply.what,
                        reply.text()
                    );
                }
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_valid_token_is_unauthorized() {
    each_format(|demo| async move {
        // No credentials: a challenge without an `error` attribute.
        let reply = demo.get("/api/machines/1", None).await;
        let error = demo.error(&reply, ErrorKind::Unauthorized);
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.what);
        assert_eq!(challenge(&reply), r#"Bearer realm="api""#, "{}", reply.what);
        assert_eq!(
            error.message(),
            "Authorization header is missing",
            "{}",
            reply.what
        );

        // An unknown token.
        let reply = demo.get("/api/machines/1", Some("guessed-token")).await;
        let error = demo.error(&reply, ErrorKind::Unauthorized);
        assert_eq!(
            challenge(&reply),
            r#"Bearer realm="api", error="invalid_token""#,
            "{}",
            reply.what
        );
        assert_eq!(error.message(), "token is not recognised", "{}", reply.what);
        assert!(!reply.text().contains("guessed-token"), "{}", reply.what);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_token_expired() {
    each_format(|demo| async move {
        let reply = demo.get("/api/machines/1", Some("expired-token")).await;
        let error = demo.error(&reply, ErrorKind::TokenExpired);
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.what);
        assert_eq!(
            challenge(&reply),
            r#"Bearer realm="api", error="invalid_token""#,
            "{}",
            reply.what
        );
        assert_eq!(error.message(), "token has expired", "{}", reply.what);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_token_cannot_post() {
    each_format(|demo| async move {
        let reply = demo
            .post_json("/api/machines", "read-token", r#"{"name":"web-1"}"#)
            .await;
        let error = demo.error(&reply, ErrorKind::InsufficientScope);
        let expected = if demo.name == "edgio" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(reply.status, expected, "{}", reply.what);
        assert_eq!(
            challenge(&reply),
            r#"Bearer realm="api", error="insufficient_scope", scope="write""#,
            "{}",
            reply.what
        );
        assert_eq!(
            error.message(),
            r#"token lacks the required scope "write""#,
            "{}",
            reply.what
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_token_creates_a_machine() {
    each_format(|demo| async move {
        let reply = demo
            .post_json("/api/machines", "write-token", r#"{"name":"web-1"}"#)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}: {}",
            reply.what,
            reply.text()
        );
        let body = reply.json();
        assert_eq!(body["name"], "web-1", "{}: {body}", reply.what);
        let id = body["id"].as_str().unwrap_or_default();
        assert!(
            !id.is_empty() && id != "1",
            "{}: a new id in {body}",
            reply.what
        );
        let fields: Vec<&String> = body.as_object().map(|o| o.keys().collect()).unwrap();
        assert_eq!(fields, ["id", "name"], "{}: {body}", reply.what);

        // The admin token holds `write` too.
        let reply = demo
            .post_json("/api/machines", "admin-token", r#"{"name":"web-2"}"#)
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.what);
        assert_eq!(reply.json()["name"], "web-2", "{}", reply.what);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_blank_name_is_missing_parameter() {
    each_format(|demo| async move {
        for body in [
            "{}",
            r#"{"name":""}"#,
            r#"{"name":"   "}"#,
            r#"{"name":null}"#,
            r#"{"title":"web-1"}"#,
        ] {
            let reply = demo.post_json("/api/machines", "write-token", body).await;
            let error = demo.error(&reply, ErrorKind::MissingParameter);
            assert_eq!(
                error.message(),
                "Parameter name is missing.",
                "{}",
                reply.what
            );
            let violations = error.violations();
            assert_eq!(violations.len(), 1, "{}: {violations:?}", reply.what);
            assert_eq!(
                violations[0].location(),
                ["body", "name"],
                "{}: {violations:?}",
                reply.what
            );
            assert_eq!(violations[0].message(), "field required", "{}", reply.what);

            // Where each format puts the violation in its raw body.
            let json = reply.json();
            let location = match demo.name {
                "defender" => json["error"]["details"][0]["target"].clone(),
                "qradar" => json["details"]["fields"][0]["location"].clone(),
                "msi" => json["detail"][0]["loc"].clone(),
                "edgio" => json["Errors"][0]["location"].clone(),
                "problem" => json["errors"][0]["pointer"].clone(),
                "google" => json["error"]["details"]
                    .as_array()
                    .and_then(|details| {
                        details
                            .iter()
                            .find(|d| d["@type"] == "type.googleapis.com/google.rpc.BadRequest")
                    })
                    .map(|d| d["fieldViolations"][0]["field"].clone())
                    .unwrap_or_default(),
                other => panic!("no expectations for format {other}"),
            };
            let expected = match demo.name {
                "defender" => json!("body.name"),
                // AIP-193: a path into the request body.
                "google" => json!("name"),
                "problem" => json!("#/name"),
                _ => json!(["body", "name"]),
            };
            assert_eq!(location, expected, "{}: violation in {json}", reply.what);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_json_is_invalid_request_body() {
    each_format(|demo| async move {
        for body in ["not json", r#"{"name":"#, "name=web-1"] {
            let reply = demo.post_json("/api/machines", "write-token", body).await;
            let error = demo.error(&reply, ErrorKind::InvalidRequestBody);
            assert!(
                error
                    .message()
                    .starts_with("Request body is not valid JSON (line 1, column "),
                "{}: {:?}",
                reply.what,
                error.message()
            );
        }
        // JSON, but not an object.
        let reply = demo
            .post_json("/api/machines", "write-token", r#"["web-1"]"#)
            .await;
        let error = demo.error(&reply, ErrorKind::InvalidRequestBody);
        assert_eq!(
            error.message(),
            "Request body must be a JSON object",
            "{}",
            reply.what
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_needs_the_admin_token() {
    each_format(|demo| async move {
        let reply = demo
            .call(Method::DELETE, "/api/machines/1", "admin-token")
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NO_CONTENT,
            "{}: {}",
            reply.what,
            reply.text()
        );
        assert!(reply.body.is_empty(), "{}: {}", reply.what, reply.text());

        for token in ["write-token", "read-token"] {
            let reply = demo.call(Method::DELETE, "/api/machines/1", token).await;
            let error = demo.error(&reply, ErrorKind::InsufficientScope);
            assert_eq!(
                challenge(&reply),
                r#"Bearer realm="api", error="insufficient_scope", scope="admin""#,
                "{}",
                reply.what
            );
            assert_eq!(
                error.message(),
                r#"token lacks the required scope "admin""#,
                "{}",
                reply.what
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slow_endpoint_times_out_as_upstream_timeout() {
    each_format(|demo| async move {
        let started = Instant::now();
        let reply = demo.get("/api/slow", Some("read-token")).await;
        let elapsed = started.elapsed();
        let error = demo.error(&reply, ErrorKind::UpstreamTimeout);
        // The demo's timeout is 1 s (the handler sleeps 2 s: without the timeout it answers 200).
        assert!(
            elapsed >= Duration::from_millis(990),
            "{}: answered after {elapsed:?}, before the 1 s timeout",
            reply.what
        );
        assert!(!error.message().contains("too late"), "{}", reply.what);
        if demo.name == "msi" {
            assert_eq!(reply.status.as_u16(), 427, "{}", reply.what);
            assert_eq!(
                reply.reason.as_deref(),
                Some("Upstream Tech Timed Out"),
                "{}",
                reply.what
            );
        } else {
            assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT, "{}", reply.what);
            assert_eq!(reply.reason, None, "{}", reply.what);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_keep_their_kinds() {
    each_format(|demo| async move {
        let cases = [
            (
                "/api/upstream/credentials",
                ErrorKind::UpstreamInvalidCredentials,
                "splunk.example.com rejected the configured API key",
                "Upstream Tech Invalid Credentials",
            ),
            (
                "/api/upstream/query",
                ErrorKind::UpstreamQueryInvalid,
                "elasticsearch.example.com could not parse the search query",
                "Upstream Tech Query Invalid",
            ),
        ];
        for (path, kind, message, title) in cases {
            let reply = demo.get(path, Some("read-token")).await;
            let error = demo.error(&reply, kind);
            assert_eq!(error.message(), message, "{}", reply.what);
            if demo.name == "msi" {
                assert_eq!(reply.status.as_u16(), 427, "{}", reply.what);
                assert_eq!(reply.reason.as_deref(), Some(title), "{}", reply.what);
            } else {
                assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.what);
                assert_eq!(reply.reason, None, "{}", reply.what);
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_internal_and_the_server_keeps_serving() {
    each_format(|demo| async move {
        for _ in 0..2 {
            let reply = demo.get("/api/panic", Some("read-token")).await;
            let error = demo.error(&reply, ErrorKind::Internal);
            assert!(
                !reply.text().contains("panicked") && !error.message().contains("panicked"),
                "{}: {}",
                reply.what,
                reply.text()
            );

            let reply = demo.get("/healthz", None).await;
            assert_eq!(reply.status, StatusCode::OK, "{} after a panic", reply.what);
            assert_eq!(reply.text(), "ok", "{} after a panic", reply.what);
            let reply = demo.get("/api/machines/1", Some("read-token")).await;
            assert_eq!(reply.status, StatusCode::OK, "{} after a panic", reply.what);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_not_found_whatever_the_token() {
    each_format(|demo| async move {
        for path in ["/api/nothing", "/", "/api/machines/1/parts", "/healthz/x"] {
            for token in [None, Some("read-token"), Some("guessed-token")] {
                let reply = demo.get(path, token).await;
                demo.error(&reply, ErrorKind::NotFound);
                assert!(
                    reply.header(WWW_AUTHENTICATE).is_none(),
                    "{}: a 404 needs no challenge",
                    reply.what
                );
            }
        }
        let reply = demo
            .post_json("/api/nothing", "write-token", r#"{"name":"x"}"#)
            .await;
        demo.error(&reply, ErrorKind::NotFound);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trailing_slash_or_a_wrong_case_names_the_route_meant() {
    each_format(|demo| async move {
        for token in [None, Some("read-token")] {
            let reply = demo.get("/api/machines/1/", token).await;
            let error = demo.error(&reply, ErrorKind::NotFound);
            assert_eq!(
                error.message(),
                "Endpoint not found. Did you mean /api/machines/1 (without the trailing /)?",
                "{}",
                reply.what
            );
            let reply = demo.get("/API/machines/1", token).await;
            let error = demo.error(&reply, ErrorKind::InvalidCase);
            assert_eq!(
                error.message(),
                "Invalid Case. Did you mean /api/machines/1?",
                "{}",
                reply.what
            );
            assert!(
                reply.header("location").is_none(),
                "{}: no redirect",
                reply.what
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_answer_the_seeds_codes_and_words() {
    each_format(|demo| async move {
        let cases = [
            ("/api/files/xyz", ErrorKind::InvalidHashValue, "Hash value xyz is invalid."),
            (
                "/api/ips/999.1.1.1/stats",
                ErrorKind::InvalidIpAddress,
                "IP address 999.1.1.1 is invalid.",
            ),
            (
                "/api/domains/-bad-/stats",
                ErrorKind::InvalidDomainName,
                "Domain name -bad- is invalid.",
            ),
            (
                "/api/machines?$top=abc",
                ErrorKind::ODataError,
                "Invalid OData URI query: $top must be a whole number.",
            ),
            (
                "/api/machines?$top=10001",
                ErrorKind::ODataError,
                "Invalid OData URI query: $top must be at most 10000.",
            ),
            (
                "/api/machines?$foo=1",
                ErrorKind::ODataError,
                "Invalid OData URI query: $foo is not a supported query option.",
            ),
            (
                "/api/machines?page=2",
                ErrorKind::UnknownParameter,
                "Invalid input page: unknown field, expected \"$top\", \"$skip\", \"$filter\", \"$select\", \"$orderby\", \"$expand\" or \"$count\".",
            ),
            (
                "/api/customers/0002/machines",
                ErrorKind::InvalidCustomerId,
                "Invalid Customer ID Value: account 0002 is not the token's account.",
            ),
        ];
        for (path, kind, message) in cases {
            let reply = demo.get(path, Some("read-token")).await;
            let error = demo.error(&reply, kind);
            assert_eq!(error.message(), message, "{}", reply.what);
        }
        // A deleted account is reported as such, in the format's words when it has its own.
        let reply = demo.get("/api/customers/0099/machines", Some("read-token")).await;
        let error = demo.error(&reply, ErrorKind::InactiveCustomer);
        assert_eq!(
            error.message(),
            "Cannot update or retrieve information of a deleted customer.",
            "{}",
            reply.what
        );
        // 501 indicators; 500 pass.
        let indicator = r#"{"indicatorValue":"44d88612fea8a8f36de82e1278abb02f","indicatorType":"FileMd5","action":"Alert"}"#;
        let batch = |n: usize| format!(r#"{{"Indicators":[{}]}}"#, vec![indicator; n].join(","));
        let reply = demo
            .post_json("/api/indicators/import", "write-token", &batch(501))
            .await;
        let error = demo.error(&reply, ErrorKind::MaximumBatchSizeExceeded);
        assert_eq!(
            error.message(),
            "Maximum batch size exceeded. Received: 501, allowed: 500."
        );
        let reply = demo
            .post_json("/api/indicators/import", "write-token", &batch(500))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.what);
        assert_eq!(reply.json(), json!({"imported": 500}));
        // Good values pass.
        for path in [
            "/api/files/44d88612fea8a8f36de82e1278abb02f",
            "/api/ips/192.0.2.1/stats",
            "/api/domains/example.com/stats",
            "/api/machines?$top=2&$skip=1",
            "/api/customers/0001/machines",
        ] {
            let reply = demo.get(path, Some("read-token")).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.what);
        }
        let reply = demo.get("/api/machines?$top=2&$skip=1", Some("read-token")).await;
        assert_eq!(reply.json()[0]["id"], "2");
        assert_eq!(reply.json().as_array().map(Vec::len), Some(2));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_method_is_method_not_allowed_with_allow() {
    each_format(|demo| async move {
        let cases: [(Method, &str, &[&str]); 4] = [
            (Method::PUT, "/api/machines/1", &["GET", "DELETE"]),
            (Method::PATCH, "/api/machines/1", &["GET", "DELETE"]),
            (Method::PUT, "/api/machines", &["GET", "POST"]),
            (Method::DELETE, "/healthz", &["GET"]),
        ];
        for (method, path, allowed) in cases {
            for token in [None, Some("admin-token")] {
                let auth = token.map(|t| format!("Bearer {t}"));
                let headers: Vec<(&str, &str)> = auth
                    .as_deref()
                    .map(|a| ("authorization", a))
                    .into_iter()
                    .collect();
                let reply = demo.send(method.clone(), path, &headers, "").await;
                demo.error(&reply, ErrorKind::MethodNotAllowed);
                let allow: Vec<String> = reply
                    .header(ALLOW)
                    .unwrap_or_else(|| panic!("{}: no Allow header", reply.what))
                    .split(',')
                    .map(|m| m.trim().to_owned())
                    .collect();
                for m in allowed {
                    assert!(
                        allow.iter().any(|a| a == m),
                        "{}: Allow {allow:?} lacks {m}",
                        reply.what
                    );
                }
                assert!(
                    !allow.iter().any(|a| a == method.as_str()),
                    "{}: Allow {allow:?} lists the refused method",
                    reply.what
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_badly_encoded_url_is_invalid_url() {
    each_format(|demo| async move {
        for (path, sequence) in [
            ("/api/machines/%zz", "%zz"),
            ("/api/machines/1%2", "%2"),
            ("/api/machines/a%G1", "%G1"),
        ] {
            let reply = demo.get(path, Some("read-token")).await;
            let error = demo.error(&reply, ErrorKind::InvalidUrl);
            assert!(
                error.message().contains(sequence),
                "{}: {:?} does not name {sequence}",
                reply.what,
                error.message()
            );
        }
    })
    .await;
}

/// A request target over the demo's 8 KiB is QRadar's 414 (and every format's), before the
/// token or the route is looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uri_over_8_kib_is_uri_too_long() {
    each_format(|demo| async move {
        let path: &'static str = format!("/api/machines/{}", "a".repeat(9000)).leak();
        let reply = demo.get(path, Some("read-token")).await;
        let error = demo.error(&reply, ErrorKind::UriTooLong);
        assert_eq!(
            error.message(),
            "The request URI is 9014 bytes long; at most 8192 are accepted.",
            "{}",
            reply.what
        );
        let fits: &'static str = format!("/api/machines/{}", "a".repeat(8000)).leak();
        let reply = demo.get(fits, Some("read-token")).await;
        demo.error(&reply, ErrorKind::ResourceNotFound);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_without_an_accepted_content_type_is_unsupported_media_type() {
    each_format(|demo| async move {
        let auth = "Bearer write-token";
        let reply = demo
            .send(
                Method::POST,
                "/api/machines",
                &[("authorization", auth)],
                r#"{"name":"web-1"}"#,
            )
            .await;
        let error = demo.error(&reply, ErrorKind::UnsupportedMediaType);
        assert_eq!(
            error.message(),
            "Content-Type header is missing",
            "{}",
            reply.what
        );

        let reply = demo
            .send(
                Method::POST,
                "/api/machines",
                &[("authorization", auth), ("content-type", "text/plain")],
                r#"{"name":"web-1"}"#,
            )
            .await;
        let error = demo.error(&reply, ErrorKind::UnsupportedMediaType);
        assert!(
            error.message().contains("text/plain"),
            "{}: {:?}",
            reply.what,
            error.message()
        );
    })
    .await;
}

/// The token is checked before the body's type: an unauthenticated `POST` of the wrong type is
/// a 401, an authenticated one a 415. The body-size limit stays outermost (a 413 before the
/// token, since the body is refused before any byte of it is read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_checked_before_the_body_type() {
    each_format(|demo| async move {
        let text = [("content-type", "text/plain")];
        let reply = demo
            .send(Method::POST, "/api/machines", &text, "hello")
            .await;
        demo.error(&reply, ErrorKind::Unauthorized);
        assert!(
            reply.headers.contains_key(WWW_AUTHENTICATE),
            "{}",
            reply.what
        );

        let with_read = [
            ("content-type", "text/plain"),
            ("authorization", "Bearer read-token"),
        ];
        let reply = demo
            .send(Method::POST, "/api/machines", &with_read, "hello")
            .await;
        demo.error(&reply, ErrorKind::InsufficientScope);

        let with_write = [
            ("content-type", "text/plain"),
            ("authorization", "Bearer write-token"),
        ];
        let reply = demo
            .send(Method::POST, "/api/machines", &with_write, "hello")
            .await;
        demo.error(&reply, ErrorKind::UnsupportedMediaType);

        let big = "x".repeat(5000).leak();
        let reply = demo.send(Method::POST, "/api/machines", &text, big).await;
        demo.error(&reply, ErrorKind::PayloadTooLarge);
    })
    .await;
}

/// With the `tonic` feature the demo serves the gRPC health service on its one port, behind the
/// same envelope and token check: a real tonic client gets `UNAUTHENTICATED` with the rich
/// details without a token, and `SERVING` with `read-token`.
#[cfg(feature = "tonic")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_is_served_beside_the_rest_routes() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_types::StatusExt;

    for name in demo::FORMATS {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let format = demo::format(name).unwrap();
        let server = tokio::spawn(demo::serve(listener, format, async {
            let _ = stopped.await;
        }));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = HealthClient::new(channel);

        let status = client
            .check(HealthCheckRequest::default())
            .await
            .expect_err("no token");
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{name}");
        assert_eq!(
            status.message(),
            "Authorization header is missing",
            "{name}"
        );
        let details = status.get_error_details();
        assert_eq!(
            details.error_info().unwrap().reason,
            "UNAUTHORIZED",
            "{name}"
        );
        assert_eq!(
            details.error_info().unwrap().domain,
            "demo.example.com",
            "{name}"
        );

        let mut request = tonic::Request::new(HealthCheckRequest::default());
        request
            .metadata_mut()
            .insert("authorization", "Bearer read-token".parse().unwrap());
        let serving = client.check(request).await.expect("read-token may check");
        assert_eq!(
            serving.get_ref().status,
            ServingStatus::Serving as i32,
            "{name}"
        );

        // The REST routes on the same port still answer.
        let rest = Demo {
            name,
            format: demo::format(name).unwrap(),
            base: format!("http://{addr}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        assert_eq!(rest.get("/healthz", None).await.status, StatusCode::OK);
        drop((client, rest));
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_responses_keep_the_request_id() {
    each_format(|demo| async move {
        // `Demo::error` checks the header and, per format, the body's slot for the id
        // (Defender's `error.target`, Problem's `request_id`, Google's RequestInfo).
        let id = "demo-test-42";
        let reply = demo
            .send(
                Method::GET,
                "/api/machines/7",
                &[("authorization", "Bearer read-token"), ("x-request-id", id)],
                "",
            )
            .await;
        demo.error(&reply, ErrorKind::ResourceNotFound);
        assert_eq!(reply.header("x-request-id"), Some(id), "{}", reply.what);

        let reply = demo
            .send(Method::GET, "/api/machines/1", &[("x-request-id", id)], "")
            .await;
        demo.error(&reply, ErrorKind::Unauthorized);
        assert_eq!(reply.header("x-request-id"), Some(id), "{}", reply.what);

        // Without one, each error gets a fresh UUID v4.
        let first = demo.get("/api/nothing", None).await;
        let second = demo.get("/api/nothing", None).await;
        demo.error(&first, ErrorKind::NotFound);
        demo.error(&second, ErrorKind::NotFound);
        assert_ne!(
            first.header("x-request-id"),
            second.header("x-request-id"),
            "{}: the same id twice",
            first.what
        );
    })
    .await;
}

#[test]
fn demo_knows_exactly_the_six_formats() {
    assert_eq!(
        demo::FORMATS,
        ["defender", "qradar", "msi", "edgio", "problem", "google"]
    );
    for name in demo::FORMATS {
        assert!(demo::format(name).is_some(), "{name}");
    }
    assert!(demo::format("xml").is_none());
    assert!(demo::format("Defender").is_none());
}

/// A client that sends part of its headers and stops (slowloris) has its connection closed once
/// the header-read timeout passes, while other clients are served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_stalls_in_its_headers_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let format = demo::format("defender").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(demo::serve_app(
        listener,
        demo::app(format),
        Duration::from_millis(500),
        async {
            let _ = stopped.await;
        },
    ));
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: demo\r\nX-Slow: ")
        .await
        .unwrap();
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let healthz = client
        .get(format!("http://{addr}/healthz").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(healthz.status(), StatusCode::OK);
    // The server closes the stalled connection (an empty read, or a reset), well before the
    // test's own bound.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, stalled.read_to_end(&mut rest))
        .await
        .expect("the stalled connection was closed by the server");
    if let Ok(n) = read {
        let text = String::from_utf8_lossy(&rest[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    drop(client);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
}

/// Two demo servers sharing one `redis-server`, each with `--quota 20/min --redis-url`: 60
/// concurrent requests of one token, spread over both, admit 20; every other answer is a 429
/// with `Retry-After` and Defender's body; another token has its own quota.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demo_servers_share_a_quota_through_redis() {
    use tower_envelope::auth::{AuthTokenLayer, BoxValidator};
    use tower_envelope::{QuotaLayer, Readiness};

    let redis = redis_server::RedisServer::start();
    let mut bases = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        bases.push(format!("http://{}", listener.local_addr().unwrap()));
        let quota = QuotaLayer::per_minute(20).redis(redis.url()).unwrap();
        let auth = AuthTokenLayer::bearer(BoxValidator::new(demo::tokens()));
        let format = demo::format("defender").unwrap();
        let app = demo::app_with(format, auth, Some(quota), Readiness::ready());
        let (stop, stopped) = oneshot::channel::<()>();
        stops.push(stop);
        tokio::spawn(demo::serve_app(listener, app, REQUEST_TIMEOUT, async {
            let _ = stopped.await;
        }));
    }
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let send = |base: &str, token: &str| {
        let request = Request::get(format!("{base}/api/machines/1"))
            .header("authorization", format!("Bearer {token}"))
            .body(Full::default())
            .unwrap();
        let client = client.clone();
        async move {
            let response = client.request(request).await.unwrap();
            let (parts, body) = response.into_parts();
            (parts, body.collect().await.unwrap().to_bytes())
        }
    };
    let mut requests = JoinSet::new();
    for i in 0..60 {
        requests.spawn(send(&bases[i % 2], "read-token"));
    }
    let answers = requests.join_all().await;
    let admitted = answers
        .iter()
        .filter(|(p, _)| p.status == StatusCode::OK)
        .count();
    assert_eq!(admitted, 20);
    for (parts, body) in answers.iter().filter(|(p, _)| p.status != StatusCode::OK) {
        assert_eq!(parts.status, StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = parts.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=3).contains(&retry_after), "{retry_after}");
        let json: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["error"]["code"], "TooManyRequests");
        assert_eq!(
            json["error"]["message"],
            format!("Rate limit is exceeded. Try again in {retry_after} seconds.")
        );
    }
    let mut other = JoinSet::new();
    for i in 0..30 {
        other.spawn(send(&bases[i % 2], "write-token"));
    }
    let answers = other.join_all().await;
    let admitted = answers
        .iter()
        .filter(|(p, _)| p.status == StatusCode::OK)
        .count();
    assert_eq!(admitted, 20, "another token, its own quota");
    for stop in stops {
        let _ = stop.send(());
    }
}

/// Until the readiness switch is on, every request is answered `InitializationFailure`: QRadar's
/// 550 "Initialization Failure", 503 in the other formats, with `Retry-After`; then it passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_initializing_demo_answers_initialization_failure() {
    use tower_envelope::auth::{AuthTokenLayer, BoxValidator};
    use tower_envelope::Readiness;

    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    for name in demo::FORMATS {
        let format = demo::format(name).unwrap();
        let readiness = Readiness::new();
        let auth = AuthTokenLayer::bearer(BoxValidator::new(demo::tokens()));
        let app = demo::app_with(Arc::clone(&format), auth, None, readiness.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/healthz", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(demo::serve_app(listener, app, REQUEST_TIMEOUT, async {
            let _ = stopped.await;
        }));
        let response = client.get(url.parse().unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        let expected = if name == "qradar" { 550 } else { 503 };
        assert_eq!(parts.status.as_u16(), expected, "{name}");
        assert_eq!(parts.headers["retry-after"], "1", "{name}");
        let reason = parts.extensions.get::<hyper::ext::ReasonPhrase>();
        let reason = reason.map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
        let expected_reason = (name == "qradar").then(|| "Initialization Failure".to_owned());
        assert_eq!(reason, expected_reason, "{name}");
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = body.collect().await.unwrap().to_bytes();
        let error = format
            .parse(parts.status, content_type.as_deref(), &body)
            .unwrap();
        assert_eq!(error.kind(), ErrorKind::InitializationFailure, "{name}");

        readiness.set_ready(true);
        let response = client.get(url.parse().unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let _ = stop.send(());
        let _ = server.await;
    }
}
