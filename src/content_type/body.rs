//! The request body behind a [`ContentTypeLayer`](super::ContentTypeLayer).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The request body the inner service of [`ContentType`](super::ContentType) receives: the original body, or
    /// the bytes (and trailers) that [`ContentTypeLayer::verify_json`](super::ContentTypeLayer::verify_json) buffered and verified.
    ///
    /// An enum rather than a boxed body, so that a passing request costs no allocation.
    pub struct RequestBody<B> {
        #[pin]
        kind: BodyKind<B>,
    }
}

pin_project! {
    #[project = BodyKindProj]
    enum BodyKind<B> {
        Inner { #[pin] body: B },
        Verified { data: Option<Bytes>, trailers: Option<HeaderMap> },
    }
}

impl<B> RequestBody<B> {
    /// Wraps an original body.
    pub fn new(body: B) -> Self {
        Self {
            kind: BodyKind::Inner { body },
        }
    }

    pub(super) fn verified(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            kind: BodyKind::Verified {
                data: (!data.is_empty()).then_some(data),
                trailers,
            },
        }
    }

    /// True when the body holds bytes buffered and verified by
    /// [`ContentTypeLayer::verify_json`](super::ContentTypeLayer::verify_json).
    pub fn is_verified(&self) -> bool {
        matches!(self.kind, BodyKind::Verified { .. })
    }
}

impl<B> fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Inner { .. } => f.write_str("RequestBody::Inner"),
            BodyKind::Verified { data, .. } => f
                .debug_tuple("RequestBody::Verified")
                .field(&data.as_ref().map_or(0, Bytes::len))
                .finish(),
        }
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.project().kind.project() {
            BodyKindProj::Inner { body } => body.poll_frame(cx),
            BodyKindProj::Verified { data, trailers } => Poll::Ready(
                data.take()
                    .map(Frame::data)
                    .or_else(|| trailers.take().map(Frame::trailers))
                    .map(Ok),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Inner { body } => body.is_end_stream(),
            BodyKind::Verified { data, trailers } => data.is_none() && trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            BodyKind::Inner { body } => body.size_hint(),
            BodyKind::Verified { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}
