//! [`UrlEncodingLayer`]: rejects request URLs that are not properly percent-encoded.
//!
//! Every request's raw path and query are checked against RFC 3986 (§2.1, §3.3, §3.4):
//!
//! - every `%` is followed by two hexadecimal digits;
//! - the path holds only unreserved characters (`A`–`Z`, `a`–`z`, `0`–`9`, `-`, `.`, `_`, `~`),
//!   sub-delims (`!`, `$`, `&`, `'`, `(`, `)`, `*`, `+`, `,`, `;`, `=`), `:`, `@`, `/` and
//!   percent-encodings; the query may also hold `?`.
//!
//! `http::Uri` lets through `"`, `[`, `\`, `]`, `^`, `` ` ``, `{`, `|`, `}` (some in the path,
//! some in the query) and raw non-ASCII characters, so these reach a service behind hyper; this
//! layer rejects them.
//!
//! Options ([`UrlEncodingLayer`]'s builder methods):
//!
//! | option | default | rejects |
//! |---|---|---|
//! | [`reject_encoded_controls`](UrlEncodingLayer::reject_encoded_controls) | on | `%00`–`%1F` and `%7F`, in the path and in the query |
//! | [`require_utf8_path`](UrlEncodingLayer::require_utf8_path) | on | a path whose percent-decoded bytes are not UTF-8 (`%C3%28`) |
//! | [`reject_encoded_slash`](UrlEncodingLayer::reject_encoded_slash) | off | `%2F` / `%2f` in the path |
//! | [`reject_dot_segments`](UrlEncodingLayer::reject_dot_segments) | off | path segments `.` and `..`, also percent-encoded (`%2e%2E`) |
//!
//! A rejection is an [`ErrorKind::InvalidUrl`] (400) whose message names the offending sequence
//! and its byte offset (counted from 0) in the path or in the query, e.g.
//! `invalid percent-encoding "%zz" at byte 8 of the path`. Without an `ErrorEnvelopeLayer`
//! above, it is rendered as RFC 9457 problem details; the [`ApiError`] is in the response
//! extensions either way. The check borrows the URI and allocates nothing for a valid URL.
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use bytes::Bytes;
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_envelope::{ApiError, ErrorKind, UrlEncodingLayer};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let service = ServiceBuilder::new()
//!     .layer(UrlEncodingLayer::new())
//!     .service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
//!     });
//!
//! let request = Request::builder().uri("/api/v1/%zz").body(Full::default()).unwrap();
//! let response = service.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::BAD_REQUEST);
//! let error = response.extensions().get::<ApiError>().unwrap();
//! assert_eq!(error.kind(), ErrorKind::InvalidUrl);
//! assert_eq!(error.message(), r#"invalid percent-encoding "%zz" at byte 8 of the path"#);
//!
//! let request = Request::builder().uri("/api/v1/caf%C3%A9?q=a%20b").body(Full::default()).unwrap();
//! assert_eq!(service.oneshot(request).await.unwrap().status(), StatusCode::OK);
//! # });
//! ```

use std::convert::Infallible;
use std::fmt;

use http::{Request, Uri};
use tower_layer::Layer;

use crate::check::{Check, Rejection, Validate, Verdict};
use crate::error::{echo, ApiError, ErrorKind};

// Hand-written on purpose. The check must borrow `uri.path()`/`uri.query()` and allocate nothing,
// report the exact offending sequence and its offset, and also look at the *decoded* octets
// (encoded controls, UTF-8 of the decoded path, `%2F`, encoded dot segments). `http::Uri`
// deliberately accepts the characters listed in the module docs; `percent-encoding` only
// decodes (lossily, or into a `Cow` that may allocate) and never rejects; the URI parsers that do
// validate a borrowed string without allocating (`fluent-uri`) validate a whole URI reference,
// would read a path such as `//x` as an authority, report only a position and a coarse kind,
// and know nothing of the decoded-octet rules, which need the same byte walk anyway. One
// 256-entry table and one pass over the bytes are simpler than any of these plus glue, and
// cost no dependency. (The tests cross-check the syntax rules against `fluent-uri`.)

/// The byte may appear unencoded in a path.
const PATH: u8 = 1;
/// The byte may appear unencoded in a query.
const QUERY: u8 = 2;

/// RFC 3986 character classes of every byte value; `%` is handled before the table is read.
static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        // pchar = unreserved / pct-encoded / sub-delims / ":" / "@"
        let pchar = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
            );
        table[i] = if pchar || b == b'/' {
            PATH | QUERY
        } else if b == b'?' {
            QUERY
        } else {
            0
        };
        i += 1;
    }
    table
}

const fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Validates request URLs against RFC 3986; see the [module docs](self).
///
/// A small `Copy` configuration: with the defaults ([`UrlEncodingLayer::new`]) encoded control
/// characters and percent-encoded bytes that are not UTF-8 in the path are rejected; `%2F` and dot
/// segments are allowed; any length is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlEncodingLayer {
    reject_encoded_controls: bool,
    require_utf8_path: bool,
    reject_encoded_slash: bool,
    reject_dot_segments: bool,
    /// The longest request target accepted, if one is set.
    pub(crate) max_length: Option<usize>,
}

impl Default for UrlEncodingLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl UrlEncodingLayer {
    /// The RFC 3986 check with the default options: encoded control characters rejected, the
    /// decoded path required to be UTF-8, `%2F` and dot segments allowed.
    pub const fn new() -> Self {
        Self {
            reject_encoded_controls: true,
            require_utf8_path: true,
            reject_encoded_slash: false,
            reject_dot_segments: false,
            max_length: None,
        }
    }

    /// Answers [`ErrorKind::UriTooLong`] (414) to a request whose target (path and query) is
    /// longer than `bytes`, before anything else of it is read: "The request URI is 9000 bytes
    /// long; at most 8192 are accepted." Off by default.
    pub const fn max_length(mut self, bytes: usize) -> Self {
        self.max_length = Some(bytes);
        self
    }

    /// Rejects percent-encoded control characters (`%00`–`%1F`, `%7F`) in the path and in the
    /// query. On by default.
    pub const fn reject_encoded_controls(mut self, reject: bool) -> Self {
        self.reject_encoded_controls = reject;
        self
    }

    /// Requires the percent-decoded path to be valid UTF-8 (so `%C3%28`, overlong forms and
    /// encoded surrogates are rejected). The query is not checked: form-encoded queries may use
    /// other charsets. On by default.
    pub const fn require_utf8_path(mut self, require: bool) -> Self {
        self.require_utf8_path = require;
        self
    }

    /// Rejects an encoded slash (`%2F`, `%2f`) in the path, which routers and proxies disagree
    /// about. The query is not checked. Off by default.
    pub const fn reject_encoded_slash(mut self, reject: bool) -> Self {
        self.reject_encoded_slash = reject;
        self
    }

    /// Rejects dot segments (`.` and `..`, also percent-encoded as `%2E`) in the path, which
    /// `http::Uri` does not remove. Segments such as `.well-known` or `...` are not dot segments.
    /// Off by default.
    pub const fn reject_dot_segments(mut self, reject: bool) -> Self {
        self.reject_dot_segments = reject;
        self
    }

    /// Checks a URI's path and query with this configuration, as the layer does.
    ///
    /// ```
    /// use tower_envelope::url_encoding::{UrlEncodingLayer, UrlErrorKind};
    ///
    /// let uri = "/files/a%7Cb?q={x}".parse().unwrap();
    /// let err = UrlEncodingLayer::new().check(&uri).unwrap_err();
    /// assert_eq!(err.kind(), UrlErrorKind::UnencodedCharacter);
    /// assert_eq!(err.position(), 15); // in "/files/a%7Cb?q={x}"
    /// assert_eq!(err.to_string(), r#"character "{" at byte 2 of the query must be percent-encoded as "%7B""#);
    /// ```
    #[inline]
    pub fn check(&self, uri: &Uri) -> Result<(), UrlError> {
        // Fast path (the stack's guard rail shows it): one pass over path and query together,
        // every byte one a query may hold unencoded, so nothing to decode. The path ends at the
        // first `?` and the other query bytes are the path's; dot segments are the scan's.
        if !self.reject_dot_segments {
            if let Some(text) = uri.path_and_query().map(|pq| pq.as_str()) {
                if text
                    .bytes()
                    .fold(QUERY, |all, b| all & CLASSES[usize::from(b)])
                    != 0
                {
                    return Ok(());
                }
            }
        }
        self.check_path_and_query(uri.path(), uri.query())
    }

    /// Checks a raw path and query (the query without its `?`) with this configuration.
    ///
    /// Useful for input that never went through `http::Uri` (which rejects some bytes itself).
    pub fn check_path_and_query(&self, path: &str, query: Option<&str>) -> Result<(), UrlError> {
        self.scan(path, UrlPart::Path)?;
        match query {
            Some(query) => self.scan(query, UrlPart::Query).map_err(|mut error| {
                error.position += path.len() + 1;
                error
            }),
            None => Ok(()),
        }
    }

    fn scan(&self, text: &str, part: UrlPart) -> Result<(), UrlError> {
        let bytes = text.as_bytes();
        let is_path = part == UrlPart::Path;
        let class = if is_path { PATH } else { QUERY };
        let check_utf8 = is_path && self.require_utf8_path;
        let mut utf8 = Utf8::default();
        let mut segment = 0;
        let mut i = 0;
        // `i` only ever advances over ASCII bytes, so it is always on a char boundary.
        while let Some(&b) = bytes.get(i) {
            let (octet, width) = if b == b'%' {
                let high = bytes.get(i + 1).copied().and_then(hex);
                let low = bytes.get(i + 2).copied().and_then(hex);
                match (high, low) {
                    (Some(high), Some(low)) => ((high << 4) | low, 3),
                    _ => {
                        let end = bytes.len().min(i + 3);
                        return Err(UrlError::new(
                            UrlErrorKind::InvalidPercentEncoding,
                            part,
                            i,
                            bytes.get(i..end).unwrap_or_default(),
                        ));
                    }
                }
            } else if CLASSES[usize::from(b)] & class != 0 {
                (b, 1)
            } else {
                let rest = text.get(i..).unwrap_or_default();
                let len = rest.chars().next().map_or(1, char::len_utf8);
                return Err(UrlError::new(
                    UrlErrorKind::UnencodedCharacter,
                    part,
                    i,
                    bytes.get(i..i + len).unwrap_or_default(),
                ));
            };
            let token = bytes.get(i..i + width).unwrap_or_default();
            if width == 3 {
                if self.reject_encoded_controls && (octet < 0x20 || octet == 0x7f) {
                    return Err(UrlError::new(UrlErrorKind::EncodedControl, part, i, token));
                }
                if is_path && self.reject_encoded_slash && octet == b'/' {
                    return Err(UrlError::new(UrlErrorKind::EncodedSlash, part, i, token));
                }
            } else if is_path && b == b'/' {
                self.check_segment(bytes, segment, i)?;
                segment = i + 1;
            }
            if check_utf8 {
                if let Err(start) = utf8.push(octet, i) {
                    return Err(UrlError::new(
                        UrlErrorKind::InvalidUtf8,
                        part,
                        start,
                        bytes.get(start..i + width).unwrap_or_default(),
                    ));
                }
            }
            i += width;
        }
        if check_utf8 {
            if let Err(start) = utf8.finish() {
                return Err(UrlError::new(
                    UrlErrorKind::InvalidUtf8,
                    part,
                    start,
                    bytes.get(start..).unwrap_or_default(),
                ));
            }
        }
        if is_path {
            self.check_segment(bytes, segment, bytes.len())?;
        }
        Ok(())
    }

    fn check_segment(&self, path: &[u8], start: usize, end: usize) -> Result<(), UrlError> {
        let segment = path.get(start..end).unwrap_or_default();
        if self.reject_dot_segments && is_dot_segment(segment) {
            return Err(UrlError::new(
                UrlErrorKind::DotSegment,
                UrlPart::Path,
                start,
                segment,
            ));
        }
        Ok(())
    }
}

/// True for a segment that decodes to `.` or `..`.
fn is_dot_segment(segment: &[u8]) -> bool {
    let mut dots = 0;
    let mut rest = segment;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', e, tail @ ..] if e.eq_ignore_ascii_case(&b'e') => tail,
            _ => return false,
        };
        dots += 1;
        if dots > 2 {
            return false;
        }
    }
    dots > 0
}

/// A streaming UTF-8 validator over decoded octets (RFC 3629 table 3-7: no overlong forms, no
/// surrogates, nothing above U+10FFFF).
#[derive(Default)]
struct Utf8 {
    /// Continuation bytes still expected.
    need: u8,
    /// Bounds of the next continuation byte.
    low: u8,
    high: u8,
    /// Offset of the current sequence's lead byte.
    start: usize,
}

impl Utf8 {
    /// Feeds one decoded octet found at offset `at`; on error, the offset of the invalid
    /// sequence.
    fn push(&mut self, octet: u8, at: usize) -> Result<(), usize> {
        if self.need == 0 {
            let (need, low, high) = match octet {
                0x00..=0x7f => return Ok(()),
                0xc2..=0xdf => (1, 0x80, 0xbf),
                0xe0 => (2, 0xa0, 0xbf),
                0xe1..=0xec | 0xee..=0xef => (2, 0x80, 0xbf),
                0xed => (2, 0x80, 0x9f),
                0xf0 => (3, 0x90, 0xbf),
                0xf1..=0xf3 => (3, 0x80, 0xbf),
                0xf4 => (3, 0x80, 0x8f),
                _ => return Err(at),
            };
            *self = Self {
                need,
                low,
                high,
                start: at,
            };
            Ok(())
        } else if (self.low..=self.high).contains(&octet) {
            self.need -= 1;
            self.low = 0x80;
            self.high = 0xbf;
            Ok(())
        } else {
            Err(self.start)
        }
    }

    fn finish(&self) -> Result<(), usize> {
        if self.need == 0 {
            Ok(())
        } else {
            Err(self.start)
        }
    }
}

/// The part of the URL where a [`UrlError`] was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum UrlPart {
    /// The path (`uri.path()`).
    Path,
    /// The query, without its `?` (`uri.query()`).
    Query,
}

impl UrlPart {
    /// `"path"` or `"query"`.
    const fn as_str(self) -> &'static str {
        match self {
            UrlPart::Path => "path",
            UrlPart::Query => "query",
        }
    }
}

impl fmt::Display for UrlPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlErrorKind {
    /// A `%` not followed by two hexadecimal digits (`%zz`, `%2` at the end).
    InvalidPercentEncoding,
    /// A character that must be percent-encoded (`{`, `|`, a raw `é`).
    UnencodedCharacter,
    /// A percent-encoded control character (`%00`–`%1F`, `%7F`).
    EncodedControl,
    /// Percent-encoded bytes of the path that are not UTF-8 (`%C3%28`).
    InvalidUtf8,
    /// An encoded slash (`%2F`) in the path.
    EncodedSlash,
    /// A dot segment (`.` or `..`) in the path.
    DotSegment,
}

/// Why a URL was rejected: the [kind](UrlErrorKind) of problem, the byte offset (from 0) of the
/// offending sequence in the path and query, and the sequence itself (at most 12 bytes).
///
/// Its `Display` is the message of the [`ApiError`] the layer answers with; the sequence is
/// quoted with control bytes, invalid UTF-8 and non-alphanumeric non-ASCII characters escaped
/// (`\x00`, `\u{202e}`), so a message never carries a raw control byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UrlError {
    kind: UrlErrorKind,
    part: UrlPart,
    /// In the path and query.
    position: usize,
    /// In the part.
    in_part: usize,
    sequence: [u8; UrlError::MAX_SEQUENCE],
    len: u8,
}

impl UrlError {
    const MAX_SEQUENCE: usize = 12;

    fn new(kind: UrlErrorKind, part: UrlPart, position: usize, sequence: &[u8]) -> Self {
        let len = sequence.len().min(Self::MAX_SEQUENCE);
        let mut bytes = [0; Self::MAX_SEQUENCE];
        bytes[..len].copy_from_slice(&sequence[..len]);
        Self {
            kind,
            part,
            position,
            in_part: position,
            sequence: bytes,
            len: len as u8,
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> UrlErrorKind {
        self.kind
    }

    /// The byte offset, counted from 0, of the offending sequence in the path and query
    /// (`/a?b{` has its `{` at 4). The message counts from the start of the path or of the
    /// query (`at byte 1 of the query`).
    pub fn position(&self) -> usize {
        self.position
    }

    /// The offending bytes as they appear in the URL (`%zz`, `{`, `%C3%28`, `..`).
    pub fn sequence(&self) -> &[u8] {
        &self.sequence[..usize::from(self.len)]
    }
}

impl fmt::Debug for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlError")
            .field("kind", &self.kind)
            .field("part", &self.part)
            .field("position", &self.position)
            .field("sequence", &Escaped(self.sequence()).to_string())
            .finish()
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let escaped = Escaped(self.sequence()).to_string();
        let seq = echo(&escaped);
        let (pos, part) = (self.in_part, self.part);
        match self.kind {
            UrlErrorKind::InvalidPercentEncoding => {
                write!(
                    f,
                    "invalid percent-encoding \"{seq}\" at byte {pos} of the {part}"
                )
            }
            UrlErrorKind::UnencodedCharacter => {
                write!(
                    f,
                    "character \"{seq}\" at byte {pos} of the {part} must be percent-encoded as \""
                )?;
                for b in self.sequence() {
                    write!(f, "%{b:02X}")?;
                }
                f.write_str("\"")
            }
            UrlErrorKind::EncodedControl => {
                write!(
                    f,
                    "encoded control character \"{seq}\" at byte {pos} of the {part}"
                )
            }
            UrlErrorKind::InvalidUtf8 => write!(
                f,
                "percent-encoded sequence \"{seq}\" at byte {pos} of the {part} is not valid UTF-8"
            ),
            UrlErrorKind::EncodedSlash => {
                write!(f, "encoded slash \"{seq}\" at byte {pos} of the {part}")
            }
            UrlErrorKind::DotSegment => {
                write!(f, "dot segment \"{seq}\" at byte {pos} of the {part}")
            }
        }
    }
}

impl std::error::Error for UrlError {}

impl From<UrlError> for ApiError {
    fn from(error: UrlError) -> Self {
        ApiError::new(ErrorKind::InvalidUrl, error.to_string()).with_target(error.part.as_str())
    }
}

/// Writes bytes for a quoted message: visible ASCII and alphanumeric characters as they are,
/// `"` and `\` backslash-escaped, other characters as `\u{..}`, bytes that are not UTF-8 as `\x..`.
struct Escaped<'a>(&'a [u8]);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '"' | '\\' => write!(f, "\\{c}")?,
                    '!'..='~' => write!(f, "{c}")?,
                    c if !c.is_ascii() && c.is_alphanumeric() => write!(f, "{c}")?,
                    c if c.is_ascii() => write!(f, "\\x{:02X}", c as u32)?,
                    c => write!(f, "\\u{{{:x}}}", c as u32)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02X}")?;
            }
        }
        Ok(())
    }
}

impl<S> Layer<S> for UrlEncodingLayer {
    type Service = Validate<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        Validate::new(inner, *self)
    }
}

impl<S, B> Check<S, B> for UrlEncodingLayer {
    type Body = B;
    type Pass = ();
    type Later = Infallible;

    #[inline]
    fn check(&self, request: &mut Request<B>) -> Verdict<(), Infallible> {
        if let Some(max) = self.max_length {
            let length = request
                .uri()
                .path_and_query()
                .map_or(0, |pq| pq.as_str().len());
            if length > max {
                let error = ApiError::new(
                    ErrorKind::UriTooLong,
                    format!("The request URI is {length} bytes long; at most {max} are accepted."),
                );
                return Verdict::Reject(Rejection::new(error, request.headers()));
            }
        }
        match UrlEncodingLayer::check(self, request.uri()) {
            Ok(()) => Verdict::Pass(()),
            Err(error) => Verdict::Reject(Rejection::new(error.into(), request.headers())),
        }
    }

    fn pass(&self, (): (), request: Request<B>) -> Request<B> {
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_rfc_3986() {
        let path: String = (0u8..=127)
            .filter(|b| CLASSES[usize::from(*b)] & PATH != 0)
            .map(char::from)
            .collect();
        assert_eq!(
            path,
            "!$&'()*+,-./0123456789:;=@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
        );
        let query_only: Vec<u8> = (0u8..=255)
            .filter(|b| CLASSES[usize::from(*b)] == QUERY)
            .collect();
        assert_eq!(query_only, b"?");
        assert!((128..=255).all(|b| CLASSES[b] == 0));
    }

    #[test]
    fn dot_segments() {
        for seg in [".", "..", "%2e", "%2E%2e", ".%2E", "%2e."] {
            assert!(is_dot_segment(seg.as_bytes()), "{seg}");
        }
        for seg in [
            "",
            "...",
            ".well-known",
            "%2e%2e%2e",
            "a",
            "%2",
            "%2f",
            ".%",
        ] {
            assert!(!is_dot_segment(seg.as_bytes()), "{seg}");
        }
    }

    #[test]
    fn utf8_matches_std() {
        // Every one- and two-byte sequence and a sample of longer ones agree with std.
        let mut samples: Vec<Vec<u8>> = (0u8..=255).map(|a| vec![a]).collect();
        for a in 0u8..=255 {
            for b in 0u8..=255 {
                samples.push(vec![a, b]);
            }
        }
        for lead in [0xe0u8, 0xed, 0xef, 0xf0, 0xf4, 0xf5] {
            for b in [0x7fu8, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0] {
                samples.push(vec![lead, b, 0x80]);
                samples.push(vec![lead, b, 0x80, 0x80]);
            }
        }
        for bytes in samples {
            let mut utf8 = Utf8::default();
            let ours = bytes
                .iter()
                .enumerate()
                .try_for_each(|(i, b)| utf8.push(*b, i))
                .and_then(|()| utf8.finish())
                .is_ok();
            assert_eq!(ours, std::str::from_utf8(&bytes).is_ok(), "{bytes:x?}");
        }
    }
}
