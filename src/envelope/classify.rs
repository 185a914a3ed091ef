//! How a failure below the envelope becomes an [`ApiError`].

use std::error::Error as StdError;

use http::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE};
use http::StatusCode;

use crate::error::{source_chain, ApiError, ErrorKind};
use crate::format::parse_any;
use crate::media::{self, Family};

/// What to do with an error response that carries no `ApiError` tag.
pub(crate) enum Bare {
    /// Render at once: the body is empty, too large, not text, or the status is a 5xx.
    Now(ApiError),
    /// Read up to the bound first: the body may be a vendor envelope or a short text message.
    Read,
}

/// Decides, from the head alone, whether an untagged error response's body is worth reading.
pub(crate) fn bare(
    status: StatusCode,
    headers: &HeaderMap,
    body_is_empty: bool,
    bound: usize,
) -> Bare {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = declared.is_some_and(|n| n > bound as u64);
    if body_is_empty || declared == Some(0) || too_large || !readable(status, headers) {
        return Bare::Now(from_status(status, None));
    }
    Bare::Read
}

/// True for bodies that may hold a vendor envelope or a message: JSON, XML, no declared type, or
/// text for a 4xx (a 5xx's text is never shown, so it is not read).
fn readable(status: StatusCode, headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE) else {
        return true;
    };
    let Ok(ct) = ct.to_str() else { return false };
    match media::family(ct) {
        Family::Json | Family::Xml => true,
        Family::Text => status.is_client_error(),
        Family::Other => false,
    }
}

/// Classifies a read error body: a known vendor envelope is translated (without its message for
/// a 5xx, only kind, code and status); short text becomes the message of a 4xx; anything else
/// gets the default message.
pub(crate) fn read(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if let Some(error) = parse_any(status, content_type, body) {
        // A server error's text stays inside, even in a vendor's envelope: only its kind, code
        // and status are translated; message, description, target and violations (all free
        // text) are dropped, and the format's default message is rendered.
        if !status.is_server_error() {
            return error;
        }
        let mut clean = ApiError::from_kind(error.kind());
        if let Some(code) = error.code() {
            clean = clean.with_code(code.clone());
        }
        if let Some(status) = error.status_override() {
            clean = clean.with_status(status);
        }
        return clean;
    }
    let is_text = content_type.is_none_or(media::is_text_plain);
    let text = if is_text && status.is_client_error() {
        std::str::from_utf8(body).ok().map(str::trim)
    } else {
        None
    };
    from_status(status, text.filter(|t| !t.is_empty()))
}

/// The generic error for a bare status, with `message` or the format's default.
pub(crate) fn from_status(status: StatusCode, message: Option<&str>) -> ApiError {
    let kind = ErrorKind::from_status(status).unwrap_or(ErrorKind::Internal);
    let error = match message {
        Some(m) => ApiError::new(kind, m.to_owned()),
        None => ApiError::from_kind(kind),
    };
    if kind.status() == status {
        error
    } else {
        error.with_status(status)
    }
}

/// Classifies an inner service error by the types in its source chain; its text never leaves.
pub(crate) fn inner_error(error: &(dyn StdError + 'static)) -> ApiError {
    for e in source_chain(error) {
        #[cfg(feature = "tower")]
        if e.is::<tower::timeout::error::Elapsed>() {
            return ApiError::new(
                ErrorKind::UpstreamTimeout,
                "The request did not complete in time.",
            );
        }
        if e.is::<http_body_util::LengthLimitError>() {
            return ApiError::from_kind(ErrorKind::PayloadTooLarge);
        }
        #[cfg(feature = "tower")]
        if e.is::<tower::load_shed::error::Overloaded>() {
            return ApiError::new(
                ErrorKind::ServiceUnavailable,
                "The service is overloaded; retry later.",
            );
        }
        if let Some(api) = e.downcast_ref::<ApiError>() {
            return api.clone();
        }
    }
    ApiError::from_kind(ErrorKind::Internal)
}

/// The inner service panicked; stands in for the panic, whose payload is dropped unread.
#[derive(Debug)]
pub(crate) struct Panicked;

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the inner service panicked")
    }
}

impl std::error::Error for Panicked {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_text_json_and_xml() {
        let mut h = HeaderMap::new();
        let bad_request = StatusCode::BAD_REQUEST;
        assert!(readable(bad_request, &h));
        for (ct, yes) in [
            ("text/plain; charset=utf-8", true),
            ("application/json", true),
            ("application/problem+json", true),
            ("application/xml", true),
            ("application/octet-stream", false),
            ("image/png", false),
        ] {
            h.insert(CONTENT_TYPE, ct.parse().unwrap());
            let server = readable(StatusCode::INTERNAL_SERVER_ERROR, &h);
            assert_eq!(server, yes && !ct.starts_with("text/"), "5xx {ct}");
            h.insert(CONTENT_TYPE, ct.parse().unwrap());
            assert_eq!(readable(bad_request, &h), yes, "{ct}");
        }
    }

    #[test]
    fn server_errors_never_echo_text() {
        let e = read(
            StatusCode::INTERNAL_SERVER_ERROR,
            &HeaderMap::new(),
            b"db password is hunter2",
        );
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert_eq!(e.message(), "");
    }

    #[test]
    fn inner_error_chain() {
        #[derive(Debug)]
        struct Wrap(Box<dyn StdError + Send + Sync>);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl StdError for Wrap {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&*self.0)
            }
        }
        use http_body::Body as _;
        let mut limited =
            http_body_util::Limited::new(http_body_util::Full::new(bytes::Bytes::from("xx")), 1);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let limit_error = match std::pin::Pin::new(&mut limited).poll_frame(&mut cx) {
            std::task::Poll::Ready(Some(Err(e))) => e,
            _ => panic!("Limited must fail over its limit"),
        };
        let e = Wrap(limit_error);
        assert_eq!(inner_error(&e).kind(), ErrorKind::PayloadTooLarge);
        let e = std::io::Error::other("secret detail");
        let api = inner_error(&e);
        assert_eq!((api.kind(), api.message()), (ErrorKind::Internal, ""));
    }
}
