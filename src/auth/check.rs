//! [`AuthTokenLayer`] as a check: at once over a [`TokenValidator`], later over an
//! [`AsyncTokenValidator`] wrapped in [`Async`].

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::Request;
use pin_project_lite::pin_project;

use super::{AsyncTokenValidator, AuthTokenLayer, Config, Principal, TokenError, TokenValidator};
use crate::check::{take_ready, Check, Rejection, Start, Verdict};

/// An [`AsyncTokenValidator`] for [`AuthTokenLayer`]: tokens checked by a call to another
/// service (RFC 7662 introspection).
///
/// Header parsing, expiry, scopes, messages and challenges are exactly those of a synchronous
/// validator. A malformed header is rejected before the validator runs; otherwise the
/// validation future is polled to completion *before* the inner service is called, and
/// [`TokenError::Unavailable`] answers 503.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_envelope::auth::{Async, AuthTokenLayer, Principal, TokenError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let introspect = |token: &str| {
///     let known = token == "let-me-in"; // a real validator would send the token to a server
///     async move {
///         if known { Ok(Principal::new("guest", ["read"])) } else { Err(TokenError::Unknown) }
///     }
/// };
/// let svc = ServiceBuilder::new()
///     .layer(AuthTokenLayer::bearer(Async(introspect)))
///     .service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
/// let req = Request::get("/").header("authorization", "Bearer nope").body(()).unwrap();
/// assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Async<V>(pub V);

impl<S, B, V: TokenValidator> Check<S, B> for AuthTokenLayer<V> {
    type Body = B;
    type Pass = ();
    type Later = Infallible;

    #[inline]
    fn check(&self, request: &mut Request<B>) -> Verdict<(), Infallible> {
        let config = &*self.config;
        let Some(by_route) = config.route(request) else {
            return Verdict::Pass(());
        };
        let checked = match config.scheme.credentials(request.headers()) {
            Ok(token) => {
                // The token borrows the headers; the principal is admitted once it is released.
                let validated = self.validator.validate(token);
                match validated.map(|principal| config.admit(principal, request.method(), by_route))
                {
                    Ok(Ok(principal)) => {
                        if let Some(principal) = principal {
                            request.extensions_mut().insert(principal);
                        }
                        Ok(())
                    }
                    Ok(Err(denial)) => Err(denial),
                    Err(error) => Err(config.token_denial(error)),
                }
            }
            Err(defect) => Err(config.credentials_denial(defect)),
        };
        match checked {
            Ok(()) => Verdict::Pass(()),
            Err(denial) => Verdict::Reject(denial.reject(request.headers())),
        }
    }

    fn pass(&self, (): (), request: Request<B>) -> Request<B> {
        request
    }
}

impl<S, B, V> Check<S, B> for AuthTokenLayer<Async<V>>
where
    S: Clone,
    V: AsyncTokenValidator,
{
    type Body = B;
    type Pass = ();
    type Later = Validation<V::Future>;

    fn check(&self, request: &mut Request<B>) -> Verdict<(), Self::Later> {
        let config = &*self.config;
        let Some(by_route) = config.route(request) else {
            return Verdict::Pass(());
        };
        match config.scheme.credentials(request.headers()) {
            Ok(token) => Verdict::Wait(Validation {
                validation: self.validator.0.validate(token),
                config: Arc::clone(&self.config),
                by_route,
            }),
            Err(defect) => {
                let denial = config.credentials_denial(defect);
                Verdict::Reject(denial.reject(request.headers()))
            }
        }
    }

    fn pass(&self, (): (), request: Request<B>) -> Request<B> {
        request
    }
}

/// A validation started by the token check, and what admitting its principal needs.
pub struct Validation<F> {
    validation: F,
    config: Arc<Config>,
    by_route: &'static [&'static str],
}

impl<S: Clone, B, F> Start<S, B, B> for Validation<F>
where
    F: Future<Output = Result<Principal, TokenError>>,
{
    type Wait = Validating<S, F, B>;

    fn start(self, request: Request<B>, inner: &mut S) -> Self::Wait {
        Validating {
            validation: self.validation,
            config: self.config,
            by_route: self.by_route,
            pending: Some((take_ready(inner), request)),
        }
    }
}

pin_project! {
    /// An asynchronous validation in progress, holding the request and the ready inner service.
    pub struct Validating<S, F, B> {
        #[pin]
        validation: F,
        config: Arc<Config>,
        by_route: &'static [&'static str],
        pending: Option<(S, Request<B>)>,
    }
}

impl<S, F, B> Future for Validating<S, F, B>
where
    F: Future<Output = Result<Principal, TokenError>>,
{
    type Output = Result<(S, Request<B>), Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let validated = ready!(this.validation.poll(cx));
        let (inner, mut request) = this.pending.take().expect("future polled after completion");
        let config = &**this.config;
        let checked = validated
            .map_err(|error| config.token_denial(error))
            .and_then(|principal| config.admit(principal, request.method(), this.by_route));
        Poll::Ready(match checked {
            Ok(principal) => {
                if let Some(principal) = principal {
                    request.extensions_mut().insert(principal);
                }
                Ok((inner, request))
            }
            Err(denial) => Err(denial.reject(request.headers())),
        })
    }
}

impl<S, F, B> fmt::Debug for Validating<S, F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validating").finish_non_exhaustive()
    }
}
