//! [`AuthTokenLayer`] as a check: at once over a [`TokenValidator`], at once or later over a
//! [`BoxValidator`].

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::Request;

use super::{
    AsyncTokenValidator, AuthTokenLayer, Config, Denial, Principal, TokenError, TokenValidator,
};
use crate::check::{Check, Deferred, Refuse, Verdict};

/// A validation that answers later.
type Validation = Pin<Box<dyn Future<Output = Result<Principal, TokenError>> + Send>>;

/// An [`AsyncTokenValidator`] with its future boxed.
trait BoxedAsync: Send + Sync {
    fn validate(&self, token: &str) -> Validation;
    fn validate_now(&self, token: &str) -> Option<Result<Principal, TokenError>>;
}

impl<V> BoxedAsync for V
where
    V: AsyncTokenValidator + Send + Sync,
    V::Future: Send + 'static,
{
    fn validate(&self, token: &str) -> Validation {
        Box::pin(AsyncTokenValidator::validate(self, token))
    }

    fn validate_now(&self, token: &str) -> Option<Result<Principal, TokenError>> {
        AsyncTokenValidator::validate_now(self, token)
    }
}

/// Any validator, synchronous or not, with its type erased: `AuthTokenLayer<BoxValidator>` is
/// one type whatever checks the tokens, so a function can take or return it.
///
/// ```
/// use axum::{routing::get, Router};
/// use tower_envelope::auth::{AuthTokenLayer, BoxValidator, StaticTokens};
///
/// fn app(auth: AuthTokenLayer<BoxValidator>) -> Router {
///     Router::new().route("/machines", get(|| async { "[]" })).layer(auth)
/// }
///
/// let tokens = StaticTokens::new().token("read-token", ["read"]);
/// let _static = app(AuthTokenLayer::bearer(BoxValidator::new(tokens)));
/// let introspect = |token: &str| {
///     let known = token == "let-me-in";
///     async move {
///         if known { Ok(tower_envelope::auth::Principal::new("guest", ["read"])) }
///         else { Err(tower_envelope::auth::TokenError::Unknown) }
///     }
/// };
/// let _introspected = app(AuthTokenLayer::bearer_async(introspect));
/// ```
///
/// A synchronous validator is called through a pointer; an asynchronous one's future is boxed
/// and polled to completion before the inner service is called (the inner service must then be
/// `Clone`: the ready one goes with the request, a clone stays for the next `poll_ready`, the
/// tower-safe way).
#[derive(Clone)]
pub struct BoxValidator {
    validator: Erased,
    /// Whether it is one of the crate's validators that always answer (static tokens, a fixed
    /// JWT key set).
    #[cfg(feature = "utoipa")]
    always_answers: bool,
}

#[derive(Clone)]
enum Erased {
    Now(Arc<dyn TokenValidator + Send + Sync>),
    Later(Arc<dyn BoxedAsync>),
}

impl BoxValidator {
    /// A [`TokenValidator`] ([`StaticTokens`](super::StaticTokens), a closure, a JWT key set).
    pub fn new(validator: impl TokenValidator + Send + Sync + 'static) -> Self {
        Self {
            #[cfg(feature = "utoipa")]
            always_answers: crate::openapi::answers_at_once(&validator),
            validator: Erased::Now(Arc::new(validator)),
        }
    }

    /// An [`AsyncTokenValidator`] (an introspection call, a JWKS URL).
    pub fn new_async<V>(validator: V) -> Self
    where
        V: AsyncTokenValidator + Send + Sync + 'static,
        V::Future: Send + 'static,
    {
        Self {
            #[cfg(feature = "utoipa")]
            always_answers: false,
            validator: Erased::Later(Arc::new(validator)),
        }
    }

    /// Whether the validator may be unable to answer (503).
    #[cfg(feature = "utoipa")]
    pub(crate) fn may_be_unavailable(&self) -> bool {
        !self.always_answers
    }
}

impl fmt::Debug for BoxValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.validator {
            Erased::Now(_) => "BoxValidator(TokenValidator)",
            Erased::Later(_) => "BoxValidator(AsyncTokenValidator)",
        })
    }
}

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
        // The token borrows the headers; the principal is admitted once it is released.
        let validated = match config.scheme.credentials(request.headers()) {
            Ok(token) => self.validator.validate(token),
            Err(defect) => return verdict(Err(config.credentials_denial(defect)), request),
        };
        verdict(config.settle(validated, request, by_route), request)
    }

    fn pass(&self, (): (), request: Request<B>) -> Request<B> {
        request
    }
}

impl<S: Clone, B> Check<S, B> for AuthTokenLayer<BoxValidator> {
    type Body = B;
    type Pass = ();
    type Later = Deferred;

    fn check(&self, request: &mut Request<B>) -> Verdict<(), Deferred> {
        let config = &*self.config;
        let Some(by_route) = config.route(request) else {
            return Verdict::Pass(());
        };
        let validated = match (
            config.scheme.credentials(request.headers()),
            &self.validator.validator,
        ) {
            (Ok(token), Erased::Now(validator)) => validator.validate(token),
            (Ok(token), Erased::Later(validator)) => match validator.validate_now(token) {
                Some(validated) => validated,
                None => {
                    let validation = validator.validate(token);
                    let config = Arc::clone(&self.config);
                    let method = request.method().clone();
                    return Verdict::Wait(Deferred::new(async move {
                        let admitted = validation
                            .await
                            .map_err(|error| config.token_denial(error))
                            .and_then(|principal| config.admit(principal, &method, by_route));
                        match admitted {
                            Ok(principal) => {
                                let mut extensions = http::Extensions::new();
                                if let Some(principal) = principal {
                                    extensions.insert(principal);
                                }
                                Ok(extensions)
                            }
                            Err(denial) => {
                                let refuse: Refuse =
                                    Box::new(move |headers| denial.reject(headers));
                                Err(refuse)
                            }
                        }
                    }));
                }
            },
            (Err(defect), _) => return verdict(Err(config.credentials_denial(defect)), request),
        };
        verdict(config.settle(validated, request, by_route), request)
    }

    fn pass(&self, (): (), request: Request<B>) -> Request<B> {
        request
    }
}

/// The request passes, or is rejected with the denial.
#[inline]
fn verdict<B, L>(checked: Result<(), Denial>, request: &Request<B>) -> Verdict<(), L> {
    match checked {
        Ok(()) => Verdict::Pass(()),
        Err(denial) => Verdict::Reject(denial.reject(request.headers())),
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
