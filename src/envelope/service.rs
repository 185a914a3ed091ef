use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, Request, Response};
use tower_service::Service;

use super::classify::Panicked;
use super::future::{Extra, RequestInfo, ResponseFuture};
use super::layer::Config;
use crate::body::ResponseBody;
use crate::error::{ApiError, ErrorKind};
use crate::format::grpc::Protocol;
use crate::format::Format;
use crate::BoxError;

/// The service of [`crate::ErrorEnvelopeLayer`].
pub struct ErrorEnvelope<S, F> {
    inner: S,
    config: Arc<Config<F>>,
    /// An error `poll_ready` of the inner service returned; the next call answers with it.
    not_ready: Option<BoxError>,
}

impl<S: Clone, F> Clone for ErrorEnvelope<S, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: self.config.clone(),
            not_ready: None,
        }
    }
}

impl<S: std::fmt::Debug, F: std::fmt::Debug> std::fmt::Debug for ErrorEnvelope<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorEnvelope")
            .field("inner", &self.inner)
            .field("format", &self.config.format)
            .finish_non_exhaustive()
    }
}

impl<S, F: Format> ErrorEnvelope<S, F> {
    /// Wraps `inner`, rendering its failures in `format` with the default settings.
    pub fn new(inner: S, format: F) -> Self
    where
        F: Clone,
    {
        use tower_layer::Layer;
        crate::ErrorEnvelopeLayer::new(format).layer(inner)
    }

    pub(crate) fn with_config(inner: S, config: Arc<Config<F>>) -> Self {
        Self {
            inner,
            config,
            not_ready: None,
        }
    }

    inner_service_accessors!();
}

impl<S, F, ReqBody, ResBody> Service<Request<ReqBody>> for ErrorEnvelope<S, F>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    F: Format,
    ResBody: http_body::Body<Data = Bytes>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future, F, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.not_ready.is_some() {
            return Poll::Ready(Ok(()));
        }
        let polled = if self.config.catch_panic {
            match catch_unwind(AssertUnwindSafe(|| self.inner.poll_ready(cx))) {
                Ok(polled) => polled.map_err(Into::into),
                Err(_) => Poll::Ready(Err(BoxError::from(Panicked))),
            }
        } else {
            self.inner.poll_ready(cx).map_err(Into::into)
        };
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => {
                self.not_ready = Some(e);
                Poll::Ready(Ok(()))
            }
        }
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let config = &*self.config;
        let headers = request.headers();
        // One pass over the headers finds the id and the content type: hashing the id's custom
        // name costs more than comparing a request's names (the envelope's guard rail shows it).
        let (mut request_id, mut content_type) = (None, None);
        for (name, value) in headers {
            if *name == config.request_id_header {
                request_id = request_id.or(Some(value));
            } else if name == CONTENT_TYPE {
                content_type = content_type.or(Some(value));
            }
        }
        // Only what rendering an error needs, kept as shared values: the id is validated, the
        // `Accept` and the path read, only if an error is rendered. gRPC calls are POSTs.
        let info = RequestInfo {
            method: request.method().clone(),
            grpc: (request.method() == Method::POST)
                .then(|| Protocol::from_content_type(content_type))
                .flatten(),
            request_id: request_id.cloned(),
            extra: Extra::of(&config.format, &request),
        };
        if self.not_ready.is_some() || config.catch_panic {
            return self.call_guarded(request, info);
        }
        ResponseFuture::new(self.inner.call(request), info, self.config.clone())
    }
}

impl<S, F> ErrorEnvelope<S, F> {
    /// Calls the inner service after it failed to become ready, or under `catch_panic`.
    fn call_guarded<ReqBody, ResBody>(
        &mut self,
        request: Request<ReqBody>,
        info: RequestInfo,
    ) -> ResponseFuture<S::Future, F, ResBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        S::Error: Into<BoxError>,
    {
        let config = self.config.clone();
        if let Some(error) = self.not_ready.take() {
            return ResponseFuture::inner_error(error, info, config);
        }
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => ResponseFuture::new(future, info, config),
            Err(_) => ResponseFuture::error(ApiError::from_kind(ErrorKind::Internal), info, config),
        }
    }
}
