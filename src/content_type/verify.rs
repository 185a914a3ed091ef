//! [`ContentTypeLayer::verify_json`](super::ContentTypeLayer::verify_json): the body is read (up
//! to a bound) and checked before the inner service is called.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Request};
use http_body::Body;
use http_body_util::LengthLimitError;
use pin_project_lite::pin_project;

use super::RequestBody;
use crate::check::{take_ready, Rejection, Start};
use crate::error::{in_source_chain, ApiError, ErrorKind};
use crate::limit::too_large_streamed;
use crate::BoxError;

/// A JSON body to read, up to this many bytes, and verify.
pub struct VerifyJson(pub(super) usize);

impl<S: Clone, B> Start<S, B, RequestBody<B>> for VerifyJson
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Wait = Verify<S, B>;

    fn start(self, request: Request<B>, inner: &mut S) -> Verify<S, B> {
        Verify::new(request, take_ready(inner), self.0)
    }
}

pin_project! {
    /// Reads a JSON body up to its bound and verifies its syntax; then hands the ready inner
    /// service the verified bytes, or rejects the request.
    pub struct Verify<S, B> {
        #[pin]
        body: B,
        head: Option<http::request::Parts>,
        service: Option<S>,
        buffer: Buffer,
        trailers: Option<HeaderMap>,
        bound: usize,
    }
}

impl<S, B> Verify<S, B> {
    fn new(request: Request<B>, service: S, bound: usize) -> Self {
        let (head, body) = request.into_parts();
        Self {
            body,
            head: Some(head),
            service: Some(service),
            buffer: Buffer::Empty,
            trailers: None,
            bound,
        }
    }
}

impl<S, B> Future for Verify<S, B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<(S, Request<RequestBody<B>>), Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let failure = loop {
            match this.body.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => break None,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(mut data) => {
                        // The bound is checked here rather than with `Limited`, so that an
                        // outer `Limited`'s error is told apart from ours.
                        if data.remaining() > this.bound.saturating_sub(this.buffer.len()) {
                            break Some(too_large_streamed(*this.bound));
                        }
                        this.buffer.push(data.copy_to_bytes(data.remaining()));
                    }
                    Err(frame) => {
                        if let Ok(more) = frame.into_trailers() {
                            match this.trailers {
                                Some(t) => t.extend(more),
                                None => *this.trailers = Some(more),
                            }
                        }
                    }
                },
                Poll::Ready(Some(Err(error))) => {
                    let error: BoxError = error.into();
                    break Some(if in_source_chain::<LengthLimitError>(&*error) {
                        ApiError::from_kind(ErrorKind::PayloadTooLarge)
                    } else {
                        ApiError::new(ErrorKind::BadRequest, "The request body could not be read")
                    });
                }
            }
        };
        let head = this.head.take().expect("future polled after completion");
        let bytes = std::mem::take(this.buffer).into_bytes();
        let failure = failure.or_else(|| {
            serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
                .err()
                .map(|e| {
                    ApiError::new(
                        ErrorKind::InvalidRequestBody,
                        format!("The request body is not valid JSON: {e}"),
                    )
                })
        });
        if let Some(error) = failure {
            return Poll::Ready(Err(Rejection::new(error, &head.headers)));
        }
        let service = this.service.take().expect("future polled after completion");
        let body = RequestBody::verified(bytes, this.trailers.take());
        Poll::Ready(Ok((service, Request::from_parts(head, body))))
    }
}

/// The bytes buffered so far: one chunk is kept as it is, several are copied together.
#[derive(Default)]
enum Buffer {
    #[default]
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Buffer {
    fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        *self = match std::mem::take(self) {
            Buffer::Empty => Buffer::One(chunk),
            Buffer::One(first) => {
                let mut all = BytesMut::with_capacity(first.len() + chunk.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&chunk);
                Buffer::Many(all)
            }
            Buffer::Many(mut all) => {
                all.extend_from_slice(&chunk);
                Buffer::Many(all)
            }
        };
    }

    fn len(&self) -> usize {
        match self {
            Buffer::Empty => 0,
            Buffer::One(bytes) => bytes.len(),
            Buffer::Many(all) => all.len(),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Buffer::Empty => Bytes::new(),
            Buffer::One(bytes) => bytes,
            Buffer::Many(all) => all.freeze(),
        }
    }
}
