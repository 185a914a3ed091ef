//! Header lookups shared by the layers.
//!
//! A request carries a handful of headers: comparing the names of a small map in one pass costs
//! less than two map lookups, which hash each name first. Larger maps use the lookups.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Maps with more values than this are searched by hashing.
const SCAN: usize = 16;

/// The first values of headers `a` and `b`, in one pass. Inlined, so that a constant `b`
/// (`Content-Type`) is compared as the constant it is: the cheaper test runs first.
#[inline(always)]
pub(crate) fn first_two<'h>(
    headers: &'h HeaderMap,
    a: &HeaderName,
    b: &HeaderName,
) -> (Option<&'h HeaderValue>, Option<&'h HeaderValue>) {
    if headers.len() > SCAN || a == b {
        return (headers.get(a), headers.get(b));
    }
    let (mut first, mut second) = (None, None);
    for (name, value) in headers {
        if name == b {
            second = second.or(Some(value));
        } else if name == a {
            first = first.or(Some(value));
        }
    }
    (first, second)
}

/// The value of header `name` when it has exactly one, `Err(())` when it has several: one map
/// lookup, and a second only when some header of the map has several values.
#[inline]
pub(crate) fn single<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h HeaderValue>, ()> {
    let value = headers.get(name);
    // A name with several values makes the map longer than its count of names.
    if value.is_some()
        && headers.len() != headers.keys_len()
        && headers.get_all(name).iter().nth(1).is_some()
    {
        return Err(());
    }
    Ok(value)
}
