//! [`Path`]: axum's `Path`, rejecting in the vendor's words.

use ::axum::extract::path::ErrorKind as PathErrorKind;
use ::axum::extract::rejection::PathRejection;
use ::axum::extract::{FromRequestParts, OptionalFromRequestParts, RawPathParams};
use http::request::Parts;
use serde::de::DeserializeOwned;

use super::rejection::{reject, FieldPath, Problem, Source};
use crate::error::{ApiError, ErrorKind};

/// The route's path parameters, deserialized: a drop-in for `axum::extract::Path` whose
/// rejection is an [`ApiError`].
///
/// A segment that does not parse as its type is `InvalidInput` naming its parameter (`Invalid
/// input id: expected u32.`), with one [`FieldViolation`](crate::FieldViolation) located at
/// `["path", "id"]`. A route whose parameters do not fit the type (a programming error, not the
/// client's) is `Internal`, as axum answers it.
///
/// Parameters are read by axum's own `Path`; only its rejection is translated.
///
/// ```
/// use axum::{routing::get, Router};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
/// use tower_envelope::extract::Path;
/// use tower_envelope::ErrorEnvelopeLayer;
///
/// async fn machine(Path(id): Path<u32>) -> String {
///     format!("machine {id}")
/// }
///
/// # tokio_test::block_on(async {
/// let app = Router::new()
///     .route("/machines/{id}", get(machine))
///     .layer(ErrorEnvelopeLayer::defender());
/// let request = Request::get("/machines/web-1").body(axum::body::Body::empty()).unwrap();
/// let response = app.oneshot(request).await.unwrap();
/// assert_eq!(response.status(), StatusCode::BAD_REQUEST); // Invalid input id: expected u32.
/// # });
/// ```
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let extracted =
            <::axum::extract::Path<T> as FromRequestParts<S>>::from_request_parts(parts, state)
                .await;
        match extracted {
            Ok(::axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(rejected(rejection, parts, state).await),
        }
    }
}

/// `Option<Path<T>>`: `None` for a route without parameters, as axum's.
impl<T, S> OptionalFromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send + 'static,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let extracted =
            <::axum::extract::Path<T> as OptionalFromRequestParts<S>>::from_request_parts(
                parts, state,
            )
            .await;
        match extracted {
            Ok(value) => Ok(value.map(|::axum::extract::Path(value)| Path(value))),
            Err(rejection) => Err(rejected(rejection, parts, state).await),
        }
    }
}

/// The rejection, with the route's parameter names at hand.
async fn rejected<S: Send + Sync>(
    rejection: PathRejection,
    parts: &mut Parts,
    state: &S,
) -> ApiError {
    let params = RawPathParams::from_request_parts(parts, state).await;
    let names: Vec<&str> = match &params {
        Ok(params) => params.iter().map(|(name, _)| name).collect(),
        Err(_) => Vec::new(),
    };
    path_rejection(rejection, &names)
}

/// axum's rejection, told by the name of the parameter (`names`: the route's, in order).
fn path_rejection(rejection: PathRejection, names: &[&str]) -> ApiError {
    let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
        // `MissingPathParams`: the extractor is used outside a route with parameters.
        return ApiError::from_kind(ErrorKind::Internal);
    };
    let named = |index: usize| names.get(index).copied().unwrap_or("?");
    match failed.into_kind() {
        PathErrorKind::ParseErrorAtKey {
            key, expected_type, ..
        } => expected(&key, expected_type),
        PathErrorKind::ParseErrorAtIndex {
            index,
            expected_type,
            ..
        } => expected(named(index), expected_type),
        PathErrorKind::ParseError { expected_type, .. } => expected(named(0), expected_type),
        PathErrorKind::InvalidUtf8InPathParam { key } => reject(
            Source::Path,
            &FieldPath::key(key),
            Problem::Other("not UTF-8 once percent-decoded"),
            |_| Vec::new(),
        ),
        PathErrorKind::DeserializeError { key, message, .. } => reject(
            Source::Path,
            &FieldPath::key(key),
            Problem::Other(&message),
            |_| Vec::new(),
        ),
        PathErrorKind::Message(message) => match Problem::read(&message) {
            // A field the route does not capture: the route and the type disagree.
            Problem::Missing { .. } => ApiError::from_kind(ErrorKind::Internal),
            problem => reject(Source::Path, &FieldPath::default(), problem, |_| Vec::new()),
        },
        // `WrongNumberOfParameters`, `UnsupportedType` and kinds axum may add: the route and
        // the type disagree.
        _ => ApiError::from_kind(ErrorKind::Internal),
    }
}

fn expected(name: &str, expected_type: &str) -> ApiError {
    reject(
        Source::Path,
        &FieldPath::key(name),
        Problem::Expected {
            reason: "invalid_type",
            expected: expected_type,
        },
        |_| Vec::new(),
    )
}

deref_to_inner!(Path);
