//! `ErrorEnvelopeLayer` over real axum, tower and tower-http failures, rendered as Defender,
//! QRadar and MSI (and, where it matters, every format).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, SET_COOKIE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use serde_json::{json, Value};
use tower::BoxError;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};
use tower_envelope::format::{Defender, Format, Msi, QRadar};
use tower_envelope::{ApiError, ErrorEnvelopeLayer, ErrorKind, FieldViolation};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fmt {
    Defender,
    QRadar,
    Msi,
}

const FORMATS: [Fmt; 3] = [Fmt::Defender, Fmt::QRadar, Fmt::Msi];

impl Fmt {
    fn format(self) -> Box<dyn Format> {
        match self {
            Fmt::Defender => Box::new(Defender),
            Fmt::QRadar => Box::new(QRadar::new()),
            Fmt::Msi => Box::new(Msi),
        }
    }

    fn wrap(self, router: Router) -> Router {
        match self {
            Fmt::Defender => router.layer(ErrorEnvelopeLayer::defender().catch_panic()),
            Fmt::QRadar => router.layer(ErrorEnvelopeLayer::qradar().catch_panic()),
            Fmt::Msi => router.layer(ErrorEnvelopeLayer::msi().catch_panic()),
        }
    }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// Checks the reply is `fmt`'s envelope for `kind` with `message`, in the status the format
    /// gives that kind, with the correlation id in the header and (Defender) the body.
    #[track_caller]
    fn assert_error(&self, fmt: Fmt, kind: ErrorKind, message: &str) -> ApiError {
        let format = fmt.format();
        let expected = ApiError::new(kind, message.to_owned());
        assert_eq!(self.status, format.status(&expected), "{fmt:?} status");
        let ct = self.headers[CONTENT_TYPE].to_str().unwrap();
        let parsed = format
            .parse(self.status, Some(ct), &self.body)
            .unwrap_or_else(|| panic!("{fmt:?} cannot parse {:?}", self.body));
        assert_eq!(parsed.kind(), kind, "{fmt:?} kind");
        let shown = if message.is_empty() {
            format.default_message(kind)
        } else {
            message
        };
        assert_eq!(parsed.message(), shown, "{fmt:?} message");
        let id = self.headers["x-request-id"].to_str().unwrap();
        assert!(!id.is_empty());
        let body = self.json();
        match fmt {
            Fmt::Defender => {
                assert_eq!(ct, "application/json; charset=utf-8");
                assert_eq!(body["error"]["code"], Defender::code(kind));
                assert_eq!(body["error"]["target"], id);
            }
            Fmt::QRadar => {
                assert_eq!(ct, "application/json");
                assert_eq!(body["http_response"]["code"], self.status.as_u16());
                assert_eq!(body["code"], QRadar::code(kind, self.status));
                assert!(body["details"].is_object());
            }
            Fmt::Msi => {
                assert_eq!(ct, "application/json");
                assert!(body["detail"].is_string() || body["detail"].is_array());
            }
        }
        parsed
    }
}

async fn send<S>(svc: S, request: Request<Body>) -> Reply
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let res = svc.oneshot(request).await.unwrap();
    let (parts, body) = res.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

async fn send_to(fmt: Fmt, request: Request<Body>) -> Reply {
    send(fmt.wrap(routes()), request).await
}

fn get_req(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

const QRADAR_BODY: &str = r#"{"message":"test_set does not exist","details":{},"description":"The reference set does not exist.","code":1002,"http_response":{"message":"We could not find the resource you requested.","code":404}}"#;

fn routes() -> Router {
    Router::new()
        .route(
            "/ok",
            get(|| async { ([("x-custom", "kept")], "hello, world") }),
        )
        .route(
            "/json",
            axum::routing::post(|Json(v): Json<Value>| async move { Json(v) }),
        )
        .route(
            "/typed/{id}",
            axum::routing::on(
                axum::routing::MethodFilter::GET.or(axum::routing::MethodFilter::POST),
                |axum::extract::Path(id): axum::extract::Path<String>| async move {
                    Err::<String, _>(
                        ApiError::new(
                            ErrorKind::ResourceNotFound,
                            format!("Machine {id} was not found"),
                        )
                        .with_target("id")
                        .with_violation(FieldViolation::new(["path", "id"], "unknown machine")),
                    )
                },
            ),
        )
        .route(
            "/upstream-qradar",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    [(CONTENT_TYPE, "application/json")],
                    QRADAR_BODY,
                )
            }),
        )
        .route(
            "/cookie-401",
            get(|| async {
                (
                    StatusCode::UNAUTHORIZED,
                    [
                        (WWW_AUTHENTICATE, "Bearer realm=\"api\""),
                        (SET_COOKIE, "a=1"),
                        (CONTENT_TYPE, "application/octet-stream"),
                    ],
                    "\u{0}binary",
                )
            }),
        )
        .route(
            "/secret-500",
            get(|| async {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "db password hunter2 leaked in a stack trace",
                )
            }),
        )
        .route(
            "/panic",
            get(|| async {
                panic!("secret panic payload");
                #[allow(unreachable_code)]
                ""
            }),
        )
        .route(
            "/limited",
            axum::routing::post(|body: Bytes| async move { body.len().to_string() })
                .layer(tower_http::limit::RequestBodyLimitLayer::new(8)),
        )
        .route(
            "/timeout",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            })
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_millis(10),
            )),
        )
}

// ---- 1xx–3xx pass through ----------------------------------------------------------------

#[tokio::test]
async fn success_passes_through_byte_for_byte() {
    for fmt in FORMATS {
        let r = send_to(fmt, get_req("/ok")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, "hello, world");
        assert_eq!(r.headers["x-custom"], "kept");
        assert_eq!(r.headers[CONTENT_TYPE], "text/plain; charset=utf-8");
        assert!(r.headers.get("x-request-id").is_none());
    }
}

/// tower-http's request-id layers around the envelope put one `x-request-id` on every response:
/// the envelope takes the id they set on the request for its errors, so a passing and a failing
/// response carry the same kind of id, and an id the client sent is kept on both.
#[tokio::test]
async fn tower_http_request_id_layers_give_every_response_the_envelopes_id() {
    use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
    let app = routes().layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(ErrorEnvelopeLayer::defender()),
    );
    let ok = send(app.clone(), get_req("/ok")).await;
    assert_eq!(ok.status, StatusCode::OK);
    let id = ok.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let missing = send(app.clone(), get_req("/nowhere")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.headers.get_all("x-request-id").iter().count(), 1);
    let error_id = missing.headers["x-request-id"].to_str().unwrap();
    assert_eq!(error_id.len(), 36, "{error_id}");
    assert_ne!(error_id, id);
    for uri in ["/ok", "/nowhere"] {
        let mut request = get_req(uri);
        request
            .headers_mut()
            .insert("x-request-id", HeaderValue::from_static("client-7"));
        let reply = send(app.clone(), request).await;
        assert_eq!(reply.headers["x-request-id"], "client-7", "{uri}");
    }
}

#[tokio::test]
async fn redirects_and_informational_pass_through() {
    for status in [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::NOT_MODIFIED,
        StatusCode::SEE_OTHER,
    ] {
        let svc = ServiceBuilder::new()
            .layer(ErrorEnvelopeLayer::defender())
            .service(service_fn(move |_req: Request<Body>| async move {
                let mut res = Response::new(Body::from("moved"));
                *res.status_mut() = status;
                res.headers_mut()
                    .insert("location", HeaderValue::from_static("/elsewhere"));
                Ok::<_, Infallible>(res)
            }));
        let r = send(svc.map_response(|r| r.map(Body::new)), get_req("/")).await;
        assert_eq!(r.status, status);
        assert_eq!(r.body, "moved");
        assert_eq!(r.headers["location"], "/elsewhere");
    }
}

// ---- 1. tagged responses -----------------------------------------------------------------

#[tokio::test]
async fn handler_api_error_is_rendered() {
    for fmt in FORMATS {
        let r = send_to(fmt, get_req("/typed/42")).await;
        let parsed = r.assert_error(fmt, ErrorKind::ResourceNotFound, "Machine 42 was not found");
        assert_eq!(parsed.target(), Some("id"), "{fmt:?}");
        assert_eq!(parsed.violations().len(), 1, "{fmt:?}");
        assert_eq!(parsed.violations()[0].location(), ["path", "id"]);
    }
    let r = send_to(Fmt::Defender, get_req("/typed/42")).await;
    assert_eq!(r.json()["error"]["message"], "Machine 42 was not found");
}

#[tokio::test]
async fn tagged_response_body_is_dropped_unread() {
    // The tag wins over whatever body the inner response had, even a body that would fail.
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::qradar())
        .service(service_fn(|_req: Request<Body>| async {
            let failing = StreamBody::new(futures_util::stream::iter(vec![Err::<
                http_body::Frame<Bytes>,
                BoxError,
            >(
                "never read".into()
            )]));
            let mut res = Response::new(Body::new(failing));
            *res.status_mut() = StatusCode::CONFLICT;
            res.extensions_mut()
                .insert(ApiError::new(ErrorKind::Conflict, "machine exists"));
            Ok::<_, Infallible>(res)
        }));
    let r = send(svc.map_response(|r| r.map(Body::new)), get_req("/")).await;
    r.assert_error(Fmt::QRadar, ErrorKind::Conflict, "machine exists");
    assert_eq!(r.json()["code"], 1004);
}

// ---- 2. known vendor envelopes ---------------------------------------------------------------

#[tokio::test]
async fn upstream_qradar_error_leaves_in_the_chosen_format() {
    for fmt in FORMATS {
        let r = send_to(fmt, get_req("/upstream-qradar")).await;
        r.assert_error(fmt, ErrorKind::ResourceNotFound, "test_set does not exist");
    }
    let r = send_to(Fmt::Defender, get_req("/upstream-qradar")).await;
    let body = r.json();
    assert_eq!(body["error"]["code"], "ResourceNotFound");
    assert_eq!(body["error"]["message"], "test_set does not exist");
    assert!(body.get("http_response").is_none());
}

// ---- 3. bare error responses from axum and tower-http -------------------------------------------

#[tokio::test]
async fn axum_404_for_unknown_path() {
    for fmt in FORMATS {
        let r = send_to(fmt, get_req("/nope")).await;
        r.assert_error(fmt, ErrorKind::NotFound, "");
    }
    let r = send_to(Fmt::Defender, get_req("/nope")).await;
    assert_eq!(
        r.json()["error"]["message"],
        "General Not Found error message."
    );
    let r = send_to(Fmt::QRadar, get_req("/nope")).await;
    assert_eq!(
        r.json()["http_response"]["message"],
        "We could not find the resource you requested. Please refer to the documentation for the list of resources."
    );
}

#[tokio::test]
async fn axum_405_keeps_allow() {
    for fmt in FORMATS {
        let req = Request::delete("/ok").body(Body::empty()).unwrap();
        let r = send_to(fmt, req).await;
        r.assert_error(fmt, ErrorKind::MethodNotAllowed, "");
        let allow = r.headers[ALLOW].to_str().unwrap();
        assert!(allow.contains("GET"), "{fmt:?}: {allow}");
    }
}

#[tokio::test]
async fn axum_json_rejections() {
    let cases: [(Request<Body>, ErrorKind, &str); 3] = [
        (
            Request::post("/json").body(Body::from("{}")).unwrap(),
            ErrorKind::UnsupportedMediaType,
            "Expected request with `Content-Type: application/json`",
        ),
        (
            Request::post("/json")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from("{not json"))
                .unwrap(),
            ErrorKind::BadRequest,
            "Failed to parse the request body as JSON",
        ),
        (
            Request::post("/json")
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from("[1, 2"))
                .unwrap(),
            ErrorKind::BadRequest,
            "Failed to parse the request body as JSON",
        ),
    ];
    for (req, kind, prefix) in cases {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        for fmt in FORMATS {
            let req = Request::from_parts(parts.clone(), Body::from(body.clone()));
            let r = send_to(fmt, req).await;
            let format = fmt.format();
            let ct = r.headers[CONTENT_TYPE].to_str().unwrap().to_owned();
            let parsed = format.parse(r.status, Some(&ct), &r.body).unwrap();
            assert_eq!(parsed.kind(), kind, "{fmt:?}");
            assert!(
                parsed.message().starts_with(prefix),
                "{fmt:?}: {}",
                parsed.message()
            );
            r.assert_error(fmt, kind, parsed.message());
        }
    }
}

#[tokio::test]
async fn axum_json_data_error_is_422() {
    // Syntactically valid JSON of the wrong shape: axum's JsonDataError answers 422.
    let app = |fmt: Fmt| {
        fmt.wrap(Router::new().route(
            "/typed",
            axum::routing::post(|Json(_): Json<Vec<u32>>| async { "ok" }),
        ))
    };
    for fmt in FORMATS {
        let req = Request::post("/typed")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"a":1}"#))
            .unwrap();
        let r = send(app(fmt), req).await;
        let parsed = fmt
            .format()
            .parse(r.status, Some("application/json"), &r.body)
            .unwrap();
        assert!(parsed
            .message()
            .starts_with("Failed to deserialize the JSON body"));
        r.assert_error(fmt, ErrorKind::UnprocessableEntity, parsed.message());
    }
}

#[tokio::test]
async fn tower_http_body_limit_413() {
    for fmt in FORMATS {
        let req = Request::post("/limited")
            .header(CONTENT_LENGTH, "9")
            .body(Body::from("123456789"))
            .unwrap();
        let r = send_to(fmt, req).await;
        r.assert_error(fmt, ErrorKind::PayloadTooLarge, "length limit exceeded");
    }
}

#[tokio::test]
async fn tower_http_timeout_408() {
    for fmt in FORMATS {
        let r = send_to(fmt, get_req("/timeout")).await;
        r.assert_error(fmt, ErrorKind::RequestTimeout, "");
    }
}

#[tokio::test]
async fn bare_headers_survive_but_not_the_old_body_description() {
    for fmt in FORMATS {
        let r = send_to(fmt, get_req("/cookie-401")).await;
        r.assert_error(fmt, ErrorKind::Unauthorized, "");
        assert_eq!(r.headers[WWW_AUTHENTICATE], "Bearer realm=\"api\"");
        assert_eq!(r.headers[SET_COOKIE], "a=1");
        assert_ne!(r.headers[CONTENT_TYPE], "application/octet-stream");
        if let Some(len) = r.headers.get(CONTENT_LENGTH) {
            assert_eq!(len.to_str().unwrap(), r.body.len().to_string());
        }
    }
}

#[tokio::test]
async fn server_error_text_is_never_echoed() {
    for fmt in FORMATS {
        let r = send_to(fmt, get_req("/secret-500")).await;
        r.assert_error(fmt, ErrorKind::Internal, "");
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains("hunter2"), "{fmt:?}: {text}");
    }
}

#[tokio::test]
async fn oversized_error_body_is_not_buffered_whole() {
    // A 4xx text body larger than the bound: the envelope stops reading past the bound and
    // answers with the default message.
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender().max_error_body(1024))
        .service(service_fn(|_req: Request<Body>| async {
            let chunks = (0..1000).map(|_| {
                Ok::<_, Infallible>(http_body::Frame::data(Bytes::from(vec![b'a'; 1024])))
            });
            let mut res = Response::new(Body::new(StreamBody::new(futures_util::stream::iter(
                chunks,
            ))));
            *res.status_mut() = StatusCode::BAD_REQUEST;
            Ok::<_, Infallible>(res)
        }));
    let r = send(svc.map_response(|r| r.map(Body::new)), get_req("/")).await;
    r.assert_error(Fmt::Defender, ErrorKind::BadRequest, "");
}

// ---- 4. inner errors ---------------------------------------------------------------------

#[tokio::test]
async fn tower_timeout_elapsed_is_upstream_timeout() {
    for fmt in FORMATS {
        let slow = service_fn(|_req: Request<Body>| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, BoxError>(Response::new(Body::empty()))
        });
        let stack = ServiceBuilder::new()
            .timeout(Duration::from_millis(10))
            .service(slow);
        let svc = match fmt {
            Fmt::Defender => ErrorEnvelopeLayer::defender().layer_boxed(stack),
            Fmt::QRadar => ErrorEnvelopeLayer::qradar().layer_boxed(stack),
            Fmt::Msi => ErrorEnvelopeLayer::msi().layer_boxed(stack),
        };
        let r = send(svc, get_req("/")).await;
        r.assert_error(
            fmt,
            ErrorKind::UpstreamTimeout,
            "The request did not complete in time.",
        );
        if fmt == Fmt::Msi {
            assert_eq!(r.status.as_u16(), 427);
            assert_eq!(
                r.json()["detail"],
                "Upstream Tech Timed Out: The request did not complete in time."
            );
        }
    }
}

#[tokio::test]
async fn other_inner_errors_are_internal_and_silent() {
    for fmt in FORMATS {
        let failing = service_fn(|_req: Request<Body>| async {
            Err::<Response<Body>, _>(std::io::Error::other("connection to 10.1.2.3 refused"))
        });
        let svc = match fmt {
            Fmt::Defender => ErrorEnvelopeLayer::defender().layer_boxed(failing),
            Fmt::QRadar => ErrorEnvelopeLayer::qradar().layer_boxed(failing),
            Fmt::Msi => ErrorEnvelopeLayer::msi().layer_boxed(failing),
        };
        let r = send(svc, get_req("/")).await;
        r.assert_error(fmt, ErrorKind::Internal, "");
        assert!(!String::from_utf8_lossy(&r.body).contains("10.1.2.3"));
    }
}

#[tokio::test]
async fn load_shed_overload_is_service_unavailable() {
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .load_shed()
        .concurrency_limit(1)
        .service(service_fn(|_req: Request<Body>| async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }));
    let mut svc = svc.map_response(|r| r.map(Body::new));
    // Occupy the only slot, then call again while it is busy.
    let first = {
        let ready = svc.ready().await.unwrap();
        tokio::spawn(ready.call(get_req("/")))
    };
    let r = send(svc.clone(), get_req("/")).await;
    r.assert_error(
        Fmt::Defender,
        ErrorKind::ServiceUnavailable,
        "The service is overloaded; retry later.",
    );
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
}

// ---- 5. panics -------------------------------------------------------------------------------

#[tokio::test]
async fn panic_becomes_internal_and_the_service_keeps_serving() {
    for fmt in FORMATS {
        let app = fmt.wrap(routes());
        let r = send(app.clone(), get_req("/panic")).await;
        r.assert_error(fmt, ErrorKind::Internal, "");
        assert!(!String::from_utf8_lossy(&r.body).contains("secret panic payload"));
        let r = send(app, get_req("/ok")).await;
        assert_eq!(r.status, StatusCode::OK);
    }
}

// ---- always ----------------------------------------------------------------------------------

#[tokio::test]
async fn request_id_is_kept_when_well_formed_else_generated() {
    let req = Request::get("/nope")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .unwrap();
    let r = send_to(Fmt::Defender, req).await;
    assert_eq!(r.headers["x-request-id"], "abc-123");
    assert_eq!(r.json()["error"]["target"], "abc-123");

    for bad in ["has space", &"x".repeat(129), ""] {
        let req = Request::get("/nope")
            .header("x-request-id", bad)
            .body(Body::empty())
            .unwrap();
        let r = send_to(Fmt::Defender, req).await;
        let id = r.headers["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        assert_eq!(r.json()["error"]["target"], id);
    }
}

#[tokio::test]
async fn request_id_header_is_configurable() {
    let app = routes().layer(
        ErrorEnvelopeLayer::defender()
            .request_id_header(http::HeaderName::from_static("x-correlation-id")),
    );
    let req = Request::get("/nope")
        .header("x-correlation-id", "corr-9")
        .body(Body::empty())
        .unwrap();
    let r = send(app, req).await;
    assert_eq!(r.headers["x-correlation-id"], "corr-9");
    assert_eq!(r.json()["error"]["target"], "corr-9");
}

#[tokio::test]
async fn head_gets_status_and_headers_but_no_body() {
    for fmt in FORMATS {
        let req = Request::head("/nope").body(Body::empty()).unwrap();
        let r = send_to(fmt, req).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.body.is_empty(), "{fmt:?}");
        assert!(r.headers[CONTENT_TYPE].to_str().unwrap().contains("json"));
        let len: usize = r.headers[CONTENT_LENGTH].to_str().unwrap().parse().unwrap();
        assert!(len > 0);
        assert!(r.headers.contains_key("x-request-id"));
    }
}

#[tokio::test]
async fn grpc_requests_get_a_grpc_status() {
    for fmt in FORMATS {
        // A gRPC call (always a POST) to a method the server does not have: axum's 404.
        let req = Request::post("/no.such.Service/Method")
            .header(CONTENT_TYPE, "application/grpc+proto")
            .body(Body::empty())
            .unwrap();
        let r = send_to(fmt, req).await;
        assert_eq!(r.status, StatusCode::OK, "{fmt:?}");
        assert_eq!(r.headers[CONTENT_TYPE], "application/grpc");
        assert_eq!(r.headers["grpc-status"], "12"); // NotFound → UNIMPLEMENTED
        assert!(r.body.is_empty());

        let req = Request::post("/typed/7")
            .header(CONTENT_TYPE, "application/grpc")
            .body(Body::empty())
            .unwrap();
        let r = send_to(fmt, req).await;
        assert_eq!(r.status, StatusCode::OK, "{fmt:?}");
        assert_eq!(r.headers["grpc-status"], "5"); // ResourceNotFound → NOT_FOUND
        assert_eq!(r.headers["grpc-message"], "Machine 7 was not found");
        assert!(r.headers.contains_key("x-request-id"));

        // gRPC-Web, binary and text: the same answer with the protocol's own content type.
        for (sent, answered) in [
            ("application/grpc-web", "application/grpc-web+proto"),
            ("application/grpc-web+proto", "application/grpc-web+proto"),
            (
                "application/grpc-web-text",
                "application/grpc-web-text+proto",
            ),
            (
                "Application/gRPC-Web-Text+proto",
                "application/grpc-web-text+proto",
            ),
        ] {
            let req = Request::post("/typed/7")
                .header(CONTENT_TYPE, sent)
                .body(Body::empty())
                .unwrap();
            let r = send_to(fmt, req).await;
            assert_eq!(r.status, StatusCode::OK, "{fmt:?}");
            assert_eq!(r.headers[CONTENT_TYPE], answered);
            assert_eq!(r.headers["grpc-status"], "5");
            assert_eq!(r.headers["grpc-message"], "Machine 7 was not found");
            assert_eq!(
                r.headers.contains_key("grpc-status-details-bin"),
                cfg!(feature = "tonic")
            );
            assert!(r.body.is_empty());
        }

        // gRPC is carried by POST only: another method with a gRPC content type gets the
        // format's JSON.
        let req = Request::get("/typed/7")
            .header(CONTENT_TYPE, "application/grpc")
            .body(Body::empty())
            .unwrap();
        let r = send_to(fmt, req).await;
        r.assert_error(fmt, ErrorKind::ResourceNotFound, "Machine 7 was not found");
    }
}

#[tokio::test]
async fn msi_427_carries_its_reason_phrase() {
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::msi())
        .service(service_fn(|_req: Request<Body>| async {
            Err::<Response<Body>, _>(ApiError::new(
                ErrorKind::UpstreamInvalidCredentials,
                "splunk rejected the API key",
            ))
        }));
    let res = svc.oneshot(get_req("/")).await.unwrap();
    assert_eq!(res.status().as_u16(), 427);
    let reason = res.extensions().get::<hyper::ext::ReasonPhrase>().unwrap();
    assert_eq!(reason.as_bytes(), b"Upstream Tech Invalid Credentials");
    let body: Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        body,
        json!({"detail": "Upstream Tech Invalid Credentials: splunk rejected the API key"})
    );
}

#[tokio::test]
async fn whole_router_as_inner_service() {
    // The envelope can also wrap a whole Router (fallback included) as a plain tower service.
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .service(routes());
    let svc = ServiceExt::<Request<Body>>::map_response(svc, |r| r.map(Body::new));
    let r = send(svc, get_req("/missing")).await;
    r.assert_error(Fmt::Defender, ErrorKind::NotFound, "");
}

#[tokio::test]
async fn edgio_answers_xml_when_preferred() {
    let app = routes().layer(ErrorEnvelopeLayer::edgio());
    let req = Request::get("/nope")
        .header("accept", "application/xml")
        .body(Body::empty())
        .unwrap();
    let r = send(app, req).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.headers[CONTENT_TYPE], "application/xml");
    assert_eq!(
        r.body,
        r#"<Error xmlns="http://www.whitecdn.com/schemas/apiservices/"><Message>Endpoint not found</Message></Error>"#
    );
}

#[tokio::test]
async fn not_ready_errors_are_rendered() {
    #[derive(Clone)]
    struct NeverReady;
    impl tower::Service<Request<Body>> for NeverReady {
        type Response = Response<Body>;
        type Error = BoxError;
        type Future = std::future::Ready<Result<Response<Body>, BoxError>>;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), BoxError>> {
            std::task::Poll::Ready(Err(tower::load_shed::error::Overloaded::new().into()))
        }
        fn call(&mut self, _: Request<Body>) -> Self::Future {
            unreachable!("never called when not ready")
        }
    }
    let svc = ErrorEnvelopeLayer::qradar().layer_boxed(NeverReady);
    let r = send(svc, get_req("/")).await;
    r.assert_error(
        Fmt::QRadar,
        ErrorKind::ServiceUnavailable,
        "The service is overloaded; retry later.",
    );
}

/// Boxes `layer.layer(inner)` into a `Service<Request<Body>, Response = Response<Body>>`.
trait LayerBoxed {
    fn layer_boxed<S>(
        &self,
        inner: S,
    ) -> tower::util::BoxCloneService<Request<Body>, Response<Body>, Infallible>
    where
        S: tower::Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static;
}

impl<F: Format + Clone> LayerBoxed for ErrorEnvelopeLayer<F> {
    fn layer_boxed<S>(
        &self,
        inner: S,
    ) -> tower::util::BoxCloneService<Request<Body>, Response<Body>, Infallible>
    where
        S: tower::Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        use tower::Layer;
        tower::util::BoxCloneService::new(self.layer(inner).map_response(|r| r.map(Body::new)))
    }
}

/// A `tracing` writer that keeps everything written in memory.
#[cfg(feature = "tracing")]
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(feature = "tracing")]
impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "tracing")]
#[tokio::test]
async fn inner_errors_are_logged_with_the_correlation_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let failing = service_fn(|_req: Request<Body>| async {
        Err::<Response<Body>, _>(std::io::Error::other("connection to 10.1.2.3 refused"))
    });
    let svc = ErrorEnvelopeLayer::defender().layer_boxed(failing);
    let r = send(svc, get_req("/")).await;
    let id = r.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(r.json()["error"]["target"], id.as_str());
    assert!(!String::from_utf8_lossy(&r.body).contains("10.1.2.3"));
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("ERROR"), "{log}");
    assert!(log.contains("connection to 10.1.2.3 refused"), "{log}");
    assert!(log.contains(&id), "{log}");
}

#[tokio::test]
async fn a_custom_request_id_header_means_one_id_per_response() {
    // A validator below writes its own id under the default `x-request-id`; with another header
    // configured, the response carries one id, under that header, in the body too.
    let svc = ServiceBuilder::new()
        .layer(
            ErrorEnvelopeLayer::defender()
                .request_id_header(http::HeaderName::from_static("x-correlation-id")),
        )
        .layer(tower_envelope::UrlEncodingLayer::new())
        .service(service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Body::empty()))
        }));
    let svc = ServiceExt::<Request<Body>>::map_response(svc, |r| r.map(Body::new));
    let r = send(svc, get_req("/machines/%zz")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.headers.get("x-request-id").is_none(), "{:?}", r.headers);
    let id = r.headers["x-correlation-id"].to_str().unwrap();
    assert_eq!(r.json()["error"]["target"], id);
    assert_eq!(r.json()["error"]["code"], "InvalidUrl");
}

/// A custom format that reads both the request's `Accept` and its path: the body echoes what
/// the envelope handed it.
#[derive(Clone)]
struct Echo {
    accept: bool,
    path: bool,
}

impl Format for Echo {
    fn status(&self, error: &ApiError) -> StatusCode {
        Defender.status(error)
    }

    fn render(
        &self,
        error: &ApiError,
        cx: &tower_envelope::format::RequestContext<'_>,
    ) -> tower_envelope::format::Rendered {
        let body = json!({
            "accept": cx.accept().map(|a| a.to_str().unwrap()),
            "path": cx.path(),
        });
        tower_envelope::format::Rendered::new(
            self.status(error),
            HeaderValue::from_static("application/json"),
            serde_json::to_vec(&body).unwrap(),
        )
    }

    fn parse(&self, _: StatusCode, _: Option<&str>, _: &[u8]) -> Option<ApiError> {
        None
    }

    fn uses_accept(&self) -> bool {
        self.accept
    }

    fn uses_path(&self) -> bool {
        self.path
    }
}

#[tokio::test]
async fn a_format_gets_the_accept_and_path_it_asks_for_and_no_more() {
    for (accept, path) in [(false, false), (true, false), (false, true), (true, true)] {
        let svc = ErrorEnvelopeLayer::new(Echo { accept, path }).layer(service_fn(
            |_req: Request<Body>| async {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::NOT_FOUND;
                Ok::<_, Infallible>(response)
            },
        ));
        let svc = ServiceExt::<Request<Body>>::map_response(svc, |r| r.map(Body::new));
        let request = Request::get("/machines/7?view=full")
            .header("accept", "application/json")
            .body(Body::empty())
            .unwrap();
        let r = send(svc, request).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{accept} {path}");
        assert_eq!(
            r.json(),
            json!({
                "accept": accept.then_some("application/json"),
                "path": path.then_some("/machines/7"),
            }),
            "{accept} {path}"
        );
    }
}
