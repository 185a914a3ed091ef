//! Header lookups shared by the layers.
//!
//! A request carries a handful of headers: comparing the names of a small map in one pass costs
//! less than two map lookups, or than one lookup of a custom name, which is hashed byte by byte.
//! Larger maps use the lookups.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Maps with more values than this are searched by hashing for two names...
const SCAN: usize = 16;
/// ...and maps with more than this for one custom name.
const SCAN_ONE: usize = 6;

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

/// The first value of header `name`, a custom name (`x-request-id`) as a rule: found by comparing
/// names in a small map, by hashing in a larger one. (A standard name hashes cheaply: a lookup
/// beats a scan of more than three or four headers.)
#[inline(always)]
pub(crate) fn first<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h HeaderValue> {
    if headers.len() > SCAN_ONE {
        return headers.get(name);
    }
    headers
        .iter()
        .find_map(|(other, value)| (other == name).then_some(value))
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_TYPE, HOST};

    /// A map of `n` distinct custom names, then the given entries.
    fn map(n: usize, entries: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for i in 0..n {
            headers.insert(
                HeaderName::try_from(format!("x-filler-{i}")).unwrap(),
                HeaderValue::from(i),
            );
        }
        for &(name, value) in entries {
            headers.append(name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn scans_and_lookups_find_the_same_first_values() {
        let id = HeaderName::from_static("x-request-id");
        let entries = [
            ("host", "api.example.com"),
            ("x-request-id", "first"),
            ("content-type", "application/json"),
            ("x-request-id", "second"),
        ];
        // Below, at and above both scan bounds.
        for n in [0, 1, SCAN_ONE, SCAN_ONE + 1, SCAN, SCAN + 1] {
            let headers = map(n, &entries);
            let at = |name: &HeaderName| headers.get(name).map(|v| v.to_str().unwrap());
            assert_eq!(first(&headers, &id).map(|v| v.to_str().unwrap()), at(&id));
            assert_eq!(at(&id), Some("first"));
            assert_eq!(first(&headers, &HOST), headers.get(HOST), "{n}");
            let (a, b) = first_two(&headers, &id, &CONTENT_TYPE);
            assert_eq!((a, b), (headers.get(&id), headers.get(CONTENT_TYPE)), "{n}");
            let absent = HeaderName::from_static("x-absent");
            assert_eq!(first(&headers, &absent), None);
            assert_eq!(first_two(&headers, &absent, &HOST).0, None);
        }
    }

    #[test]
    fn single_tells_one_value_from_several() {
        let headers = map(2, &[("content-type", "a/b"), ("authorization", "x")]);
        assert_eq!(single(&headers, &CONTENT_TYPE).unwrap().unwrap(), "a/b");
        assert_eq!(single(&headers, &HOST), Ok(None));
        let headers = map(2, &[("content-type", "a/b"), ("content-type", "c/d")]);
        assert_eq!(single(&headers, &CONTENT_TYPE), Err(()));
    }
}
