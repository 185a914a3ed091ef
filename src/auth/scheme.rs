//! Where a token travels and how it is read: [`Scheme`] and the precise `CredentialsError`.
//!
//! Parsing borrows the header value ([`HeaderValue::as_bytes`](http::HeaderValue::as_bytes)), never allocates and never
//! panics. Each defect the EdgeCast checklist names (missing header, wrong syntax, quotes, extra
//! characters) is its own `CredentialsError` variant, and no message ever contains the token.

use std::borrow::Cow;
use std::fmt;

#[cfg(test)]
use http::header::HeaderValue;
use http::header::{HeaderName, AUTHORIZATION};
use http::HeaderMap;

/// Where the token is read from: `Authorization: Bearer <token>` (RFC 6750),
/// `Authorization: TOK:<token>` (EdgeCast / Edgio) or the whole value of a named header
/// (QRadar's `SEC: <token>`).
///
/// Scheme names compare case-insensitively (RFC 7235): `bearer`, `BEARER` and `tok:` are
/// accepted. Between `Bearer` and the token RFC 7235 allows one or more spaces (`1*SP`); after
/// `TOK:` any number of spaces, including none, is accepted.
///
/// ```
/// use tower_envelope::auth::{AuthTokenLayer, Scheme, StaticTokens};
///
/// let tokens = StaticTokens::new().token("abc123", ["read"]);
/// let qradar = AuthTokenLayer::new(Scheme::header("SEC"), tokens);
/// assert_eq!(qradar.scheme().header_name(), "sec");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Scheme {
    kind: Kind,
    header: HeaderName,
    label: Cow<'static, str>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Bearer,
    Tok,
    Header,
}

impl Scheme {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1).
    pub fn bearer() -> Self {
        Self {
            kind: Kind::Bearer,
            header: AUTHORIZATION,
            label: Cow::Borrowed("Authorization"),
        }
    }

    /// `Authorization: TOK:<token>` or `Authorization: TOK: <token>` (EdgeCast / Edgio).
    pub fn tok() -> Self {
        Self {
            kind: Kind::Tok,
            header: AUTHORIZATION,
            label: Cow::Borrowed("Authorization"),
        }
    }

    /// The raw token as the whole value of the header `name` (QRadar's `SEC`).
    ///
    /// `name` is kept as given for messages and for the scheme of `WWW-Authenticate`
    /// (`SEC realm="api"`); the header itself is matched case-insensitively.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name. Use [`Scheme::try_header`] for a fallible
    /// version.
    pub fn header(name: impl Into<Cow<'static, str>>) -> Self {
        match Self::try_header(name) {
            Ok(scheme) => scheme,
            Err(_) => panic!("Scheme::header: invalid header name"),
        }
    }

    /// Like [`Scheme::header`], but returns an error for an invalid header name.
    pub fn try_header(
        name: impl Into<Cow<'static, str>>,
    ) -> Result<Self, http::header::InvalidHeaderName> {
        let label = name.into();
        let header = HeaderName::from_bytes(label.as_bytes())?;
        Ok(Self {
            kind: Kind::Header,
            header,
            label,
        })
    }

    /// The header the token is read from.
    pub fn header_name(&self) -> &HeaderName {
        &self.header
    }

    /// The auth-scheme of the `WWW-Authenticate` challenge: `Bearer`, `TOK`, or the header name
    /// as given to [`Scheme::header`].
    pub fn challenge_name(&self) -> &str {
        match self.kind {
            Kind::Bearer => "Bearer",
            Kind::Tok => "TOK",
            Kind::Header => &self.label,
        }
    }

    /// Whether the token is `Authorization: Bearer` (`Some(true)`), `Authorization: TOK:`
    /// (`Some(false)`) or a header's raw value (`None`).
    #[cfg(feature = "utoipa")]
    pub(crate) fn is_bearer(&self) -> Option<bool> {
        match self.kind {
            Kind::Bearer => Some(true),
            Kind::Tok => Some(false),
            Kind::Header => None,
        }
    }

    /// The header's name as given (`Authorization`, `SEC`), for messages.
    pub(super) fn label(&self) -> Cow<'static, str> {
        self.label.clone()
    }

    /// Reads the token from `headers`, borrowing it, or names the first defect found.
    ///
    /// Checks, in order: the header is present and single; (for `Bearer` and `TOK`) the value is
    /// not empty, not wrapped in quotes and starts with the scheme; then the token is not
    /// empty, has no surrounding whitespace, is not wrapped in quotes (`"` or `'`) and holds
    /// only visible ASCII characters (`!`..=`~`).
    pub(crate) fn credentials<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<&'h str, CredentialsError> {
        self.token(headers).and_then(as_str)
    }

    /// Like [`Scheme::credentials`], as the header's bytes (visible ASCII).
    #[inline]
    pub(crate) fn token<'h>(&self, headers: &'h HeaderMap) -> Result<&'h [u8], CredentialsError> {
        let value = crate::headers::single(headers, &self.header)
            .map_err(|()| CredentialsError::Several)?
            .ok_or(CredentialsError::Missing)?;
        self.token_of(value.as_bytes())
    }

    /// Reads the token from one header value; see [`Scheme::credentials`].
    #[cfg(test)]
    pub(crate) fn parse<'v>(&self, value: &'v HeaderValue) -> Result<&'v str, CredentialsError> {
        self.token_of(value.as_bytes()).and_then(as_str)
    }

    #[inline]
    fn token_of<'v>(&self, value: &'v [u8]) -> Result<&'v [u8], CredentialsError> {
        // Fast path for the canonical forms (the bearer guard rail in BENCHMARKS.md shows it).
        match self.fast_token(value) {
            Some(token) => Ok(token),
            None => self.read(value),
        }
    }

    /// The token of a canonical value (`Bearer <token>`, `TOK:<token>`, `TOK: <token>` or a
    /// bare token), or `None` to let [`Scheme::read`] decide.
    #[inline]
    fn fast_token<'t>(&self, bytes: &'t [u8]) -> Option<&'t [u8]> {
        let token = match self.kind {
            Kind::Header => bytes,
            Kind::Bearer => match bytes.split_at_checked(7) {
                Some((scheme, token))
                    if scheme == b"Bearer " || scheme.eq_ignore_ascii_case(b"bearer ") =>
                {
                    token
                }
                _ => return None,
            },
            Kind::Tok => {
                let (scheme, rest) = bytes.split_at_checked(4)?;
                if !scheme.eq_ignore_ascii_case(b"tok:") {
                    return None;
                }
                rest.strip_prefix(b" ").unwrap_or(rest)
            }
        };
        let (&first, &last) = (token.first()?, token.last()?);
        // Folded without an early exit, so that it vectorizes (the bearer guard rail shows it).
        let visible = token.iter().fold(true, |all, b| all & b.is_ascii_graphic());
        (visible && !is_quote(first) && !is_quote(last)).then_some(token)
    }

    /// The token of a header value (`Bearer <token>`, `TOK:<token>`, or a bare token for a
    /// custom header), or its first defect.
    fn read<'v>(&self, value: &'v [u8]) -> Result<&'v [u8], CredentialsError> {
        let token = match self.kind {
            Kind::Header => value,
            Kind::Bearer | Kind::Tok => {
                match value.first() {
                    None => return Err(CredentialsError::EmptyHeader),
                    Some(b) if is_quote(*b) => return Err(CredentialsError::QuotedValue),
                    Some(b) if b.is_ascii_whitespace() => return Err(CredentialsError::Whitespace),
                    Some(_) => {}
                }
                if self.kind == Kind::Bearer {
                    after_bearer(value)?
                } else {
                    after_tok(value)?
                }
            }
        };
        check_token(token)
    }
}

/// The rest of `Bearer<SP>+<token>`: the scheme is the bytes up to the first space or tab.
fn after_bearer(value: &[u8]) -> Result<&[u8], CredentialsError> {
    let end = value
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(value.len());
    let (scheme, rest) = value.split_at(end);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(CredentialsError::WrongScheme);
    }
    Ok(skip_spaces(rest))
}

/// The rest of `TOK:<SP>*<token>`.
fn after_tok(value: &[u8]) -> Result<&[u8], CredentialsError> {
    match value.split_at_checked(4) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case(b"tok:") => Ok(skip_spaces(rest)),
        _ => Err(CredentialsError::WrongScheme),
    }
}

fn skip_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ').unwrap_or(bytes.len());
    &bytes[start..]
}

fn is_quote(b: u8) -> bool {
    b == b'"' || b == b'\''
}

/// A token as text: visible ASCII is always UTF-8, so the error never happens.
fn as_str(token: &[u8]) -> Result<&str, CredentialsError> {
    std::str::from_utf8(token).map_err(|_| CredentialsError::NonVisible)
}

fn check_token(token: &[u8]) -> Result<&[u8], CredentialsError> {
    let (Some(&first), Some(&last)) = (token.first(), token.last()) else {
        return Err(CredentialsError::Empty);
    };
    if first.is_ascii_whitespace() || last.is_ascii_whitespace() {
        return Err(CredentialsError::Whitespace);
    }
    if is_quote(first) || is_quote(last) {
        return Err(CredentialsError::Quoted);
    }
    if !token.iter().all(u8::is_ascii_graphic) {
        return Err(CredentialsError::NonVisible);
    }
    Ok(token)
}

impl fmt::Debug for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Bearer => f.write_str("Scheme::Bearer"),
            Kind::Tok => f.write_str("Scheme::Tok"),
            Kind::Header => f.debug_tuple("Scheme::Header").field(&self.label).finish(),
        }
    }
}

/// Why no token could be read from a request: one variant per defect.
///
/// Neither `Display` nor [`CredentialsError::message`] ever contains any part of the header
/// value (a header without a scheme may be a bare token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub(crate) enum CredentialsError {
    /// The header is absent: the request carries no credentials.
    Missing,
    /// The header appears more than once.
    Several,
    /// The `Authorization` header is present but empty.
    EmptyHeader,
    /// The whole `Authorization` value is wrapped in quotes (`"Bearer abc"`).
    QuotedValue,
    /// The `Authorization` value does not start with the expected scheme.
    WrongScheme,
    /// No token follows the scheme, or the named header is empty.
    Empty,
    /// The token has leading or trailing whitespace.
    Whitespace,
    /// The token is wrapped in quotes (`"abc"` or `'abc'`).
    Quoted,
    /// The token holds a space, a control character or a non-ASCII byte.
    NonVisible,
}

impl CredentialsError {
    /// The precise message for this defect under `scheme`, naming its header and scheme, e.g.
    /// `"Authorization header is missing"`, `"wrong scheme: expected Bearer"`,
    /// `"SEC header is missing"`.
    ///
    /// Borrowed for the `Authorization` forms; the named-header form formats the header name.
    pub(crate) fn message(self, scheme: &Scheme) -> Cow<'static, str> {
        let authorization = scheme.kind != Kind::Header;
        let fixed = match self {
            Self::Missing if authorization => "Authorization header is missing",
            Self::Missing => return format!("{} header is missing", scheme.label).into(),
            Self::Several if authorization => "several Authorization headers",
            Self::Several => return format!("several {} headers", scheme.label).into(),
            Self::EmptyHeader if authorization => "Authorization header is empty",
            Self::EmptyHeader => return format!("{} header is empty", scheme.label).into(),
            Self::QuotedValue => "Authorization header value is wrapped in quotes",
            Self::WrongScheme if scheme.kind == Kind::Tok => "wrong scheme: expected TOK",
            Self::WrongScheme => "wrong scheme: expected Bearer",
            Self::Empty => "token is empty",
            Self::Whitespace => "token has surrounding whitespace",
            Self::Quoted => "token is wrapped in quotes",
            Self::NonVisible => "token contains non-visible characters",
        };
        Cow::Borrowed(fixed)
    }
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "the credentials header is missing",
            Self::Several => "several credentials headers",
            Self::EmptyHeader => "the credentials header is empty",
            Self::QuotedValue => "the credentials header value is wrapped in quotes",
            Self::WrongScheme => "wrong authentication scheme",
            Self::Empty => "token is empty",
            Self::Whitespace => "token has surrounding whitespace",
            Self::Quoted => "token is wrapped in quotes",
            Self::NonVisible => "token contains non-visible characters",
        })
    }
}

impl std::error::Error for CredentialsError {}

#[cfg(test)]
mod tests {
    use super::*;
    use CredentialsError::*;

    fn parse(scheme: &Scheme, value: &[u8]) -> Result<String, CredentialsError> {
        let value = HeaderValue::from_bytes(value).unwrap();
        scheme.parse(&value).map(str::to_owned)
    }

    #[test]
    fn bearer_forms() {
        let s = Scheme::bearer();
        assert_eq!(parse(&s, b"Bearer abc").as_deref(), Ok("abc"));
        assert_eq!(parse(&s, b"bEaReR abc").as_deref(), Ok("abc"));
        assert_eq!(parse(&s, b"Bearer   abc").as_deref(), Ok("abc"));
        assert_eq!(
            parse(&s, b"Bearer a.b-c_d~e+f/g=").as_deref(),
            Ok("a.b-c_d~e+f/g=")
        );
        assert_eq!(parse(&s, b""), Err(EmptyHeader));
        assert_eq!(parse(&s, b"\"Bearer abc\""), Err(QuotedValue));
        assert_eq!(parse(&s, b"Basic abc"), Err(WrongScheme));
        assert_eq!(parse(&s, b"abc"), Err(WrongScheme));
        assert_eq!(parse(&s, b"Bearer:abc"), Err(WrongScheme));
        assert_eq!(parse(&s, b"Bearerabc"), Err(WrongScheme));
        assert_eq!(parse(&s, b"Bearer"), Err(Empty));
        assert_eq!(parse(&s, b"Bearer "), Err(Empty));
        assert_eq!(parse(&s, b"Bearer abc "), Err(Whitespace));
        assert_eq!(parse(&s, b"Bearer abc\t"), Err(Whitespace));
        assert_eq!(parse(&s, b"Bearer \tabc"), Err(Whitespace));
        assert_eq!(parse(&s, b"Bearer\tabc"), Err(Whitespace));
        assert_eq!(parse(&s, b" Bearer abc"), Err(Whitespace));
        assert_eq!(parse(&s, b"Bearer \"abc\""), Err(Quoted));
        assert_eq!(parse(&s, b"Bearer 'abc'"), Err(Quoted));
        assert_eq!(parse(&s, b"Bearer ab cd"), Err(NonVisible));
        assert_eq!(parse(&s, b"Bearer ab\xc3\xa9cd"), Err(NonVisible));
    }

    #[test]
    fn tok_forms() {
        let s = Scheme::tok();
        assert_eq!(parse(&s, b"TOK:abc").as_deref(), Ok("abc"));
        assert_eq!(parse(&s, b"TOK: abc").as_deref(), Ok("abc"));
        assert_eq!(parse(&s, b"tok: abc").as_deref(), Ok("abc"));
        assert_eq!(parse(&s, b"TOK abc"), Err(WrongScheme));
        assert_eq!(parse(&s, b"TO"), Err(WrongScheme));
        assert_eq!(parse(&s, b"Bearer abc"), Err(WrongScheme));
        assert_eq!(parse(&s, b"TOK:"), Err(Empty));
        assert_eq!(parse(&s, b"TOK: \"abc\""), Err(Quoted));
        assert_eq!(parse(&s, b"TOK:\tabc"), Err(Whitespace));
        assert_eq!(parse(&s, b"'TOK: abc'"), Err(QuotedValue));
    }

    #[test]
    fn header_forms() {
        let s = Scheme::header("SEC");
        assert_eq!(s.header_name(), "sec");
        assert_eq!(s.challenge_name(), "SEC");
        assert_eq!(parse(&s, b"abc").as_deref(), Ok("abc"));
        assert_eq!(parse(&s, b"Bearer abc"), Err(NonVisible));
        assert_eq!(parse(&s, b""), Err(Empty));
        assert_eq!(parse(&s, b" abc"), Err(Whitespace));
        assert_eq!(parse(&s, b"\"abc\""), Err(Quoted));
        assert!(Scheme::try_header("bad name").is_err());
    }

    #[test]
    fn missing_and_several() {
        let mut headers = HeaderMap::new();
        assert_eq!(Scheme::bearer().credentials(&headers), Err(Missing));
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        headers.append(AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(Scheme::bearer().credentials(&headers), Err(Several));
    }

    proptest::proptest! {
        /// The fast path never accepts what the precise reading would refuse or read
        /// differently, and nothing panics.
        #[test]
        fn fast_path_agrees_with_diagnose(
            prefix in proptest::sample::select(vec![
                "", "Bearer ", "bearer  ", "Bearer", "BEARER\t", "TOK:", "tok: ", "TOK:  ",
                "Basic ", "\"Bearer ", " Bearer ",
            ]),
            tail in proptest::collection::vec(proptest::sample::select(vec![
                b'a', b'Z', b'0', b'-', b'=', b' ', b'\t', b'"', b'\'', b':', 0x7f, 0xc3, 0xa9,
            ]), 0..12),
        ) {
            let mut bytes = prefix.as_bytes().to_vec();
            bytes.extend(&tail);
            let Ok(value) = HeaderValue::from_bytes(&bytes) else { return Ok(()) };
            for scheme in [Scheme::bearer(), Scheme::tok(), Scheme::header("SEC")] {
                let precise = scheme.read(value.as_bytes());
                if let Some(token) = scheme.fast_token(value.as_bytes()) {
                    proptest::prop_assert_eq!(precise, Ok(token));
                }
                proptest::prop_assert_eq!(scheme.parse(&value), precise.and_then(as_str));
            }
        }
    }

    #[test]
    fn messages_name_header_and_scheme() {
        assert_eq!(
            Missing.message(&Scheme::bearer()),
            "Authorization header is missing"
        );
        assert_eq!(
            Missing.message(&Scheme::header("SEC")),
            "SEC header is missing"
        );
        assert_eq!(
            WrongScheme.message(&Scheme::tok()),
            "wrong scheme: expected TOK"
        );
        assert_eq!(
            WrongScheme.message(&Scheme::bearer()),
            "wrong scheme: expected Bearer"
        );
    }
}
