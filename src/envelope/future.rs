use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH};
use http::uri::PathAndQuery;
use http::{Method, Response};
use http_body::Body;
use pin_project_lite::pin_project;

use super::classify::{self, Bare, Panicked};
use super::layer::Config;
use crate::body::ResponseBody;
use crate::error::ApiError;
#[cfg(feature = "tracing")]
use crate::error::ErrorKind;
use crate::format::{drop_body_headers, grpc, render_into, Format, RequestContext, X_REQUEST_ID};
use crate::request_id::RequestId;
use crate::BoxError;

/// What the envelope keeps of a request to render its error: shared header values, cloned
/// without allocating; `Accept` and the path only for a format that reads them.
pub(crate) struct RequestInfo {
    pub(crate) method: Method,
    pub(crate) grpc: Option<grpc::Protocol>,
    /// The raw request id header, validated only when an error is rendered.
    pub(crate) request_id: Option<HeaderValue>,
    pub(crate) extra: Extra,
}

/// The request's `Accept` and path, kept for a format that reads them, in one slot: the
/// envelope's future is moved whole on every request, and its guard rail shows the size (only a
/// format that reads both, which no built-in one does, boxes them).
pub(crate) enum Extra {
    None,
    Accept(HeaderValue),
    Path(PathAndQuery),
    Both(Box<(Option<HeaderValue>, Option<PathAndQuery>)>),
}

impl Extra {
    /// Keeps what `format` reads of the request.
    pub(crate) fn of<F: Format, B>(format: &F, request: &http::Request<B>) -> Self {
        let accept = || request.headers().get(http::header::ACCEPT).cloned();
        let path = || request.uri().path_and_query().cloned();
        match (format.uses_accept(), format.uses_path()) {
            (false, false) => Self::None,
            (true, false) => accept().map_or(Self::None, Self::Accept),
            (false, true) => path().map_or(Self::None, Self::Path),
            (true, true) => Self::Both(Box::new((accept(), path()))),
        }
    }

    fn accept(&self) -> Option<&HeaderValue> {
        match self {
            Self::Accept(accept) => Some(accept),
            Self::Both(both) => both.0.as_ref(),
            Self::None | Self::Path(_) => None,
        }
    }

    fn path(&self) -> Option<&PathAndQuery> {
        match self {
            Self::Path(path) => Some(path),
            Self::Both(both) => both.1.as_ref(),
            Self::None | Self::Accept(_) => None,
        }
    }
}

pin_project! {
    /// The response future of [`crate::envelope::ErrorEnvelope`].
    #[project = ResponseFutureProj]
    pub struct ResponseFuture<Fut, F, B> {
        #[pin]
        state: State<Fut, B>,
        info: RequestInfo,
        config: Arc<Config<F>>,
    }
}

pin_project! {
    // The error states are boxed: the future of every passing request stays the size of the
    // inner future and what rendering an error needs of the request.
    #[project = StateProj]
    enum State<Fut, B> {
        Inner { #[pin] future: Fut },
        Reading { reading: Pin<Box<Reading<B>>> },
        Failed { error: Option<Box<ApiError>> },
    }
}

pin_project! {
    /// An untagged error body being read, up to the bound.
    #[project = ReadingProj]
    struct Reading<B> {
        #[pin]
        body: B,
        parts: Option<http::response::Parts>,
        buf: Vec<u8>,
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
            state: State::Failed {
                error: Some(Box::new(error)),
            },
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
        let id = RequestId::from_value_or_generate(info.request_id.as_ref());
        tracing::error!(request_id = id.as_str(), error = %error, "inner service failed");
        // The response carries the id that was logged.
        info.request_id = Some(id.into_header_value());
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

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        match this.state.as_mut().project() {
            StateProj::Inner { future } => {
                let polled = if this.config.catch_panic {
                    match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                        Ok(polled) => ready!(polled).map_err(Into::into),
                        Err(_) => Err(BoxError::from(Panicked)),
                    }
                } else {
                    ready!(future.poll(cx)).map_err(Into::into)
                };
                match polled {
                    // A passing response goes on as it is.
                    Ok(response) if response.status().as_u16() < 400 => {
                        Poll::Ready(Ok(response.map(ResponseBody::new)))
                    }
                    polled => answer(this, polled, cx),
                }
            }
            StateProj::Reading { reading } => {
                let response = ready!(read(reading.as_mut(), this.config, this.info, cx));
                this.state.set(State::Failed { error: None });
                Poll::Ready(Ok(response))
            }
            StateProj::Failed { error } => {
                let error = error.take().expect("polled after completion");
                Poll::Ready(Ok(render(this.config, this.info, *error, None)))
            }
        }
    }
}

type Answer<B> = Poll<Result<Response<ResponseBody<B>>, std::convert::Infallible>>;

/// Answers an inner failure or an error response (400 and above; `poll` passes the others
/// on): rendered now, or once its body is read. Cold: the passing path stays small.
#[cold]
fn answer<Fut, F: Format, B: Body<Data = Bytes>>(
    mut this: ResponseFutureProj<'_, Fut, F, B>,
    polled: Result<Response<B>, BoxError>,
    cx: &mut Context<'_>,
) -> Answer<B> {
    let config = &**this.config;
    let mut response = match polled {
        Ok(response) => response,
        Err(error) => {
            let error = classify_inner(&*error, this.info);
            return Poll::Ready(Ok(render(config, this.info, error, None)));
        }
    };
    let status = response.status();
    debug_assert!(
        status.as_u16() >= 400,
        "a passing response is passed on where it is polled"
    );
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
        Bare::Now(error) => Poll::Ready(Ok(render(config, this.info, error, Some(parts)))),
        Bare::Read => {
            let mut reading = Box::pin(Reading {
                body,
                parts: Some(parts),
                buf: Vec::new(),
            });
            match read(reading.as_mut(), config, this.info, cx) {
                Poll::Ready(response) => {
                    this.state.set(State::Failed { error: None });
                    Poll::Ready(Ok(response))
                }
                Poll::Pending => {
                    this.state.set(State::Reading { reading });
                    Poll::Pending
                }
            }
        }
    }
}

/// Reads an untagged error body, up to the bound, and renders the error it describes.
#[cold]
fn read<F: Format, B: Body<Data = Bytes>>(
    reading: Pin<&mut Reading<B>>,
    config: &Config<F>,
    info: &RequestInfo,
    cx: &mut Context<'_>,
) -> Poll<Response<ResponseBody<B>>> {
    let ReadingProj {
        mut body,
        parts,
        buf,
    } = reading.project();
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
    Poll::Ready(render(config, info, error, parts.take()))
}

/// Renders `error` in the configured format (or as a gRPC status), keeping the original
/// response's headers and extensions except those describing the old body.
fn render<F: Format, B>(
    config: &Config<F>,
    info: &RequestInfo,
    error: ApiError,
    original: Option<http::response::Parts>,
) -> Response<ResponseBody<B>> {
    let id_header = &config.request_id_header;
    // The error response's own head is kept (its `Allow`, `WWW-Authenticate`, `Set-Cookie`,
    // extensions...), with the rendered error's headers written over it.
    let (mut head, ()) = match original {
        Some(head) => (head, ()),
        None => Response::new(()).into_parts(),
    };
    // The request's id; else the one the error response carries (a validator's, written under
    // the default header name whatever this envelope's is), which stays where it is if it is
    // under this envelope's name; else a new one.
    let custom = *id_header != X_REQUEST_ID;
    let (id, insert) = match info.request_id.as_ref().and_then(RequestId::from_value) {
        Some(id) => (id, true),
        None => match RequestId::from_headers(&head.headers, id_header) {
            Some(id) => (id, false),
            None => match custom
                .then(|| RequestId::from_headers(&head.headers, &X_REQUEST_ID))
                .flatten()
            {
                Some(id) => (id, true),
                None => (RequestId::generate(), true),
            },
        },
    };
    if custom {
        // One correlation id per response: the inner one under the default name goes.
        head.headers.remove(X_REQUEST_ID);
    }
    if let Some(protocol) = info.grpc {
        let default = config.format.default_message(error.kind());
        head.status = http::StatusCode::OK;
        drop_body_headers(&mut head.headers);
        grpc::write_trailers_only(
            &mut head.headers,
            &error,
            default,
            protocol,
            id.as_str(),
            &config.grpc_domain,
        );
        if insert {
            head.headers
                .insert(id_header.clone(), id.into_header_value());
        }
        return Response::from_parts(head, ResponseBody::empty());
    }
    let cx = RequestContext::new(id.as_str(), &info.method).with_accept(info.extra.accept());
    let cx = match info.extra.path() {
        Some(path) => cx.with_path(path.path()),
        None => cx,
    };
    let body = render_into(&mut head, &config.format, &error, &cx);
    if insert {
        head.headers
            .insert(id_header.clone(), id.into_header_value());
    }
    if info.method == Method::HEAD {
        head.headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        return Response::from_parts(head, ResponseBody::empty());
    }
    Response::from_parts(head, ResponseBody::full(body))
}
