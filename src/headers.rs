//! Header lookups shared by the layers.

use http::header::{HeaderMap, HeaderName, HeaderValue};

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
    use http::header::{HeaderName, CONTENT_TYPE, HOST};

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
    fn single_tells_one_value_from_several() {
        let headers = map(2, &[("content-type", "a/b"), ("authorization", "x")]);
        assert_eq!(single(&headers, &CONTENT_TYPE).unwrap().unwrap(), "a/b");
        assert_eq!(single(&headers, &HOST), Ok(None));
        let headers = map(2, &[("content-type", "a/b"), ("content-type", "c/d")]);
        assert_eq!(single(&headers, &CONTENT_TYPE), Err(()));
    }
}
