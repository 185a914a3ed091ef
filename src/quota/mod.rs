//! [`QuotaLayer`]: a quota of requests per client, answered `TooManyRequests` (429) in the
//! envelope's format.
//!
//! Each client (the [`Principal`] a token check admitted, else the client's IP address, an IPv6
//! client by its /64 network, or a key of your own) may send `limit` requests per `period`, spread by the generic cell rate
//! algorithm (GCRA, the algorithm of `governor` and Redis's `redis-cell`): one request every
//! `period / limit`, with a burst of up to `burst` requests at once (by default `limit`). A
//! request over the quota is answered [`ErrorKind::TooManyRequests`] with the message
//! `Rate limit is exceeded. Try again in 3 seconds.`, `Retry-After` in seconds, and the IETF
//! `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers):
//! `RateLimit-Policy: "default";q=20;w=60` and `RateLimit: "default";r=0;t=3`. For gRPC the
//! envelope answers `RESOURCE_EXHAUSTED`, with `RetryInfo` and (feature `tonic`) a
//! `QuotaFailure` naming the policy.
//!
//! Defender's document counts quotas "either by number of requests or by CPU": with
//! [`QuotaLayer::cpu`], each client also has a budget of CPU time per period, charged with the
//! time its requests' inner futures spend in their polls (on the thread's CPU clock, not the
//! time spent waiting), and refused "CPU quota is exceeded. Try again in N seconds." while it
//! is spent. [`QuotaLayer::rate_limit_headers`] adds the `RateLimit` fields to passing
//! responses too.
//!
//! The counts live in this process, one entry per client: at most
//! [`QuotaLayer::max_clients`] (default [`DEFAULT_MAX_CLIENTS`]); when the table is full, the
//! clients whose quota has refilled go first, then any. Clones of a layer share the counts.
//! A quota per route or method is a layer of its own in that method router's `route_layer`
//! (named apart with [`QuotaLayer::name`]), or one layer keyed by route and client with
//! [`QuotaLayer::key_by`]; a tenant's or a client id's quota is a `key_by` reading the
//! [`Principal`]'s claims.
//! With the feature `redis`, [`QuotaLayer::redis`] keeps them in Redis instead, shared by every
//! instance of a fleet: one Lua script per request, on Redis's clock, each request waiting at
//! most [`QuotaLayer::redis_timeout`] (50 ms) before it passes uncounted (or, with
//! [`QuotaLayer::fail_closed`], is answered `ServiceUnavailable`).
//!
//! | answer | status | message | fields |
//! |---|---|---|---|
//! | request quota spent | `TooManyRequests` (429) | `Rate limit is exceeded. Try again in N seconds.` | `Retry-After`, `RateLimit-Policy`, `RateLimit` |
//! | CPU budget spent | `TooManyRequests` (429) | `CPU quota is exceeded. Try again in N seconds.` | `Retry-After` |
//! | Redis silent, fail closed | `ServiceUnavailable` (503) | `The quota cannot be checked now. Try again in 1 second.` | `Retry-After: 1` |
//!
//! Each format renders these kinds as it renders any other: Defender's `TooManyRequests`,
//! QRadar's 429 and 503, RFC 9457's titles, AIP-193's `RESOURCE_EXHAUSTED` and `UNAVAILABLE`;
//! the error's target (gRPC's `QuotaFailure` subject `policy:<name>`) names the policy, and
//! `<name>-cpu` the CPU budget.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_envelope::auth::{AuthTokenLayer, StaticTokens};
//! use tower_envelope::{ErrorEnvelopeLayer, QuotaLayer};
//!
//! # tokio_test::block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::defender())
//!     .layer(AuthTokenLayer::bearer(StaticTokens::new().token("t", ["read"])))
//!     .layer(QuotaLayer::per_minute(2)) // after the token check: per principal
//!     .service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(String::new())) });
//! let get = || Request::get("/").header("authorization", "Bearer t").body(()).unwrap();
//! assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), StatusCode::OK);
//! assert_eq!(svc.clone().oneshot(get()).await.unwrap().status(), StatusCode::OK);
//! let over = svc.oneshot(get()).await.unwrap();
//! assert_eq!(over.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(over.headers()["retry-after"], "30");
//! assert_eq!(over.headers()["ratelimit"], r#""default";r=0;t=30"#);
//! # });
//! ```
//!
//! Shared by a fleet through Redis, by requests and by CPU time:
//!
//! ```no_run
//! # #[cfg(feature = "redis")] {
//! use std::time::Duration;
//! use tower_envelope::QuotaLayer;
//!
//! let quota = QuotaLayer::per_minute(100)
//!     .cpu(Duration::from_secs(600), Duration::from_secs(3600)) // 10 minutes per hour
//!     .redis("redis://127.0.0.1:6379/")
//!     .expect("a redis:// URL")
//!     .redis_timeout(Duration::from_millis(50));
//! # let _ = quota; }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Request};
use tower_layer::Layer;

use crate::auth::Principal;
use crate::check::{with_parts, Check, Rejection, Validate, Verdict};
use crate::error::{ApiError, ErrorKind};

mod local;
mod meter;
#[cfg(feature = "redis")]
mod remote;

use self::meter::Metered;

/// What a quota's check starts when its answer comes later: only a quota kept in Redis waits.
#[cfg(feature = "redis")]
type Later = crate::check::Deferred;
#[cfg(not(feature = "redis"))]
type Later = std::convert::Infallible;

/// The default [`QuotaLayer::max_clients`]: 100 000 clients.
pub const DEFAULT_MAX_CLIENTS: usize = 100_000;

/// The `RateLimit-Policy` field (draft-ietf-httpapi-ratelimit-headers).
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The `RateLimit` field.
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

type KeyFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// A client: its address, or a name (a principal's subject, or a key of [`QuotaLayer::key_by`]).
#[derive(Clone)]
enum Key<'a> {
    Ip(IpAddr),
    Name(Cow<'a, str>),
}

impl Key<'_> {
    fn into_owned(self) -> Key<'static> {
        match self {
            Key::Ip(ip) => Key::Ip(ip),
            Key::Name(name) => Key::Name(Cow::Owned(name.into_owned())),
        }
    }
}

/// Why a request is refused, with the nanoseconds until it would pass.
enum Refusal {
    Requests(u64),
    Cpu(u64),
    /// The store did not answer in time and the quota fails closed.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Unavailable,
}

/// A quota of requests (and CPU time) per client; see the [module docs](self).
#[derive(Clone)]
pub struct QuotaLayer {
    shared: Arc<Shared>,
}

struct Shared {
    settings: Settings,
    local: local::Local,
    #[cfg(feature = "redis")]
    remote: Option<remote::Remote>,
}

/// What counts, in nanoseconds.
#[derive(Clone)]
struct Rules {
    limit: u32,
    period: Duration,
    /// Between two requests at the sustained rate (GCRA's emission interval).
    interval: u64,
    /// How far ahead of now a client's theoretical arrival time may run (GCRA's tolerance).
    tolerance: u64,
    cpu: Option<CpuRule>,
}

/// A CPU budget: `budget` of CPU time per `period`. A client is charged `scale` nanoseconds
/// of the period per nanosecond of CPU time, and refused while its charges run more than
/// `tolerance` (the period) ahead of now.
#[derive(Clone)]
struct CpuRule {
    budget: Duration,
    period: Duration,
    tolerance: u64,
}

/// What configures a quota.
#[derive(Clone)]
struct Settings {
    rules: Rules,
    name: Cow<'static, str>,
    key: Option<Arc<KeyFn>>,
    trusted_proxies: Vec<IpAddr>,
    max_clients: usize,
    /// The `RateLimit` fields on passing responses too.
    headers: bool,
    #[cfg(feature = "redis")]
    redis: Option<(redis::Client, Duration, bool)>,
}

impl QuotaLayer {
    /// `limit` requests per `period` for each client, in bursts of up to `limit`.
    ///
    /// # Panics
    ///
    /// When `limit` is 0 or `period` is zero.
    pub fn new(limit: u32, period: Duration) -> Self {
        assert!(
            limit > 0 && !period.is_zero(),
            "a quota needs requests and a period"
        );
        let mut rules = Rules {
            limit,
            period,
            interval: 0,
            tolerance: 0,
            cpu: None,
        };
        rules.set_burst(limit);
        Self::with(Settings {
            rules,
            name: Cow::Borrowed("default"),
            key: None,
            trusted_proxies: Vec::new(),
            max_clients: DEFAULT_MAX_CLIENTS,
            headers: false,
            #[cfg(feature = "redis")]
            redis: None,
        })
    }

    fn with(settings: Settings) -> Self {
        Self {
            shared: Arc::new(Shared {
                local: local::Local::new(settings.max_clients),
                #[cfg(feature = "redis")]
                remote: settings
                    .redis
                    .as_ref()
                    .map(|(client, timeout, fail_closed)| {
                        remote::Remote::new(client.clone(), *timeout, *fail_closed)
                    }),
                settings,
            }),
        }
    }

    /// `limit` requests per second for each client.
    pub fn per_second(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(1))
    }

    /// `limit` requests per minute for each client.
    pub fn per_minute(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(60))
    }

    /// `limit` requests per hour for each client.
    pub fn per_hour(limit: u32) -> Self {
        Self::new(limit, Duration::from_secs(60 * 60))
    }

    /// The layer with changed settings, and counts of its own (a clone keeps the old ones).
    fn configure(self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.shared.settings.clone();
        change(&mut settings);
        Self::with(settings)
    }

    /// Lets a client send up to `burst` requests at once (default: the limit), still at most
    /// `limit` per `period` over time. 0 counts as 1.
    pub fn burst(self, burst: u32) -> Self {
        self.configure(|settings| settings.rules.set_burst(burst))
    }

    /// Adds a CPU budget: each client may make the inner service spend `budget` of CPU time
    /// per `period` (Defender's advanced hunting allows 10 minutes per hour). A request is
    /// charged the CPU time spent inside its inner future's polls, measured on the thread's
    /// CPU clock (time spent waiting costs nothing; streaming the response body is not
    /// counted); a client whose charges exceed the budget is answered `TooManyRequests`,
    /// "CPU quota is exceeded. Try again in N seconds.", until the budget refills at `budget`
    /// per `period`. A request in flight is never cut off; one given up on (its future dropped:
    /// the client gone, a timeout) is charged what it spent. Work handed to other tasks
    /// (`spawn_blocking`, `tokio::spawn`) is not counted. On targets without a per-thread
    /// CPU clock (other than Linux, Android, macOS and FreeBSD) nothing is charged.
    ///
    /// # Panics
    ///
    /// When `budget` or `period` is zero.
    pub fn cpu(self, budget: Duration, period: Duration) -> Self {
        assert!(
            !budget.is_zero() && !period.is_zero(),
            "a CPU budget needs time and a period"
        );
        let tolerance = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let rule = CpuRule {
            budget,
            period,
            tolerance,
        };
        self.configure(|settings| settings.rules.cpu = Some(rule))
    }

    /// Names the policy in the `RateLimit-Policy` and `RateLimit` fields and in gRPC's
    /// `QuotaFailure` (default `"default"`; the CPU budget is `"<name>-cpu"`); characters
    /// other than letters, digits, `-`, `_` and `.` are dropped.
    pub fn name(self, name: impl Into<Cow<'static, str>>) -> Self {
        let name: Cow<'static, str> = name.into();
        let clean: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        self.configure(|settings| settings.name = Cow::Owned(clean))
    }

    /// Keys the quota by what `key` returns for the request's head (a tenant, a client id, a
    /// route and a principal); a request for which it returns `None` passes uncounted. By
    /// default the key is the subject of the [`Principal`] in the request's extensions, else
    /// the client's IP address.
    pub fn key_by<F>(self, key: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.configure(|settings| settings.key = Some(Arc::new(key)))
    }

    /// The proxies (load balancers) in front of the service: for a request one of them sends,
    /// the client is the rightmost address of `X-Forwarded-For` that is not one of them. From
    /// any other peer `X-Forwarded-For` is not read, so a client cannot choose its own key.
    pub fn trusted_proxies(self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        let proxies: Vec<IpAddr> = proxies.into_iter().collect();
        self.configure(|settings| settings.trusted_proxies = proxies)
    }

    /// Keeps the counts of at most `clients` clients in this process (default
    /// [`DEFAULT_MAX_CLIENTS`]). When the table is full, the clients whose quota has refilled
    /// go first, then any, down to 7/8 of it.
    pub fn max_clients(self, clients: usize) -> Self {
        self.configure(|settings| settings.max_clients = clients.max(1))
    }

    /// Adds the `RateLimit-Policy` and `RateLimit` fields to passing responses too:
    /// `RateLimit: "default";r=19;t=3`, the requests the client may still send at once and
    /// the seconds until its quota is full again. (On a refusal, `t` is the wait for one more
    /// request, the same as `Retry-After`, which the draft asks not to be earlier than `t`.)
    /// This costs an allocation per request.
    pub fn rate_limit_headers(self, enabled: bool) -> Self {
        self.configure(|settings| settings.headers = enabled)
    }

    /// Keeps the counts in Redis (feature `redis`), shared by every instance given the same
    /// server and policy name: each request runs one Lua script, which does the GCRA with
    /// Redis's own clock (the instances' clocks do not matter). The keys are
    /// `quota:{<name>:ip:<address>}:requests` (or `id:<key>`, and `:cpu` for the CPU budget):
    /// one hash tag per client, for Redis Cluster, and each expires once the client's quota has
    /// refilled. The connection is made on the first request, through the `redis` crate's
    /// reconnecting `ConnectionManager`; a server that comes back is used again without a
    /// restart.
    ///
    /// No request waits longer than [`QuotaLayer::redis_timeout`] for Redis; then it passes
    /// uncounted, or with [`QuotaLayer::fail_closed`] it is answered `ServiceUnavailable`
    /// (503). Either way a warning goes to `tracing`, at most one every 10 seconds. A CPU
    /// charge is sent after the response, without making it wait.
    ///
    /// `server` is what `redis::Client::open` takes: a URL such as `redis://127.0.0.1:6379/`
    /// (`rediss://` needs one of the `redis` crate's TLS features), or its connection info. An
    /// error is a URL it cannot read; nothing is connected yet.
    #[cfg(feature = "redis")]
    pub fn redis(self, server: impl redis::IntoConnectionInfo) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(server)?;
        Ok(self.configure(|settings| {
            let (timeout, fail_closed) = settings
                .redis
                .as_ref()
                .map_or((remote::DEFAULT_TIMEOUT, false), |r| (r.1, r.2));
            settings.redis = Some((client, timeout, fail_closed));
        }))
    }

    /// How long a request waits for Redis at most (default 50 ms; feature `redis`). Set it
    /// after [`QuotaLayer::redis`].
    #[cfg(feature = "redis")]
    pub fn redis_timeout(self, timeout: Duration) -> Self {
        self.configure(|settings| {
            if let Some(redis) = &mut settings.redis {
                redis.1 = timeout;
            }
        })
    }

    /// When Redis does not answer in time, answers `ServiceUnavailable` (503, `Retry-After: 1`)
    /// instead of letting the request pass uncounted (feature `redis`). Set it after
    /// [`QuotaLayer::redis`].
    #[cfg(feature = "redis")]
    pub fn fail_closed(self) -> Self {
        self.configure(|settings| {
            if let Some(redis) = &mut settings.redis {
                redis.2 = true;
            }
        })
    }
}

impl QuotaLayer {
    /// Whether a request is refused when the quota cannot be checked (Redis silent).
    #[cfg(feature = "utoipa")]
    pub(crate) fn fails_closed(&self) -> bool {
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.shared.remote {
            return remote.fail_closed;
        }
        false
    }
}

impl Rules {
    /// The requests a client may still send at once when its quota is full again in `reset`
    /// nanoseconds.
    fn remaining(&self, reset: u64) -> u64 {
        let room = self.tolerance.saturating_add(self.interval);
        room.saturating_sub(reset) / self.interval
    }

    fn set_burst(&mut self, burst: u32) {
        let interval = (self.period.as_nanos() / u128::from(self.limit)).max(1);
        self.interval = u64::try_from(interval).unwrap_or(u64::MAX);
        self.tolerance = self.interval.saturating_mul(u64::from(burst.max(1) - 1));
    }
}

impl Shared {
    /// Whether admitted requests go through [`Metered`]: to be charged CPU time, or to get the
    /// `RateLimit` fields.
    fn metered(&self) -> bool {
        self.settings.headers || self.settings.rules.cpu.is_some()
    }

    /// The client a request comes from; `None` to let it pass uncounted.
    fn key<'r, B>(&self, request: &'r mut Request<B>) -> Option<Key<'r>> {
        if let Some(key) = &self.settings.key {
            return with_parts(request, |parts| key(parts)).map(|k| Key::Name(Cow::Owned(k)));
        }
        let request: &'r Request<B> = request;
        if let Some(principal) = request.extensions().get::<Principal>() {
            return Some(Key::Name(Cow::Borrowed(principal.subject())));
        }
        let peer = peer_ip(request)?;
        if self.settings.trusted_proxies.is_empty() {
            return Some(Key::Ip(client(peer)));
        }
        Some(Key::Ip(client(self.client_ip(peer, request.headers()))))
    }

    /// The client behind `peer`: itself, or when it is a trusted proxy the rightmost address of
    /// `X-Forwarded-For` that is not a trusted proxy.
    fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.settings.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        forwarded
            .iter()
            .rev()
            .filter_map(|address| address.parse::<IpAddr>().ok())
            .find(|ip| !self.settings.trusted_proxies.contains(ip))
            .unwrap_or(peer)
    }

    /// Charges `key` with `spent` nanoseconds of CPU time.
    fn charge(self: Arc<Self>, key: Key<'static>, spent: u64) {
        let Some(cpu) = &self.settings.rules.cpu else {
            return;
        };
        let amount =
            u128::from(spent).saturating_mul(cpu.period.as_nanos()) / cpu.budget.as_nanos().max(1);
        let amount = u64::try_from(amount).unwrap_or(u64::MAX);
        #[cfg(feature = "redis")]
        if self.remote.is_some() {
            return remote::Remote::charge(self, key, amount);
        }
        self.local.charge(&key, amount);
    }

    fn rejection(&self, refusal: Refusal, headers: &HeaderMap) -> Rejection {
        let name = &self.settings.name;
        let (kind, wait, what) = match refusal {
            Refusal::Requests(wait) => (ErrorKind::TooManyRequests, wait, "Rate limit is"),
            Refusal::Cpu(wait) => (ErrorKind::TooManyRequests, wait, "CPU quota is"),
            Refusal::Unavailable => (ErrorKind::ServiceUnavailable, 1, "The quota cannot be"),
        };
        let seconds = wait.div_ceil(1_000_000_000).max(1);
        let unit = if seconds == 1 { "second" } else { "seconds" };
        let message = match refusal {
            Refusal::Unavailable => format!("{what} checked now. Try again in 1 second."),
            _ => format!("{what} exceeded. Try again in {seconds} {unit}."),
        };
        let target = match refusal {
            Refusal::Cpu(_) => format!("{name}-cpu"),
            _ => name.to_string(),
        };
        let error = ApiError::new(kind, message)
            .with_target(target)
            .with_retry_after(Duration::from_secs(seconds));
        let rejection = Rejection::new(error, headers);
        match refusal {
            Refusal::Requests(_) => rejection
                .with_header(RATELIMIT_POLICY, self.policy())
                .with_header(RATELIMIT, self.state(0, seconds)),
            Refusal::Cpu(_) | Refusal::Unavailable => rejection,
        }
    }

    /// `"default";q=20;w=60`.
    fn policy(&self) -> HeaderValue {
        let rules = &self.settings.rules;
        let value = format!(
            "\"{}\";q={};w={}",
            self.settings.name,
            rules.limit,
            rules.period.as_nanos().div_ceil(1_000_000_000).max(1)
        );
        HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("\"default\""))
    }

    /// `"default";r=0;t=3`.
    fn state(&self, remaining: u64, reset: u64) -> HeaderValue {
        let value = format!("\"{}\";r={remaining};t={reset}", self.settings.name);
        HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("\"default\""))
    }
}

/// The client an address stands for: an IPv4 address, or the /64 network of an IPv6 one (a host
/// is given a whole /64, and would otherwise have as many quotas as addresses).
fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
    }
}

/// The peer address: axum's `ConnectInfo<SocketAddr>` (feature `axum`), or a `SocketAddr` in
/// the request's extensions.
fn peer_ip<B>(request: &Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
        return Some(info.0.ip());
    }
    extensions
        .get::<std::net::SocketAddr>()
        .map(|addr| addr.ip())
}

impl<S> Layer<S> for QuotaLayer {
    type Service = Validate<Metered<S>, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        let shared = self.shared.metered().then(|| Arc::clone(&self.shared));
        Validate::new(Metered::new(inner, shared), self.clone())
    }
}

impl<S: Clone, B> Check<S, B> for QuotaLayer {
    type Body = B;
    type Pass = Option<meter::Granted>;
    type Later = Later;

    fn check(&self, request: &mut Request<B>) -> Verdict<Self::Pass, Later> {
        let shared = &self.shared;
        let Some(key) = shared.key(request) else {
            return Verdict::Pass(None); // no client to count
        };
        #[cfg(feature = "redis")]
        if shared.remote.is_some() {
            return Verdict::Wait(remote::later(Arc::clone(shared), key.into_owned()));
        }
        match shared.local.admit(&key, &shared.settings.rules) {
            Ok(reset) if shared.metered() => Verdict::Pass(Some(meter::Granted {
                key: key.into_owned(),
                remaining: shared.settings.rules.remaining(reset),
                reset,
            })),
            Ok(_) => Verdict::Pass(None),
            Err(refusal) => Verdict::Reject(shared.rejection(refusal, request.headers())),
        }
    }

    fn pass(&self, granted: Self::Pass, mut request: Request<B>) -> Request<B> {
        if let Some(granted) = granted {
            request.extensions_mut().insert(granted);
        }
        request
    }
}

impl fmt::Debug for QuotaLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.shared.settings;
        let rules = &settings.rules;
        let quota = format_args!("{} per {:?}", rules.limit, rules.period);
        let cpu = rules
            .cpu
            .as_ref()
            .map(|cpu| format!("{:?} per {:?}", cpu.budget, cpu.period));
        let mut f = f.debug_struct("QuotaLayer");
        f.field("name", &settings.name)
            .field("quota", &quota)
            .field("cpu", &cpu)
            .field("trusted_proxies", &settings.trusted_proxies)
            .field("max_clients", &settings.max_clients)
            .field("rate_limit_headers", &settings.headers);
        #[cfg(feature = "redis")]
        if let Some(remote) = &self.shared.remote {
            let address = &remote.client().get_connection_info().addr();
            f.field("redis", address)
                .field("redis_timeout", &remote.timeout)
                .field("fail_closed", &remote.fail_closed);
        }
        f.finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_forwarded_for_is_read_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let layer = QuotaLayer::per_second(1).trusted_proxies([proxy]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "198.51.100.7, 203.0.113.9, 10.0.0.1".parse().unwrap(),
        );
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(layer.shared.client_ip(proxy, &headers), client);
        let stranger: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(layer.shared.client_ip(stranger, &headers), stranger);
    }
}
