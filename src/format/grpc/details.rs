//! Google's rich error model on gRPC answers (feature `tonic`), built with `tonic-types`.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use http::HeaderValue;
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

use super::{code, DEFAULT_DOMAIN, MAX_VIOLATION_BYTES};
use super::{field_path, reason};
use crate::error::{ApiError, ErrorKind};
use crate::format::code_text;

/// The `tonic::Status` for `error`, carrying the rich details the envelope sends (see the
/// [module docs](super)): `ErrorInfo` in `domain`, `BadRequest`, `RetryInfo`, and `RequestInfo`
/// when a `request_id` is given. An empty message becomes the kind's description.
///
/// `From<ApiError> for tonic::Status` is this with [`DEFAULT_DOMAIN`] and no request id; a handler
/// behind an envelope with its own [`grpc_domain`](crate::ErrorEnvelopeLayer::grpc_domain) passes
/// the same domain (and the request's `x-request-id`) here so that its errors and the envelope's
/// look the same to the client.
///
/// ```
/// use tonic_types::StatusExt;
/// use tower_envelope::format::grpc;
/// use tower_envelope::{ApiError, ErrorKind};
///
/// let error = ApiError::new(ErrorKind::Conflict, "machine exists").with_code("MachineExists");
/// let status = grpc::status(&error, "api.example.com", Some("req-7"));
/// assert_eq!(status.code(), tonic::Code::AlreadyExists);
/// let details = status.get_error_details();
/// let info = details.error_info().unwrap();
/// assert_eq!((info.reason.as_str(), info.domain.as_str()), ("CONFLICT", "api.example.com"));
/// assert_eq!(info.metadata["code"], "MachineExists");
/// assert_eq!(details.request_info().unwrap().request_id, "req-7");
/// ```
pub fn status(error: &ApiError, domain: &str, request_id: Option<&str>) -> tonic::Status {
    let message = error.message_or(error.kind().description());
    with_details(error, message, domain, request_id)
}

/// `grpc-status-details-bin`: the encoded `google.rpc.Status`, base64 without padding (as the
/// gRPC protocol asks of binary headers, and as tonic writes them).
pub(super) fn header_value(
    error: &ApiError,
    message: &str,
    domain: &str,
    request_id: Option<&str>,
) -> HeaderValue {
    let status = with_details(error, message, domain, request_id);
    HeaderValue::try_from(STANDARD_NO_PAD.encode(status.details()))
        .expect("base64 is visible ASCII")
}

fn with_details(
    error: &ApiError,
    message: &str,
    domain: &str,
    request_id: Option<&str>,
) -> tonic::Status {
    let code = tonic::Code::from_i32(i32::from(code(error.kind()).as_u8()));
    tonic::Status::with_error_details(code, message, details(error, domain, request_id))
}

fn details(error: &ApiError, domain: &str, request_id: Option<&str>) -> ErrorDetails {
    let mut details = ErrorDetails::new();
    // One entry at most: a map of more would encode in hash order, not the same bytes each time.
    let metadata: HashMap<String, String> = error
        .code()
        .map(|c| ("code".to_owned(), code_text(c).into_owned()))
        .into_iter()
        .collect();
    details.set_error_info(reason(error.kind()), domain, metadata);
    if !error.violations().is_empty() {
        details.set_bad_request(violations(error));
    }
    if let Some(delay) = error.retry_after() {
        details.set_retry_info(Some(delay));
    }
    // A quota's answer names the quota (its policy, the error's target) that ran out.
    if error.kind() == ErrorKind::TooManyRequests {
        let subject = format!("policy:{}", error.target().unwrap_or("default"));
        details.add_quota_failure_violation(subject, error.message());
    }
    if let Some(id) = request_id {
        details.set_request_info(id, "");
    }
    details
}

fn violations(error: &ApiError) -> Vec<FieldViolation> {
    let mut budget = MAX_VIOLATION_BYTES;
    let mut out = Vec::new();
    for v in error.violations() {
        let field = field_path(v.location());
        let reason = v.reason().unwrap_or_default();
        let size = field.len() + v.message().len() + reason.len();
        if size > budget && !out.is_empty() {
            break;
        }
        budget = budget.saturating_sub(size);
        let mut violation = FieldViolation::new(field, v.message());
        violation.reason = reason.to_owned();
        out.push(violation);
    }
    out
}

impl From<ApiError> for tonic::Status {
    /// The status with the rich details (see [`status`]), in [`DEFAULT_DOMAIN`], without a
    /// `RequestInfo` (a bare error knows no request).
    fn from(error: ApiError) -> Self {
        status(&error, DEFAULT_DOMAIN, None)
    }
}
