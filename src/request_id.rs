//! The correlation id of an error response: the request's own `x-request-id` when it is 1–128
//! visible ASCII characters, or a fresh UUID v4, made only when an error is rendered.
//!
//! A passing request costs nothing here: the layers keep the raw header value (copied inline
//! when short) and validate it only when they render an error.

use arrayvec::ArrayString;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// A correlation id: a request's valid id or a fresh UUID v4, held as text (checked once, when
/// it is made) beside the header value it came from, if any.
#[doc(hidden)]
#[derive(Clone)]
pub struct RequestId {
    // An `ArrayString` rather than bytes: the formats read the id as `&str` on every render, and
    // re-checking its UTF-8 there cost more than the rest of the id's handling.
    text: ArrayString<{ RequestId::MAX_LEN }>,
    /// The request's header value, shared, when the id came from one.
    header: Option<HeaderValue>,
}

impl RequestId {
    /// The longest request id taken from a request.
    pub const MAX_LEN: usize = 128;

    /// Whether `value` may be used as a correlation id: 1–128 visible ASCII characters
    /// (`!`..=`~`), so it can never split a header or carry a control character.
    pub(crate) fn is_valid(value: &[u8]) -> bool {
        !value.is_empty() && value.len() <= Self::MAX_LEN && !crate::ascii::any_invisible(value)
    }

    /// The id in `value`, when it is valid (copied inline).
    pub fn parse(value: &[u8]) -> Option<Self> {
        Self::text(value).map(|text| Self { text, header: None })
    }

    fn text(value: &[u8]) -> Option<ArrayString<{ Self::MAX_LEN }>> {
        if !Self::is_valid(value) {
            return None;
        }
        ArrayString::from(std::str::from_utf8(value).ok()?).ok()
    }

    /// The id in a header value, when it is valid (its text copied, the value shared).
    pub(crate) fn from_value(value: &HeaderValue) -> Option<Self> {
        Self::text(value.as_bytes()).map(|text| Self {
            text,
            header: Some(value.clone()),
        })
    }

    /// The id in header `name` of `headers`, when it is valid: a copy of its text only (the
    /// header stays where it is; sharing its value could cost an allocation).
    pub(crate) fn from_headers(headers: &HeaderMap, name: &HeaderName) -> Option<Self> {
        Self::parse(headers.get(name)?.as_bytes())
    }

    /// A fresh UUID v4, hyphenated, lower case.
    pub(crate) fn generate() -> Self {
        let mut buffer = [0; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
        Self {
            // 36 bytes always fit.
            text: ArrayString::from(text).unwrap_or_default(),
            header: None,
        }
    }

    /// The request's valid id from `value`, or a fresh one.
    pub(crate) fn from_value_or_generate(value: Option<&HeaderValue>) -> Self {
        value
            .and_then(Self::from_value)
            .unwrap_or_else(Self::generate)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The id as a header value: the request's own, shared, or a copy of the text.
    pub(crate) fn to_header_value(&self) -> HeaderValue {
        match &self.header {
            Some(value) => value.clone(),
            // Only visible ASCII is held, so the fallback never happens.
            None => HeaderValue::from_str(&self.text)
                .unwrap_or_else(|_| HeaderValue::from_static("invalid")),
        }
    }
}

/// A request's raw id header, kept by the envelope while the request is served and validated
/// only if an error is rendered. A short value is copied inline: cloning a header value may
/// allocate (one built from a `Vec`, rather than read from a connection's shared buffer, is
/// promoted to a shared buffer on its first clone), and the passing path allocates nothing.
pub(crate) struct RawRequestId(Raw);

/// Ids up to this long (a UUID is 36 bytes) are copied inline: the most that fits, beside the
/// length and the tag, in the room the shared form takes, which keeps the envelope's future small.
const INLINE: usize = 46;

enum Raw {
    Absent,
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(HeaderValue),
}

impl RawRequestId {
    /// Keeps `value` (the request's id header, if any).
    #[inline]
    pub(crate) fn new(value: Option<&HeaderValue>) -> Self {
        Self(match value {
            None => Raw::Absent,
            Some(value) => match value.as_bytes() {
                raw if raw.len() <= INLINE => {
                    let mut bytes = [0; INLINE];
                    bytes[..raw.len()].copy_from_slice(raw);
                    Raw::Inline {
                        len: raw.len() as u8,
                        bytes,
                    }
                }
                _ => Raw::Shared(value.clone()),
            },
        })
    }

    /// The id, when the request had a valid one.
    pub(crate) fn resolve(&self) -> Option<RequestId> {
        match &self.0 {
            Raw::Absent => None,
            Raw::Inline { len, bytes } => RequestId::parse(&bytes[..usize::from(*len)]),
            Raw::Shared(value) => RequestId::from_value(value),
        }
    }

    /// Replaces the kept id with `id` (the one logged for an inner error).
    #[cfg(feature = "tracing")]
    pub(crate) fn set(&mut self, id: &RequestId) {
        self.0 = Raw::Shared(id.to_header_value());
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}
