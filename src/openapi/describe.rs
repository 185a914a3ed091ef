//! What each layer can answer, read from the configuration that builds it.

use std::borrow::Cow;

use http::Method;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};

use crate::auth::{AuthTokenLayer, BoxValidator, StaticTokens};
use crate::error::ErrorKind;
use crate::{BodyLimitLayer, ContentTypeLayer, ErrorEnvelopeLayer, Format, UrlEncodingLayer};

/// A layer (or any part of a stack) that can say which errors it answers requests with.
///
/// The crate's layers implement it from the configuration that builds them: a
/// [`BodyLimitLayer`] answers `LengthRequired` only with
/// [`require_content_length`](BodyLimitLayer::require_content_length), a [`ContentTypeLayer`]
/// `NotAcceptable` only with [`accept_header`](ContentTypeLayer::accept_header), an
/// [`AuthTokenLayer`] `InsufficientScope` only for the methods (or routes) that require a scope.
pub trait DescribeErrors {
    /// Adds to `errors` every error this layer can answer a request with `method` with.
    fn describe_errors(&self, method: &Method, errors: &mut Errors);
}

impl<T: DescribeErrors + ?Sized> DescribeErrors for &T {
    fn describe_errors(&self, method: &Method, errors: &mut Errors) {
        (**self).describe_errors(method, errors);
    }
}

/// A header an error response carries, as documented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DocHeader {
    pub(crate) name: Cow<'static, str>,
    pub(crate) description: &'static str,
}

/// The errors a stack can answer one request with: kinds, and the headers their answers carry.
#[derive(Clone, Debug, Default)]
pub struct Errors {
    pub(crate) kinds: Vec<(ErrorKind, Vec<DocHeader>)>,
    pub(crate) request_id_header: Option<Cow<'static, str>>,
    /// The security scheme a token check documents, and the scopes it requires.
    pub(crate) security: Option<(DocScheme, Vec<String>)>,
}

/// Where a token check reads its token, as an OpenAPI security scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DocScheme {
    /// `Authorization: Bearer`.
    Bearer,
    /// EdgeCast's `Authorization: TOK:`.
    Tok,
    /// The raw token in the header `name`.
    Header(String),
}

impl DocScheme {
    /// The scheme's name among the document's security schemes.
    pub(crate) fn name(&self) -> String {
        match self {
            DocScheme::Bearer => "bearerAuth".to_owned(),
            DocScheme::Tok => "tokAuth".to_owned(),
            DocScheme::Header(name) => format!("{name}Auth"),
        }
    }

    pub(crate) fn to_scheme(&self) -> SecurityScheme {
        match self {
            DocScheme::Bearer => SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            DocScheme::Tok => {
                let mut key = ApiKeyValue::new("Authorization");
                key.description = Some("`TOK:<token>`".to_owned());
                SecurityScheme::ApiKey(ApiKey::Header(key))
            }
            DocScheme::Header(name) => {
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(name)))
            }
        }
    }
}

impl Errors {
    /// Adds an error of `kind`. A `MethodNotAllowed` answer carries the `Allow` header (RFC
    /// 9110 §15.5.6), and is documented with it.
    pub fn error(&mut self, kind: ErrorKind) -> &mut Self {
        if !self.kinds.iter().any(|(k, _)| *k == kind) {
            let headers = match kind {
                ErrorKind::MethodNotAllowed => vec![DocHeader {
                    name: Cow::Borrowed("Allow"),
                    description: "The methods the path allows.",
                }],
                _ => Vec::new(),
            };
            self.kinds.push((kind, headers));
        }
        self
    }

    /// Adds an error of `kind` whose answer carries the header `name` (`WWW-Authenticate`,
    /// `Allow`, `Retry-After`), described by `description`.
    pub fn error_with_header(
        &mut self,
        kind: ErrorKind,
        name: &'static str,
        description: &'static str,
    ) -> &mut Self {
        self.error(kind);
        let headers = &mut self
            .kinds
            .iter_mut()
            .find(|(k, _)| *k == kind)
            .expect("added above")
            .1;
        if !headers.iter().any(|h| h.name.eq_ignore_ascii_case(name)) {
            headers.push(DocHeader {
                name: Cow::Borrowed(name),
                description,
            });
        }
        self
    }

    /// Names the header every error response carries the correlation id in (default
    /// `x-request-id`).
    pub fn request_id_header(&mut self, name: impl Into<Cow<'static, str>>) -> &mut Self {
        self.request_id_header = Some(name.into());
        self
    }

    /// Whether an error of `kind` is listed.
    pub fn contains(&self, kind: ErrorKind) -> bool {
        self.kinds.iter().any(|(k, _)| *k == kind)
    }
}

const WWW_AUTHENTICATE: &str = "The RFC 6750 challenge: the scheme, the realm and, for a token \
     that was sent, `error=\"invalid_token\"` or `error=\"insufficient_scope\"` with the scopes \
     required.";

impl<V: 'static> DescribeErrors for AuthTokenLayer<V> {
    fn describe_errors(&self, method: &Method, errors: &mut Errors) {
        errors
            .error_with_header(
                ErrorKind::Unauthorized,
                "WWW-Authenticate",
                WWW_AUTHENTICATE,
            )
            .error_with_header(
                ErrorKind::TokenExpired,
                "WWW-Authenticate",
                WWW_AUTHENTICATE,
            );
        let scheme = match self.scheme().is_bearer() {
            Some(true) => DocScheme::Bearer,
            Some(false) => DocScheme::Tok,
            None => DocScheme::Header(self.scheme().challenge_name().to_owned()),
        };
        errors.security = Some((scheme, self.method_scopes_of(method)));
        if self.may_require_scope(method) {
            errors.error_with_header(
                ErrorKind::InsufficientScope,
                "WWW-Authenticate",
                WWW_AUTHENTICATE,
            );
        }
        // A validator that fetches keys may be unable to answer; a fixed token table never is.
        // A validator that fetches keys may be unable to answer; a fixed token table never is.
        let validator: &dyn std::any::Any = self.validator();
        let always_answers = answers_at_once(validator)
            || validator
                .downcast_ref::<BoxValidator>()
                .is_some_and(|boxed| !boxed.may_be_unavailable());
        if !always_answers {
            errors.error(ErrorKind::ServiceUnavailable);
        }
    }
}

/// Whether `validator` is one of the crate's that never waits for anything: [`StaticTokens`], a
/// fixed JWT key set.
pub(crate) fn answers_at_once(validator: &dyn std::any::Any) -> bool {
    #[cfg(feature = "jwt")]
    if validator.is::<crate::auth::jwt::JwtValidator>() {
        return true;
    }
    validator.is::<StaticTokens>()
}

impl DescribeErrors for UrlEncodingLayer {
    fn describe_errors(&self, _method: &Method, errors: &mut Errors) {
        errors.error(ErrorKind::InvalidUrl);
        if self.max_length.is_some() {
            errors.error(ErrorKind::UriTooLong);
        }
    }
}

impl DescribeErrors for ContentTypeLayer {
    fn describe_errors(&self, _method: &Method, errors: &mut Errors) {
        errors.error(ErrorKind::UnsupportedMediaType);
        let (accept, verify_json) = self.checks();
        if accept {
            errors.error(ErrorKind::NotAcceptable);
        }
        if verify_json {
            errors
                .error(ErrorKind::InvalidRequestBody)
                .error(ErrorKind::PayloadTooLarge)
                .error(ErrorKind::BadRequest);
        }
    }
}

impl DescribeErrors for BodyLimitLayer {
    fn describe_errors(&self, _method: &Method, errors: &mut Errors) {
        // A malformed or conflicting `Content-Length` is a `BadRequest`.
        errors
            .error(ErrorKind::PayloadTooLarge)
            .error(ErrorKind::BadRequest);
        if self.requires_content_length() {
            errors.error(ErrorKind::LengthRequired);
        }
    }
}

impl<F: Format> DescribeErrors for ErrorEnvelopeLayer<F> {
    fn describe_errors(&self, _method: &Method, errors: &mut Errors) {
        // An inner service's error, a panic (with `catch_panic`), a bare 500.
        errors.error(ErrorKind::Internal);
        let (_, id_header) = self.format_and_id_header();
        errors.request_id_header(id_header.as_str().to_owned());
    }
}

/// A quota: `TooManyRequests` (429) with `Retry-After` and the `RateLimit` fields; kept in
/// Redis and failing closed, `ServiceUnavailable` (503) too.
impl DescribeErrors for crate::QuotaLayer {
    fn describe_errors(&self, _method: &Method, errors: &mut Errors) {
        errors
            .error_with_header(
                ErrorKind::TooManyRequests,
                "Retry-After",
                "Seconds until the quota lets the client in again.",
            )
            .error_with_header(
                ErrorKind::TooManyRequests,
                "RateLimit-Policy",
                "The quota: its name, requests (`q`) and window in seconds (`w`).",
            )
            .error_with_header(
                ErrorKind::TooManyRequests,
                "RateLimit",
                "The quota's state: requests left (`r`) and seconds until reset (`t`).",
            );
        if self.fails_closed() {
            errors.error_with_header(
                ErrorKind::ServiceUnavailable,
                "Retry-After",
                "Seconds until the quota can be checked again.",
            );
        }
    }
}

/// The customer in the URL: `InvalidCustomerId`, and `InactiveCustomer` with a lookup.
impl DescribeErrors for crate::AccountLayer {
    fn describe_errors(&self, _method: &Method, errors: &mut Errors) {
        errors.error(ErrorKind::InvalidCustomerId);
        if self.looks_up() {
            errors.error(ErrorKind::InactiveCustomer);
        }
    }
}

/// A readiness switch: `InitializationFailure` with `Retry-After` until it is on.
impl DescribeErrors for crate::Readiness {
    fn describe_errors(&self, _method: &Method, errors: &mut Errors) {
        errors.error_with_header(
            ErrorKind::InitializationFailure,
            "Retry-After",
            "Seconds until the service may have initialized.",
        );
    }
}

/// `tower::timeout`: an inner service that takes too long is answered `UpstreamTimeout`.
#[cfg(feature = "tower")]
impl DescribeErrors for tower::timeout::TimeoutLayer {
    fn describe_errors(&self, _method: &Method, errors: &mut Errors) {
        errors.error(ErrorKind::UpstreamTimeout);
    }
}

/// `tower::load_shed`: an inner service that is not ready is answered `ServiceUnavailable`.
#[cfg(feature = "tower")]
impl DescribeErrors for tower::load_shed::LoadShedLayer {
    fn describe_errors(&self, _method: &Method, errors: &mut Errors) {
        errors.error(ErrorKind::ServiceUnavailable);
    }
}

/// A list of kinds, for what a handler answers itself (`[ErrorKind::ResourceNotFound]`).
impl<const N: usize> DescribeErrors for [ErrorKind; N] {
    fn describe_errors(&self, _method: &Method, errors: &mut Errors) {
        for kind in self {
            errors.error(*kind);
        }
    }
}

/// An extractor whose rejections are `ApiError`s of known kinds
/// ([`ErrorResponses::extractor`](super::ErrorResponses::extractor)).
pub trait ExtractorErrors {
    /// The kinds the extractor rejects a request with.
    const ERRORS: &'static [ErrorKind];
}

/// The body's `Content-Type`, its JSON syntax, its shape (`MissingParameter` for a missing
/// field, `InvalidInput` for a wrong value), its size and a broken stream.
#[cfg(feature = "axum")]
impl<T> ExtractorErrors for crate::extract::Json<T> {
    const ERRORS: &'static [ErrorKind] = &[
        ErrorKind::UnsupportedMediaType,
        ErrorKind::InvalidRequestBody,
        ErrorKind::MissingParameter,
        ErrorKind::InvalidInput,
        ErrorKind::PayloadTooLarge,
        ErrorKind::BadRequest,
    ];
}

/// A parameter that does not parse, or a route and a type that disagree (`Internal`).
#[cfg(feature = "axum")]
impl<T> ExtractorErrors for crate::extract::Path<T> {
    const ERRORS: &'static [ErrorKind] = &[
        ErrorKind::InvalidInput,
        ErrorKind::MissingParameter,
        ErrorKind::Internal,
    ];
}

/// A missing or malformed query parameter.
#[cfg(feature = "axum")]
impl<T> ExtractorErrors for crate::extract::Query<T> {
    const ERRORS: &'static [ErrorKind] = &[ErrorKind::MissingParameter, ErrorKind::InvalidInput];
}

/// A malformed, repeated, unknown or too large OData option.
#[cfg(feature = "axum")]
impl<const MAX_TOP: u64> ExtractorErrors for crate::extract::OData<MAX_TOP> {
    const ERRORS: &'static [ErrorKind] = &[ErrorKind::ODataError];
}
