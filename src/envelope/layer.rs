use std::borrow::Cow;
use std::sync::Arc;

use http::header::HeaderName;
use tower_layer::Layer;

use super::ErrorEnvelope;
use crate::format::{Defender, Edgio, Format, Google, Msi, Problem, QRadar, REQUEST_ID_HEADER};

/// The default bound on how much of an untagged error body the envelope reads: 16 KiB.
pub const DEFAULT_MAX_ERROR_BODY: usize = 16 * 1024;

/// Renders every failure of the services below it in one [`Format`].
///
/// See the [module docs](crate::envelope) for what it handles and in which order.
#[derive(Clone)]
pub struct ErrorEnvelopeLayer<F> {
    config: Config<F>,
}

#[derive(Clone)]
pub(crate) struct Config<F> {
    pub(crate) format: F,
    pub(crate) request_id_header: HeaderName,
    pub(crate) max_error_body: usize,
    pub(crate) catch_panic: bool,
    pub(crate) grpc_domain: Cow<'static, str>,
}

impl<F: std::fmt::Debug> std::fmt::Debug for ErrorEnvelopeLayer<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorEnvelopeLayer")
            .field("format", &self.config.format)
            .field("request_id_header", &self.config.request_id_header)
            .field("max_error_body", &self.config.max_error_body)
            .field("catch_panic", &self.config.catch_panic)
            .field("grpc_domain", &self.config.grpc_domain)
            .finish()
    }
}

impl ErrorEnvelopeLayer<Defender> {
    /// Microsoft Defender: `{"error":{"code","message","target"}}`.
    pub fn defender() -> Self {
        Self::new(Defender)
    }
}

impl ErrorEnvelopeLayer<QRadar> {
    /// IBM QRadar: `{"message","details","description","code","http_response"}`.
    pub fn qradar() -> Self {
        Self::new(QRadar::new())
    }
}

impl ErrorEnvelopeLayer<Msi> {
    /// Mandiant MSI: 427 for upstream failures, 422 for invalid requests, `{"detail"}` bodies.
    pub fn msi() -> Self {
        Self::new(Msi)
    }
}

impl ErrorEnvelopeLayer<Edgio> {
    /// EdgeCast / Edgio: `{"Message"}`, or XML when the client prefers it.
    pub fn edgio() -> Self {
        Self::new(Edgio)
    }
}

impl ErrorEnvelopeLayer<Problem> {
    /// RFC 9457 problem details with `type: "about:blank"`; pass a configured [`Problem`] to
    /// [`ErrorEnvelopeLayer::new`] for a type base URI.
    pub fn problem() -> Self {
        Self::new(Problem::new())
    }
}

impl ErrorEnvelopeLayer<Google> {
    /// Google AIP-193; pass a configured [`Google`] to [`ErrorEnvelopeLayer::new`] for your domain.
    pub fn google() -> Self {
        Self::new(Google::new())
    }
}

impl<F: Format> ErrorEnvelopeLayer<F> {
    /// An envelope rendering in `format` (any [`Format`], including `Arc<dyn Format>`).
    pub fn new(format: F) -> Self {
        Self {
            config: Config {
                format,
                request_id_header: HeaderName::from_static(REQUEST_ID_HEADER),
                max_error_body: DEFAULT_MAX_ERROR_BODY,
                catch_panic: false,
                grpc_domain: Cow::Borrowed(crate::format::grpc::DEFAULT_DOMAIN),
            },
        }
    }

    /// Turns a panic in the services below (in `call` or while polling their future) into an
    /// `Internal` error. The panic message never reaches the client; the server keeps serving.
    pub fn catch_panic(mut self) -> Self {
        self.config.catch_panic = true;
        self
    }

    /// The request header carrying the correlation id (default `x-request-id`). The error
    /// response carries the id in the same header.
    pub fn request_id_header(mut self, name: HeaderName) -> Self {
        self.config.request_id_header = name;
        self
    }

    /// The most bytes read from an untagged error body to look for a vendor envelope or a message
    /// (default [`DEFAULT_MAX_ERROR_BODY`]). A larger body is dropped, never buffered whole.
    pub fn max_error_body(mut self, bytes: usize) -> Self {
        self.config.max_error_body = bytes;
        self
    }

    /// The `ErrorInfo.domain` of the rich details on gRPC answers (feature `tonic`; default
    /// [`DEFAULT_DOMAIN`](crate::format::grpc::DEFAULT_DOMAIN), `"localhost"`): your service's
    /// name, e.g. `"api.example.com"`. See [`format::grpc`](crate::format::grpc). The
    /// [`Google`] format's JSON names its own domain ([`Google::with_domain`]): give both the same.
    pub fn grpc_domain(mut self, domain: impl Into<Cow<'static, str>>) -> Self {
        self.config.grpc_domain = domain.into();
        self
    }

    /// The format and the correlation id header, as the OpenAPI description reads them.
    #[cfg(feature = "utoipa")]
    pub(crate) fn format_and_id_header(&self) -> (&F, &HeaderName) {
        (&self.config.format, &self.config.request_id_header)
    }
}

impl<S, F: Format + Clone> Layer<S> for ErrorEnvelopeLayer<F> {
    type Service = ErrorEnvelope<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        ErrorEnvelope::with_config(inner, Arc::new(self.config.clone()))
    }
}
