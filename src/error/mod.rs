//! The crate's single error currency: [`ApiError`], its [`ErrorKind`] and [`FieldViolation`].
//!
//! Every layer of the crate reports a failure as an `ApiError`; formats turn it into a vendor's
//! body, and parse a vendor's body back into one.
//!
//! ```
//! use tower_envelope::{ApiError, ErrorKind, FieldViolation};
//! use http::StatusCode;
//!
//! let err = ApiError::new(ErrorKind::MissingParameter, "Parameter name is missing.")
//!     .with_target("name")
//!     .with_violation(FieldViolation::new(["body", "name"], "field required").with_reason("missing"));
//! assert_eq!(err.status(), StatusCode::BAD_REQUEST);
//! assert_eq!(err.kind().slug(), "missing_parameter");
//! ```
//!
//! # Bounded, clean text
//!
//! Every string an `ApiError` stores — message, target, code, violation paths and messages — is
//! cleaned on the way in: control characters (`U+0000`–`U+001F`, `U+007F`–`U+009F`) are removed
//! and the text is cut, on a character boundary, to [`MAX_MESSAGE_LEN`] bytes (messages) or
//! [`MAX_FIELD_LEN`] bytes (everything else). Text that needs no cleaning is kept as given, so a
//! `&'static str` message costs no allocation. Embed a single piece of user input (a path segment,
//! a header value) with [`echo`], which cuts it to [`MAX_ECHO_LEN`] bytes first.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

/// The longest message an [`ApiError`] stores, in bytes; longer text is cut on a char boundary.
pub const MAX_MESSAGE_LEN: usize = 1024;
/// The longest target, code, violation path segment or violation message, in bytes.
pub const MAX_FIELD_LEN: usize = 256;
/// The longest piece of user input that [`echo`] lets into a message, in bytes.
pub const MAX_ECHO_LEN: usize = 128;

mod kind;

pub use kind::ErrorKind;

/// An explicit, vendor-specific error code: text (`"InvalidHashValue"`) or a number (`1002`).
///
/// Text that is the canonical decimal form of an `i64` (`"429"`, `"-5"`) is stored as a number,
/// so `"429"` and `429` are the same code whichever format carried it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// A textual code.
    Text(Cow<'static, str>),
    /// A numeric code.
    Number(i64),
}

impl Code {
    /// The code as text, if it is textual.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Code::Text(t) => Some(t),
            Code::Number(_) => None,
        }
    }

    /// The code as a number, if it is numeric.
    pub fn as_number(&self) -> Option<i64> {
        match self {
            Code::Number(n) => Some(*n),
            Code::Text(_) => None,
        }
    }

    fn from_text(text: Cow<'static, str>) -> Self {
        let text = clean(text, MAX_FIELD_LEN);
        // Only the canonical decimal form of an i64 is a number: "429", "-5"; not "0429", "+5".
        match text.parse::<i64>() {
            Ok(n) if n.to_string() == *text => Code::Number(n),
            _ => Code::Text(text),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Code::Text(t) => f.write_str(t),
            Code::Number(n) => write!(f, "{n}"),
        }
    }
}

impl From<&'static str> for Code {
    fn from(value: &'static str) -> Self {
        Code::from_text(Cow::Borrowed(value))
    }
}

impl From<String> for Code {
    fn from(value: String) -> Self {
        Code::from_text(Cow::Owned(value))
    }
}

impl From<Cow<'static, str>> for Code {
    fn from(value: Cow<'static, str>) -> Self {
        Code::from_text(value)
    }
}

macro_rules! code_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Code {
            fn from(value: $t) -> Self {
                Code::Number(i64::from(value))
            }
        }
    )*};
}
code_from_int!(i8, i16, i32, i64, u8, u16, u32);

/// One invalid field of a request: where it is, what is wrong, and a machine reason.
///
/// The location is a path of segments, first the part of the request (`"body"`, `"query"`,
/// `"path"`, `"header"`), then the field names: `["body", "name"]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    location: Vec<Cow<'static, str>>,
    message: Cow<'static, str>,
    reason: Option<Cow<'static, str>>,
}

impl FieldViolation {
    /// A violation at `location` (e.g. `["body", "name"]`) with a human message.
    pub fn new<I, S>(location: I, message: impl Into<Cow<'static, str>>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        Self {
            location: location
                .into_iter()
                .map(|s| clean(s.into(), MAX_FIELD_LEN))
                .collect(),
            message: clean(message.into(), MAX_FIELD_LEN),
            reason: None,
        }
    }

    /// Sets the machine-readable reason or type, e.g. `"missing"`.
    pub fn with_reason(mut self, reason: impl Into<Cow<'static, str>>) -> Self {
        self.reason = Some(clean(reason.into(), MAX_FIELD_LEN));
        self
    }

    /// The location path.
    pub fn location(&self) -> &[Cow<'static, str>] {
        &self.location
    }

    /// The human message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The machine-readable reason, if set.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

/// An API failure: a kind, a message and optional vendor details.
///
/// Formats render it ([`crate::format::Format`]); layers answer with it in the response
/// extensions; handlers return it (with the `axum` feature it is `IntoResponse`).
///
/// An empty message renders as the chosen format's default message for the kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    kind: ErrorKind,
    status: Option<StatusCode>,
    retry_after: Option<u32>,
    code: Option<Code>,
    message: Cow<'static, str>,
    /// Target, description and violations: behind a pointer so that `Result<T, ApiError>` stays
    /// small and the common errors, which have none of them, allocate nothing for them; shared,
    /// so that a copy of an error (a validator's tag and its deferred body) costs no allocation.
    extra: Option<Arc<Extra>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Extra {
    target: Option<Cow<'static, str>>,
    description: Option<Cow<'static, str>>,
    violations: Vec<FieldViolation>,
}

impl ApiError {
    /// An error of `kind` with `message` (cleaned and bounded, see the module docs).
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            status: None,
            retry_after: None,
            code: None,
            message: clean(message.into(), MAX_MESSAGE_LEN),
            extra: None,
        }
    }

    /// An error of `kind` with one of the crate's own messages (within the bound, with nothing
    /// to clean).
    pub(crate) fn own(kind: ErrorKind, message: &'static str) -> Self {
        debug_assert!(message.len() <= MAX_MESSAGE_LEN && !message.chars().any(is_stripped));
        Self {
            message: Cow::Borrowed(message),
            ..Self::from_kind(kind)
        }
    }

    /// An error of `kind` with an empty message: the format's default message is rendered.
    pub const fn from_kind(kind: ErrorKind) -> Self {
        Self {
            kind,
            status: None,
            retry_after: None,
            code: None,
            message: Cow::Borrowed(""),
            extra: None,
        }
    }

    /// Sets an explicit vendor code (`"InvalidHashValue"`, `1002`), which formats render instead
    /// of their default code for the kind.
    pub fn with_code(mut self, code: impl Into<Code>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Overrides the HTTP status every format would otherwise choose. Statuses below 400 are
    /// ignored: an error is never rendered as a success.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        if status.as_u16() >= 400 {
            self.status = Some(status);
        }
        self
    }

    /// Names the offending field, parameter or header.
    pub fn with_target(mut self, target: impl Into<Cow<'static, str>>) -> Self {
        self.extra_mut().target = Some(clean(target.into(), MAX_FIELD_LEN));
        self
    }

    /// Sets a longer description of this specific error (QRadar's `description` member; the
    /// default is the kind's [`ErrorKind::description`]). Formats without such a member ignore it.
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.extra_mut().description = Some(clean(description.into(), MAX_MESSAGE_LEN));
        self
    }

    /// Adds one field violation.
    pub fn with_violation(mut self, violation: FieldViolation) -> Self {
        self.extra_mut().violations.push(violation);
        self
    }

    /// Adds several field violations.
    pub fn with_violations(mut self, violations: impl IntoIterator<Item = FieldViolation>) -> Self {
        let mut violations = violations.into_iter().peekable();
        if violations.peek().is_some() {
            self.extra_mut().violations.extend(violations);
        }
        self
    }

    fn extra_mut(&mut self) -> &mut Extra {
        Arc::make_mut(self.extra.get_or_insert_with(Default::default))
    }

    /// Asks the client to retry after this delay (`Retry-After`, whole seconds, rounded up).
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        let secs = delay
            .as_secs()
            .saturating_add(u64::from(delay.subsec_nanos() > 0));
        self.retry_after = Some(u32::try_from(secs).unwrap_or(u32::MAX));
        self
    }

    /// Replaces the message (cleaned and bounded).
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = clean(message.into(), MAX_MESSAGE_LEN);
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message; empty when the format's default message is to be used.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message, or `default` when it is empty.
    pub(crate) fn message_or<'a>(&'a self, default: &'a str) -> &'a str {
        match &*self.message {
            "" => default,
            message => message,
        }
    }

    /// The explicit vendor code, if one was set.
    pub fn code(&self) -> Option<&Code> {
        self.code.as_ref()
    }

    /// The status override, if one was set.
    pub fn status_override(&self) -> Option<StatusCode> {
        self.status
    }

    /// The status: the override, or the kind's standard status. (Some formats choose their own
    /// status for a kind; see [`crate::format::Format::status`].)
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or(self.kind.status())
    }

    /// The offending field, parameter or header name, if set.
    pub fn target(&self) -> Option<&str> {
        self.extra.as_ref()?.target.as_deref()
    }

    /// The specific description, if one was set (see [`ApiError::with_description`]).
    pub fn description(&self) -> Option<&str> {
        self.extra.as_ref()?.description.as_deref()
    }

    /// The field violations.
    pub fn violations(&self) -> &[FieldViolation] {
        self.extra.as_ref().map_or(&[], |e| &e.violations)
    }

    /// The retry delay in whole seconds, if set.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after.map(|s| Duration::from_secs(u64::from(s)))
    }

    pub(crate) fn retry_after_secs(&self) -> Option<u32> {
        self.retry_after
    }
}

impl From<ErrorKind> for ApiError {
    fn from(kind: ErrorKind) -> Self {
        Self::from_kind(kind)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.kind.description())
        } else {
            write!(f, "{}: {}", self.kind.name(), self.message)
        }
    }
}

impl std::error::Error for ApiError {}

/// `error` and its sources, outermost first.
pub(crate) fn source_chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// Whether `error` or one of its sources is a `T`.
pub(crate) fn in_source_chain<T: std::error::Error + 'static>(
    error: &(dyn std::error::Error + 'static),
) -> bool {
    source_chain(error).any(|e| e.is::<T>())
}

/// Makes one piece of user input safe to embed in a message: control characters, invisible
/// format characters (bidi controls, zero-width characters) and the noncharacters U+FFFE and
/// U+FFFF removed, and cut
/// on a character boundary to [`MAX_ECHO_LEN`] bytes (`…` marks a cut).
///
/// ```
/// use tower_envelope::error::echo;
/// assert_eq!(echo("ab\r\ncd"), "abcd");
/// assert!(echo(&"x".repeat(1000)).len() <= tower_envelope::error::MAX_ECHO_LEN + 3);
/// ```
pub fn echo(input: &str) -> Cow<'_, str> {
    let cut = floor_char_boundary(input, MAX_ECHO_LEN);
    let needs_mark = cut < input.len();
    let head = &input[..cut];
    if !needs_mark && !head.chars().any(is_stripped) {
        return Cow::Borrowed(head);
    }
    let mut out: String = head.chars().filter(|c| !is_stripped(*c)).collect();
    if needs_mark {
        out.push('…');
    }
    Cow::Owned(out)
}

/// What no echoed text may hold: control characters, the invisible format characters that
/// reorder or hide text (bidi embeddings, overrides, isolates and marks; zero-width characters;
/// the byte-order mark), and the noncharacters U+FFFE and U+FFFF, which XML 1.0 forbids.
fn is_stripped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{FFFE}'
                | '\u{FFFF}'
        )
}

pub(crate) fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Removes what [`echo`] removes and bounds the length; borrows when nothing changes.
pub(crate) fn clean(text: Cow<'static, str>, max: usize) -> Cow<'static, str> {
    if text.len() <= max && !text.chars().any(is_stripped) {
        return text;
    }
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars().filter(|c| !is_stripped(*c)) {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique() {
        for (i, a) in ErrorKind::ALL.iter().enumerate() {
            for b in &ErrorKind::ALL[i + 1..] {
                assert_ne!(a.slug(), b.slug());
                assert_ne!(a.description(), b.description());
            }
            assert_eq!(ErrorKind::from_slug(a.slug()), Some(*a));
            assert_eq!(ErrorKind::from_name(a.name()), Some(*a));
        }
        assert_eq!(ErrorKind::ALL.len(), 42);
    }

    #[test]
    fn clean_strips_controls_and_bounds() {
        let e = ApiError::new(ErrorKind::BadRequest, "a\u{0}b\r\nc\u{7f}d");
        assert_eq!(e.message(), "abcd");
        let long = "é".repeat(MAX_MESSAGE_LEN);
        let e = ApiError::new(ErrorKind::BadRequest, long);
        assert!(e.message().len() <= MAX_MESSAGE_LEN);
        assert!(e.message().chars().all(|c| c == 'é'));
        assert!(matches!(
            ApiError::new(ErrorKind::BadRequest, "static").message,
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn clean_strips_bidi_controls_and_xml_noncharacters() {
        for stripped in [
            '\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{200F}', '\u{200B}',
            '\u{FEFF}', '\u{061C}', '\u{FFFE}', '\u{FFFF}',
        ] {
            let text = format!("Machine {stripped}evil was not found");
            let e = ApiError::new(ErrorKind::NotFound, text.clone());
            assert_eq!(e.message(), "Machine evil was not found", "{stripped:?}");
            assert_eq!(echo(&text), "Machine evil was not found", "{stripped:?}");
        }
        let kept = "Größe 名前 مرحبا \u{FFFD}";
        assert_eq!(ApiError::new(ErrorKind::NotFound, kept).message(), kept);
    }

    #[test]
    fn api_error_stays_small() {
        assert!(std::mem::size_of::<ApiError>() <= 96);
    }

    #[test]
    fn numeric_text_codes_are_numbers() {
        assert_eq!(Code::from("429"), Code::Number(429));
        assert_eq!(Code::from("0429"), Code::Text("0429".into()));
        assert_eq!(Code::from("-5"), Code::Number(-5));
        assert_eq!(Code::from("+5"), Code::Text("+5".into()));
        assert_eq!(Code::from(i64::MAX.to_string()), Code::Number(i64::MAX));
        assert_eq!(
            Code::from("InvalidHashValue").as_text(),
            Some("InvalidHashValue")
        );
        assert_eq!(Code::from(1002u16).as_number(), Some(1002));
    }

    #[test]
    fn status_override_keeps_errors_errors() {
        let e = ApiError::from_kind(ErrorKind::NotFound).with_status(StatusCode::OK);
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
        let e = ApiError::from_kind(ErrorKind::NotFound).with_status(StatusCode::GONE);
        assert_eq!(e.status(), StatusCode::GONE);
    }

    #[test]
    fn retry_after_rounds_up() {
        let e = ApiError::from_kind(ErrorKind::TooManyRequests)
            .with_retry_after(Duration::from_millis(1500));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        let e = ApiError::from_kind(ErrorKind::TooManyRequests).with_retry_after(Duration::MAX);
        assert_eq!(
            e.retry_after(),
            Some(Duration::from_secs(u64::from(u32::MAX)))
        );
    }
}
