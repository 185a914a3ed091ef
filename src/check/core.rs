//! The check trait and what it decides: sealed, since only the crate's validators implement
//! them. They are `pub` in this private module because they appear in the bounds and the future
//! type of [`Validate`](super::Validate)'s `Service` impl; nothing outside the crate can name
//! them. To validate requests your own way, use tower-http's `ValidateRequest` or
//! `AsyncAuthorizeRequest` and answer with [`crate::format::error_response`]: an
//! `ErrorEnvelopeLayer` above renders its `ApiError` in its format.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::header::{HeaderMap, HeaderName, HeaderValue, WWW_AUTHENTICATE};
use http::{Request, Response};
use pin_project_lite::pin_project;

use crate::body::tagged_response;
use crate::body::ResponseBody;
use crate::error::ApiError;
use crate::format::X_REQUEST_ID;

/// A validator: decides, from the request, whether it reaches the inner service `S`.
///
/// A check reads the request in place ([`Check::check`]), so that a passing request is moved
/// no more than the inner service call moves it; only a check that changes the body
/// ([`Check::pass`]) or waits ([`Check::wait`]) takes it.
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
pub trait Start<S, B, Out> {
    /// The waiting future.
    type Wait: Future<Output = Result<(S, Request<Out>), Rejection>>;

    /// Starts waiting. `inner` is the service `poll_ready` readied: the future takes it, leaving
    /// a clone behind (the tower-safe way; see `take_ready`).
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
pub enum Verdict<P, L> {
    /// The request goes on to the inner service.
    Pass(P),
    /// The request is answered with this error.
    Reject(Rejection),
    /// The answer comes later.
    Wait(L),
}

/// The waiting future of a check that always answers at once: it cannot be built.
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
pub struct Rejection {
    error: ApiError,
    challenge: Option<HeaderValue>,
    /// Other headers of the answer (a quota's `RateLimit` fields).
    headers: Vec<(HeaderName, HeaderValue)>,
    request_id: Option<HeaderValue>,
}

impl Rejection {
    /// Rejects the request whose headers are `headers` with `error`.
    pub(crate) fn new(error: ApiError, headers: &HeaderMap) -> Self {
        Self {
            error,
            challenge: None,
            headers: Vec::new(),
            request_id: headers.get(X_REQUEST_ID).cloned(),
        }
    }

    /// Adds a `WWW-Authenticate` challenge.
    pub(crate) fn with_challenge(mut self, challenge: HeaderValue) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// Adds a header to the answer.
    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The tagged response: the error in the extensions (rendered by an envelope above) and an
    /// RFC 9457 body rendered only if it is read.
    pub(crate) fn into_response<B>(self) -> Response<ResponseBody<B>> {
        let mut response = tagged_response(self.error, self.request_id.as_ref());
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
        }
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
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

/// A check's answer that comes from a future of its own (a token's validation, a quota's
/// store, an account's lookup): it resolves to
/// the extensions the passing request gains, or to the refusal, built from the request's
/// headers once the request is back in hand.
pub struct Deferred {
    decision: Decision,
}

type Decision = Pin<Box<dyn Future<Output = Result<http::Extensions, Refuse>> + Send>>;

/// Builds a refusal from the request's headers.
pub(crate) type Refuse = Box<dyn FnOnce(&http::HeaderMap) -> Rejection + Send>;

impl Deferred {
    /// The answer `decision` gives.
    pub(crate) fn new(
        decision: impl Future<Output = Result<http::Extensions, Refuse>> + Send + 'static,
    ) -> Self {
        Self {
            decision: Box::pin(decision),
        }
    }
}

impl<S: Clone, B> Start<S, B, B> for Deferred {
    type Wait = Deciding<S, B>;

    fn start(self, request: Request<B>, inner: &mut S) -> Self::Wait {
        Deciding {
            decision: self.decision,
            parked: Some((super::take_ready(inner), request)),
        }
    }
}

pin_project! {
    /// The waiting future of a [`Deferred`] answer: the decision, with the request and the
    /// ready inner service parked beside it.
    pub struct Deciding<S, B> {
        decision: Decision,
        parked: Option<(S, Request<B>)>,
    }
}

impl<S, B> Future for Deciding<S, B> {
    type Output = Result<(S, Request<B>), Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let decision = ready!(this.decision.as_mut().poll(cx));
        let (inner, mut request) = this.parked.take().expect("polled after completion");
        Poll::Ready(match decision {
            Ok(extensions) => {
                request.extensions_mut().extend(extensions);
                Ok((inner, request))
            }
            Err(refuse) => Err(refuse(request.headers())),
        })
    }
}
