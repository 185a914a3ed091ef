//! The Redis store (feature `redis`): one Lua script per request does the GCRA with Redis's
//! own clock, so the instances of a fleet share each client's quota whatever their clocks say.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;

use super::meter::Granted;
use super::{Key, Refusal, Rules, Shared};
use crate::check::{Deferred, Refuse};

/// How long a request waits for Redis by default.
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// At most one warning about an unreachable Redis per this interval.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Admits one request. KEYS: the client's request state and its CPU state (their theoretical
/// arrival times, in microseconds of Redis's clock). ARGV: the emission interval, the
/// tolerance, and the CPU tolerance (0: no CPU budget), in microseconds. Returns
/// `{1, reset, remaining}` when the request passes (microseconds until the quota is full again,
/// requests the client may still send at once), `{0, wait, 0}` when the request quota is spent
/// and `{2, wait, 0}` when the CPU budget is.
const ADMIT: &str = r"
redis.replicate_commands()
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval, tolerance, cpu = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if cpu > 0 then
  local spent = tonumber(redis.call('GET', KEYS[2]) or now)
  if spent - now > cpu then return {2, spent - now - cpu, 0} end
end
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
if tat - now > tolerance then return {0, tat - now - tolerance, 0} end
tat = tat + interval
redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000))
return {1, tat - now, math.floor((tolerance + interval - (tat - now)) / interval)}
";

/// Charges a client's CPU state (KEYS[1]) with ARGV[1] microseconds of its budget's window.
const CHARGE: &str = r"
redis.replicate_commands()
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now) + tonumber(ARGV[1])
redis.call('SET', KEYS[1], tat, 'PX', math.max(1, math.ceil((tat - now) / 1000)))
return 1
";

/// Where a quota's counts are shared: a Redis server, through the `redis` crate's reconnecting
/// connection, made on the first request (it needs the runtime).
pub(super) struct Remote {
    client: redis::Client,
    connection: OnceLock<Option<ConnectionManager>>,
    pub(super) timeout: Duration,
    pub(super) fail_closed: bool,
    admit: Script,
    charge: Script,
    warned: Mutex<Option<Instant>>,
}

impl Remote {
    pub(super) fn new(client: redis::Client, timeout: Duration, fail_closed: bool) -> Self {
        Self {
            client,
            connection: OnceLock::new(),
            timeout,
            fail_closed,
            admit: Script::new(ADMIT),
            charge: Script::new(CHARGE),
            warned: Mutex::new(None),
        }
    }

    pub(super) fn client(&self) -> &redis::Client {
        &self.client
    }

    fn connection(&self) -> Option<ConnectionManager> {
        let connection = self.connection.get_or_init(|| {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout))
                .set_max_delay(Duration::from_secs(1));
            ConnectionManager::new_lazy_with_config(self.client.clone(), config).ok()
        });
        connection.clone()
    }

    /// Counts one request of `key`: `Ok(Some((reset, remaining)))` (nanoseconds until the quota
    /// is full again, requests left at once), `Ok(None)` when Redis did not answer in time and
    /// the quota fails open, or the refusal.
    async fn admit(
        &self,
        key: &Key<'_>,
        name: &str,
        rules: &Rules,
    ) -> Result<Option<(u64, u64)>, Refusal> {
        let (requests, cpu) = keys(name, key);
        let micros = |nanos: u64| nanos.div_ceil(1_000);
        let cpu_tolerance = rules.cpu.as_ref().map_or(0, |cpu| micros(cpu.tolerance));
        let answer = match self.connection() {
            Some(mut connection) => {
                let mut call = self.admit.key(requests);
                call.key(cpu)
                    .arg(micros(rules.interval))
                    // The burst in whole intervals, as in the table of this process.
                    .arg(micros(rules.interval).saturating_mul(rules.tolerance / rules.interval))
                    .arg(cpu_tolerance);
                let call = call.invoke_async::<(u8, u64, u64)>(&mut connection);
                match tokio::time::timeout(self.timeout, call).await {
                    Ok(answer) => answer.map_err(|error| format!("{:?}", error.kind())),
                    Err(_) => Err("timed out".to_owned()),
                }
            }
            None => Err("no connection".to_owned()),
        };
        match answer {
            Ok((1, reset, remaining)) => Ok(Some((reset.saturating_mul(1_000), remaining))),
            Ok((2, wait, _)) => Err(Refusal::Cpu(wait.saturating_mul(1_000))),
            Ok((_, wait, _)) => Err(Refusal::Requests(wait.saturating_mul(1_000))),
            Err(error) => {
                self.warn(&error);
                if self.fail_closed {
                    Err(Refusal::Unavailable)
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Charges `key` with `amount` nanoseconds of its CPU budget's window, in the background.
    pub(super) fn charge(shared: Arc<Shared>, key: Key<'static>, amount: u64) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let Some(store) = shared.remote.as_ref() else {
                return;
            };
            let Some(mut connection) = store.connection() else {
                return;
            };
            let (_, cpu) = keys(&shared.settings.name, &key);
            let mut call = store.charge.key(cpu);
            call.arg(amount.div_ceil(1_000));
            let call = call.invoke_async::<u8>(&mut connection);
            let _ = tokio::time::timeout(store.timeout, call).await;
        });
    }

    /// A warning that Redis did not answer, at most one per [`WARN_EVERY`]. It names the
    /// error's kind only: the server's address and its credentials stay out of the logs.
    fn warn(&self, error: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(PoisonError::into_inner);
        if warned.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        *warned = Some(Instant::now());
        let policy = if self.fail_closed {
            "requests are refused"
        } else {
            "requests pass uncounted"
        };
        tracing::warn!(error, "the quota's Redis store did not answer: {policy}");
    }
}

/// The Redis keys of a client's request and CPU states. The hash tag (`{...}`) puts both in one
/// slot of a Redis Cluster, as a script's keys must be.
fn keys(name: &str, key: &Key<'_>) -> (String, String) {
    let client = match key {
        Key::Ip(ip) => format!("quota:{{{name}:ip:{ip}}}"),
        Key::Name(id) => format!("quota:{{{name}:id:{id}}}"),
    };
    (format!("{client}:requests"), format!("{client}:cpu"))
}

/// The answer of a quota kept in Redis: counted there once the request is in hand.
pub(super) fn later(shared: Arc<Shared>, key: Key<'static>) -> Deferred {
    Deferred::new(async move {
        let settings = &shared.settings;
        let store = shared.remote.as_ref().expect("a quota kept in Redis");
        match store.admit(&key, &settings.name, &settings.rules).await {
            Ok(Some((reset, remaining))) => {
                let mut extensions = http::Extensions::new();
                if shared.metered() {
                    let granted = Granted {
                        key,
                        remaining,
                        reset,
                    };
                    extensions.insert(granted);
                }
                Ok(extensions)
            }
            Ok(None) => Ok(http::Extensions::new()),
            Err(refusal) => {
                let refuse: Refuse = Box::new(move |headers| shared.rejection(refusal, headers));
                Err(refuse)
            }
        }
    })
}
