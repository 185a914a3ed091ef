//! The validator core: every validator of the crate is a check, run by one service,
//! [`Validate`], and one future, [`ResponseFuture`].
//!
//! A check takes the request and gives it back (possibly with a new body), rejects it with an
//! [`ApiError`](crate::ApiError), or — for a check that cannot answer at once, such as a token
//! introspected by a server or a body that must be read — hands back a future that does one of
//! the two later. A check that answers at once costs no extra poll, no clone of the inner
//! service and no allocation: its waiting future cannot be built, so the
//! future's waiting state takes no room and no code.
//!
//! tower-http's `ValidateRequest` and `AsyncAuthorizeRequest` are the model; the difference is
//! that a rejection stays data until the response is built, so that an
//! `ErrorEnvelopeLayer` above renders it in its format.
//!
//! The check trait is sealed: only the crate's layers implement it. A check of your own is a
//! tower-http `ValidateRequest` (or any middleware) that answers with
//! [`error_response`](crate::format::error_response): the envelope above renders the
//! `ApiError` it carries in its format.
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use bytes::Bytes;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_envelope::{format::error_response, ApiError, ErrorEnvelopeLayer, ErrorKind};
//!
//! # tokio_test::block_on(async {
//! // A check of one's own: no `X-Tenant` header, no entry.
//! let svc = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::defender())
//!     .service_fn(|request: Request<Full<Bytes>>| async move {
//!         if !request.headers().contains_key("x-tenant") {
//!             let error = ApiError::new(ErrorKind::Forbidden, "X-Tenant is required");
//!             return Ok::<_, std::convert::Infallible>(error_response(error).map(Full::new));
//!         }
//!         Ok(Response::new(Full::new(Bytes::from("ok"))))
//!     });
//! let response = svc.oneshot(Request::new(Full::default())).await.unwrap();
//! assert_eq!(response.status(), StatusCode::FORBIDDEN);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! assert_eq!(json["error"]["message"], "X-Tenant is required");
//! # });
//! ```

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::request::Parts;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::ResponseBody;

mod core;

pub(crate) use self::core::{Check, Deferred, Refuse, Rejection, Start, Verdict};

/// The service of every validator layer: runs the layer's check, then the inner service.
///
/// `C` is the layer itself (a [`BodyLimitLayer`](crate::BodyLimitLayer), an
/// [`AuthTokenLayer`](crate::AuthTokenLayer), ...): each layer's configuration is its check, so
/// the service of `ContentTypeLayer` over `S` is `Validate<S, ContentTypeLayer>`. The service
/// of [`ContentTypeLayer`](crate::ContentTypeLayer) hands the inner service
/// `Request<RequestBody<B>>` and needs it to be `Clone` (for `verify_json`, which calls a ready
/// clone once the body is verified); that of [`BodyLimitLayer`](crate::BodyLimitLayer) hands it
/// `Request<Limited<B>>`.
#[derive(Clone, Debug)]
pub struct Validate<S, C> {
    inner: S,
    check: C,
}

impl<S, C> Validate<S, C> {
    /// Wraps `inner` with the check configured by `check` (a validator layer).
    pub fn new(inner: S, check: C) -> Self {
        Self { inner, check }
    }

    inner_service_accessors!();
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for Validate<S, C>
where
    C: Check<S, ReqBody>,
    S: Service<Request<C::Body>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future =
        ResponseFuture<S, <C::Later as Start<S, ReqBody, C::Body>>::Wait, C::Body, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let state = match self.check.check(&mut request) {
            Verdict::Pass(pass) => State::Inner {
                future: self.inner.call(self.check.pass(pass, request)),
            },
            Verdict::Reject(rejection) => State::Rejected {
                rejection: Some(Box::new(rejection)),
            },
            Verdict::Wait(later) => State::Waiting {
                wait: later.start(request, &mut self.inner),
            },
        };
        ResponseFuture {
            state,
            _body: PhantomData,
        }
    }
}

pin_project! {
    /// The response future of [`Validate`]: the inner service's future, a rejection, or a check
    /// still deciding.
    pub struct ResponseFuture<S, W, B, R>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, W, B>,
        _body: PhantomData<fn() -> R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, W, B>
    where
        S: Service<Request<B>>,
    {
        Inner { #[pin] future: S::Future },
        // Boxed: a rejection is rare, and the future of every passing request stays small.
        Rejected { rejection: Option<Box<Rejection>> },
        Waiting { #[pin] wait: W },
    }
}

impl<S, W, B, R> Future for ResponseFuture<S, W, B, R>
where
    S: Service<Request<B>, Response = Response<R>>,
    W: Future<Output = Result<(S, Request<B>), Rejection>>,
{
    type Output = Result<Response<ResponseBody<R>>, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let next = match state.as_mut().project() {
                StateProj::Inner { future } => {
                    let response = ready!(future.poll(cx))?;
                    return Poll::Ready(Ok(response.map(ResponseBody::new)));
                }
                StateProj::Rejected { rejection } => {
                    let rejection = rejection.take().expect("future polled after completion");
                    return Poll::Ready(Ok((*rejection).into_response()));
                }
                StateProj::Waiting { wait } => match ready!(wait.poll(cx)) {
                    Ok((mut inner, request)) => State::Inner {
                        future: inner.call(request),
                    },
                    Err(rejection) => State::Rejected {
                        rejection: Some(Box::new(rejection)),
                    },
                },
            };
            state.set(next);
        }
    }
}

impl<S, W, B, R> fmt::Debug for ResponseFuture<S, W, B, R>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            State::Inner { .. } => "ResponseFuture::Inner",
            State::Rejected { .. } => "ResponseFuture::Rejected",
            State::Waiting { .. } => "ResponseFuture::Waiting",
        })
    }
}

/// Takes the ready inner service for a check that waits, leaving a clone for the next
/// `poll_ready` (the ready one must be the one called).
pub(crate) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

/// Lends `request`'s head to `f` as [`Parts`] (what the crate's per-request closures read),
/// moving its fields out and back: the request keeps its body and is not rebuilt.
pub(crate) fn with_parts<B, R>(request: &mut Request<B>, f: impl FnOnce(&Parts) -> R) -> R {
    let (mut parts, ()) = Request::new(()).into_parts();
    swap_head(&mut parts, request);
    let result = f(&parts);
    swap_head(&mut parts, request);
    result
}

fn swap_head<B>(parts: &mut Parts, request: &mut Request<B>) {
    std::mem::swap(&mut parts.method, request.method_mut());
    std::mem::swap(&mut parts.uri, request.uri_mut());
    std::mem::swap(&mut parts.version, request.version_mut());
    std::mem::swap(&mut parts.headers, request.headers_mut());
    std::mem::swap(&mut parts.extensions, request.extensions_mut());
}
