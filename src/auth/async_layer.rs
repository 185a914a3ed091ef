//! [`AsyncAuthTokenLayer`]: the same checks with an [`AsyncTokenValidator`] (introspection).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{builder_methods, AsyncTokenValidator, Config, Scheme, StaticTokens};
use crate::body::ResponseBody;

/// [`AuthTokenLayer`](super::AuthTokenLayer) with an [`AsyncTokenValidator`], for tokens that
/// must be checked against an authorization server (RFC 7662 introspection).
///
/// Header parsing, expiry, scopes, messages and challenges are exactly those of
/// `AuthTokenLayer`. A malformed header is rejected before the validator runs. Otherwise the
/// validation future is polled to completion *before* the inner service is called; the inner
/// service that `poll_ready` made ready moves into the response future and a clone takes its
/// place (the tower-safe way). [`TokenError::Unavailable`](super::TokenError::Unavailable)
/// answers 503.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_envelope::auth::{AsyncAuthTokenLayer, Principal, TokenError};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let introspect = |token: &str| {
///     let known = token == "let-me-in"; // a real validator would send the token to a server
///     async move {
///         if known { Ok(Principal::new("guest", ["read"])) } else { Err(TokenError::Unknown) }
///     }
/// };
/// let svc = ServiceBuilder::new()
///     .layer(AsyncAuthTokenLayer::bearer(introspect))
///     .service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
/// let req = Request::get("/").header("authorization", "Bearer nope").body(()).unwrap();
/// assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
/// # }
/// ```
#[derive(Clone)]
pub struct AsyncAuthTokenLayer<V> {
    validator: V,
    config: Arc<Config>,
}

impl<V: AsyncTokenValidator> AsyncAuthTokenLayer<V> {
    /// Reads `Authorization: Bearer <token>`.
    pub fn bearer(validator: V) -> Self {
        Self::new(Scheme::bearer(), validator)
    }

    /// Reads `Authorization: TOK:<token>`.
    pub fn tok(validator: V) -> Self {
        Self::new(Scheme::tok(), validator)
    }

    /// Reads the raw token from the header `name`.
    ///
    /// # Panics
    ///
    /// When `name` is not a valid header name.
    pub fn header(name: impl Into<std::borrow::Cow<'static, str>>, validator: V) -> Self {
        Self::new(Scheme::header(name), validator)
    }

    /// Reads the token as `scheme` says.
    pub fn new(scheme: Scheme, validator: V) -> Self {
        Self {
            validator,
            config: Arc::new(Config::new(scheme)),
        }
    }
}

impl<V> AsyncAuthTokenLayer<V> {
    builder_methods!();
}

impl<S, V: Clone> Layer<S> for AsyncAuthTokenLayer<V> {
    type Service = AsyncAuthToken<S, V>;

    fn layer(&self, inner: S) -> Self::Service {
        AsyncAuthToken {
            inner,
            validator: self.validator.clone(),
            config: Arc::clone(&self.config),
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for AsyncAuthTokenLayer<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncAuthTokenLayer")
            .field("validator", &self.validator)
            .field("config", &self.config)
            .finish()
    }
}

/// The service of [`AsyncAuthTokenLayer`].
#[derive(Clone)]
pub struct AsyncAuthToken<S, V = StaticTokens> {
    inner: S,
    validator: V,
    config: Arc<Config>,
}

impl<S, V> AsyncAuthToken<S, V> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug, V: fmt::Debug> fmt::Debug for AsyncAuthToken<S, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncAuthToken")
            .field("inner", &self.inner)
            .field("validator", &self.validator)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, V, ReqBody, ResBody> Service<Request<ReqBody>> for AsyncAuthToken<S, V>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    V: AsyncTokenValidator,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = AsyncResponseFuture<S, V::Future, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (request, anonymous) = self.config.anonymous(request);
        if anonymous {
            return AsyncResponseFuture {
                config: Arc::clone(&self.config),
                state: State::Inner {
                    future: self.inner.call(request),
                },
            };
        }
        let validation = match self.config.scheme.credentials(request.headers()) {
            Ok(token) => self.validator.validate(token),
            Err(defect) => {
                let response = self
                    .config
                    .credentials_rejection(defect)
                    .into_response(&request);
                return AsyncResponseFuture {
                    config: Arc::clone(&self.config),
                    state: State::Rejected {
                        response: Some(response),
                    },
                };
            }
        };
        // The ready service goes with the request; its clone stays for the next poll_ready.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        AsyncResponseFuture {
            config: Arc::clone(&self.config),
            state: State::Validating {
                validation,
                pending: Some((inner, request)),
            },
        }
    }
}

pin_project! {
    /// The response future of [`AsyncAuthToken`]: validation, then the inner service's future,
    /// or a rejection.
    pub struct AsyncResponseFuture<S, VF, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        config: Arc<Config>,
        #[pin]
        state: State<S, VF, ReqBody, ResBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, VF, ReqBody, ResBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Validating { #[pin] validation: VF, pending: Option<(S, Request<ReqBody>)> },
        Inner { #[pin] future: S::Future },
        Rejected { response: Option<Response<ResponseBody<ResBody>>> },
    }
}

impl<S, VF, ReqBody, ResBody> Future for AsyncResponseFuture<S, VF, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    VF: Future<Output = Result<super::Principal, super::TokenError>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Validating {
                    validation,
                    pending,
                } => {
                    let validated = ready!(validation.poll(cx));
                    let (mut inner, request) =
                        pending.take().expect("future polled after completion");
                    let (mut request, by_route) = this.config.route_scopes(request);
                    let checked = match validated {
                        Ok(principal) => this.config.admit(principal, &mut request, by_route),
                        Err(error) => Err(this.config.token_rejection(error)),
                    };
                    match checked {
                        Ok(()) => {
                            let future = inner.call(request);
                            this.state.set(State::Inner { future });
                        }
                        Err(rejection) => {
                            let response = rejection.into_response(&request);
                            this.state.set(State::Rejected {
                                response: Some(response),
                            });
                        }
                    }
                }
                StateProj::Inner { future } => {
                    return future
                        .poll(cx)
                        .map(|result| result.map(|res| res.map(ResponseBody::new)));
                }
                StateProj::Rejected { response } => {
                    return Poll::Ready(Ok(response
                        .take()
                        .expect("future polled after completion")));
                }
            }
        }
    }
}

impl<S, VF, ReqBody, ResBody> fmt::Debug for AsyncResponseFuture<S, VF, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.state {
            State::Validating { .. } => "AsyncResponseFuture::Validating",
            State::Inner { .. } => "AsyncResponseFuture::Inner",
            State::Rejected { .. } => "AsyncResponseFuture::Rejected",
        })
    }
}
