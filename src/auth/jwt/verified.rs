//! Tokens verified once: the principal of a token whose signature and claims passed, kept for
//! the requests that present the same token again, until its `exp`.
//!
//! Only successes are kept, so filling the cache takes valid tokens, which an attacker cannot
//! make. An entry holds the whole token: a seeded hash of its signature's last bytes finds it, a
//! full comparison confirms it, so a hit is the token that was verified, never one that merely
//! hashes alike. The time checks
//! (`exp`, `nbf`, with the leeway) run again on every hit; an entry made with a key set that has
//! since been refreshed is not used (the key may have left the set), and the token is verified
//! again.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use crate::auth::{InvalidToken, Principal};

/// The default [`max_cached_tokens`](super::JwtValidator::max_cached_tokens): 10 000 tokens.
pub const DEFAULT_MAX_CACHED_TOKENS: usize = 10_000;

/// The most bytes of tokens and claims the cache holds, whatever the number of tokens: 16 MiB.
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// What a verification established, for the cache.
pub(crate) struct Verified {
    pub(crate) principal: Principal,
    /// `exp` and `nbf`, in seconds since the epoch.
    pub(crate) exp: f64,
    pub(crate) nbf: Option<f64>,
}

struct Entry {
    token: Box<str>,
    verified: Verified,
    /// The generation of the key set the token was verified with.
    keys: u64,
    bytes: usize,
}

/// The verified tokens of one validator.
pub(crate) struct Tokens {
    entries: RwLock<Entries>,
    max_entries: usize,
}

#[derive(Default)]
struct Entries {
    /// By the hash of the token's last bytes: its signature's, which differ from token to
    /// token (a token that shares them with another only takes its slot).
    map: HashMap<u64, Entry, RandomState>,
    bytes: usize,
    hasher: RandomState,
}

impl Entries {
    fn slot(&self, token: &str) -> u64 {
        let tail = &token.as_bytes()[token.len().saturating_sub(32)..];
        self.hasher.hash_one(tail)
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Refuses what the time says of a token: expired, or not valid yet (with the leeway).
pub(crate) fn check_time(
    exp: f64,
    nbf: Option<f64>,
    now: f64,
    leeway: f64,
) -> Result<(), InvalidToken> {
    if exp < now - leeway {
        return Err(InvalidToken::Expired);
    }
    match nbf {
        Some(nbf) if nbf > now + leeway => Err(InvalidToken::NotYetValid),
        _ => Ok(()),
    }
}

impl Tokens {
    pub(crate) fn new(max_entries: usize) -> Self {
        Self {
            entries: RwLock::default(),
            max_entries,
        }
    }

    /// The same bound, nothing kept.
    pub(crate) fn emptied(&self) -> Self {
        Self::new(self.max_entries)
    }

    /// The principal of `token` if it was verified with the key set `keys` and its time checks
    /// pass now; `None` to verify it again. A token whose time has passed answers its error.
    #[inline]
    pub(crate) fn get(
        &self,
        token: &str,
        keys: u64,
        leeway: f64,
    ) -> Option<Result<Principal, InvalidToken>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry = entries
            .map
            .get(&entries.slot(token))
            .filter(|entry| entry.keys == keys && *entry.token == *token)?;
        let Verified {
            principal,
            exp,
            nbf,
        } = &entry.verified;
        Some(check_time(*exp, *nbf, now(), leeway).map(|()| principal.clone()))
    }

    /// Keeps `verified`, the outcome of `token` verified with the key set `keys`. When the cache
    /// is full, expired entries go first, then entries picked by the map's seeded order.
    pub(crate) fn insert(&self, token: &str, keys: u64, verified: Verified, leeway: f64) {
        // What the entry holds: the token, the claims, the subject and each scope (with what an
        // allocation costs besides its bytes), and the entry itself.
        let principal = &verified.principal;
        let bytes = token.len()
            + principal.claims_json().map_or(0, str::len)
            + principal.subject().len()
            + principal
                .scopes()
                .map(|scope| scope.len() + 32)
                .sum::<usize>()
            + 256;
        if self.max_entries == 0 || bytes > MAX_BYTES {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let full = |e: &Entries| e.map.len() >= self.max_entries || e.bytes + bytes > MAX_BYTES;
        if full(&entries) {
            let now = now();
            let before = entries.map.len();
            entries
                .map
                .retain(|_, entry| entry.verified.exp >= now - leeway);
            if entries.map.len() != before {
                entries.bytes = entries.map.values().map(|entry| entry.bytes).sum();
            }
        }
        while full(&entries) {
            let Some(&slot) = entries.map.keys().next() else {
                break;
            };
            if let Some(evicted) = entries.map.remove(&slot) {
                entries.bytes -= evicted.bytes;
            }
        }
        let entry = Entry {
            token: token.into(),
            verified,
            keys,
            bytes,
        };
        let slot = entries.slot(token);
        if let Some(replaced) = entries.map.insert(slot, entry) {
            entries.bytes -= replaced.bytes;
        }
        entries.bytes += bytes;
    }

    #[cfg(test)]
    fn len_and_bytes(&self) -> (usize, usize) {
        let entries = self.entries.read().unwrap();
        (entries.map.len(), entries.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(exp: f64) -> Verified {
        Verified {
            principal: Principal::new("alice", ["read"]),
            exp,
            nbf: None,
        }
    }

    #[test]
    fn a_hit_is_the_same_token_verified_with_the_same_keys_and_still_in_time() {
        let cache = Tokens::new(10);
        let later = now() + 3600.0;
        cache.insert("token-a", 1, verified(later), 60.0);
        assert_eq!(
            cache.get("token-a", 1, 60.0).unwrap().unwrap().subject(),
            "alice"
        );
        assert!(cache.get("token-b", 1, 60.0).is_none());
        assert!(cache.get("token-", 1, 60.0).is_none());
        // The key set was refreshed: verify again.
        assert!(cache.get("token-a", 2, 60.0).is_none());
        // Expired since it was verified.
        cache.insert("token-old", 1, verified(now() - 120.0), 60.0);
        assert_eq!(
            cache.get("token-old", 1, 60.0),
            Some(Err(InvalidToken::Expired))
        );
        let early = Verified {
            nbf: Some(now() + 600.0),
            ..verified(later)
        };
        cache.insert("token-early", 1, early, 60.0);
        assert_eq!(
            cache.get("token-early", 1, 60.0),
            Some(Err(InvalidToken::NotYetValid))
        );
    }

    #[test]
    fn stays_within_its_bound_under_a_flood_of_distinct_tokens() {
        let cache = Tokens::new(100);
        let later = now() + 3600.0;
        for i in 0..10_000 {
            cache.insert(&format!("token-{i}"), 1, verified(later), 60.0);
        }
        let (len, bytes) = cache.len_and_bytes();
        assert_eq!(len, 100);
        assert!(bytes <= 100 * ("token-9999".len() + "alice".len() + "read".len() + 32 + 256));
        // The last one is kept: the newest token is the one being used.
        assert!(cache.get("token-9999", 1, 60.0).is_some());
        // Expired entries go first.
        let cache = Tokens::new(2);
        cache.insert("old", 1, verified(now() - 3600.0), 60.0);
        cache.insert("live", 1, verified(later), 60.0);
        cache.insert("new", 1, verified(later), 60.0);
        assert!(cache.get("live", 1, 60.0).is_some());
        assert!(cache.get("new", 1, 60.0).is_some());
        // Off.
        let off = Tokens::new(0);
        off.insert("token-a", 1, verified(later), 60.0);
        assert!(off.get("token-a", 1, 60.0).is_none());
    }
}
