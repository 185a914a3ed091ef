//! The in-process store: each client's theoretical arrival times, in a bounded table.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};

use foldhash::fast::RandomState;

use super::{Key, Refusal, Rules};

/// A client's theoretical arrival times, in nanoseconds since the store's epoch: of its next
/// request (GCRA), and of the moment its CPU time spent is paid back.
#[derive(Clone, Copy)]
struct Tats {
    requests: u64,
    cpu: u64,
}

/// The clients' arrival times, by address and by name.
#[derive(Default)]
struct Clients {
    by_ip: HashMap<IpAddr, Tats, RandomState>,
    by_name: HashMap<Box<str>, Tats, RandomState>,
}

/// The counts of one layer (and its clones), in this process.
pub(super) struct Local {
    clients: Mutex<Clients>,
    /// The clock's reading when the store was made, in nanoseconds.
    epoch: u64,
    max_clients: usize,
}

impl Local {
    pub(super) fn new(max_clients: usize) -> Self {
        Self {
            clients: Mutex::default(),
            epoch: 0,
            max_clients,
        }
        .started()
    }

    /// The store with its epoch at the clock's present reading.
    fn started(mut self) -> Self {
        self.epoch = self.now();
        self
    }

    /// Nanoseconds since the epoch, on the monotonic clock.
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd"
    ))]
    fn now(&self) -> u64 {
        // Read directly (a vDSO call): `Instant::elapsed` costs about 60 instructions more.
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let secs = u64::try_from(now.tv_sec).unwrap_or(0);
        let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
        let now = secs.saturating_mul(1_000_000_000).saturating_add(nanos);
        now.saturating_sub(self.epoch)
    }

    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd"
    )))]
    fn now(&self) -> u64 {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let since = START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_nanos();
        u64::try_from(since)
            .unwrap_or(u64::MAX)
            .saturating_sub(self.epoch)
    }

    /// Counts one request of `key` against `rules`: `Ok(tat)`, the client's new arrival time as
    /// nanoseconds from now, or the refusal.
    pub(super) fn admit(&self, key: &Key<'_>, rules: &Rules) -> Result<u64, Refusal> {
        let now = self.now();
        let decide = |tats: Option<Tats>| {
            let tats = tats.unwrap_or(Tats {
                requests: now,
                cpu: now,
            });
            if let Some(cpu) = &rules.cpu {
                let ahead = tats.cpu.saturating_sub(now);
                if ahead > cpu.tolerance {
                    return Err(Refusal::Cpu(ahead - cpu.tolerance));
                }
            }
            let requests = gcra(tats.requests, now, rules.interval, rules.tolerance)
                .map_err(Refusal::Requests)?;
            Ok(Tats { requests, ..tats })
        };
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let tats = self.update(&mut clients, key, now, decide)?;
        Ok(tats.requests - now)
    }

    /// Charges `key` with `amount` nanoseconds of its CPU budget's window (the CPU time spent,
    /// scaled by the window over the budget).
    pub(super) fn charge(&self, key: &Key<'_>, amount: u64) {
        let now = self.now();
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self.update(&mut clients, key, now, |tats| {
            let tats = tats.unwrap_or(Tats {
                requests: now,
                cpu: now,
            });
            let cpu = tats.cpu.max(now).saturating_add(amount);
            Ok::<_, Refusal>(Tats { cpu, ..tats })
        });
    }

    fn update(
        &self,
        clients: &mut Clients,
        key: &Key<'_>,
        now: u64,
        decide: impl FnOnce(Option<Tats>) -> Result<Tats, Refusal>,
    ) -> Result<Tats, Refusal> {
        let room = self.max_clients;
        match key {
            Key::Ip(ip) => update_in(&mut clients.by_ip, (ip, |ip| *ip), now, room, decide),
            Key::Name(name) => {
                let key = (&**name, |name: &str| Box::from(name));
                update_in(&mut clients.by_name, key, now, room, decide)
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> (usize, usize) {
        let clients = self.clients.lock().unwrap();
        (clients.by_ip.len(), clients.by_name.len())
    }
}

/// Updates the arrival times of the client `key` of `table` at `now` with `decide`; a new client
/// is added, after making room for it.
fn update_in<K, Q>(
    table: &mut HashMap<K, Tats, RandomState>,
    (key, owned): (&Q, impl FnOnce(&Q) -> K),
    now: u64,
    room: usize,
    decide: impl FnOnce(Option<Tats>) -> Result<Tats, Refusal>,
) -> Result<Tats, Refusal>
where
    K: Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
{
    if let Some(tats) = table.get_mut(key) {
        *tats = decide(Some(*tats))?;
        return Ok(*tats);
    }
    let tats = decide(None)?;
    if table.len() >= room {
        // Clients whose quotas have refilled first, then any, down to 7/8 of the room: the
        // sweep is paid once per room / 8 new clients, even when every client is active.
        table.retain(|_, tats| tats.requests > now || tats.cpu > now);
        let mut excess = table.len().saturating_sub(room - room / 8 - 1);
        table.retain(|_, _| {
            let keep = excess == 0;
            excess = excess.saturating_sub(1);
            keep
        });
    }
    table.insert(owned(key), tats);
    Ok(tats)
}

/// GCRA: a request at `now` of a client whose theoretical arrival time is `tat` passes when that
/// time is at most `tolerance` ahead of now, and moves it on by `interval`: `Ok(new tat)`;
/// otherwise `Err(nanoseconds until it would pass)`.
pub(super) fn gcra(tat: u64, now: u64, interval: u64, tolerance: u64) -> Result<u64, u64> {
    let tat = tat.max(now);
    if tat - now <= tolerance {
        Ok(tat.saturating_add(interval))
    } else {
        Err(tat - now - tolerance)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::Duration;

    use super::super::QuotaLayer;
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn gcra_admits_the_burst_then_one_per_interval() {
        // 3 per 3 s, burst 3: interval 1 s, tolerance 2 s.
        let (interval, tolerance) = (SECOND, 2 * SECOND);
        let mut tat = 0;
        for _ in 0..3 {
            tat = gcra(tat, 0, interval, tolerance).unwrap();
        }
        assert_eq!(gcra(tat, 0, interval, tolerance), Err(SECOND));
        assert_eq!(gcra(tat, SECOND / 2, interval, tolerance), Err(SECOND / 2));
        let later = gcra(tat, SECOND, interval, tolerance).unwrap();
        assert_eq!(gcra(later, SECOND, interval, tolerance), Err(SECOND));
        // A client quiet for long starts again with a full burst.
        assert_eq!(
            gcra(later, 100 * SECOND, interval, tolerance),
            Ok(101 * SECOND)
        );
    }

    #[test]
    fn counts_and_stays_within_its_bound() {
        let layer = QuotaLayer::new(3, Duration::from_secs(3));
        let rules = &layer.shared.settings.rules;
        let local = Local::new(100);
        let name = |n: &str| Key::Name(Cow::Owned(n.to_owned()));
        for _ in 0..3 {
            assert!(local.admit(&name("a"), rules).is_ok());
        }
        assert!(matches!(
            local.admit(&name("a"), rules),
            Err(Refusal::Requests(wait)) if wait > SECOND / 2 && wait <= SECOND
        ));
        assert!(local.admit(&name("b"), rules).is_ok(), "its own quota");
        let ip = Key::Ip("192.0.2.1".parse().unwrap());
        assert!(local.admit(&ip, rules).is_ok(), "an address, its own quota");
        for i in 0..10_000u32 {
            let _ = local.admit(&name(&format!("k{i}")), rules);
            let _ = local.admit(&Key::Ip(IpAddr::from(i.to_be_bytes())), rules);
        }
        let (ips, names) = local.len();
        assert!(ips <= 100 && names <= 100, "{ips} addresses, {names} names");
    }

    #[test]
    fn a_million_clients_stay_within_the_default_bound() {
        let layer = QuotaLayer::per_hour(10);
        let local = Local::new(super::super::DEFAULT_MAX_CLIENTS);
        for i in 0..1_000_000u32 {
            let key = Key::Ip(IpAddr::from(i.to_be_bytes()));
            assert!(local.admit(&key, &layer.shared.settings.rules).is_ok());
        }
        let (ips, _) = local.len();
        assert!(ips <= super::super::DEFAULT_MAX_CLIENTS, "{ips}");
        assert!(
            ips > super::super::DEFAULT_MAX_CLIENTS / 2,
            "{ips}: the recent ones stay"
        );
    }
}
