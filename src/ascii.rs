//! Byte-class scans over short texts (messages, codes, ids), eight bytes at a time.
//!
//! Hand-written because the texts are short: a byte-by-byte loop (or one the compiler vectorizes
//! only past 16 or 32 bytes) costs several instructions a byte, a word test a few per word.

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether a byte of `x` is below `n` (for `n <= 0x80`).
#[inline(always)]
pub(crate) const fn below(x: u64, n: u8) -> bool {
    x.wrapping_sub(ONES * n as u64) & !x & HIGH != 0
}

/// Whether a byte of `x` equals `b`.
#[inline(always)]
pub(crate) const fn equal(x: u64, b: u8) -> bool {
    below(x ^ (ONES * b as u64), 1)
}

/// Whether a byte of `x` is `DEL` (0x7f) or not ASCII (0x80 and above).
#[inline(always)]
pub(crate) const fn del_or_high(x: u64) -> bool {
    // A byte of 0x7f becomes 0x80; the carry out of a byte of 0xff is already caught by `x`.
    (x | x.wrapping_add(ONES)) & HIGH != 0
}

/// Whether a byte of `bytes` is in the class that `word` finds in eight bytes and `byte` in one:
/// whole words, then the last eight bytes (overlapping the words before), or byte by byte when
/// there are fewer than eight.
#[inline(always)]
pub(crate) fn any(bytes: &[u8], word: impl Fn(u64) -> bool, byte: impl Fn(u8) -> bool) -> bool {
    let n = bytes.len();
    if n < 8 {
        return bytes.iter().any(|&b| byte(b));
    }
    let load = |w: &[u8]| u64::from_ne_bytes(w.try_into().unwrap_or_default());
    let mut words = bytes.chunks_exact(8);
    let mut found = false;
    for w in &mut words {
        found |= word(load(w));
    }
    found | word(load(&bytes[n - 8..]))
}

/// Whether `bytes` holds a byte that is not printable ASCII (`' '..='~'`).
pub(crate) fn any_unprintable(bytes: &[u8]) -> bool {
    any(
        bytes,
        |x| below(x, 0x20) | del_or_high(x),
        |b| !(0x20..0x7f).contains(&b),
    )
}

/// Whether `bytes` holds a byte that is not visible ASCII (`'!'..='~'`).
pub(crate) fn any_invisible(bytes: &[u8]) -> bool {
    any(
        bytes,
        |x| below(x, 0x21) | del_or_high(x),
        |b| !(0x21..0x7f).contains(&b),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value at every position of texts up to 24 bytes, against the byte tests.
    #[test]
    fn word_scans_agree_with_byte_tests() {
        let escape = |b: u8| b < 0x20 || b == b'"' || b == b'\\';
        for len in 1..24 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    assert_eq!(any_unprintable(&bytes), !(0x20..0x7f).contains(&b));
                    assert_eq!(any_invisible(&bytes), !(0x21..0x7f).contains(&b));
                    let found = any(
                        &bytes,
                        |x| below(x, 0x20) | equal(x, b'"') | equal(x, b'\\'),
                        escape,
                    );
                    assert_eq!(found, escape(b), "{len} {at} {b:#04x}");
                }
            }
        }
        assert!(!any_unprintable(b""));
    }
}
