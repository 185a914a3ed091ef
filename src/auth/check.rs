//! [`AuthTokenLayer`] as a check: at once over a [`TokenValidator`], later over an
//! [`AsyncTokenValidator`] wrapped in [`Async`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::Request;
use pin_project_lite::pin_project;

use super::{AsyncTokenValidator, AuthTokenLayer, Config, Principal, TokenError, TokenValidator};
use crate::check::{take_ready, AtOnce, Check, Rejection, Verdict};

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
    type Wait = AtOnce<S, B>;

    #[inline]
    fn check(&self, request: Request<B>, _: &mut S) -> Verdict<B, Self::Wait> {
        let config = &*self.config;
        let (mut request, by_route) = config.route(request);
        let Some(by_route) = by_route else {
            return Verdict::Pass(request);
        };
        let checked = config
            .scheme
            .credentials(request.headers())
            .map_err(|defect| config.credentials_denial(defect))
            .and_then(|token| {
                self.validator
                    .validate(token)
                    .map_err(|error| config.token_denial(error))
            })
            .and_then(|principal| config.admit(principal, &mut request, by_route));
        match checked {
            Ok(()) => Verdict::Pass(request),
            Err(denial) => Verdict::Reject(denial.reject(request.headers())),
        }
    }
}

impl<S, B, V> Check<S, B> for AuthTokenLayer<Async<V>>
where
    S: Clone,
    V: AsyncTokenValidator,
{
    type Body = B;
    type Wait = Validating<S, V::Future, B>;

    fn check(&self, request: Request<B>, inner: &mut S) -> Verdict<B, Self::Wait> {
        let config = &*self.config;
        let (request, by_route) = config.route(request);
        let Some(by_route) = by_route else {
            return Verdict::Pass(request);
        };
        let validation = match config.scheme.credentials(request.headers()) {
            Ok(token) => self.validator.0.validate(token),
            Err(defect) => {
                let denial = config.credentials_denial(defect);
                return Verdict::Reject(denial.reject(request.headers()));
            }
        };
        Verdict::Wait(Validating {
            validation,
            config: Arc::clone(&self.config),
            by_route,
            pending: Some((take_ready(inner), request)),
        })
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
            .and_then(|principal| config.admit(principal, &mut request, this.by_route));
        Poll::Ready(match checked {
            Ok(()) => Ok((inner, request)),
            Err(denial) => Err(denial.reject(request.headers())),
        })
    }
}

impl<S, F, B> fmt::Debug for Validating<S, F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validating").finish_non_exhaustive()
    }
}
