//! `QuotaLayer`: requests per client, answered `TooManyRequests` in every format, with
//! `Retry-After`, the IETF `RateLimit-Policy` / `RateLimit` fields and, for gRPC,
//! `RESOURCE_EXHAUSTED` with the rich details.

#[cfg(feature = "redis")]
#[path = "common/redis_server.rs"]
mod redis_server;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use tokio::task::JoinSet;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_envelope::auth::{AuthTokenLayer, StaticTokens};
use tower_envelope::format::{Defender, Edgio, Format, Google, Msi, Problem, QRadar};
use tower_envelope::{ErrorEnvelopeLayer, ErrorKind, QuotaLayer};

fn formats() -> Vec<(&'static str, Arc<dyn Format>)> {
    vec![
        ("defender", Arc::new(Defender)),
        ("qradar", Arc::new(QRadar::new())),
        ("msi", Arc::new(Msi)),
        ("edgio", Arc::new(Edgio)),
        ("problem", Arc::new(Problem::new())),
        ("google", Arc::new(Google::new())),
    ]
}

/// The envelope in `format`, the token check, `quota`, and a handler answering 200.
fn app(
    format: Arc<dyn Format>,
    quota: QuotaLayer,
) -> impl Service<
    Request<Empty<Bytes>>,
    Response = Response<impl http_body::Body<Data = Bytes, Error = impl std::fmt::Debug> + Send>,
    Error = Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    let tokens = StaticTokens::new()
        .token("token-a", ["read"])
        .token("token-b", ["read"]);
    ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::new(format))
        .layer(AuthTokenLayer::bearer(tokens))
        .layer(quota)
        .service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
        })
}

fn get(token: &str) -> Request<Empty<Bytes>> {
    Request::get("/machines")
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::new())
        .unwrap()
}

/// A Defender refusal's `Retry-After` (seconds) and body.
async fn refusal<B>(response: Response<B>) -> (u64, serde_json::Value)
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let retry_after = response.headers()["retry-after"].to_str().unwrap();
    let retry_after: u64 = retry_after.parse().unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (retry_after, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn a_principal_over_its_quota_gets_429_in_every_format() {
    for (name, format) in formats() {
        let svc = app(
            Arc::clone(&format),
            QuotaLayer::per_minute(2).name("per-user"),
        );
        for _ in 0..2 {
            let ok = svc.clone().oneshot(get("token-a")).await.unwrap();
            assert_eq!(ok.status(), StatusCode::OK, "{name}");
        }
        let over = svc.clone().oneshot(get("token-a")).await.unwrap();
        assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS, "{name}");
        let headers = over.headers().clone();
        assert_eq!(headers["retry-after"], "30", "{name}");
        assert_eq!(
            headers["ratelimit-policy"], r#""per-user";q=2;w=60"#,
            "{name}"
        );
        assert_eq!(headers["ratelimit"], r#""per-user";r=0;t=30"#, "{name}");
        let content_type = headers["content-type"].to_str().unwrap().to_owned();
        let body = over.into_body().collect().await.unwrap().to_bytes();
        let error = format
            .parse(StatusCode::TOO_MANY_REQUESTS, Some(&content_type), &body)
            .unwrap_or_else(|| panic!("{name}: {body:?}"));
        assert_eq!(error.kind(), ErrorKind::TooManyRequests, "{name}");
        assert_eq!(
            error.message(),
            "Rate limit is exceeded. Try again in 30 seconds.",
            "{name}"
        );
        // Another principal has its own quota.
        let other = svc.oneshot(get("token-b")).await.unwrap();
        assert_eq!(other.status(), StatusCode::OK, "{name}");
    }
}

#[tokio::test]
async fn concurrent_requests_of_one_token_admit_exactly_the_quota() {
    let svc = app(Arc::new(Defender), QuotaLayer::per_minute(20));
    let mut requests = JoinSet::new();
    for _ in 0..60 {
        let svc = svc.clone();
        requests.spawn(async move { svc.oneshot(get("token-a")).await.unwrap().status() });
    }
    let statuses = requests.join_all().await;
    let admitted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((admitted, refused), (20, 40));
}

#[tokio::test]
async fn without_a_principal_the_client_ip_is_the_key() {
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(QuotaLayer::per_minute(1))
        .service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
        });
    let from = |ip: &str, forwarded: Option<&str>| {
        let mut request = Request::get("/healthz").body(Empty::new()).unwrap();
        let peer: SocketAddr = format!("{ip}:40000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(forwarded) = forwarded {
            request
                .headers_mut()
                .insert("x-forwarded-for", forwarded.parse().unwrap());
        }
        request
    };
    let status = |r: Response<_>| r.status();
    assert_eq!(
        status(svc.clone().oneshot(from("192.0.2.1", None)).await.unwrap()),
        StatusCode::OK
    );
    // The same client, whatever X-Forwarded-For says: it comes from no trusted proxy.
    let spoofed = svc
        .clone()
        .oneshot(from("192.0.2.1", Some("203.0.113.5")))
        .await
        .unwrap();
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        status(svc.clone().oneshot(from("192.0.2.2", None)).await.unwrap()),
        StatusCode::OK
    );

    // Behind a trusted proxy, each client behind it has its own quota.
    let proxy = "10.0.0.1".parse().unwrap();
    let behind = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(QuotaLayer::per_minute(1).trusted_proxies([proxy]))
        .service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
        });
    for (client, expected) in [
        ("198.51.100.1", StatusCode::OK),
        ("198.51.100.2", StatusCode::OK),
        ("198.51.100.1", StatusCode::TOO_MANY_REQUESTS),
    ] {
        let response = behind
            .clone()
            .oneshot(from("10.0.0.1", Some(client)))
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{client}");
    }
}

#[cfg(feature = "tonic")]
#[tokio::test]
async fn grpc_calls_get_resource_exhausted_with_retry_info_and_quota_failure() {
    use tonic_types::StatusExt;
    let svc = app(Arc::new(Defender), QuotaLayer::per_minute(1).name("grpc"));
    let call = || {
        Request::post("/grpc.health.v1.Health/Check")
            .header("authorization", "Bearer token-a")
            .header("content-type", "application/grpc")
            .body(Empty::new())
            .unwrap()
    };
    assert_eq!(
        svc.clone().oneshot(call()).await.unwrap().status(),
        StatusCode::OK
    );
    let over = svc.oneshot(call()).await.unwrap();
    assert_eq!(over.status(), StatusCode::OK, "trailers-only");
    assert_eq!(over.headers()["grpc-status"], "8");
    let status = tonic::Status::from_header_map(over.headers()).unwrap();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let details = status.get_error_details();
    assert_eq!(
        details.retry_info().unwrap().retry_delay,
        Some(std::time::Duration::from_secs(60))
    );
    let quota = details.quota_failure().unwrap();
    assert_eq!(quota.violations[0].subject, "policy:grpc");
    assert_eq!(
        quota.violations[0].description,
        "Rate limit is exceeded. Try again in 60 seconds."
    );
}

#[tokio::test]
async fn passing_responses_carry_the_ratelimit_fields_when_asked() {
    let quota = QuotaLayer::per_minute(3).name("per-user");
    let svc = app(Arc::new(Defender), quota.clone().rate_limit_headers(true));
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let ok = svc.clone().oneshot(get("token-a")).await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()["ratelimit-policy"], r#""per-user";q=3;w=60"#);
        remaining.push(ok.headers()["ratelimit"].to_str().unwrap().to_owned());
    }
    // 3 per minute: one more each 20 s; the quota is full again 20, 40, 60 s on.
    assert_eq!(
        remaining,
        [
            r#""per-user";r=2;t=20"#,
            r#""per-user";r=1;t=40"#,
            r#""per-user";r=0;t=60"#
        ]
    );
    let over = svc.oneshot(get("token-a")).await.unwrap();
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(over.headers()["ratelimit"], r#""per-user";r=0;t=20"#);
    // Without the option, a passing response is left alone.
    let plain = app(Arc::new(Defender), quota);
    let ok = plain.oneshot(get("token-a")).await.unwrap();
    assert!(!ok.headers().contains_key("ratelimit"));
}

/// What the handler of `cpu_app` does.
#[derive(Clone, Copy, PartialEq)]
enum Work {
    /// Sleeps for 50 ms.
    Sleeps,
    /// Spins for 50 ms of wall time.
    Spins,
    /// Spins for 50 ms, then never answers.
    SpinsThenHangs,
}

/// The envelope, the token check, `quota`, and a handler that does `work`.
fn cpu_app(
    quota: QuotaLayer,
    work: Work,
) -> impl Service<
    Request<Empty<Bytes>>,
    Response = Response<impl http_body::Body<Data = Bytes, Error = impl std::fmt::Debug>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(AuthTokenLayer::bearer(
            StaticTokens::new().token("token-a", ["read"]),
        ))
        .layer(quota)
        .service_fn(move |_: Request<Empty<Bytes>>| async move {
            let start = std::time::Instant::now();
            if work == Work::Sleeps {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            } else {
                let mut x = 0u64;
                while start.elapsed() < std::time::Duration::from_millis(50) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            }
            if work == Work::SpinsThenHangs {
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
        })
}

#[tokio::test]
async fn the_cpu_budget_charges_a_busy_handler_and_not_a_sleeping_one() {
    use std::time::Duration;
    // 5 ms of CPU time per hour, and requests enough.
    let quota =
        || QuotaLayer::per_minute(1000).cpu(Duration::from_millis(5), Duration::from_secs(3600));

    // Sleeping costs (next to) no CPU time: every request passes.
    let sleeping = cpu_app(quota(), Work::Sleeps);
    for i in 0..5 {
        let response = sleeping.clone().oneshot(get("token-a")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "sleeping request {i}");
    }

    // Spinning does: the first request passes (a request in flight is never cut off) and
    // spends the budget; the next is refused until the budget refills.
    let busy = cpu_app(quota(), Work::Spins);
    let first = busy.clone().oneshot(get("token-a")).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let over = busy.oneshot(get("token-a")).await.unwrap();
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        !over.headers().contains_key("ratelimit"),
        "the fields describe requests"
    );
    let (retry_after, json) = refusal(over).await;
    assert!(retry_after > 1, "{retry_after}");
    assert_eq!(json["error"]["code"], "TooManyRequests");
    assert_eq!(
        json["error"]["message"],
        format!("CPU quota is exceeded. Try again in {retry_after} seconds.")
    );
}

#[tokio::test]
async fn a_request_given_up_on_is_charged_the_cpu_time_it_spent() {
    use std::time::Duration;
    let quota =
        QuotaLayer::per_minute(1000).cpu(Duration::from_millis(5), Duration::from_secs(3600));
    let hangs = cpu_app(quota, Work::SpinsThenHangs);
    // The client gives up (a timeout drops the request's future) after its 50 ms of spinning.
    let given_up = tokio::time::timeout(
        Duration::from_millis(200),
        hangs.clone().oneshot(get("token-a")),
    );
    assert!(given_up.await.is_err(), "the handler never answers");
    let over = hangs.oneshot(get("token-a")).await.unwrap();
    assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
    let (_, json) = refusal(over).await;
    assert!(json["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("CPU quota is exceeded."));
}

#[tokio::test]
async fn an_ipv6_client_is_its_64_network() {
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(QuotaLayer::per_minute(1))
        .service_fn(|_: Request<Empty<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
        });
    let from = |ip: &str| {
        let mut request = Request::get("/healthz").body(Empty::new()).unwrap();
        let peer = SocketAddr::new(ip.parse().unwrap(), 40000);
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    };
    let status = |r: Response<_>| r.status();
    let first = svc.clone().oneshot(from("2001:db8:1:2::1")).await.unwrap();
    assert_eq!(status(first), StatusCode::OK);
    // Another address of the same /64: the same client.
    let same = svc
        .clone()
        .oneshot(from("2001:db8:1:2:ffff::7"))
        .await
        .unwrap();
    assert_eq!(status(same), StatusCode::TOO_MANY_REQUESTS);
    // Another /64: another client.
    let other = svc.oneshot(from("2001:db8:1:3::1")).await.unwrap();
    assert_eq!(status(other), StatusCode::OK);
}

/// `QuotaLayer::redis`: one quota shared by several services through a real `redis-server`,
/// started by each test on a free port; what happens when it stops, and when it comes back.
#[cfg(feature = "redis")]
mod redis_store {
    use std::time::Duration;

    use super::redis_server::RedisServer;
    use super::*;

    /// One instance of the service, its answers read whole.
    fn instance(
        quota: QuotaLayer,
    ) -> impl Service<
        Request<Empty<Bytes>>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
           + Send
           + 'static {
        app(Arc::new(Defender), quota).and_then(collect)
    }

    async fn collect<B>(response: Response<B>) -> Result<Response<Full<Bytes>>, Infallible>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: std::fmt::Debug,
    {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Ok(Response::from_parts(parts, Full::new(body)))
    }

    /// The statuses of `n` concurrent requests of `token`, spread over `instances`.
    async fn statuses<S>(instances: &[S], token: &'static str, n: usize) -> Vec<StatusCode>
    where
        S: Service<Request<Empty<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send,
    {
        let mut requests = JoinSet::new();
        for i in 0..n {
            let svc = instances[i % instances.len()].clone();
            requests.spawn(async move { svc.oneshot(get(token)).await.unwrap().status() });
        }
        requests.join_all().await
    }

    fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
        statuses.iter().filter(|s| **s == status).count()
    }

    #[tokio::test]
    async fn two_services_share_one_limit_exactly() {
        let redis = RedisServer::start();
        let quota = || QuotaLayer::per_minute(20).redis(redis.url()).unwrap();
        let fleet = [instance(quota()), instance(quota())];
        let answers = statuses(&fleet, "token-a", 60).await;
        assert_eq!(count(&answers, StatusCode::OK), 20, "{answers:?}");
        assert_eq!(count(&answers, StatusCode::TOO_MANY_REQUESTS), 40);

        // A refusal from the other instance, in the format, with Retry-After.
        let over = fleet[1].clone().oneshot(get("token-a")).await.unwrap();
        assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(over.headers()["ratelimit-policy"], r#""default";q=20;w=60"#);
        let (retry_after, json) = refusal(over).await;
        assert!((1..=3).contains(&retry_after), "{retry_after}");
        assert_eq!(json["error"]["code"], "TooManyRequests");
        assert_eq!(
            json["error"]["message"],
            format!("Rate limit is exceeded. Try again in {retry_after} seconds.")
        );

        // Another token has its own quota.
        let other = statuses(&fleet, "token-b", 30).await;
        assert_eq!(count(&other, StatusCode::OK), 20);
    }

    #[tokio::test]
    async fn passing_responses_count_down_with_redis_as_in_process() {
        let redis = RedisServer::start();
        // 3 per second: an interval that is no whole number of microseconds.
        let quotas = [
            QuotaLayer::per_second(3).name("down"),
            QuotaLayer::per_second(3)
                .name("down")
                .redis(redis.url())
                .unwrap(),
        ];
        for quota in quotas {
            let svc = instance(quota.rate_limit_headers(true));
            let mut remaining = Vec::new();
            for _ in 0..3 {
                let ok = svc.clone().oneshot(get("token-a")).await.unwrap();
                assert_eq!(ok.headers()["ratelimit-policy"], r#""down";q=3;w=1"#);
                let state = ok.headers()["ratelimit"].to_str().unwrap().to_owned();
                remaining.push(state.split(';').nth(1).unwrap().to_owned());
            }
            assert_eq!(remaining, ["r=2", "r=1", "r=0"]);
        }
    }

    #[tokio::test]
    async fn every_key_has_a_time_to_live() {
        let redis = RedisServer::start();
        // 100 µs of CPU time per hour: each microsecond spent is 36 s of the budget's window,
        // so the CPU key lives long enough to be seen.
        let quota = QuotaLayer::per_hour(5)
            .cpu(Duration::from_micros(100), Duration::from_secs(3600))
            .name("ttl")
            .redis(redis.url())
            .unwrap();
        let fleet = [instance(quota)];
        for _ in 0..3 {
            assert_eq!(statuses(&fleet, "token-a", 1).await, [StatusCode::OK]);
        }

        // The CPU charges are sent after the responses: wait for them to land.
        let mut keys: Vec<String> = Vec::new();
        for _ in 0..200 {
            keys = redis
                .cli(&["KEYS", "*"])
                .lines()
                .map(str::to_owned)
                .collect();
            if keys.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        keys.sort();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys[0].starts_with("quota:{ttl:id:") && keys[0].ends_with("}:cpu"));
        assert!(keys[1].starts_with("quota:{ttl:id:") && keys[1].ends_with("}:requests"));
        let mut ttls = Vec::new();
        for key in &keys {
            let ttl: i64 = redis.cli(&["PTTL", key]).parse().unwrap();
            assert!(ttl > 0, "{key} has no time to live: {ttl}");
            ttls.push(ttl);
        }
        // The requests' key lives until the quota is full again: 3 of 5 per hour spent.
        assert!(
            ttls[1] > 35 * 60 * 1000 && ttls[1] <= 36 * 60 * 1000,
            "{ttls:?}"
        );
    }

    #[tokio::test]
    async fn redis_down_fails_open_or_closed_and_its_return_is_picked_up() {
        let redis = RedisServer::start();
        let open = instance(QuotaLayer::per_hour(2).redis(redis.url()).unwrap());
        let closed = QuotaLayer::per_hour(2).name("closed").redis(redis.url());
        let closed = closed.unwrap();
        let closed = instance(closed.fail_closed());
        let answers = statuses(std::slice::from_ref(&open), "token-a", 3).await;
        assert_eq!(count(&answers, StatusCode::OK), 2);

        let port = redis.stop();
        // Each request is answered (a hang would trip this guard), none panics.
        let guard = Duration::from_secs(10);
        for _ in 0..3 {
            let response = tokio::time::timeout(guard, open.clone().oneshot(get("token-a")))
                .await
                .expect("answered")
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "fails open");
            let response = tokio::time::timeout(guard, closed.clone().oneshot(get("token-a")))
                .await
                .expect("answered")
                .unwrap();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            let (retry_after, json) = refusal(response).await;
            assert_eq!(retry_after, 1);
            assert_eq!(json["error"]["code"], "ServiceUnavailable");
            assert_eq!(
                json["error"]["message"],
                "The quota cannot be checked now. Try again in 1 second."
            );
        }

        // Back, and empty: the quotas apply again, with no restart of the services.
        let _redis = RedisServer::start_on(port);
        let mut back = Vec::new();
        for _ in 0..100 {
            back = statuses(std::slice::from_ref(&closed), "token-b", 1).await;
            if back[0] != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            back,
            [StatusCode::OK],
            "the closed quota is reachable again"
        );
        let answers = statuses(std::slice::from_ref(&closed), "token-b", 3).await;
        assert_eq!(count(&answers, StatusCode::OK), 1, "{answers:?}");
        assert_eq!(count(&answers, StatusCode::TOO_MANY_REQUESTS), 2);
        let answers = statuses(std::slice::from_ref(&open), "token-b", 3).await;
        assert_eq!(count(&answers, StatusCode::OK), 2, "{answers:?}");
    }

    /// A server that takes connections and never answers: every request is answered once the
    /// timeout (on the runtime's paused clock) has passed, passing (fail open) or with 503
    /// (fail closed).
    #[tokio::test(start_paused = true)]
    async fn a_silent_redis_is_answered_by_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let url = format!("redis://127.0.0.1:{port}/");
        let timeout = Duration::from_millis(50);
        for fail_closed in [false, true] {
            let quota = QuotaLayer::per_minute(1)
                .redis(url.as_str())
                .unwrap()
                .redis_timeout(timeout);
            let svc = instance(if fail_closed {
                quota.fail_closed()
            } else {
                quota
            });
            let expected = if fail_closed {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            // The server never answers: an answer at all is the timeout's doing.
            for _ in 0..3 {
                let response = svc.clone().oneshot(get("token-a")).await.unwrap();
                assert_eq!(response.status(), expected);
            }
        }
    }
}
