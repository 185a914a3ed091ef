//! [`AuthTokenLayer`] as a check: at once over a [`TokenValidator`], later over an
//! [`AsyncTokenValidator`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::Request;
use pin_project_lite::pin_project;

use super::{AsyncTokenValidator, AuthTokenLayer, Config, Denial, Principal, TokenError};
use crate::check::{take_ready, Check, Rejection, Start, Verdict};

/// A validation that answers later, boxed so that every validator gives the layer one type.
pub(super) type Validation = Pin<Box<dyn Future<Output = Result<Principal, TokenError>> + Send>>;

/// An [`AsyncTokenValidator`] with its future boxed.
pub(super) trait BoxedValidator: Send + Sync {
    fn validate(&self, token: &str) -> Validation;
}

impl<V> BoxedValidator for V
where
    V: AsyncTokenValidator + Send + Sync,
    V::Future: Send + 'static,
{
    fn validate(&self, token: &str) -> Validation {
        Box::pin(AsyncTokenValidator::validate(self, token))
    }
}

impl<S: Clone, B> Check<S, B> for AuthTokenLayer {
    type Body = B;
    type Pass = ();
    type Later = Waiting;

    #[inline]
    fn check(&self, request: &mut Request<B>) -> Verdict<(), Waiting> {
        let config = &*self.config;
        let Some(by_route) = config.route(request) else {
            return Verdict::Pass(());
        };
        let validated = match config.scheme.credentials(request.headers()) {
            // The token borrows the headers; the principal is admitted once it is released.
            Ok(token) => match &self.validator {
                super::Validator::Now(validator) => validator.validate(token),
                super::Validator::Later(validator) => {
                    return Verdict::Wait(Waiting {
                        validation: validator.validate(token),
                        config: Arc::clone(&self.config),
                        by_route,
                    })
                }
            },
            Err(defect) => {
                let denial = config.credentials_denial(defect);
                return Verdict::Reject(denial.reject(request.headers()));
            }
        };
        match config.settle(validated, request, by_route) {
            Ok(()) => Verdict::Pass(()),
            Err(denial) => Verdict::Reject(denial.reject(request.headers())),
        }
    }

    fn pass(&self, (): (), request: Request<B>) -> Request<B> {
        request
    }
}

impl Config {
    /// Admits the principal `validated` names into `request` (expiry, scopes, the extension),
    /// or says why not.
    #[inline]
    fn settle<B>(
        &self,
        validated: Result<Principal, TokenError>,
        request: &mut Request<B>,
        by_route: &'static [&'static str],
    ) -> Result<(), Denial> {
        let principal = validated.map_err(|error| self.token_denial(error))?;
        if let Some(principal) = self.admit(principal, request.method(), by_route)? {
            request.extensions_mut().insert(principal);
        }
        Ok(())
    }
}

/// A validation started by the token check, and what admitting its principal needs.
pub struct Waiting {
    validation: Validation,
    config: Arc<Config>,
    by_route: &'static [&'static str],
}

impl<S: Clone, B> Start<S, B, B> for Waiting {
    type Wait = Validating<S, B>;

    fn start(self, request: Request<B>, inner: &mut S) -> Self::Wait {
        Validating {
            waiting: self,
            pending: Some((take_ready(inner), request)),
        }
    }
}

pin_project! {
    /// An asynchronous validation in progress, holding the request and the ready inner service.
    pub struct Validating<S, B> {
        waiting: Waiting,
        pending: Option<(S, Request<B>)>,
    }
}

impl<S, B> Future for Validating<S, B> {
    type Output = Result<(S, Request<B>), Rejection>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let waiting = &mut *this.waiting;
        let validated = ready!(waiting.validation.as_mut().poll(cx));
        let (inner, mut request) = this.pending.take().expect("future polled after completion");
        Poll::Ready(
            match waiting
                .config
                .settle(validated, &mut request, waiting.by_route)
            {
                Ok(()) => Ok((inner, request)),
                Err(denial) => Err(denial.reject(request.headers())),
            },
        )
    }
}

impl<S, B> fmt::Debug for Validating<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validating").finish_non_exhaustive()
    }
}
