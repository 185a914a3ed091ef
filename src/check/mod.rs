//! The validator core: every validator of the crate is a check, run by one service,
//! [`Validate`], and one future, [`ResponseFuture`].
//!
//! A check takes the request and gives it back (possibly with a new body), rejects it with an
//! [`ApiError`], or — for a check that cannot answer at once, such as a token
//! introspected by a server or a body that must be read — hands back a future that does one of
//! the two later. A check that answers at once costs no extra poll, no clone of the inner
//! service and no allocation: its waiting future cannot be built, so the
//! future's waiting state takes no room and no code.
//!
//! tower-http's `ValidateRequest` and `AsyncAuthorizeRequest` are the model; the difference is
//! that a rejection stays data until the response is built, so that an
//! `ErrorEnvelopeLayer` above renders it in its format.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::error::ApiError;
use crate::format::{tagged_response, X_REQUEST_ID};

/// A validator: decides, from the request, whether it reaches the inner service `S`.
///
/// Hidden: it appears in the bounds of [`Validate`]'s `Service` impl, and only the crate
/// implements it.
#[doc(hidden)]
pub trait Check<S, B> {
    /// The request body the inner service receives.
    type Body;
    /// What a check that does not answer at once waits on; [`Never`] for one that always does.
    /// It resolves to the ready inner service (taken from the caller) and the request, or to a
    /// rejection.
    type Wait: Future<Output = Result<(S, Request<Self::Body>), Rejection>>;

    /// Checks `request`. `inner` is the service `poll_ready` readied: a check that waits takes
    /// it (leaving a clone behind, the tower-safe way), any other leaves it alone.
    fn check(&self, request: Request<B>, inner: &mut S) -> Verdict<Self::Body, Self::Wait>;
}

/// What a [`Check`] decided.
#[doc(hidden)]
pub enum Verdict<B, W> {
    /// The request goes on to the inner service.
    Pass(Request<B>),
    /// The request is answered with this error.
    Reject(Rejection),
    /// The answer comes later.
    Wait(W),
}

/// The waiting future of a check that always answers at once: it cannot be built.
#[doc(hidden)]
pub struct Never<T> {
    never: Infallible,
    _output: PhantomData<fn() -> T>,
}

impl<T> Future for Never<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
        match self.never {}
    }
}

/// The waiting future of a check that always answers at once, handing on `Request<B>`.
#[doc(hidden)]
pub type AtOnce<S, B> = Never<Result<(S, Request<B>), Rejection>>;

/// A check's refusal: the error, the challenge for an authentication failure, and the request's
/// raw correlation id (validated only if the rejection is rendered on its own).
#[doc(hidden)]
pub struct Rejection {
    error: ApiError,
    challenge: Option<HeaderValue>,
    request_id: Option<HeaderValue>,
}

impl Rejection {
    /// Rejects the request whose headers are `headers` with `error`.
    pub(crate) fn new(error: ApiError, headers: &HeaderMap) -> Self {
        Self {
            error,
            challenge: None,
            request_id: headers.get(X_REQUEST_ID).cloned(),
        }
    }

    /// Adds a `WWW-Authenticate` challenge.
    pub(crate) fn with_challenge(mut self, challenge: HeaderValue) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// The tagged response: the error in the extensions (rendered by an envelope above) and an
    /// RFC 9457 body rendered only if it is read.
    pub(crate) fn into_response<B>(self) -> Response<ResponseBody<B>> {
        let mut response = tagged_response(self.error, self.request_id.as_ref());
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

impl fmt::Debug for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejection")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// The service of every validator layer: runs the layer's check, then the inner service.
///
/// `C` is the layer itself (a [`BodyLimitLayer`](crate::BodyLimitLayer), an
/// [`AuthTokenLayer`](crate::AuthTokenLayer), ...): each layer's configuration is its check.
/// The crate names each use: [`BodyLimit`](crate::limit::BodyLimit),
/// [`AuthToken`](crate::auth::AuthToken), [`UrlEncoding`](crate::url::UrlEncoding),
/// [`ContentType`](crate::content_type::ContentType).
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

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for Validate<S, C>
where
    C: Check<S, ReqBody>,
    S: Service<Request<C::Body>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, C::Wait, C::Body, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let state = match self.check.check(request, &mut self.inner) {
            Verdict::Pass(request) => State::Inner {
                future: self.inner.call(request),
            },
            Verdict::Reject(rejection) => State::Rejected {
                rejection: Some(rejection),
            },
            Verdict::Wait(wait) => State::Waiting { wait },
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
        Rejected { rejection: Option<Rejection> },
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
                    return Poll::Ready(Ok(rejection.into_response()));
                }
                StateProj::Waiting { wait } => match ready!(wait.poll(cx)) {
                    Ok((mut inner, request)) => State::Inner {
                        future: inner.call(request),
                    },
                    Err(rejection) => State::Rejected {
                        rejection: Some(rejection),
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
