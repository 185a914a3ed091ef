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
use http::request::Parts;
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
///
/// A check reads the request in place ([`Check::check`]), so that a passing request is moved
/// no more than the inner service call moves it; only a check that changes the body
/// ([`Check::pass`]) or waits ([`Check::wait`]) takes it.
#[doc(hidden)]
pub trait Check<S, B> {
    /// The request body the inner service receives.
    type Body;
    /// What [`Check::check`] learned that [`Check::pass`] needs (a body limit, say).
    type Pass;
    /// What [`Check::check`] starts when the answer comes later; [`Infallible`] for a check
    /// that always answers at once.
    type Later: Start<S, B, Self::Body>;

    /// Checks `request` in place.
    fn check(&self, request: &mut Request<B>) -> Verdict<Self::Pass, Self::Later>;

    /// The passing request as the inner service receives it.
    fn pass(&self, pass: Self::Pass, request: Request<B>) -> Request<Self::Body>;
}

/// An answer that comes later: started with the request (body `B`) and the ready inner service,
/// it resolves to that service and the request as the inner service receives it (body `Out`),
/// or to a rejection.
#[doc(hidden)]
pub trait Start<S, B, Out> {
    /// The waiting future.
    type Wait: Future<Output = Result<(S, Request<Out>), Rejection>>;

    /// Starts waiting. `inner` is the service `poll_ready` readied: the future takes it, leaving
    /// a clone behind (the tower-safe way; see [`take_ready`]).
    fn start(self, request: Request<B>, inner: &mut S) -> Self::Wait;
}

/// A check that always answers at once never starts a wait: its future cannot be built.
impl<S, B, Out> Start<S, B, Out> for Infallible {
    type Wait = Never<Result<(S, Request<Out>), Rejection>>;

    fn start(self, _: Request<B>, _: &mut S) -> Self::Wait {
        match self {}
    }
}

/// What [`Check::check`] decided.
#[doc(hidden)]
pub enum Verdict<P, L> {
    /// The request goes on to the inner service.
    Pass(P),
    /// The request is answered with this error.
    Reject(Rejection),
    /// The answer comes later.
    Wait(L),
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

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

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
