//! [`Json`]: axum's `Json`, rejecting in the vendor's words.

use std::cell::Cell;

use ::axum::body::Bytes;
use ::axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use ::axum::extract::{FromRequest, OptionalFromRequest, Request};
use ::axum::response::{IntoResponse, Response};
use bytes::{BufMut, BytesMut};
use http::header::CONTENT_TYPE;
use http::HeaderValue;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::error::Category;
use serde_json::Value;

use super::rejection::{reject, FieldPath, Problem, Source, Step};
use super::root::Root;
use crate::content_type::ContentTypeLayer;
use crate::error::{in_source_chain, ApiError, ErrorKind};

/// A JSON request body, or a JSON response: a drop-in for `axum::Json` whose rejection is an
/// [`ApiError`].
///
/// As an extractor it needs a JSON `Content-Type` (`application/json` or a `+json` type, UTF-8)
/// and a body that deserializes into `T`, and otherwise answers:
///
/// | the body | kind | message |
/// |---|---|---|
/// | no or another `Content-Type` | `UnsupportedMediaType` | `Content-Type header is missing` |
/// | not JSON | `InvalidRequestBody` | `Request body is not valid JSON (line 1, column 9): EOF while parsing a value` |
/// | not an object, for a struct | `InvalidRequestBody` | `Request body must be a JSON object` |
/// | a field absent or `null` | `MissingParameter` | `Parameter owner.email is missing.` |
/// | ... present in another case | `MissingParameter` | `Parameter name is missing. Body parameters are case-sensitive: received "Name", expected "name".` |
/// | a value of the wrong type | `InvalidInput` | `Invalid input tags[1]: expected a string.` |
/// | an unknown field (`deny_unknown_fields`) | `InvalidInput` | `Invalid input Name: unknown field. Body parameters are case-sensitive: ...` |
/// | over a body limit | `PayloadTooLarge` | `Request body is over the size limit` |
///
/// Every field error carries one [`FieldViolation`](crate::FieldViolation) located in the body
/// (`["body", "tags", "1"]`) and targets the field (`tags[1]`).
///
/// A valid body is read exactly as axum reads it, without tracking the path into it: the path is
/// worked out again only for a body that failed.
///
/// As a response, `Json(value)` is serialized with `Content-Type: application/json`; a value that
/// cannot be serialized answers an `Internal` error (its text is not sent).
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        const JSON: ContentTypeLayer = ContentTypeLayer::json();
        JSON.check_content_type(req.headers())?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        Self::from_bytes(&bytes)
    }
}

/// `Option<Json<T>>`: `None` for a request without `Content-Type`, as axum's.
impl<T, S> OptionalFromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if req.headers().contains_key(CONTENT_TYPE) {
            <Self as FromRequest<S>>::from_request(req, state)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}

impl<T: DeserializeOwned> Json<T> {
    /// Deserializes a JSON body already in memory, rejecting as the extractor does.
    ///
    /// ```
    /// use tower_envelope::extract::Json;
    /// use tower_envelope::ErrorKind;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Machine { name: String }
    ///
    /// let error = Json::<Machine>::from_bytes(br#"{"Name":"web-1"}"#).err().unwrap();
    /// assert_eq!(error.kind(), ErrorKind::MissingParameter);
    /// assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ApiError> {
        let object = Cell::new(false);
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let value = T::deserialize(Root::new(&mut deserializer, &object))
            .and_then(|value| deserializer.end().map(|()| value));
        match value {
            Ok(value) => Ok(Json(value)),
            Err(error) => Err(Self::rejection(bytes, &error)),
        }
    }

    /// Reads the body again, tracking the path into it, to say where it failed.
    #[cold]
    fn rejection(bytes: &[u8], error: &serde_json::Error) -> ApiError {
        if error.classify() != Category::Data {
            return syntax_error(error);
        }
        let object = Cell::new(false);
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        match serde_path_to_error::deserialize::<_, T>(Root::new(&mut deserializer, &object)) {
            Err(tracked) => {
                data_error(bytes, &tracked.path().into(), tracked.inner(), object.get())
            }
            // Deserialization is deterministic: the same bytes fail the same way. Should a type
            // not be, the first error is reported without its path.
            Ok(_) => data_error(bytes, &FieldPath::default(), error, object.get()),
        }
    }
}

fn syntax_error(error: &serde_json::Error) -> ApiError {
    let reason = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let reason = reason.strip_suffix(&suffix).unwrap_or(&reason);
    ApiError::new(
        ErrorKind::InvalidRequestBody,
        format!(
            "Request body is not valid JSON (line {}, column {}): {reason}",
            error.line(),
            error.column()
        ),
    )
}

/// A body that is JSON but not a `T`.
fn data_error(bytes: &[u8], path: &FieldPath, error: &serde_json::Error, object: bool) -> ApiError {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text);
    let problem = Problem::read(message);
    let at_root = path.steps().is_empty();
    match problem {
        Problem::Expected { expected, .. } if at_root => ApiError::new(
            ErrorKind::InvalidRequestBody,
            if object {
                "Request body must be a JSON object".to_owned()
            } else {
                format!("Request body must be {expected}")
            },
        ),
        Problem::Null { .. } | Problem::Other(_) if at_root => ApiError::new(
            ErrorKind::InvalidRequestBody,
            if object {
                "Request body must be a JSON object".to_owned()
            } else {
                "Request body is not the expected JSON value".to_owned()
            },
        ),
        problem => reject(Source::Body, path, problem, |parent| keys_at(bytes, parent)),
    }
}

/// The keys of the object at `path` in the body (none when there is no object there).
fn keys_at(bytes: &[u8], path: &FieldPath) -> Vec<String> {
    let Ok(mut value) = serde_json::from_slice::<Value>(bytes) else {
        return Vec::new();
    };
    for step in path.steps() {
        let next = match (step, value) {
            (Step::Key(key), Value::Object(mut object)) => object.remove(key),
            (Step::Index(index), Value::Array(mut array)) if *index < array.len() => {
                Some(array.swap_remove(*index))
            }
            _ => None,
        };
        match next {
            Some(next) => value = next,
            None => return Vec::new(),
        }
    }
    match value {
        Value::Object(object) => object.into_iter().map(|(key, _)| key).collect(),
        _ => Vec::new(),
    }
}

/// A body that could not be read: over a limit (axum's, or a `Limited` further out, its error
/// wrapped once more by each body in between), or a broken stream.
fn body_rejection(rejection: BytesRejection) -> ApiError {
    let over_limit = match &rejection {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => true,
        BytesRejection::FailedToBufferBody(FailedToBufferBody::UnknownBodyError(error)) => {
            in_source_chain::<http_body_util::LengthLimitError>(error)
        }
        _ => false,
    };
    if over_limit {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            "Request body is over the size limit",
        )
    } else {
        ApiError::new(ErrorKind::BadRequest, "Request body could not be read")
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        // The capacity axum's `Json` starts with.
        let mut buffer = BytesMut::with_capacity(128).writer();
        match serde_json::to_writer(&mut buffer, &self.0) {
            Ok(()) => (
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                buffer.into_inner().freeze(),
            )
                .into_response(),
            Err(_) => ApiError::from_kind(ErrorKind::Internal).into_response(),
        }
    }
}

impl<T> From<T> for Json<T> {
    fn from(value: T) -> Self {
        Json(value)
    }
}

deref_to_inner!(Json);
