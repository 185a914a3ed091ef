//! [`QuotaLayer`]: a quota of requests per client, answered `TooManyRequests` (429) in the
//! envelope's format.
//!
//! Each client (the [`Principal`] a token check admitted, else the client's IP address, or a
//! key of your own) may send `limit` requests per `period`, spread by the generic cell rate
//! algorithm (GCRA, the algorithm of `governor` and Redis's `redis-cell`): one request every
//! `period / limit`, with a burst of up to `burst` requests at once (by default `limit`). A
//! request over the quota is answered [`ErrorKind::TooManyRequests`] with the message
//! `Rate limit is exceeded. Try again in 3 seconds.`, `Retry-After` in seconds, and the IETF
//! `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers):
//! `RateLimit-Policy: "default";q=20;w=60` and `RateLimit: "default";r=0;t=3`. For gRPC the
//! envelope answers `RESOURCE_EXHAUSTED`, with `RetryInfo` and (feature `tonic`) a
//! `QuotaFailure` naming the policy.
//!
//! The counts live in this process, one entry per client: at most
//! [`QuotaLayer::max_clients`] (default [`DEFAULT_MAX_CLIENTS`]); when the table is full, the
//! clients whose quota has refilled go first, then any. Clones of a layer share the counts.
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

use std::borrow::{Borrow, Cow};
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;

use http::header::{HeaderName, HeaderValue};
use http::request::Parts;
use http::Request;
use tower_layer::Layer;

use crate::auth::Principal;
use crate::check::{with_parts, Check, Rejection, Validate, Verdict};
use crate::error::{ApiError, ErrorKind};

/// The default [`QuotaLayer::max_clients`]: 100 000 clients.
pub const DEFAULT_MAX_CLIENTS: usize = 100_000;

/// The `RateLimit-Policy` field (draft-ietf-httpapi-ratelimit-headers).
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The `RateLimit` field.
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

type KeyFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// A client: its address, or a name (a principal's subject, or a key of [`QuotaLayer::key_by`]).
enum Key<'a> {
    Ip(IpAddr),
    Name(Cow<'a, str>),
}

/// The clients' theoretical arrival times, by address and by name.
#[derive(Default)]
struct Clients {
    by_ip: HashMap<IpAddr, u64, RandomState>,
    by_name: HashMap<Box<str>, u64, RandomState>,
}

/// Counts one request at `now` of the client `key` of `table`, whose arrival time is moved on
/// when it passes; a new client is added, after making room for it.
fn count_in<K, Q>(
    table: &mut HashMap<K, u64, RandomState>,
    (key, owned): (&Q, impl FnOnce(&Q) -> K),
    now: u64,
    room: usize,
    decide: impl FnOnce(Option<u64>) -> Result<u64, u64>,
) -> Result<u64, u64>
where
    K: Borrow<Q> + std::hash::Hash + Eq + Clone,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if let Some(tat) = table.get_mut(key) {
        let new_tat = decide(Some(*tat))?;
        *tat = new_tat;
        return Ok(new_tat);
    }
    let new_tat = decide(None)?;
    if table.len() >= room {
        // Clients whose quota has refilled first, then any.
        table.retain(|_, tat| *tat > now);
        while table.len() >= room {
            let Some(first) = table.keys().next().cloned() else {
                break;
            };
            table.remove(first.borrow());
        }
    }
    table.insert(owned(key), new_tat);
    Ok(new_tat)
}

/// A quota of requests per client; see the [module docs](self).
#[derive(Clone)]
pub struct QuotaLayer {
    shared: Arc<Shared>,
}

struct Shared {
    settings: Settings,
    /// Each client's theoretical arrival time, in nanoseconds since `epoch`.
    clients: Mutex<Clients>,
    epoch: Instant,
}

/// What configures a quota.
#[derive(Clone)]
struct Settings {
    limit: u32,
    period: Duration,
    /// Nanoseconds between two requests at the sustained rate (GCRA's emission interval).
    interval: u64,
    /// How far ahead of now a client's theoretical arrival time may run (GCRA's tolerance).
    tolerance: u64,
    name: Cow<'static, str>,
    key: Option<Arc<KeyFn>>,
    trusted_proxies: Vec<IpAddr>,
    max_clients: usize,
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
        let mut layer = Self {
            shared: Arc::new(Shared {
                settings: Settings {
                    limit,
                    period,
                    interval: 0,
                    tolerance: 0,
                    name: Cow::Borrowed("default"),
                    key: None,
                    trusted_proxies: Vec::new(),
                    max_clients: DEFAULT_MAX_CLIENTS,
                },
                clients: Mutex::default(),
                epoch: Instant::now(),
            }),
        };
        layer.set_burst(limit);
        layer
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

    fn configure(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        if Arc::get_mut(&mut self.shared).is_none() {
            // A clone shares the counts: the new configuration starts with fresh ones.
            self.shared = Arc::new(Shared {
                settings: self.shared.settings.clone(),
                clients: Mutex::default(),
                epoch: self.shared.epoch,
            });
        }
        change(&mut Arc::get_mut(&mut self.shared).expect("not shared").settings);
        self
    }

    fn set_burst(&mut self, burst: u32) {
        let (limit, period) = (self.shared.settings.limit, self.shared.settings.period);
        let interval = (period.as_nanos() / u128::from(limit)).max(1);
        let interval = u64::try_from(interval).unwrap_or(u64::MAX);
        let tolerance = interval.saturating_mul(u64::from(burst.max(1) - 1));
        let shared = Arc::get_mut(&mut self.shared).expect("configured before it is shared");
        shared.settings.interval = interval;
        shared.settings.tolerance = tolerance;
    }

    /// Lets a client send up to `burst` requests at once (default: the limit), still at most
    /// `limit` per `period` over time. 0 counts as 1.
    pub fn burst(self, burst: u32) -> Self {
        let mut layer = self.configure(|_| {});
        layer.set_burst(burst);
        layer
    }

    /// Names the policy in the `RateLimit-Policy` and `RateLimit` fields and in gRPC's
    /// `QuotaFailure` (default `"default"`); characters other than letters, digits, `-`, `_`
    /// and `.` are dropped.
    pub fn name(self, name: impl Into<Cow<'static, str>>) -> Self {
        let name: Cow<'static, str> = name.into();
        let clean: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        self.configure(|shared| shared.name = Cow::Owned(clean))
    }

    /// Keys the quota by what `key` returns for the request's head (a tenant, a client id, a
    /// route and a principal); a request for which it returns `None` passes uncounted. By
    /// default the key is the subject of the [`Principal`] in the request's extensions, else
    /// the client's IP address.
    pub fn key_by<F>(self, key: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.configure(|shared| shared.key = Some(Arc::new(key)))
    }

    /// The proxies (load balancers) in front of the service: for a request one of them sends,
    /// the client is the rightmost address of `X-Forwarded-For` that is not one of them. From
    /// any other peer `X-Forwarded-For` is not read, so a client cannot choose its own key.
    pub fn trusted_proxies(self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        let proxies: Vec<IpAddr> = proxies.into_iter().collect();
        self.configure(|shared| shared.trusted_proxies = proxies)
    }

    /// Keeps the counts of at most `clients` clients (default [`DEFAULT_MAX_CLIENTS`]).
    pub fn max_clients(self, clients: usize) -> Self {
        self.configure(|shared| shared.max_clients = clients.max(1))
    }
}

impl Shared {
    /// Counts `request` against its client's quota: `Err(wait)` when it is over, the
    /// nanoseconds until it would pass.
    fn admit<B>(&self, request: &mut Request<B>) -> Result<(), u64> {
        let Some(key) = self.key(request) else {
            return Ok(()); // no client to count
        };
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.count(&key, now).map(|_remaining| ())
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
        Some(Key::Ip(self.client_ip(peer, request.headers())))
    }

    /// The client behind `peer`: itself, or when it is a trusted proxy the rightmost address of
    /// `X-Forwarded-For` that is not a trusted proxy.
    fn client_ip(&self, peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
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

    /// Counts one request of `key` at `now` (nanoseconds since the epoch): `Ok(remaining)` or
    /// `Err(wait)`, the nanoseconds until it would pass.
    fn count(&self, key: &Key<'_>, now: u64) -> Result<u64, u64> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let decide = |tat| gcra(tat, now, self.settings.interval, self.settings.tolerance);
        let room = self.settings.max_clients;
        let new_tat = match key {
            Key::Ip(ip) => count_in(&mut clients.by_ip, (ip, |ip| *ip), now, room, decide),
            Key::Name(name) => {
                let key = (&**name, |name: &str| Box::from(name));
                count_in(&mut clients.by_name, key, now, room, decide)
            }
        }?;
        Ok(self.remaining(new_tat, now))
    }

    /// The requests a client may still send at once after one that moved its arrival time to
    /// `tat`.
    fn remaining(&self, tat: u64, now: u64) -> u64 {
        let room = (now + self.settings.tolerance + self.settings.interval).saturating_sub(tat);
        room / self.settings.interval
    }

    fn rejection<B>(&self, wait: u64, request: &Request<B>) -> Rejection {
        let seconds = wait.div_ceil(1_000_000_000).max(1);
        let error = ApiError::new(
            ErrorKind::TooManyRequests,
            format!("Rate limit is exceeded. Try again in {seconds} seconds."),
        )
        .with_target(self.settings.name.to_string())
        .with_retry_after(Duration::from_secs(seconds));
        Rejection::new(error, request.headers())
            .with_header(RATELIMIT_POLICY, self.policy())
            .with_header(RATELIMIT, self.state(0, seconds))
    }

    /// `"default";q=20;w=60`.
    fn policy(&self) -> HeaderValue {
        let value = format!(
            "\"{}\";q={};w={}",
            self.settings.name,
            self.settings.limit,
            self.settings.period.as_secs().max(1)
        );
        HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("\"default\""))
    }

    /// `"default";r=0;t=3`.
    fn state(&self, remaining: u64, reset: u64) -> HeaderValue {
        let value = format!("\"{}\";r={remaining};t={reset}", self.settings.name);
        HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static("\"default\""))
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

/// GCRA: a request at `now` of a client whose theoretical arrival time is `tat` (none: a new
/// client) passes when that time is at most `tolerance` ahead of now, and moves it on by
/// `interval`: `Ok(new tat)`; otherwise `Err(nanoseconds until it would pass)`.
fn gcra(tat: Option<u64>, now: u64, interval: u64, tolerance: u64) -> Result<u64, u64> {
    let tat = tat.map_or(now, |tat| tat.max(now));
    if tat - now <= tolerance {
        Ok(tat.saturating_add(interval))
    } else {
        Err(tat - now - tolerance)
    }
}

impl<S> Layer<S> for QuotaLayer {
    type Service = Validate<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        Validate::new(inner, self.clone())
    }
}

impl<S, B> Check<S, B> for QuotaLayer {
    type Body = B;
    type Pass = ();
    type Later = Infallible;

    fn check(&self, request: &mut Request<B>) -> Verdict<(), Infallible> {
        match self.shared.admit(request) {
            Ok(()) => Verdict::Pass(()),
            Err(wait) => Verdict::Reject(self.shared.rejection(wait, request)),
        }
    }

    fn pass(&self, (): (), request: Request<B>) -> Request<B> {
        request
    }
}

impl fmt::Debug for QuotaLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.shared.settings;
        let quota = format_args!("{} per {:?}", settings.limit, settings.period);
        f.debug_struct("QuotaLayer")
            .field("name", &settings.name)
            .field("quota", &quota)
            .field("trusted_proxies", &settings.trusted_proxies)
            .field("max_clients", &settings.max_clients)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn gcra_admits_the_burst_then_one_per_interval() {
        // 3 per 3 s, burst 3: interval 1 s, tolerance 2 s.
        let (interval, tolerance) = (SECOND, 2 * SECOND);
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(gcra(tat, 0, interval, tolerance).unwrap());
        }
        assert_eq!(gcra(tat, 0, interval, tolerance), Err(SECOND));
        assert_eq!(gcra(tat, SECOND / 2, interval, tolerance), Err(SECOND / 2));
        let later = gcra(tat, SECOND, interval, tolerance).unwrap();
        assert_eq!(gcra(Some(later), SECOND, interval, tolerance), Err(SECOND));
        // A client quiet for long starts again with a full burst.
        assert_eq!(
            gcra(Some(later), 100 * SECOND, interval, tolerance),
            Ok(101 * SECOND)
        );
    }

    #[test]
    fn counts_remaining_and_stays_within_its_bound() {
        let layer = QuotaLayer::new(3, Duration::from_secs(3)).max_clients(100);
        let shared = &*layer.shared;
        let name = |n: &str| Key::Name(Cow::Owned(n.to_owned()));
        assert_eq!(shared.count(&name("a"), 0), Ok(2));
        assert_eq!(shared.count(&name("a"), 0), Ok(1));
        assert_eq!(shared.count(&name("a"), 0), Ok(0));
        assert_eq!(shared.count(&name("a"), 0), Err(SECOND));
        assert_eq!(
            shared.count(&name("b"), 0),
            Ok(2),
            "another client, its own quota"
        );
        let ip = Key::Ip("192.0.2.1".parse().unwrap());
        assert_eq!(shared.count(&ip, 0), Ok(2), "an address, its own quota");
        for i in 0..10_000u32 {
            let _ = shared.count(&name(&format!("k{i}")), 0);
            let _ = shared.count(&Key::Ip(IpAddr::from(i.to_be_bytes())), 0);
        }
        let clients = shared.clients.lock().unwrap();
        assert!(clients.by_name.len() <= 100 && clients.by_ip.len() <= 100);
    }

    #[test]
    fn x_forwarded_for_is_read_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let layer = QuotaLayer::per_second(1).trusted_proxies([proxy]);
        let mut headers = http::HeaderMap::new();
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
