//! gRPC: the status a gRPC client sees for an [`ApiError`].
//!
//! A request whose `Content-Type` starts with `application/grpc` gets no JSON body from the
//! envelope, whatever the format: it gets a *trailers-only* response — HTTP 200,
//! `content-type: application/grpc`, `grpc-status` and a percent-encoded `grpc-message` — so a
//! tonic client sees e.g. `Code::Unauthenticated` with the message.
//!
//! ```
//! use tower_envelope::format::grpc::{self, GrpcCode};
//! use tower_envelope::{ApiError, ErrorKind};
//!
//! assert_eq!(grpc::code(ErrorKind::TokenExpired), GrpcCode::Unauthenticated);
//! assert_eq!(grpc::encode_message("50% off\n").to_str().unwrap(), "50%25 off%0A");
//! let headers = grpc::headers(&ApiError::new(ErrorKind::NotFound, "no such method"), "");
//! assert_eq!(headers["grpc-status"], "12");
//! ```

use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use crate::error::{ApiError, ErrorKind};

/// The gRPC status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum GrpcCode {
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
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The canonical UPPER_SNAKE name, e.g. `"UNAUTHENTICATED"` (also Google's `status`).
    pub const fn name(self) -> &'static str {
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

/// The gRPC code for a kind.
pub const fn code(kind: ErrorKind) -> GrpcCode {
    use ErrorKind as K;
    match kind {
        K::BadRequest
        | K::InvalidInput
        | K::MissingParameter
        | K::InvalidRequestBody
        | K::InvalidUrl
        | K::UnsupportedMediaType
        | K::NotAcceptable
        | K::LengthRequired
        | K::UnprocessableEntity => GrpcCode::InvalidArgument,
        K::Unauthorized | K::TokenExpired => GrpcCode::Unauthenticated,
        K::InsufficientScope | K::Forbidden => GrpcCode::PermissionDenied,
        K::ResourceNotFound => GrpcCode::NotFound,
        K::NotFound | K::MethodNotAllowed | K::NotImplemented => GrpcCode::Unimplemented,
        K::Conflict => GrpcCode::AlreadyExists,
        K::PayloadTooLarge | K::TooManyRequests => GrpcCode::ResourceExhausted,
        K::UpstreamTimeout | K::RequestTimeout => GrpcCode::DeadlineExceeded,
        K::ServiceUnavailable
        | K::BadGateway
        | K::UpstreamInvalidCredentials
        | K::UpstreamQueryInvalid => GrpcCode::Unavailable,
        K::Internal => GrpcCode::Internal,
    }
}

/// Percent-encodes a `grpc-message` as the gRPC HTTP/2 protocol asks: every byte outside
/// printable ASCII (`0x20`–`0x7E`), and `%` itself, becomes `%XX`.
pub fn encode_message(message: &str) -> HeaderValue {
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

/// The headers of a trailers-only gRPC error response for `error`; an empty message is replaced
/// by `default_message`.
pub fn headers(error: &ApiError, default_message: &str) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(3);
    let message = match error.message() {
        "" => default_message,
        m => m,
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
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
    headers
}

/// True when a request's `Content-Type` marks it as gRPC (`application/grpc`, `+proto`, ...).
pub fn is_grpc(content_type: Option<&HeaderValue>) -> bool {
    content_type.is_some_and(|ct| {
        let b = ct.as_bytes();
        b.len() >= 16 && b[..16].eq_ignore_ascii_case(b"application/grpc")
    })
}

#[cfg(feature = "tonic")]
impl From<ApiError> for tonic::Status {
    fn from(error: ApiError) -> Self {
        let code = tonic::Code::from_i32(i32::from(code(error.kind()).as_u8()));
        let message = match error.message() {
            "" => error.kind().description(),
            m => m,
        };
        tonic::Status::new(code, message)
    }
}
