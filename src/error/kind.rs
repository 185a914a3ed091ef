//! [`ErrorKind`]: what went wrong, with its status, slug, name and description.

use std::fmt;

use http::StatusCode;

macro_rules! kinds {
    ($( $(#[$doc:meta])* $kind:ident = $status:ident, $slug:literal, $description:literal; )*) => {
        /// What went wrong, independent of any vendor's naming.
        ///
        /// Each kind has a standard HTTP status ([`ErrorKind::status`]), a stable snake_case slug
        /// ([`ErrorKind::slug`]), a PascalCase name ([`ErrorKind::name`]) and a fixed human
        /// description ([`ErrorKind::description`]).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorKind {
            $( $(#[$doc])* $kind, )*
        }

        impl ErrorKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind),*];

            /// The standard HTTP status of this kind.
            pub const fn status(self) -> StatusCode {
                match self { $(ErrorKind::$kind => StatusCode::$status,)* }
            }

            /// A stable snake_case identifier, e.g. `"resource_not_found"`.
            pub const fn slug(self) -> &'static str {
                match self { $(ErrorKind::$kind => $slug,)* }
            }

            /// The PascalCase name, e.g. `"ResourceNotFound"`.
            pub const fn name(self) -> &'static str {
                match self { $(ErrorKind::$kind => stringify!($kind),)* }
            }

            /// A fixed, human description of the kind (never contains request data).
            pub const fn description(self) -> &'static str {
                match self { $(ErrorKind::$kind => $description,)* }
            }
        }
    };
}

kinds! {
    /// A generic bad request (400).
    BadRequest = BAD_REQUEST, "bad_request", "The request is invalid.";
    /// A parameter value is malformed (400).
    InvalidInput = BAD_REQUEST, "invalid_input", "A parameter value is malformed.";
    /// A required parameter or field is absent or blank (400).
    MissingParameter = BAD_REQUEST, "missing_parameter", "A required parameter is missing.";
    /// The body does not parse as its declared `Content-Type` (400).
    InvalidRequestBody = BAD_REQUEST, "invalid_request_body", "The request body does not match its declared content type.";
    /// Bad percent-encoding or a character that must be encoded (400).
    InvalidUrl = BAD_REQUEST, "invalid_url", "The request URL is not properly encoded.";
    /// A file hash that is not MD5, SHA-1 or SHA-256 in hex (400; Defender's `InvalidHashValue`).
    InvalidHashValue = BAD_REQUEST, "invalid_hash_value", "A file hash value is invalid.";
    /// A malformed domain name (400; Defender's `InvalidDomainName`).
    InvalidDomainName = BAD_REQUEST, "invalid_domain_name", "A domain name is invalid.";
    /// A malformed IP address (400; Defender's `InvalidIpAddress`).
    InvalidIpAddress = BAD_REQUEST, "invalid_ip_address", "An IP address is invalid.";
    /// A batch with more items than allowed (400; Defender's `MaximumBatchSizeExceeded`).
    MaximumBatchSizeExceeded = BAD_REQUEST, "maximum_batch_size_exceeded", "The batch holds more items than allowed.";
    /// An OData query option that is malformed, unknown or over its bound (400; Defender's
    /// `ODataError`).
    ODataError = BAD_REQUEST, "odata_error", "Invalid OData URI query.";
    /// A query parameter the endpoint does not take (400; QRadar's 420).
    UnknownParameter = BAD_REQUEST, "unknown_parameter", "The requested resource does not support one or more of the given parameters.";
    /// The client's OS platform does not support the action (400; Defender's
    /// `OsPlatformNotSupported`).
    OsPlatformNotSupported = BAD_REQUEST, "os_platform_not_supported", "The client's OS platform is not supported for this action.";
    /// The client's version is too old for the action (400; Defender's
    /// `ClientVersionNotSupported`).
    ClientVersionNotSupported = BAD_REQUEST, "client_version_not_supported", "The action is not supported on the client's version.";
    /// `Content-Type` missing or not accepted (415).
    UnsupportedMediaType = UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "The media type of the request body is not supported.";
    /// `Accept` excludes every type the endpoint produces (406).
    NotAcceptable = NOT_ACCEPTABLE, "not_acceptable", "None of the media types the client accepts can be produced.";
    /// The body is over the limit (413).
    PayloadTooLarge = PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is larger than allowed.";
    /// The request target (path and query) is longer than accepted (414).
    UriTooLong = URI_TOO_LONG, "uri_too_long", "The request URI is longer than the server is willing to interpret.";
    /// A body without `Content-Length` where one is required (411).
    LengthRequired = LENGTH_REQUIRED, "length_required", "The request must declare its Content-Length.";
    /// Token missing, malformed or unknown (401).
    Unauthorized = UNAUTHORIZED, "unauthorized", "The authorization token is missing or invalid.";
    /// Token known but expired (401).
    TokenExpired = UNAUTHORIZED, "token_expired", "The authorization token has expired.";
    /// Token valid, but its scope does not allow this method or route (403).
    InsufficientScope = FORBIDDEN, "insufficient_scope", "The token's scope does not allow this action.";
    /// A generic refusal (403).
    Forbidden = FORBIDDEN, "forbidden", "The action is not allowed.";
    /// The account in the request URI is not the token's (400; EdgeCast's "Invalid Customer ID
    /// Value").
    InvalidCustomerId = BAD_REQUEST, "invalid_customer_id", "The account in the request URI is not the token's account.";
    /// The account in the request URI is inactive or deleted (400; EdgeCast's
    /// "Inactive/Deleted Customer").
    InactiveCustomer = BAD_REQUEST, "inactive_customer", "Cannot update or retrieve information of a deleted customer.";
    /// A feature the tenant has not enabled (403; Defender's `DisabledFeature`).
    DisabledFeature = FORBIDDEN, "disabled_feature", "Tenant feature is not enabled.";
    /// An operation that is not allowed, for a reason the message gives (403; Defender's
    /// `DisallowedOperation`).
    DisallowedOperation = FORBIDDEN, "disallowed_operation", "The operation is not allowed.";
    /// No such endpoint (404).
    NotFound = NOT_FOUND, "not_found", "The requested endpoint does not exist.";
    /// A known endpoint asked for in the wrong letter case (404; EdgeCast's 403 "Invalid Case").
    InvalidCase = NOT_FOUND, "invalid_case", "The request URI's letter case does not match the endpoint's.";
    /// The endpoint exists, the entity does not (404).
    ResourceNotFound = NOT_FOUND, "resource_not_found", "The requested resource does not exist.";
    /// The method is not allowed on this endpoint (405).
    MethodNotAllowed = METHOD_NOT_ALLOWED, "method_not_allowed", "The method is not allowed for this endpoint.";
    /// A duplicate resource (409).
    Conflict = CONFLICT, "conflict", "The request conflicts with the current state of the resource.";
    /// Well-formed but semantically invalid (422).
    UnprocessableEntity = UNPROCESSABLE_ENTITY, "unprocessable_entity", "The request is well-formed but semantically invalid.";
    /// Rate limited (429).
    TooManyRequests = TOO_MANY_REQUESTS, "too_many_requests", "Too many requests; retry later.";
    /// The client was too slow to send its request (408).
    RequestTimeout = REQUEST_TIMEOUT, "request_timeout", "The request was not received in time.";
    /// An internal failure; never echoes the inner error text (500).
    Internal = INTERNAL_SERVER_ERROR, "internal", "An internal error occurred.";
    /// Recognised but not implemented (501).
    NotImplemented = NOT_IMPLEMENTED, "not_implemented", "The endpoint is not implemented.";
    /// A generic upstream failure (502).
    BadGateway = BAD_GATEWAY, "bad_gateway", "The upstream service failed.";
    /// Load shed or not ready (503).
    ServiceUnavailable = SERVICE_UNAVAILABLE, "service_unavailable", "The service is temporarily unavailable.";
    /// The service has not (yet) initialized (503; QRadar's 550).
    InitializationFailure = SERVICE_UNAVAILABLE, "initialization_failure", "A failure occurred during initialization of services. API will be unavailable.";
    /// The inner service or upstream timed out (504).
    UpstreamTimeout = GATEWAY_TIMEOUT, "upstream_timeout", "The upstream service timed out.";
    /// The upstream rejected our credentials (502).
    UpstreamInvalidCredentials = BAD_GATEWAY, "upstream_invalid_credentials", "The upstream service rejected the credentials.";
    /// The upstream could not process the request (502).
    UpstreamQueryInvalid = BAD_GATEWAY, "upstream_query_invalid", "The upstream service could not process the request.";
}

impl ErrorKind {
    /// The kind with this slug, if any.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.slug() == slug)
    }

    /// The kind with this PascalCase name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The kind with this description, if any.
    pub fn from_description(description: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.description() == description)
    }

    /// Classifies a bare error status: the generic kind for that status.
    ///
    /// Statuses without a kind of their own map to `BadRequest` (other 4xx) or `Internal`
    /// (other 5xx); callers keep the original status as an override. Returns `None` below 400.
    pub fn from_status(status: StatusCode) -> Option<Self> {
        Some(match status.as_u16() {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            406 => Self::NotAcceptable,
            408 => Self::RequestTimeout,
            409 => Self::Conflict,
            411 => Self::LengthRequired,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            422 => Self::UnprocessableEntity,
            429 => Self::TooManyRequests,
            500 => Self::Internal,
            501 => Self::NotImplemented,
            502 => Self::BadGateway,
            503 => Self::ServiceUnavailable,
            504 => Self::UpstreamTimeout,
            s if (400..500).contains(&s) => Self::BadRequest,
            s if (500..600).contains(&s) => Self::Internal,
            _ => return None,
        })
    }

    /// True for the kinds that describe an invalid request (bad syntax, missing or malformed
    /// input, wrong media type): MSI answers them with 422, gRPC with `INVALID_ARGUMENT`.
    pub const fn is_validation(self) -> bool {
        matches!(
            self,
            Self::BadRequest
                | Self::InvalidInput
                | Self::MissingParameter
                | Self::InvalidRequestBody
                | Self::InvalidUrl
                | Self::InvalidHashValue
                | Self::InvalidDomainName
                | Self::InvalidIpAddress
                | Self::MaximumBatchSizeExceeded
                | Self::ODataError
                | Self::UnknownParameter
                | Self::UnsupportedMediaType
                | Self::UnprocessableEntity
        )
    }

    /// True for the three failures of an upstream technology (MSI's 427).
    pub const fn is_upstream(self) -> bool {
        matches!(
            self,
            Self::UpstreamTimeout | Self::UpstreamInvalidCredentials | Self::UpstreamQueryInvalid
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
