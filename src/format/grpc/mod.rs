//! gRPC: the status a gRPC client sees for an [`ApiError`].
//!
//! A request whose `Content-Type` starts with `application/grpc` gets no JSON body from the
//! envelope, whatever the format: it gets a *trailers-only* response — HTTP 200,
//! `content-type: application/grpc`, `grpc-status` and a percent-encoded `grpc-message` — so a
//! tonic client sees e.g. `Code::Unauthenticated` with the message. gRPC-Web requests
//! (`application/grpc-web`, `application/grpc-web-text`, with any `+proto`/`+json` suffix) get
//! the same answer with their own content type (`application/grpc-web+proto`,
//! `application/grpc-web-text+proto`).
//!
//! With the `tonic` feature the answer also carries Google's rich error model in
//! `grpc-status-details-bin`: a `google.rpc.Status` (code and message equal to `grpc-status` and
//! the unencoded `grpc-message`) whose details hold
//!
//! - `google.rpc.ErrorInfo`: `reason` is the kind in UPPER_SNAKE_CASE, as the
//!   [`Google`](super::Google) format renders it (`TOKEN_EXPIRED`), `domain` the configured
//!   domain ([`DEFAULT_DOMAIN`] unless set with
//!   [`ErrorEnvelopeLayer::grpc_domain`](crate::ErrorEnvelopeLayer::grpc_domain)), and
//!   `metadata` `{"code": ...}` when the error has a vendor code;
//! - `google.rpc.BadRequest` with one field violation per [`FieldViolation`](crate::FieldViolation),
//!   its `field` the AIP-193 path (`name`, `address.city`, `query.page`), as many as fit in
//!   [`MAX_VIOLATION_BYTES`];
//! - `google.rpc.RetryInfo` when the error has a retry-after (a 429 or 503);
//! - `google.rpc.RequestInfo` with the correlation id the envelope uses (`x-request-id`).
//!
//! The details are the same whichever format the envelope renders for HTTP. A tonic client reads
//! them with `tonic_types::StatusExt::get_error_details`. A handler's `Err(api_error.into())`
//! carries the same details ([`status`] to set the domain and the request id).
//!
//! The codes, by kind:
//!
//! | kinds | gRPC code |
//! |---|---|
//! | `BadRequest`, `InvalidInput`, `MissingParameter`, `InvalidRequestBody`, `InvalidUrl`, `InvalidHashValue`, `InvalidDomainName`, `InvalidIpAddress`, `MaximumBatchSizeExceeded`, `ODataError`, `UnknownParameter`, `InvalidCustomerId`, `UriTooLong`, `UnsupportedMediaType`, `NotAcceptable`, `LengthRequired`, `UnprocessableEntity` | `INVALID_ARGUMENT` (3) |
//! | `Unauthorized`, `TokenExpired` | `UNAUTHENTICATED` (16) |
//! | `InsufficientScope`, `Forbidden`, `DisabledFeature`, `DisallowedOperation` | `PERMISSION_DENIED` (7) |
//! | `OsPlatformNotSupported`, `ClientVersionNotSupported`, `InactiveCustomer` | `FAILED_PRECONDITION` (9) |
//! | `ResourceNotFound` | `NOT_FOUND` (5) |
//! | `NotFound`, `InvalidCase`, `MethodNotAllowed`, `NotImplemented` | `UNIMPLEMENTED` (12) |
//! | `Conflict` | `ALREADY_EXISTS` (6) |
//! | `PayloadTooLarge`, `TooManyRequests` | `RESOURCE_EXHAUSTED` (8) |
//! | `UpstreamTimeout`, `RequestTimeout` | `DEADLINE_EXCEEDED` (4) |
//! | `ServiceUnavailable`, `InitializationFailure`, `BadGateway`, `UpstreamInvalidCredentials`, `UpstreamQueryInvalid` | `UNAVAILABLE` (14) |
//! | `Internal` | `INTERNAL` (13) |
//!
//! ```
//! use http::{Request, StatusCode};
//! use http_body_util::Empty;
//! use bytes::Bytes;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_envelope::format::error_response;
//! use tower_envelope::{ApiError, ErrorEnvelopeLayer, ErrorKind};
//!
//! # tokio_test::block_on(async {
//! let svc = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::defender())
//!     .service_fn(|_: Request<Empty<Bytes>>| async {
//!         let error = ApiError::new(ErrorKind::TokenExpired, "café: 50% off");
//!         Ok::<_, std::convert::Infallible>(error_response(error).map(http_body_util::Full::new))
//!     });
//! let request = Request::post("/machines.v1.Machines/Get")
//!     .header("content-type", "application/grpc-web")
//!     .body(Empty::new())
//!     .unwrap();
//! let response = svc.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.headers()["content-type"], "application/grpc-web+proto");
//! assert_eq!(response.headers()["grpc-status"], "16");
//! assert_eq!(response.headers()["grpc-message"], "caf%C3%A9: 50%25 off");
//! # #[cfg(feature = "tonic")]
//! assert!(response.headers().contains_key("grpc-status-details-bin"));
//! # });
//! ```

use std::borrow::Cow;

use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use crate::error::{ApiError, ErrorKind};
use crate::format::dotted;

#[cfg(feature = "tonic")]
mod details;
#[cfg(feature = "tonic")]
pub use details::status;

/// The gRPC status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(dead_code)]
pub(crate) enum GrpcCode {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl GrpcCode {
    /// The numeric code.
    pub(crate) const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The canonical UPPER_SNAKE name, e.g. `"UNAUTHENTICATED"` (also Google's `status`).
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Cancelled => "CANCELLED",
            Self::Unknown => "UNKNOWN",
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Self::NotFound => "NOT_FOUND",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Self::FailedPrecondition => "FAILED_PRECONDITION",
            Self::Aborted => "ABORTED",
            Self::OutOfRange => "OUT_OF_RANGE",
            Self::Unimplemented => "UNIMPLEMENTED",
            Self::Internal => "INTERNAL",
            Self::Unavailable => "UNAVAILABLE",
            Self::DataLoss => "DATA_LOSS",
            Self::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

/// The gRPC code for a kind (the table of the [module docs](self)).
pub(crate) const fn code(kind: ErrorKind) -> GrpcCode {
    use ErrorKind as K;
    match kind {
        K::BadRequest
        | K::InvalidInput
        | K::MissingParameter
        | K::InvalidRequestBody
        | K::InvalidUrl
        | K::InvalidHashValue
        | K::InvalidDomainName
        | K::InvalidIpAddress
        | K::MaximumBatchSizeExceeded
        | K::ODataError
        | K::UnknownParameter
        | K::InvalidCustomerId
        | K::UriTooLong
        | K::UnsupportedMediaType
        | K::NotAcceptable
        | K::LengthRequired
        | K::UnprocessableEntity => GrpcCode::InvalidArgument,
        K::Unauthorized | K::TokenExpired => GrpcCode::Unauthenticated,
        K::InsufficientScope | K::Forbidden | K::DisabledFeature | K::DisallowedOperation => {
            GrpcCode::PermissionDenied
        }
        K::OsPlatformNotSupported | K::ClientVersionNotSupported | K::InactiveCustomer => {
            GrpcCode::FailedPrecondition
        }
        K::ResourceNotFound => GrpcCode::NotFound,
        K::NotFound | K::InvalidCase | K::MethodNotAllowed | K::NotImplemented => {
            GrpcCode::Unimplemented
        }
        K::Conflict => GrpcCode::AlreadyExists,
        K::PayloadTooLarge | K::TooManyRequests => GrpcCode::ResourceExhausted,
        K::UpstreamTimeout | K::RequestTimeout => GrpcCode::DeadlineExceeded,
        K::ServiceUnavailable
        | K::InitializationFailure
        | K::BadGateway
        | K::UpstreamInvalidCredentials
        | K::UpstreamQueryInvalid => GrpcCode::Unavailable,
        K::Internal => GrpcCode::Internal,
    }
}

/// Percent-encodes a `grpc-message` as the gRPC HTTP/2 protocol asks: every byte outside
/// printable ASCII (`0x20`–`0x7E`), and `%` itself, becomes `%XX`.
pub(crate) fn encode_message(message: &str) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(message.len() + 8);
    for &b in message.as_bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    HeaderValue::from_bytes(&out).expect("percent-encoded bytes are visible ASCII")
}

/// The name of the header carrying the encoded `google.rpc.Status` (feature `tonic`).
pub const STATUS_DETAILS_HEADER: &str = "grpc-status-details-bin";

/// The `ErrorInfo.domain` of the rich details unless one is configured: `"localhost"`, as the
/// [`Google`](super::Google) format's default. Set your service's name (`"api.example.com"`).
pub const DEFAULT_DOMAIN: &str = "localhost";

/// The most bytes of field violations (paths, descriptions, reasons) the details' `BadRequest`
/// carries: the first violations that fit, and always the first. gRPC clients refuse metadata
/// over 8 KiB by default (grpc-java, gRPC C-core and so Python's grpcio), and the details share
/// that with `grpc-message`.
pub const MAX_VIOLATION_BYTES: usize = 2048;

/// The flavour of gRPC a request speaks, read from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Protocol {
    /// gRPC over HTTP/2: `application/grpc`, `application/grpc+proto`, ...
    Grpc,
    /// gRPC-Web, binary: `application/grpc-web`, `application/grpc-web+proto`, ...
    GrpcWeb,
    /// gRPC-Web, base64 text: `application/grpc-web-text`, `application/grpc-web-text+proto`, ...
    GrpcWebText,
}

impl Protocol {
    /// The protocol of a request with this `Content-Type`, or `None` when it is not gRPC.
    #[inline]
    pub(crate) fn from_content_type(content_type: Option<&HeaderValue>) -> Option<Self> {
        let b = content_type?.as_bytes();
        // `application/grpc`, any case, in one 16-byte compare: setting bit 5 of every byte
        // lowers ASCII letters and keeps `/`; no other byte a checked header value may hold
        // (visible ASCII, space, tab, obs-text) becomes one of these. Every POST passes here.
        const LOWER: u128 = u128::from_ne_bytes([0x20; 16]);
        let head = b
            .first_chunk::<16>()
            .map(|h| u128::from_ne_bytes(*h) | LOWER);
        if head != Some(u128::from_ne_bytes(*b"application/grpc")) {
            return None;
        }
        Self::after_grpc(&b[16..])
    }

    /// The protocol of a `Content-Type` that starts with `application/grpc`, from the rest:
    /// nothing, a `+suffix` or parameters, after `-web` or `-web-text` for gRPC-Web
    /// (`application/grpcx` is not gRPC).
    fn after_grpc(rest: &[u8]) -> Option<Self> {
        let ends = |rest: &[u8]| matches!(rest.first(), None | Some(b'+' | b';' | b' ' | b'\t'));
        let after = |prefix: &[u8]| {
            rest.get(..prefix.len())
                .filter(|head| head.eq_ignore_ascii_case(prefix))
                .map(|_| &rest[prefix.len()..])
        };
        if ends(rest) {
            Some(Self::Grpc)
        } else if after(b"-web-text").is_some_and(ends) {
            Some(Self::GrpcWebText)
        } else if after(b"-web").is_some_and(ends) {
            Some(Self::GrpcWeb)
        } else {
            None
        }
    }

    /// The `Content-Type` of an error answer in this protocol (gRPC-Web's as its proxies send it).
    pub(crate) const fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Grpc => "application/grpc",
            Self::GrpcWeb => "application/grpc-web+proto",
            Self::GrpcWebText => "application/grpc-web-text+proto",
        })
    }
}

/// Writes into `headers` (an error response's own head) the envelope's trailers-only answer to a
/// `protocol` request failing with `error`: the content type, `grpc-status`, the
/// percent-encoded `grpc-message` (an empty message is replaced by `default_message`) and, with
/// the `tonic` feature, `grpc-status-details-bin` (see the [module docs](self)) naming `domain`
/// and `request_id`.
pub(crate) fn write_trailers_only(
    headers: &mut HeaderMap,
    error: &ApiError,
    default_message: &str,
    protocol: Protocol,
    request_id: &str,
    domain: &str,
) {
    let message = error.message_or(default_message);
    headers.insert(CONTENT_TYPE, protocol.content_type());
    status_headers(headers, error, message);
    #[cfg(feature = "tonic")]
    headers.insert(
        HeaderName::from_static(STATUS_DETAILS_HEADER),
        details::header_value(error, message, domain, Some(request_id)),
    );
    #[cfg(not(feature = "tonic"))]
    let _ = (request_id, domain);
}

fn status_headers(headers: &mut HeaderMap, error: &ApiError, message: &str) {
    headers.insert(
        HeaderName::from_static("grpc-status"),
        HeaderValue::from(u16::from(code(error.kind()).as_u8())),
    );
    if !message.is_empty() {
        headers.insert(
            HeaderName::from_static("grpc-message"),
            encode_message(message),
        );
    }
}

/// True when a request's `Content-Type` marks it as gRPC (`application/grpc`, `+proto`,
/// `-web`, ...).
pub fn is_grpc(content_type: Option<&HeaderValue>) -> bool {
    Protocol::from_content_type(content_type).is_some()
}

/// The parts of a request a field violation's location may start with.
pub(crate) const PARTS: [&str; 4] = ["body", "query", "path", "header"];

/// AIP-193's `field` is a path into the request body (`name`, `address.city`): a body location
/// drops its `body` segment; query, path and header locations keep theirs (`query.page`), and so
/// does a body location that would otherwise read as one of them (`body.query.q`, `body`), or
/// as no location at all (`body.` for the empty key).
pub(crate) fn field_path(location: &[Cow<'static, str>]) -> String {
    let keeps_body = |f: &Cow<'static, str>| f.is_empty() || PARTS.contains(&&**f);
    match location.split_first() {
        Some((first, rest)) if first == "body" && rest.first().is_some_and(|f| !keeps_body(f)) => {
            dotted(rest)
        }
        _ => dotted(location),
    }
}

/// The `ErrorInfo.reason` of a kind, here and in gRPC details: its slug in UPPER_SNAKE_CASE.
pub(crate) fn reason(kind: ErrorKind) -> String {
    kind.slug().to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-compare reading of `application/grpc` agrees with a case-insensitive byte
    /// comparison for every byte a header value may hold, at every position.
    #[test]
    fn reads_application_grpc_in_any_case_and_nothing_else() {
        let target = b"application/grpc+proto";
        for at in 0..target.len() {
            for b in (0x20..=0xffu8).chain([b'\t']).filter(|&b| b != 0x7f) {
                let mut bytes = *target;
                bytes[at] = b;
                let value = HeaderValue::from_bytes(&bytes).unwrap();
                // What follows `application/grpc` is a suffix, parameters, or `-web`.
                let expected = bytes[..16].eq_ignore_ascii_case(b"application/grpc")
                    && (at != 16 || matches!(b, b'+' | b';' | b' ' | b'\t'));
                assert_eq!(
                    Protocol::from_content_type(Some(&value)).is_some(),
                    expected,
                    "{at} {b:#04x}"
                );
            }
        }
        for short in [
            "",
            "application/grp",
            "application/json",
            "application/grpcx",
            "application/grpc-webx",
            "application/grpc-web-textual",
        ] {
            let value = HeaderValue::from_static(short);
            assert_eq!(Protocol::from_content_type(Some(&value)), None);
        }
        let upper = HeaderValue::from_static("APPLICATION/GRPC-WEB");
        assert_eq!(
            Protocol::from_content_type(Some(&upper)),
            Some(Protocol::GrpcWeb)
        );
    }
}
