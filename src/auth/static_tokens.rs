//! [`StaticTokens`]: a fixed set of tokens, looked up by a keyed digest.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use siphasher::sip128::SipHasher13;

use super::{Principal, TokenError, TokenValidator};

/// A fixed set of tokens, each mapped to a [`Principal`]; looked up by a keyed digest.
///
/// Several tokens may map to one principal ([`StaticTokens::principal`]: a primary and a backup
/// token, for rotation). A token may expire ([`StaticTokens::token_expiring_at`]).
///
/// ```
/// use std::time::SystemTime;
/// use tower_envelope::auth::{Principal, StaticTokens, TokenError, TokenValidator};
///
/// let tokens = StaticTokens::new()
///     .token("read-token", ["read"])
///     .token("write-token", ["read", "write"])
///     .token_expiring_at("old-token", ["read"], SystemTime::UNIX_EPOCH)
///     .principal(Principal::new("ci", ["deploy"]), ["ci-primary", "ci-backup"]);
/// assert_eq!(tokens.len(), 5);
/// assert_eq!(tokens.validate("ci-backup").unwrap().subject(), "ci");
/// assert!(tokens.validate("write-token").unwrap().has_scope("write"));
/// assert_eq!(tokens.validate("guess").unwrap_err(), TokenError::Unknown);
/// // Expiry is the layer's check: the validator still names the principal.
/// assert!(tokens.validate("old-token").unwrap().is_expired_at(SystemTime::now()));
/// ```
///
/// # Timing
///
/// Tokens are never stored. At construction each token is reduced to a 128-bit digest: SipHash-1-3
/// under a secret random key drawn once per process. A presented token is hashed the same way,
/// and its digest is looked up in a hash table keyed by the stored digests.
///
/// - Hashing takes a time that depends only on the presented token's length, not on its bytes.
/// - The lookup's time (which slot, how many probes, whether a stored digest is compared) depends
///   only on the digest. Without the key, a digest is unpredictable from the token: a token that
///   differs from a stored one in its last byte, or by one byte of length, has a digest unrelated
///   to the stored one. So however the lookup's time varies, it tells nothing about how close a
///   guess is to a stored token, and nothing about a stored token's content or length.
/// - The cost does not grow with the number of stored tokens.
///
/// The digest equality itself is one fixed-size comparison.
#[derive(Clone)]
pub struct StaticTokens {
    table: Arc<Table>,
}

#[derive(Clone)]
struct Table {
    hasher: SipHasher13,
    /// Principal index by token digest.
    digests: HashMap<Digest, u32, BuildHasherDefault<DigestHasher>>,
    principals: Vec<Principal>,
}

/// A token's keyed 128-bit digest.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Digest(u128);

impl std::hash::Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(self.0);
    }
}

/// Hashes a [`Digest`] for the table: it is already a keyed pseudo-random value, so its low 64
/// bits are the hash.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, value: u128) {
        self.0 ^= value as u64;
    }
}

/// The per-process SipHash key.
///
/// Why keyed SipHash-1-3 and not SHA-256: the digest is fixed-size, a short token hashes several
/// times faster, and the secret random key makes every digest unpredictable, which is what the
/// lookup's timing argument rests on.
fn process_key() -> (u64, u64) {
    static KEY: OnceLock<(u64, u64)> = OnceLock::new();
    *KEY.get_or_init(|| {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            // The OS source failed: fall back to std's randomly seeded hasher keys.
            use std::hash::BuildHasher;
            for (i, chunk) in bytes.chunks_mut(8).enumerate() {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_usize(i);
                chunk.copy_from_slice(&h.finish().to_le_bytes());
            }
        }
        let (k0, k1) = bytes.split_at(8);
        (
            u64::from_le_bytes(k0.try_into().unwrap_or_default()),
            u64::from_le_bytes(k1.try_into().unwrap_or_default()),
        )
    })
}

impl Default for StaticTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl StaticTokens {
    /// An empty set (every token is refused).
    pub fn new() -> Self {
        let (k0, k1) = process_key();
        Self::with_key(k0, k1)
    }

    fn with_key(k0: u64, k1: u64) -> Self {
        Self {
            table: Arc::new(Table {
                hasher: SipHasher13::new_with_keys(k0, k1),
                digests: HashMap::default(),
                principals: Vec::new(),
            }),
        }
    }

    /// Adds `token` for a new principal holding `scopes`, without expiry. Its subject is
    /// `token-N`, N being the principal's 1-based position (never derived from the token).
    ///
    /// # Panics
    ///
    /// When `token` is empty or holds anything but visible ASCII (`!`..=`~`), since no request
    /// could present it, or when it is already registered. The message never shows the token.
    pub fn token<I, S>(self, token: impl AsRef<str>, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        let subject = format!("token-{}", self.table.principals.len() + 1);
        self.principal(Principal::new(subject, scopes), [token])
    }

    /// Adds `token` for a new principal holding `scopes`, expired from `expires_at` on
    /// (`TokenExpired`). Panics like [`StaticTokens::token`].
    pub fn token_expiring_at<I, S>(
        self,
        token: impl AsRef<str>,
        scopes: I,
        expires_at: SystemTime,
    ) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        let subject = format!("token-{}", self.table.principals.len() + 1);
        self.principal(
            Principal::new(subject, scopes).with_expiry(expires_at),
            [token],
        )
    }

    /// Adds `principal` with all of `tokens` (a primary and a backup token, for rotation).
    /// Panics like [`StaticTokens::token`].
    pub fn principal<T>(mut self, principal: Principal, tokens: T) -> Self
    where
        T: IntoIterator,
        T::Item: AsRef<str>,
    {
        let table = Arc::make_mut(&mut self.table);
        let index = u32::try_from(table.principals.len())
            .unwrap_or_else(|_| panic!("StaticTokens: too many principals"));
        table.principals.push(principal);
        for token in tokens {
            let token = token.as_ref().as_bytes();
            let position = table.digests.len() + 1;
            assert!(
                !token.is_empty() && token.iter().all(u8::is_ascii_graphic),
                "StaticTokens: token #{position} is empty or holds characters other than visible ASCII"
            );
            let previous = table.digests.insert(table.digest(token), index);
            assert!(
                previous.is_none(),
                "StaticTokens: token #{position} is registered twice"
            );
        }
        self
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.table.digests.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.table.digests.is_empty()
    }
}

impl Table {
    fn digest(&self, token: &[u8]) -> Digest {
        Digest(self.hasher.hash(token).as_u128())
    }
}

impl StaticTokens {
    #[inline]
    fn find(&self, token: &[u8]) -> Result<&Principal, TokenError> {
        let table = &*self.table;
        let index = table.digests.get(&table.digest(token));
        index
            .and_then(|&i| table.principals.get(i as usize))
            .ok_or(TokenError::Unknown)
    }
}

impl TokenValidator for StaticTokens {
    #[inline]
    fn validate(&self, token: &str) -> Result<Principal, TokenError> {
        self.find(token.as_bytes()).cloned()
    }
}

impl fmt::Debug for StaticTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither tokens (never stored) nor digests are shown: only counts and principals.
        f.debug_struct("StaticTokens")
            .field("tokens", &self.table.digests.len())
            .field("principals", &self.table.principals)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_token_and_only_those() {
        let tokens = StaticTokens::new()
            .token("a", ["r"])
            .principal(Principal::new("two", ["w"]), ["b1", "b2"])
            .token("c", ["x"]);
        assert_eq!(tokens.validate("a").unwrap().subject(), "token-1");
        assert_eq!(tokens.validate("b1").unwrap().subject(), "two");
        assert_eq!(tokens.validate("b2").unwrap().subject(), "two");
        assert_eq!(tokens.validate("c").unwrap().subject(), "token-3");
        for wrong in ["", "A", "b", "b12", "c ", "aa"] {
            assert_eq!(
                tokens.validate(wrong),
                Err(TokenError::Unknown),
                "{wrong:?}"
            );
        }
        assert_eq!(StaticTokens::new().validate("a"), Err(TokenError::Unknown));
    }

    #[test]
    fn shares_the_principal() {
        let tokens = StaticTokens::new().token("a", ["r"]);
        let (p, q) = (tokens.validate("a").unwrap(), tokens.validate("a").unwrap());
        assert!(Arc::ptr_eq(&p.inner, &q.inner));
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn refuses_duplicates() {
        let _ = StaticTokens::new().token("a", ["r"]).token("a", ["w"]);
    }

    #[test]
    #[should_panic(expected = "visible ASCII")]
    fn refuses_unpresentable_tokens() {
        let _ = StaticTokens::new().token("a b", ["r"]);
    }

    #[test]
    fn debug_hides_tokens() {
        let tokens = StaticTokens::new().token("super-secret-token", ["r"]);
        let debug = format!("{tokens:?}");
        assert!(!debug.contains("super-secret-token"), "{debug}");
        assert!(debug.contains("tokens: 1"), "{debug}");
    }
}

/// The lookup's timing argument, checked deterministically: a token is reduced to a keyed digest
/// unrelated to any near miss, and the lookup is a hash table's, keyed by that digest alone.
#[cfg(test)]
mod constant_time {
    use super::*;

    const STORED: &str = "tEsT-sEcReT-7c1f0a9e4b2d8c3a6f5e";

    /// The stored token, then its near misses: last byte changed, one byte longer, one shorter.
    fn presented(stored: &str) -> [String; 4] {
        let mut last = stored.to_owned();
        let byte = last.pop().map_or('a', |c| if c == 'X' { 'Y' } else { 'X' });
        last.push(byte);
        [
            stored.to_owned(),
            last,
            format!("{stored}0"),
            stored[..stored.len() - 1].to_owned(),
        ]
    }

    #[test]
    fn near_misses_are_refused_like_any_unknown_token() {
        let tokens = StaticTokens::new()
            .token(STORED, ["r"])
            .token("other", ["r"]);
        let [exact, misses @ ..] = presented(STORED);
        assert!(tokens.validate(&exact).is_ok());
        for miss in misses.iter().chain([&"x".repeat(STORED.len())]) {
            assert_eq!(tokens.validate(miss), Err(TokenError::Unknown), "{miss}");
        }
    }

    #[test]
    fn a_near_miss_is_a_fixed_size_digest_unrelated_to_the_stored_one() {
        let tokens = StaticTokens::new().token(STORED, ["r"]);
        let table = &*tokens.table;
        let [exact, misses @ ..] = presented(STORED);
        let stored = table.digest(exact.as_bytes()).0;
        assert!(table.digests.contains_key(&Digest(stored)));
        for miss in &misses {
            // What the lookup uses is the 128-bit digest alone, and a near miss's digest shares
            // neither half with the stored one: nothing in the lookup follows how close it is.
            let h = table.digest(miss.as_bytes()).0;
            assert_ne!(h as u64, stored as u64, "{miss}");
            assert_ne!((h >> 64) as u64, (stored >> 64) as u64, "{miss}");
        }
        assert_eq!(std::mem::size_of::<Digest>(), 16);
    }

    #[test]
    fn the_digest_is_keyed() {
        let a = StaticTokens::with_key(1, 2);
        let b = StaticTokens::with_key(3, 4);
        assert_ne!(
            a.table.digest(STORED.as_bytes()).0,
            b.table.digest(STORED.as_bytes()).0
        );
    }
}
