//! [`OData`]: the OData system query options of a list endpoint, rejecting as Defender does.

use ::axum::extract::FromRequestParts;
use http::request::Parts;

use crate::error::{echo, ApiError, ErrorKind, FieldViolation};

/// The OData system query options Defender's list APIs take — `$top`, `$skip`, `$filter`,
/// `$select`, `$orderby`, `$expand`, `$count` — with `$top` at most `MAX_TOP` (default 10 000).
///
/// A malformed number or `$count`, an option given twice, a `$top` over the maximum or an
/// unknown `$` option is answered `ODataError` (400), naming the option: `Invalid OData URI
/// query: $top must be a whole number.`, `... $foo is not a supported query option.`, `... $top
/// must be at most 10000.` Parameters without a `$` are left to other extractors
/// ([`Query`](super::Query)).
///
/// ```
/// use http::Uri;
/// use tower_envelope::extract::OData;
/// use tower_envelope::ErrorKind;
///
/// let odata: OData = OData::from_query("$top=10&$filter=healthStatus eq 'Active'").unwrap();
/// assert_eq!(odata.top, Some(10));
/// assert_eq!(odata.filter.as_deref(), Some("healthStatus eq 'Active'"));
/// let error = OData::<10_000>::from_query("$top=abc").unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::ODataError);
/// assert_eq!(error.message(), "Invalid OData URI query: $top must be a whole number.");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OData<const MAX_TOP: u64 = 10_000> {
    /// `$top`: at most this many items.
    pub top: Option<u64>,
    /// `$skip`: items to skip.
    pub skip: Option<u64>,
    /// `$filter`: the filter expression, as sent (decoded).
    pub filter: Option<String>,
    /// `$select`: the properties asked for.
    pub select: Vec<String>,
    /// `$orderby`: the orderings (`name desc`), in order.
    pub orderby: Vec<String>,
    /// `$expand`: the related entities asked for.
    pub expand: Vec<String>,
    /// `$count`: whether the total count is asked for.
    pub count: Option<bool>,
}

impl<const MAX_TOP: u64> OData<MAX_TOP> {
    /// Reads the options of a query string (without the `?`).
    pub fn from_query(query: &str) -> Result<Self, ApiError> {
        let mut odata = Self::default();
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if !name.starts_with('$') {
                continue;
            }
            if seen.iter().any(|s| *s == name) {
                return Err(odata_error(&name, "is given more than once"));
            }
            seen.push(name.clone().into_owned());
            let list = || {
                let items = value
                    .split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty());
                items.map(str::to_owned).collect()
            };
            match &*name {
                "$top" => {
                    let top = number(&name, &value)?;
                    if top > MAX_TOP {
                        return Err(odata_error(&name, &format!("must be at most {MAX_TOP}")));
                    }
                    odata.top = Some(top);
                }
                "$skip" => odata.skip = Some(number(&name, &value)?),
                "$filter" => odata.filter = Some(value.into_owned()),
                "$select" => odata.select = list(),
                "$orderby" => odata.orderby = list(),
                "$expand" => odata.expand = list(),
                "$count" => {
                    odata.count = Some(match &*value {
                        "true" => true,
                        "false" => false,
                        _ => return Err(odata_error(&name, "must be true or false")),
                    });
                }
                _ => return Err(odata_error(&name, "is not a supported query option")),
            }
        }
        Ok(odata)
    }
}

fn number(name: &str, value: &str) -> Result<u64, ApiError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| value.parse().ok())
        .flatten()
        .ok_or_else(|| odata_error(name, "must be a whole number"))
}

/// `Invalid OData URI query: $top must be a whole number.`, naming the option.
fn odata_error(name: &str, problem: &str) -> ApiError {
    let name = echo(name).into_owned();
    let message = format!("Invalid OData URI query: {name} {problem}.");
    let violation = FieldViolation::new(["query".to_owned(), name.clone()], problem.to_owned());
    ApiError::new(ErrorKind::ODataError, message)
        .with_target(name)
        .with_violation(violation.with_reason("odata"))
}

impl<S, const MAX_TOP: u64> FromRequestParts<S> for OData<MAX_TOP>
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_query(parts.uri.query().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(query: &str) -> String {
        let error = OData::<100>::from_query(query).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ODataError, "{query}");
        error.message().to_owned()
    }

    #[test]
    fn reads_every_option() {
        let odata = OData::<100>::from_query(
            "$top=5&$skip=10&$filter=name%20eq%20%27a%27&$select=id,%20name&$orderby=name%20desc,id\
             &$expand=disks&$count=true&page=2",
        )
        .unwrap();
        assert_eq!(odata.top, Some(5));
        assert_eq!(odata.skip, Some(10));
        assert_eq!(odata.filter.as_deref(), Some("name eq 'a'"));
        assert_eq!(odata.select, ["id", "name"]);
        assert_eq!(odata.orderby, ["name desc", "id"]);
        assert_eq!(odata.expand, ["disks"]);
        assert_eq!(odata.count, Some(true));
        assert_eq!(OData::<100>::from_query("").unwrap(), OData::default());
        let empty = OData::<100>::from_query("$select=&$expand=a,,b").unwrap();
        assert!(empty.select.is_empty());
        assert_eq!(empty.expand, ["a", "b"]);
    }

    #[test]
    fn names_the_option_at_fault() {
        let cases = [
            (
                "$top=abc",
                "Invalid OData URI query: $top must be a whole number.",
            ),
            (
                "$top=-1",
                "Invalid OData URI query: $top must be a whole number.",
            ),
            (
                "$skip=",
                "Invalid OData URI query: $skip must be a whole number.",
            ),
            (
                "$top=101",
                "Invalid OData URI query: $top must be at most 100.",
            ),
            (
                "$foo=1",
                "Invalid OData URI query: $foo is not a supported query option.",
            ),
            (
                "$count=yes",
                "Invalid OData URI query: $count must be true or false.",
            ),
            (
                "$top=1&$top=2",
                "Invalid OData URI query: $top is given more than once.",
            ),
            (
                "$top=99999999999999999999999",
                "Invalid OData URI query: $top must be a whole number.",
            ),
        ];
        for (query, expected) in cases {
            assert_eq!(message(query), expected, "{query}");
        }
        let error = OData::<100>::from_query("$top=abc").unwrap_err();
        assert_eq!(error.target(), Some("$top"));
    }
}
