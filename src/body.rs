//! The response body of the crate's services: the inner service's body, or a rendered error.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Response, StatusCode};
//! use http_body::Body as _;
//! use http_body_util::Full;
//! use tower_envelope::body::ResponseBody;
//!
//! // A passing response keeps its body; a rendered error carries its own.
//! let passing: Response<ResponseBody<Full<Bytes>>> =
//!     Response::new(ResponseBody::new(Full::new(Bytes::from("ok"))));
//! assert_eq!(passing.status(), StatusCode::OK);
//! let error = Response::builder()
//!     .status(StatusCode::NOT_FOUND)
//!     .body(ResponseBody::<Full<Bytes>>::full(Bytes::from("{}")))
//!     .unwrap();
//! assert_eq!(error.status(), StatusCode::NOT_FOUND);
//! assert_eq!(error.body().size_hint().exact(), Some(2));
//! ```

use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::error::ApiError;
use crate::format::{error_headers, Format, Problem, RequestContext, PROBLEM_JSON, X_REQUEST_ID};
use crate::request_id::RequestId;

pin_project! {
    /// The body of every response the crate's services return: either the inner service's body,
    /// passed through untouched, or a complete rendered error (or nothing, for `HEAD`).
    ///
    /// An enum rather than a boxed body, so that passing responses cost no allocation.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Plain { #[pin] body: Either<B> },
        Problem { problem: Option<Box<Deferred>> },
    }
}

/// What `Body::poll_frame` returns.
pub(crate) type Polled<E> = Poll<Option<Result<Frame<Bytes>, E>>>;

pin_project! {
    /// A body that is either a stream passed through untouched or bytes (and trailers) already
    /// in hand: the passing and buffered halves of the crate's request and response bodies.
    #[project = EitherProj]
    pub(crate) enum Either<B> {
        Inner { #[pin] body: B },
        // The trailers are boxed: they are rare, and every response body carries this variant's
        // room.
        Buffered { data: Option<Bytes>, trailers: Option<Box<HeaderMap>> },
    }
}

impl<B> Either<B> {
    /// `data` (none when empty) and `trailers`, in hand.
    pub(crate) fn buffered(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self::Buffered {
            data: (!data.is_empty()).then_some(data),
            trailers: trailers.map(Box::new),
        }
    }

    /// The length of the bytes in hand, if any are.
    pub(crate) fn buffered_len(&self) -> Option<usize> {
        match self {
            Self::Inner { .. } => None,
            Self::Buffered { data, .. } => Some(data.as_ref().map_or(0, Bytes::len)),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for Either<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled<B::Error> {
        match self.project() {
            EitherProj::Inner { body } => body.poll_frame(cx),
            EitherProj::Buffered { data, trailers } => Poll::Ready(
                data.take()
                    .map(Frame::data)
                    .or_else(|| trailers.take().map(|t| Frame::trailers(*t)))
                    .map(Ok),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Inner { body } => body.is_end_stream(),
            Self::Buffered { data, trailers } => data.is_none() && trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Inner { body } => body.size_hint(),
            Self::Buffered { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

/// A validator's problem+json body, rendered only if something reads it: under an
/// `ErrorEnvelopeLayer` the body is dropped unread and its rendering is never paid for.
pub(crate) struct Deferred {
    error: ApiError,
    id: RequestId,
    rendered: OnceLock<Bytes>,
}

impl Deferred {
    fn bytes(&self) -> &Bytes {
        self.rendered.get_or_init(|| {
            // Problem details read only the correlation id of the context.
            let cx = RequestContext::new(self.id.as_str(), &Method::GET);
            Bytes::from(Problem::new().render(&self.error, &cx).body)
        })
    }
}

impl<B> ResponseBody<B> {
    /// Wraps the inner service's body.
    pub fn new(body: B) -> Self {
        Self {
            kind: Kind::Plain {
                body: Either::Inner { body },
            },
        }
    }

    /// A complete body.
    pub fn full(data: Bytes) -> Self {
        Self {
            kind: Kind::Plain {
                body: Either::buffered(data, None),
            },
        }
    }

    /// RFC 9457 problem details for `error`, rendered on first use (see [`Deferred`]).
    pub(crate) fn problem(error: ApiError, id: RequestId) -> Self {
        Self {
            kind: Kind::Problem {
                problem: Some(Box::new(Deferred {
                    error,
                    id,
                    rendered: OnceLock::new(),
                })),
            },
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }
}

impl<B: Default> Default for ResponseBody<B> {
    fn default() -> Self {
        Self::new(B::default())
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Plain { body } => match body.buffered_len() {
                None => f.write_str("ResponseBody::Inner"),
                Some(len) => f.debug_tuple("ResponseBody::Full").field(&len).finish(),
            },
            Kind::Problem { .. } => f.write_str("ResponseBody::Problem"),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for ResponseBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled<B::Error> {
        match self.project().kind.project() {
            KindProj::Plain { body } => body.poll_frame(cx),
            KindProj::Problem { problem } => Poll::Ready(problem.take().map(|p| {
                p.bytes();
                let bytes = p.rendered.into_inner().unwrap_or_default();
                Ok(Frame::data(bytes))
            })),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Plain { body } => body.is_end_stream(),
            Kind::Problem { problem } => problem.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Plain { body } => body.size_hint(),
            // Asked for its length, the body is about to be sent: render it now.
            Kind::Problem { problem } => {
                SizeHint::with_exact(problem.as_ref().map_or(0, |p| p.bytes().len() as u64))
            }
        }
    }
}

/// An axum body: the inner service's own body when the response passed (nothing boxed again
/// when that is an axum `Body`, as under a router), else the rendered error, boxed.
///
/// For a stack wrapped around a router, where `axum::serve` wants axum's response type:
/// `ServiceBuilder::new().map_response(|r: Response<_>| r.map(Body::from))` costs no allocation
/// on a passing response, where `map_response(IntoResponse::into_response)` boxes its body.
///
/// ```
/// use axum::body::Body;
/// use bytes::Bytes;
/// use http_body_util::BodyExt;
/// use tower_envelope::body::ResponseBody;
///
/// # tokio_test::block_on(async {
/// let passing = Body::from(ResponseBody::new(Body::from("ok")));
/// assert_eq!(passing.collect().await.unwrap().to_bytes(), "ok");
/// let error = Body::from(ResponseBody::<Body>::full(Bytes::from("{}")));
/// assert_eq!(error.collect().await.unwrap().to_bytes(), "{}");
/// # });
/// ```
#[cfg(feature = "axum")]
impl<B> From<ResponseBody<B>> for axum::body::Body
where
    B: Into<axum::body::Body> + Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
{
    fn from(body: ResponseBody<B>) -> Self {
        match body.kind {
            Kind::Plain {
                body: Either::Inner { body },
            } => body.into(),
            kind => axum::body::Body::new(ResponseBody { kind }),
        }
    }
}

/// A validator's rejection: RFC 9457 problem details (what a client sees when no
/// [`crate::ErrorEnvelopeLayer`] is above), rendered only if read, with the `ApiError` in the
/// response extensions so that an envelope above renders it in its own format instead.
/// `request_id` is the request's raw `x-request-id`, validated here.
pub(crate) fn tagged_response<B>(
    error: ApiError,
    request_id: Option<&HeaderValue>,
) -> http::Response<ResponseBody<B>> {
    let id = RequestId::from_value_or_generate(request_id);
    let mut response = http::Response::new(());
    *response.status_mut() = Problem::new().status(&error);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, PROBLEM_JSON);
    error_headers(&error, headers);
    headers.insert(X_REQUEST_ID, id.header_value());
    let body = ResponseBody::problem(error.clone(), id);
    response.extensions_mut().insert(error);
    response.map(|()| body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use http_body_util::{BodyExt, Empty};

    #[test]
    fn a_problem_body_renders_once_with_an_exact_length() {
        let error = ApiError::new(ErrorKind::InvalidUrl, "bad %zz");
        let body: ResponseBody<Empty<Bytes>> = ResponseBody::problem(
            error,
            RequestId::from_value(&http::HeaderValue::from_static("req-1")).unwrap(),
        );
        assert!(!body.is_end_stream());
        let len = body.size_hint().exact().unwrap();
        let bytes = tokio_test::block_on(body.collect()).unwrap().to_bytes();
        assert_eq!(bytes.len() as u64, len);
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["status"], 400);
        assert_eq!(json["detail"], "bad %zz");
        assert_eq!(json["request_id"], "req-1");
    }
}
