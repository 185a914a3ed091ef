use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{Method, Response};
use http_body::Body;
use pin_project_lite::pin_project;

use super::classify::{self, Bare};
use super::layer::Config;
use super::service::Panicked;
use crate::body::ResponseBody;
use crate::error::ApiError;
#[cfg(feature = "tracing")]
use crate::error::ErrorKind;
use crate::format::{grpc, render_response, Format, RequestContext, RequestId, REQUEST_ID_HEADER};
use crate::BoxError;

/// What the envelope keeps of a request to render its error: nothing that allocates unless the
/// format asks for it (`Accept` for Edgio, the path for `Problem::with_instance`).
pub(crate) struct RequestInfo {
    pub(crate) method: Method,
    pub(crate) grpc: Option<grpc::Protocol>,
    pub(crate) request_id: Option<RequestId>,
    pub(crate) accept: Option<HeaderValue>,
    pub(crate) path: Option<String>,
}

pin_project! {
    /// The response future of [`crate::envelope::ErrorEnvelope`].
    pub struct ResponseFuture<Fut, F, B> {
        #[pin]
        state: State<Fut, B>,
        info: RequestInfo,
        config: Arc<Config<F>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Fut, B> {
        Inner { #[pin] future: Fut },
        Reading {
            #[pin]
            body: B,
            parts: Option<http::response::Parts>,
            buf: Vec<u8>,
        },
        Failed { error: Option<ApiError> },
    }
}

impl<Fut, F, B> ResponseFuture<Fut, F, B> {
    pub(crate) fn new(future: Fut, info: RequestInfo, config: Arc<Config<F>>) -> Self {
        Self {
            state: State::Inner { future },
            info,
            config,
        }
    }

    pub(crate) fn error(error: ApiError, info: RequestInfo, config: Arc<Config<F>>) -> Self {
        Self {
            state: State::Failed { error: Some(error) },
            info,
            config,
        }
    }

    pub(crate) fn inner_error(
        error: BoxError,
        mut info: RequestInfo,
        config: Arc<Config<F>>,
    ) -> Self {
        let error = classify_inner(&*error, &mut info);
        Self::error(error, info, config)
    }
}

/// Classifies an inner error. Under the `tracing` feature an `Internal` one is logged at error
/// level with the correlation id (fixed here, so that the response carries the same id).
fn classify_inner(
    error: &(dyn std::error::Error + Send + Sync + 'static),
    info: &mut RequestInfo,
) -> ApiError {
    let api = classify::inner_error(error);
    #[cfg(feature = "tracing")]
    if api.kind() == ErrorKind::Internal {
        let id = *info.request_id.get_or_insert_with(RequestId::generate);
        tracing::error!(request_id = id.as_str(), error = %error, "inner service failed");
    }
    #[cfg(not(feature = "tracing"))]
    let _ = info;
    api
}

impl<Fut, F, B, E> Future for ResponseFuture<Fut, F, B>
where
    Fut: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    F: Format,
    B: Body<Data = Bytes>,
{
    type Output = Result<Response<ResponseBody<B>>, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let config = &**this.config;
        loop {
            match this.state.as_mut().project() {
                StateProj::Inner { future } => {
                    let polled = if config.catch_panic {
                        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                            Ok(polled) => polled.map_err(Into::into),
                            Err(_) => Poll::Ready(Err(BoxError::from(Panicked))),
                        }
                    } else {
                        future.poll(cx).map_err(Into::into)
                    };
                    let mut response = match ready!(polled) {
                        Ok(response) => response,
                        Err(error) => {
                            let error = classify_inner(&*error, this.info);
                            return Poll::Ready(Ok(render(config, this.info, error, None)));
                        }
                    };
                    let status = response.status();
                    if status.as_u16() < 400 {
                        return Poll::Ready(Ok(response.map(ResponseBody::new)));
                    }
                    if let Some(error) = response.extensions_mut().remove::<ApiError>() {
                        let (parts, _unread) = response.into_parts();
                        return Poll::Ready(Ok(render(config, this.info, error, Some(parts))));
                    }
                    let (parts, body) = response.into_parts();
                    match classify::bare(
                        status,
                        &parts.headers,
                        body.is_end_stream(),
                        config.max_error_body,
                    ) {
                        Bare::Now(error) => {
                            return Poll::Ready(Ok(render(config, this.info, error, Some(parts))));
                        }
                        Bare::Read => this.state.set(State::Reading {
                            body,
                            parts: Some(parts),
                            buf: Vec::new(),
                        }),
                    }
                }
                StateProj::Reading {
                    mut body,
                    parts,
                    buf,
                } => {
                    let head = parts.as_ref().expect("polled after completion");
                    let status = head.status;
                    let outcome = loop {
                        let polled = if config.catch_panic {
                            match catch_unwind(AssertUnwindSafe(|| body.as_mut().poll_frame(cx))) {
                                Ok(polled) => polled,
                                Err(_) => break None,
                            }
                        } else {
                            body.as_mut().poll_frame(cx)
                        };
                        match ready!(polled) {
                            Some(Ok(frame)) => {
                                if let Some(data) = frame.data_ref() {
                                    if buf.len() + data.len() > config.max_error_body {
                                        break None;
                                    }
                                    buf.extend_from_slice(data);
                                }
                            }
                            Some(Err(_)) => break None,
                            None => break Some(()),
                        }
                    };
                    let error = match outcome {
                        Some(()) => classify::read(status, &head.headers, buf),
                        None => classify::from_status(status, None),
                    };
                    let parts = parts.take();
                    this.state.set(State::Failed { error: None });
                    return Poll::Ready(Ok(render(config, this.info, error, parts)));
                }
                StateProj::Failed { error } => {
                    let error = error.take().expect("polled after completion");
                    return Poll::Ready(Ok(render(config, this.info, error, None)));
                }
            }
        }
    }
}

/// Renders `error` in the configured format (or as a gRPC status), keeping the original
/// response's headers and extensions except those describing the old body.
fn render<F: Format, B>(
    config: &Config<F>,
    info: &RequestInfo,
    error: ApiError,
    mut original: Option<http::response::Parts>,
) -> Response<ResponseBody<B>> {
    let id_header = &config.request_id_header;
    // The request's id; else the one an inner error response carries (the validators write
    // theirs under the default header name, whatever this envelope's is); else a new one.
    let id = info
        .request_id
        .or_else(|| {
            let headers = &original.as_ref()?.headers;
            RequestId::from_headers(headers, id_header)
                .or_else(|| RequestId::from_headers(headers, REQUEST_ID_HEADER))
        })
        .unwrap_or_else(RequestId::generate);
    if id_header != REQUEST_ID_HEADER {
        // One correlation id per response: the inner one under the default name goes.
        if let Some(parts) = original.as_mut() {
            parts.headers.remove(REQUEST_ID_HEADER);
        }
    }
    let mut response = if let Some(protocol) = info.grpc {
        let default = config.format.default_message(error.kind());
        let domain = &config.grpc_domain;
        let mut response = grpc::response(&error, default, protocol, &id, domain);
        insert_id(&mut response, id_header, &id);
        response
    } else {
        let cx = RequestContext::new(id.as_str(), &info.method).with_accept(info.accept.as_ref());
        let cx = match &info.path {
            Some(path) => cx.with_path(path),
            None => cx,
        };
        // `render_response` sets the id under the default header name.
        let mut rendered = render_response(&config.format, &error, &cx);
        if id_header != REQUEST_ID_HEADER {
            rendered.headers_mut().remove(REQUEST_ID_HEADER);
            insert_id(&mut rendered, id_header, &id);
        }
        if info.method == Method::HEAD {
            let len = rendered.body().len();
            let mut response = rendered.map(|_| ResponseBody::empty());
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(len));
            response
        } else {
            rendered.map(ResponseBody::full)
        }
    };
    if let Some(parts) = original {
        merge(&mut response, parts);
    }
    response
}

fn insert_id<B>(response: &mut Response<B>, name: &HeaderName, id: &RequestId) {
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(name.clone(), value);
    }
}

/// Keeps the original error response's headers (`Allow`, `WWW-Authenticate`, `Set-Cookie`...)
/// and extensions; the rendered response's own headers win, and `Content-Type`,
/// `Content-Length` and `Transfer-Encoding` of the old body are dropped.
fn merge<B>(response: &mut Response<B>, parts: http::response::Parts) {
    let headers = response.headers_mut();
    // `HeaderMap::into_iter` names a header once, then yields its further values unnamed.
    let mut current: Option<HeaderName> = None;
    for (name, value) in parts.headers {
        if let Some(name) = name {
            let keep = !matches!(name, CONTENT_TYPE | CONTENT_LENGTH | TRANSFER_ENCODING)
                && !headers.contains_key(&name);
            current = keep.then_some(name);
        }
        if let Some(name) = &current {
            headers.append(name.clone(), value);
        }
    }
    *response.version_mut() = parts.version;
    let mut extensions = parts.extensions;
    extensions.extend(std::mem::take(response.extensions_mut()));
    *response.extensions_mut() = extensions;
}
