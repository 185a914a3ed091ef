//! The per-process key cache behind [`JwksValidator`](super::JwksValidator): one fetch at a
//! time, run as its own task; refetched for an unknown `kid` at most once per interval;
//! refreshed in the background; a failed fetch keeps the cached keys.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::Duration;

use http::header::CACHE_CONTROL;
use http::HeaderMap;
use tokio::runtime::Handle;
use tokio::sync::watch;
// tokio's clock, so that the intervals follow a paused runtime in tests.
use tokio::time::Instant;

use http::Uri;

use super::fetch::{parse_url, Fetch};
use super::{JwksError, KeySet};

/// The longest a background refresh waits, whatever `max-age` says.
const MAX_REFRESH: Duration = Duration::from_secs(24 * 60 * 60);

/// How often and how far the keys are fetched.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) refetch: Duration,
    pub(crate) refresh: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_wait: Duration,
    pub(crate) max_size: usize,
}

/// Where the keys are: at a JWKS URL, or at the `jwks_uri` of an issuer's OpenID Connect
/// discovery document, read again at each fetch.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    Jwks(Uri),
    Discovery {
        /// What the document's `issuer` must be, exactly (OpenID Connect Discovery 1.0, 4.3).
        issuer: String,
        uri: Uri,
    },
}

/// The members of a discovery document the validator reads.
#[derive(serde::Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

pub(crate) struct Cache {
    client: Arc<Fetch>,
    source: Source,
    pub(crate) settings: Settings,
    keys: RwLock<Arc<KeySet>>,
    state: Mutex<State>,
    /// Counts finished fetches: waiters subscribe before they look, so none is missed.
    fetched: watch::Sender<u64>,
    refresher: AtomicBool,
}

#[derive(Default)]
pub(crate) struct State {
    in_flight: bool,
    /// When the last fetch ended (or could not start): intervals count from there, so a fetch
    /// that timed out is not followed at once by the next.
    last_end: Option<Instant>,
    last_success: Option<Instant>,
    /// The `max-age` of the last document fetched.
    max_age: Option<Duration>,
    /// Failures since the last success: the last fetch failed when non-zero.
    failures: u32,
}

impl State {
    /// Whether the last fetch failed, or none could be made.
    pub(crate) fn failed(&self) -> bool {
        self.failures > 0
    }

    /// Whether a fetch is in flight (for an unknown `kid` or the background refresh).
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }
}

impl Cache {
    pub(crate) fn new(client: Arc<Fetch>, source: Source, settings: Settings) -> Self {
        Self {
            client,
            source,
            settings,
            keys: RwLock::default(),
            state: Mutex::default(),
            fetched: watch::Sender::new(0),
            refresher: AtomicBool::new(false),
        }
    }

    /// The same client and URL with new settings, and nothing cached yet.
    pub(crate) fn with_settings(&self, settings: Settings) -> Self {
        Self::new(Arc::clone(&self.client), self.source.clone(), settings)
    }

    pub(crate) fn source(&self) -> &Source {
        &self.source
    }

    /// The cached keys (an `Arc` clone: no allocation, no lock held afterwards).
    pub(crate) fn keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.fetched.subscribe()
    }

    /// Whether an unknown `kid` may fetch now: none in flight, and none ended within the
    /// refetch interval.
    pub(crate) fn may_refetch(&self, state: &State) -> bool {
        !state.in_flight
            && state
                .last_end
                .is_none_or(|at| at.elapsed() >= self.settings.refetch)
    }

    /// How long until an unknown `kid` may fetch again (the refetch interval while a fetch is in
    /// flight): what a request refused meanwhile is told to wait.
    pub(crate) fn retry_after(&self, state: &State) -> Duration {
        match state.last_end {
            Some(at) if !state.in_flight => self.settings.refetch.saturating_sub(at.elapsed()),
            _ => self.settings.refetch,
        }
    }

    /// Waits for the fetch in flight to finish, at most the longest wait of a request (the fetch
    /// goes on after it).
    pub(crate) async fn wait(&self, mut fetched: watch::Receiver<u64>) {
        let _ = tokio::time::timeout(self.settings.max_wait, fetched.changed()).await;
    }

    /// Starts a fetch unless one is in flight; whether one is in flight now. Without a tokio
    /// runtime no fetch can run, which counts as a failed one.
    pub(crate) fn start_fetch(self: &Arc<Self>, state: &mut State) -> bool {
        if state.in_flight {
            return true;
        }
        let Ok(runtime) = Handle::try_current() else {
            state.last_end = Some(Instant::now());
            state.failures = state.failures.saturating_add(1);
            return false;
        };
        state.in_flight = true;
        // The guard is made before the task runs: even a task dropped unpolled ends the fetch.
        let finish = Finish {
            cache: Arc::clone(self),
            done: false,
        };
        runtime.spawn(async move {
            let mut finish = finish;
            let outcome = finish.cache.load().await;
            finish.cache.finish(outcome);
            finish.done = true;
        });
        true
    }

    async fn load(&self) -> Result<(KeySet, Option<Duration>), JwksError> {
        let jwks_uri = match &self.source {
            Source::Jwks(uri) => uri.clone(),
            Source::Discovery { issuer, uri } => {
                let response = self.get(uri).await?;
                let document: Discovery =
                    serde_json::from_slice(response.body()).map_err(JwksError::Invalid)?;
                if document.issuer != *issuer {
                    return Err(JwksError::Discovery("the document names another issuer"));
                }
                let jwks_uri = parse_url(&document.jwks_uri, &["https", "http"])
                    .map_err(|_| JwksError::Discovery("its jwks_uri is not an absolute URL"))?;
                // An issuer reached over https does not send its keys over plain http.
                if uri.scheme_str() == Some("https") && jwks_uri.scheme_str() != Some("https") {
                    return Err(JwksError::Discovery("its jwks_uri is not https"));
                }
                jwks_uri
            }
        };
        let response = self.get(&jwks_uri).await?;
        let max_age = max_age(response.headers());
        Ok((KeySet::from_jwks(response.body())?, max_age))
    }

    /// One `GET`, within the timeout, answered 2xx.
    async fn get(&self, uri: &Uri) -> Result<http::Response<bytes::Bytes>, JwksError> {
        let fetch = (self.client)(uri, self.settings.max_size);
        let response = tokio::time::timeout(self.settings.timeout, fetch)
            .await
            .map_err(|_| JwksError::Timeout)?
            .map_err(JwksError::Fetch)?;
        if !response.status().is_success() {
            return Err(JwksError::Status(response.status()));
        }
        Ok(response)
    }

    fn finish(&self, outcome: Result<(KeySet, Option<Duration>), JwksError>) {
        {
            let mut state = self.state();
            let now = Instant::now();
            state.last_end = Some(now);
            match outcome {
                Ok((keys, max_age)) => {
                    *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
                    state.last_success = Some(now);
                    state.max_age = max_age;
                    state.failures = 0;
                }
                // The cached keys stay. The error is not kept: its text may come from anywhere.
                Err(_) => state.failures = state.failures.saturating_add(1),
            }
            state.in_flight = false;
        }
        self.fetched.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// When the next background refresh is due: `max-age` (or the refresh interval) after the
    /// last success, at least the refetch interval; after failures, the refetch interval
    /// doubled per failure, up to the refresh interval, counted from the failed fetch's end.
    fn next_refresh(&self, state: &State) -> Option<Instant> {
        let last_end = state.last_end?;
        if state.failed() {
            let backoff = self
                .settings
                .refetch
                .saturating_mul(1 << state.failures.min(16).saturating_sub(1))
                .min(self.settings.refresh.max(self.settings.refetch));
            return last_end.checked_add(backoff);
        }
        let ttl = state.max_age.unwrap_or(self.settings.refresh).clamp(
            self.settings.refetch,
            MAX_REFRESH.max(self.settings.refetch),
        );
        state.last_success.unwrap_or(last_end).checked_add(ttl)
    }

    /// Starts the background refresh once, from inside a tokio runtime.
    pub(crate) fn start_refresher(self: &Arc<Self>) {
        if self.refresher.load(Ordering::Relaxed) {
            return;
        }
        let Ok(runtime) = Handle::try_current() else {
            return;
        };
        if !self.refresher.swap(true, Ordering::AcqRel) {
            runtime.spawn(refresh(Arc::downgrade(self)));
        }
    }
}

/// Ends a fetch as failed if its task ends without finishing it (a panic, a dropped task).
struct Finish {
    cache: Arc<Cache>,
    done: bool,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if !self.done {
            self.cache.finish(Err(JwksError::Timeout));
        }
    }
}

/// The background refresh: holds the cache weakly, so it ends when the last validator goes.
async fn refresh(cache: Weak<Cache>) {
    loop {
        let (due, fetched) = {
            let Some(cache) = cache.upgrade() else { return };
            let state = cache.state();
            let due = (!state.in_flight)
                .then(|| cache.next_refresh(&state))
                .flatten();
            (due, cache.subscribe())
        };
        match due {
            // Nothing fetched yet, or a fetch in flight: wait for it to end.
            None => {
                let mut fetched = fetched;
                if fetched.changed().await.is_err() {
                    return;
                }
            }
            Some(due) => {
                tokio::time::sleep_until(due).await;
                let Some(cache) = cache.upgrade() else { return };
                let mut state = cache.state();
                // A fetch for an unknown kid may have refreshed the keys meanwhile.
                if cache
                    .next_refresh(&state)
                    .is_some_and(|at| at <= Instant::now())
                {
                    cache.start_fetch(&mut state);
                }
            }
        }
    }
}

/// The `max-age` directive of `Cache-Control`, if any.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|directive| {
            let (name, seconds) = directive.trim().split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("max-age") {
                return None;
            }
            let seconds = seconds.trim().trim_matches('"').parse().ok()?;
            Some(Duration::from_secs(seconds))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn reads_max_age() {
        let mut headers = HeaderMap::new();
        assert_eq!(max_age(&headers), None);
        for (value, expected) in [
            ("max-age=3600", Some(3600)),
            ("public, Max-Age=86400, must-revalidate", Some(86400)),
            ("no-cache", None),
            ("max-age=soon", None),
            ("s-maxage=5", None),
        ] {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static(value));
            assert_eq!(
                max_age(&headers),
                expected.map(Duration::from_secs),
                "{value}"
            );
        }
    }
}
