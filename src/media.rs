//! Media types and `Accept`, in one place: the essence (`type/subtype+suffix`), parameters,
//! JSON and XML families, and `Accept` ranges with their q-values (RFC 9110 §8.3, §12.5.1).
//!
//! Everything borrows its input and allocates nothing. `mediatype::MediaType::parse` checks the
//! essence's grammar (it borrows, and parses no parameter when given no `;`); parameters are
//! read by the small iterator below, since mediatype collects them into a `Vec`, which would
//! allocate on every request.

use http::header::{HeaderMap, HeaderValue, ACCEPT};
use mediatype::{MediaType, MediaTypeBuf};

pub(crate) const fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 9110 `tchar`.
const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Whether a `Content-Type` value is one of the two spellings nearly every JSON client sends,
/// `application/json` or `application/json; charset=utf-8` (any case): JSON without parsing.
#[inline]
pub(crate) fn is_common_json(value: &[u8]) -> bool {
    value.eq_ignore_ascii_case(b"application/json")
        || value.eq_ignore_ascii_case(b"application/json; charset=utf-8")
}

/// The essence of a media type value (`type/subtype+suffix`): what precedes the parameters,
/// without surrounding whitespace.
pub(crate) fn essence(value: &str) -> &str {
    value.split(';').next().unwrap_or("").trim_matches(is_ows)
}

/// Splits `type/subtype+suffix; params` into the parsed essence and a parameter iterator.
/// `None` when the essence is not a media type or its parameters are malformed.
pub(crate) fn parse_media_type(text: &str) -> Option<(MediaType<'_>, Params<'_>)> {
    let (essence, params) = match text.find(';') {
        Some(i) => text.split_at(i),
        None => (text, ""),
    };
    // The essence has no `;`, so mediatype parses no parameter and allocates nothing.
    let media_type = MediaType::parse(essence.trim_matches(is_ows)).ok()?;
    let params = Params { rest: params };
    if params.clone().any(|p| p.is_err()) {
        return None;
    }
    Some((media_type, params))
}

/// True for `application/json` and any `+json` type.
pub(crate) fn is_json(media_type: &MediaType<'_>) -> bool {
    match media_type.suffix {
        Some(suffix) => suffix == "json",
        None => media_type.ty == "application" && media_type.subty == "json",
    }
}

/// Whether the configured `range` (maybe a wildcard) matches a received media type.
pub(crate) fn range_matches(range: &MediaTypeBuf, media_type: &MediaType<'_>) -> bool {
    if range.ty() == "*" {
        return range.subty() == "*";
    }
    if range.ty() != media_type.ty {
        return false;
    }
    range.subty() == "*"
        || (range.subty() == media_type.subty && range.suffix() == media_type.suffix)
}

/// The parameters after a media type's essence, borrowed: `(name, raw value)` pairs, a quoted
/// value with its quotes. `Err(())` on malformed syntax, after which iteration stops.
#[derive(Clone)]
pub(crate) struct Params<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<(&'a str, &'a str), ()>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = self.rest.trim_start_matches(is_ows);
            if s.is_empty() {
                self.rest = s;
                return None;
            }
            let Some(s) = s.strip_prefix(';') else {
                self.rest = "";
                return Some(Err(()));
            };
            let s = s.trim_start_matches(is_ows);
            if s.is_empty() || s.starts_with(';') {
                // An empty parameter (`text/plain;;a=b`) is allowed.
                self.rest = s;
                continue;
            }
            let name_len = s.bytes().take_while(|b| is_tchar(*b)).count();
            let (name, s) = s.split_at(name_len);
            let Some(s) = s.strip_prefix('=').filter(|_| !name.is_empty()) else {
                self.rest = "";
                return Some(Err(()));
            };
            let value_len = if s.starts_with('"') {
                match quoted_len(s) {
                    Some(len) => len,
                    None => {
                        self.rest = "";
                        return Some(Err(()));
                    }
                }
            } else {
                s.bytes().take_while(|b| is_tchar(*b)).count()
            };
            if value_len == 0 {
                self.rest = "";
                return Some(Err(()));
            }
            let (value, rest) = s.split_at(value_len);
            self.rest = rest;
            return Some(Ok((name, value)));
        }
    }
}

/// The length of the quoted string at the start of `s` (quotes included), if it is closed.
fn quoted_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Compares a raw parameter value (token or quoted string) with `expected`, ignoring ASCII case.
pub(crate) fn value_eq_ignore_case(raw: &str, expected: &str) -> bool {
    match raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        None => raw.eq_ignore_ascii_case(expected),
        Some(inner) => {
            let mut unescaped = inner.bytes();
            let mut expected = expected.bytes();
            loop {
                let got = match unescaped.next() {
                    Some(b'\\') => unescaped.next(),
                    other => other,
                };
                match (got, expected.next()) {
                    (None, None) => return true,
                    (Some(a), Some(b)) if a.eq_ignore_ascii_case(&b) => {}
                    _ => return false,
                }
            }
        }
    }
}

/// The elements of a comma-separated header list, outside quoted strings, trimmed, non-empty.
fn list_elements(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = value;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let bytes = rest.as_bytes();
        let mut i = 0;
        let mut quoted = false;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b',' if !quoted => break,
                _ => {}
            }
            i += 1;
        }
        let end = i.min(rest.len());
        let element = rest.get(..end).unwrap_or_default().trim_matches(is_ows);
        rest = rest.get(end + 1..).unwrap_or_default();
        if !element.is_empty() {
            return Some(element);
        }
    })
}

/// An RFC 9110 qvalue in thousandths (`1` → 1000, `0.5` → 500, `0` → 0).
fn qvalue(raw: &str) -> Option<u16> {
    let (int, frac) = match raw.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (raw, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths = 0u16;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The media ranges of `Accept` values with their q-value in thousandths. An element that is not
/// a media range, or whose `q` is not an RFC 9110 qvalue (`q=1.5`), is disregarded.
fn accept_ranges<'a>(
    values: impl IntoIterator<Item = &'a HeaderValue>,
) -> impl Iterator<Item = (MediaType<'a>, u16)> {
    values
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(list_elements)
        .filter_map(|element| {
            let (range, params) = parse_media_type(element)?;
            let mut q = 1000;
            for (name, value) in params.flatten() {
                if name.eq_ignore_ascii_case("q") {
                    q = qvalue(value)?;
                    break;
                }
            }
            Some((range, q))
        })
}

/// Whether the request's `Accept` lets the endpoint answer with one of `produces`: each produced
/// type takes the q of the most specific matching range; a missing `Accept`, or one without a
/// valid media range, is disregarded.
pub(crate) fn acceptable(headers: &HeaderMap, produces: &[MediaTypeBuf]) -> bool {
    let ranges = || accept_ranges(headers.get_all(ACCEPT));
    if ranges().next().is_none() {
        return true;
    }
    produces.iter().any(|produced| {
        let mut best: Option<(u8, u16)> = None;
        for (range, q) in ranges() {
            let specificity = if range.ty == "*" && range.subty == "*" {
                0
            } else if range.ty != produced.ty() {
                continue;
            } else if range.subty == "*" {
                1
            } else if range.subty == produced.subty() && range.suffix == produced.suffix() {
                2
            } else {
                continue;
            };
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, q));
            }
        }
        best.is_some_and(|(_, q)| q > 0)
    })
}

/// Whether an `Accept` header ranks an XML type (`*/xml`, `*+xml`) above every JSON one
/// (`*/json`, `*+json`, `application/*`, `*/*`); ties go to JSON.
pub(crate) fn prefers_xml(accept: Option<&HeaderValue>) -> bool {
    let (mut xml, mut json) = (0u16, 0u16);
    for (range, q) in accept_ranges(accept) {
        match family_of(&range) {
            Family::Xml => xml = xml.max(q),
            Family::Json => json = json.max(q),
            _ if range.subty == "*" && (range.ty == "*" || range.ty == "application") => {
                json = json.max(q);
            }
            _ => {}
        }
    }
    xml > json
}

/// The family of a media type, as the crate tells bodies apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `application/json` or `*+json`.
    Json,
    /// `*/xml` or `*+xml`.
    Xml,
    /// `text/*` (other than `text/xml`).
    Text,
    /// Anything else, or not a media type.
    Other,
}

fn family_of(media_type: &MediaType<'_>) -> Family {
    let sub = media_type.suffix.unwrap_or(media_type.subty);
    if is_json(media_type) {
        Family::Json
    } else if sub == "xml" {
        Family::Xml
    } else if media_type.ty == "text" {
        Family::Text
    } else {
        Family::Other
    }
}

/// The family of a `Content-Type` value (parameters ignored).
pub(crate) fn family(content_type: &str) -> Family {
    match MediaType::parse(essence(content_type)) {
        Ok(media_type) => family_of(&media_type),
        Err(_) => Family::Other,
    }
}

/// Whether a `Content-Type` value is exactly `text/plain` (parameters ignored).
pub(crate) fn is_text_plain(content_type: &str) -> bool {
    essence(content_type).eq_ignore_ascii_case("text/plain")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_json_spellings_agree_with_the_full_parse() {
        for value in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "APPLICATION/JSON; CHARSET=UTF-8",
        ] {
            assert!(is_common_json(value.as_bytes()), "{value}");
            let (media_type, _) = parse_media_type(value).expect(value);
            assert!(is_json(&media_type), "{value}");
        }
        for value in [
            "application/json ",
            "application/problem+json",
            "text/json",
            "",
        ] {
            assert!(!is_common_json(value.as_bytes()), "{value}");
        }
    }

    fn params(s: &str) -> Result<Vec<(&str, &str)>, ()> {
        Params { rest: s }.collect()
    }

    #[test]
    fn parameters() {
        assert_eq!(params(""), Ok(vec![]));
        assert_eq!(params(" ; "), Ok(vec![]));
        assert_eq!(params("; charset=utf-8"), Ok(vec![("charset", "utf-8")]));
        assert_eq!(
            params(";a=1;;B=\"x;\\\"y\" ;c=2"),
            Ok(vec![("a", "1"), ("B", "\"x;\\\"y\""), ("c", "2")])
        );
        for bad in [
            "charset=utf-8",
            "; charset",
            "; =x",
            "; a=",
            "; a=\"x",
            "; a=b c",
        ] {
            assert!(params(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quoted_values() {
        assert!(value_eq_ignore_case("UTF-8", "utf-8"));
        assert!(value_eq_ignore_case("\"utf-8\"", "utf-8"));
        assert!(value_eq_ignore_case("\"utf\\-8\"", "utf-8"));
        assert!(!value_eq_ignore_case("\"utf-8", "utf-8"));
        assert!(!value_eq_ignore_case("latin1", "utf-8"));
        assert!(!value_eq_ignore_case("\"utf-8x\"", "utf-8"));
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("0.000"), Some(0));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.123"), Some(123));
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        for bad in ["", "1.5", "2", "0.1234", "-0", ".5", "0.a", "\"1\""] {
            assert_eq!(qvalue(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn list_splitting() {
        let v: Vec<_> = list_elements(" a/b , c/d;x=\"1,2\",, e/f ,").collect();
        assert_eq!(v, ["a/b", "c/d;x=\"1,2\"", "e/f"]);
        assert_eq!(list_elements("\"\\").count(), 1);
    }
    #[test]
    fn xml_preference() {
        let h = |s: &'static str| Some(HeaderValue::from_static(s));
        assert!(!prefers_xml(None));
        assert!(prefers_xml(h("application/xml").as_ref()));
        assert!(prefers_xml(h("text/xml, application/json;q=0.5").as_ref()));
        assert!(!prefers_xml(
            h("application/json, application/xml").as_ref()
        ));
        assert!(!prefers_xml(h("*/*").as_ref()));
        assert!(prefers_xml(h("application/atom+xml").as_ref()));
        assert!(!prefers_xml(h("application/xml;q=0.1, */*;q=0.2").as_ref()));
    }

    #[test]
    fn one_reading_of_q_values() {
        // An out-of-range q disqualifies its element for both readers of `Accept`.
        let produces = [MediaTypeBuf::from_string("application/xml".to_owned()).unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/xml;q=1.5, text/csv"),
        );
        assert!(!acceptable(&headers, &produces));
        assert!(!prefers_xml(headers.get(ACCEPT)));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/xml;q=0.9, */*;q=0.5"),
        );
        assert!(acceptable(&headers, &produces));
        assert!(prefers_xml(headers.get(ACCEPT)));
    }

    #[test]
    fn families() {
        assert_eq!(family("application/json; charset=utf-8"), Family::Json);
        assert_eq!(family("APPLICATION/problem+JSON"), Family::Json);
        assert_eq!(family("text/xml"), Family::Xml);
        assert_eq!(family("application/atom+xml"), Family::Xml);
        assert_eq!(family("text/plain"), Family::Text);
        assert_eq!(family("image/png"), Family::Other);
        assert_eq!(family("json"), Family::Other);
        // One reading of JSON: `text/json` is text, as `ContentTypeLayer::json()` sees it.
        assert_eq!(family("text/json"), Family::Text);
        assert!(is_text_plain("Text/Plain; charset=utf-8"));
    }
}
