//! The request body behind a [`ContentTypeLayer`](super::ContentTypeLayer).

use std::fmt;
use std::pin::Pin;
use std::task::Context;

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, SizeHint};
use pin_project_lite::pin_project;

use crate::body::{Either, Polled};

pin_project! {
    /// The request body the inner service of [`ContentType`](super::ContentType) receives: the original body, or
    /// the bytes (and trailers) that [`ContentTypeLayer::verify_json`](super::ContentTypeLayer::verify_json) buffered and verified.
    ///
    /// An enum rather than a boxed body, so that a passing request costs no allocation.
    pub struct RequestBody<B> {
        #[pin]
        kind: Either<B>,
    }
}

impl<B> RequestBody<B> {
    /// Wraps an original body.
    pub fn new(body: B) -> Self {
        Self {
            kind: Either::Inner { body },
        }
    }

    pub(super) fn verified(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            kind: Either::buffered(data, trailers),
        }
    }

    /// True when the body holds bytes buffered and verified by
    /// [`ContentTypeLayer::verify_json`](super::ContentTypeLayer::verify_json).
    pub fn is_verified(&self) -> bool {
        self.kind.buffered_len().is_some()
    }
}

impl<B> fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind.buffered_len() {
            None => f.write_str("RequestBody::Inner"),
            Some(len) => f.debug_tuple("RequestBody::Verified").field(&len).finish(),
        }
    }
}

// The buffered half is `Either`'s: a frame of data, then one of trailers.
impl<B: Body<Data = Bytes>> Body for RequestBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Polled<B::Error> {
        self.project().kind.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.kind.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.kind.size_hint()
    }
}
