//! [`Query`]: axum's `Query`, rejecting in the vendor's words.

use ::axum::extract::FromRequestParts;
use http::request::Parts;
use http::Uri;
use serde::de::DeserializeOwned;

use super::rejection::{reject, FieldPath, Problem, Source};
use crate::error::ApiError;

/// The query string, deserialized: a drop-in for `axum::extract::Query` whose rejection is an
/// [`ApiError`].
///
/// Each query parameter is a field: a missing one is `MissingParameter` (`Parameter page is
/// missing.`, with the case-sensitivity hint when `Page` was sent), a malformed one
/// `InvalidInput` (`Invalid input page: invalid digit found in string.`), an unknown one under
/// `#[serde(deny_unknown_fields)]` `InvalidInput`; each carries one
/// [`FieldViolation`](crate::FieldViolation) located at `["query", "page"]`.
///
/// A valid query string is read as axum reads it, without tracking the path into it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::try_from_uri(&parts.uri)
    }
}

impl<T: DeserializeOwned> Query<T> {
    /// Deserializes the query string of `uri` (none reads as empty), rejecting as the extractor
    /// does.
    ///
    /// ```
    /// use http::Uri;
    /// use tower_envelope::extract::Query;
    /// use tower_envelope::ErrorKind;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Page { page: u32 }
    ///
    /// let uri: Uri = "/machines?page=two".parse().unwrap();
    /// let error = Query::<Page>::try_from_uri(&uri).err().unwrap();
    /// assert_eq!(error.kind(), ErrorKind::InvalidInput);
    /// assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
    /// assert_eq!(error.message(), "Invalid input page: invalid digit found in string.");
    /// ```
    pub fn try_from_uri(uri: &Uri) -> Result<Self, ApiError> {
        let query = uri.query().unwrap_or_default();
        match serde_urlencoded::from_str(query) {
            Ok(value) => Ok(Query(value)),
            Err(error) => Err(Self::rejection(query, &error)),
        }
    }

    /// Reads the query again, tracking the path into it, to say where it failed.
    #[cold]
    fn rejection(query: &str, error: &serde_urlencoded::de::Error) -> ApiError {
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        match serde_path_to_error::deserialize::<_, T>(deserializer) {
            Err(tracked) => {
                query_error(query, &tracked.path().into(), &tracked.inner().to_string())
            }
            Ok(_) => query_error(query, &FieldPath::default(), &error.to_string()),
        }
    }
}

fn query_error(query: &str, path: &FieldPath, message: &str) -> ApiError {
    reject(Source::Query, path, Problem::read(message), |_| {
        form_urlencoded::parse(query.as_bytes())
            .map(|(key, _)| key.into_owned())
            .collect()
    })
}

deref_to_inner!(Query);
