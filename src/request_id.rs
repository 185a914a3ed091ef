//! The correlation id of an error response: the request's own `x-request-id` when it is 1–128
//! visible ASCII characters, or a fresh UUID v4, made only when an error is rendered.
//!
//! A passing request costs nothing here but a clone of the raw header value (parsed header
//! values share the connection's buffer: cloning one does not allocate); it is validated only
//! when an error is rendered.

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// A correlation id: a request's valid id or a fresh UUID v4, checked once, when it is made.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(HeaderValue);

impl RequestId {
    /// The longest request id taken from a request.
    pub(crate) const MAX_LEN: usize = 128;

    /// The id in a header value, when it may be used as a correlation id: 1–128 visible ASCII
    /// characters (`!`..=`~`), so it can never split a header or carry a control character.
    pub(crate) fn from_value(value: &HeaderValue) -> Option<Self> {
        let bytes = value.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= Self::MAX_LEN
            && bytes.iter().all(u8::is_ascii_graphic);
        valid.then(|| Self(value.clone()))
    }

    /// The id in header `name` of `headers`, when it is valid.
    pub(crate) fn from_headers(headers: &HeaderMap, name: &HeaderName) -> Option<Self> {
        headers.get(name).and_then(Self::from_value)
    }

    /// A fresh UUID v4, hyphenated, lower case.
    pub(crate) fn generate() -> Self {
        let mut buffer = uuid::Uuid::encode_buffer();
        let uuid = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
        Self(HeaderValue::from_str(uuid).expect("a UUID is a valid header value"))
    }

    /// The request's valid id from `value`, or a fresh one.
    pub(crate) fn from_value_or_generate(value: Option<&HeaderValue>) -> Self {
        value
            .and_then(Self::from_value)
            .unwrap_or_else(Self::generate)
    }

    /// The id.
    pub(crate) fn as_str(&self) -> &str {
        // Visible ASCII only, as checked when it was made.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value, shared.
    pub(crate) fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }

    /// The id as a header value.
    pub(crate) fn into_header_value(self) -> HeaderValue {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_visible_ascii_up_to_128_bytes() {
        for b in 0..=255u8 {
            let Ok(value) = HeaderValue::from_bytes(&[b'a', b, b'c']) else {
                continue;
            };
            assert_eq!(
                RequestId::from_value(&value).is_some(),
                (0x21..=0x7e).contains(&b),
                "byte {b:#04x}"
            );
        }
        let max = HeaderValue::try_from("a".repeat(128)).unwrap();
        assert_eq!(RequestId::from_value(&max).unwrap().as_str().len(), 128);
        let over = HeaderValue::try_from("a".repeat(129)).unwrap();
        assert!(RequestId::from_value(&over).is_none());
        assert!(RequestId::from_value(&HeaderValue::from_static("")).is_none());
        assert_eq!(RequestId::generate().as_str().len(), 36);
    }
}
