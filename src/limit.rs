//! [`BodyLimitLayer`]: bounds the size of request bodies.
//!
//! - A declared `Content-Length` above the limit is rejected before the inner service is called
//!   and before any body byte is read: [`ErrorKind::PayloadTooLarge`] (413) with the message
//!   `Received: 5000 bytes, allowed: 4096 bytes`.
//! - Every other request body is wrapped in [`http_body_util::Limited`], so a body that streams
//!   more than the limit (chunked, or HTTP/2 without a length) fails while it is read: axum's
//!   body extractors (`Bytes`, `String`, `Json`, `Form`) answer 413, and a service that reads the
//!   body itself sees an error whose source is [`http_body_util::LengthLimitError`]. (The inner
//!   service therefore receives `Request<Limited<B>>`; `Limited::new` does not allocate.)
//! - A malformed `Content-Length` (not digits, or several values that disagree) is a 400
//!   [`ErrorKind::BadRequest`].
//!
//! Options: a per-request limit ([`BodyLimitLayer::per_request`], e.g. larger uploads on one
//! route) and [`BodyLimitLayer::require_content_length`], which answers
//! [`ErrorKind::LengthRequired`] (411) to a request that carries a body without declaring its
//! length.
//!
//! Without an `ErrorEnvelopeLayer` above, a rejection is rendered as RFC 9457 problem details;
//! the [`ApiError`] is in the response extensions either way. A request within the limit costs
//! no allocation.
//!
//! ```
//! use bytes::Bytes;
//! use http::{header::CONTENT_LENGTH, Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use std::convert::Infallible;
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_envelope::{ApiError, BodyLimitLayer, ErrorKind};
//! use http_body_util::Limited;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let service = ServiceBuilder::new()
//!     .layer(BodyLimitLayer::new(4096))
//!     .service_fn(|req: Request<Limited<Full<Bytes>>>| async move {
//!         let body = req.into_body().collect().await;
//!         let status = if body.is_ok() { StatusCode::OK } else { StatusCode::PAYLOAD_TOO_LARGE };
//!         let mut response = Response::new(Full::<Bytes>::default());
//!         *response.status_mut() = status;
//!         Ok::<_, Infallible>(response)
//!     });
//!
//! let request = Request::post("/upload")
//!     .header(CONTENT_LENGTH, 5000)
//!     .body(Full::new(Bytes::from(vec![0; 5000])))
//!     .unwrap();
//! let response = service.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
//! let error = response.extensions().get::<ApiError>().unwrap();
//! assert_eq!(error.kind(), ErrorKind::PayloadTooLarge);
//! assert_eq!(error.message(), "Received: 5000 bytes, allowed: 4096 bytes");
//!
//! let request = Request::post("/upload").body(Full::new(Bytes::from(vec![0; 4096]))).unwrap();
//! assert_eq!(service.oneshot(request).await.unwrap().status(), StatusCode::OK);
//! # });
//! ```

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::request::Parts;
use http::{HeaderMap, Request};
use http_body::Body;
use http_body_util::Limited;
use tower_layer::Layer;

use crate::check::{with_parts, Check, Rejection, Validate, Verdict};
use crate::error::{echo, ApiError, ErrorKind};

/// A per-request limit: the largest body allowed for a request with this head.
type PerRequest = dyn Fn(&Parts) -> usize + Send + Sync;

/// How the limit is chosen.
#[derive(Clone)]
enum Policy {
    /// The same limit for every request: the layer does not lend the closure the head.
    Fixed(usize),
    PerRequest(Arc<PerRequest>),
}

/// Bounds request bodies; see the [module docs](self).
#[derive(Clone)]
pub struct BodyLimitLayer {
    policy: Policy,
    require_content_length: bool,
}

impl BodyLimitLayer {
    /// Limits every request body to `limit` bytes.
    pub const fn new(limit: usize) -> Self {
        Self {
            policy: Policy::Fixed(limit),
            require_content_length: false,
        }
    }

    /// Chooses the limit per request, from the request head (method, URI, headers, extensions).
    ///
    /// ```
    /// use http::request::Parts;
    /// use tower_envelope::BodyLimitLayer;
    ///
    /// let layer = BodyLimitLayer::per_request(|head: &Parts| {
    ///     if head.uri.path().starts_with("/upload/") { 16 << 20 } else { 64 << 10 }
    /// });
    /// # let _ = layer;
    /// ```
    pub fn per_request<F>(policy: F) -> Self
    where
        F: Fn(&Parts) -> usize + Send + Sync + 'static,
    {
        Self {
            policy: Policy::PerRequest(Arc::new(policy)),
            require_content_length: false,
        }
    }

    /// Answers [`ErrorKind::LengthRequired`] (411) to a request that carries a body (chunked, or
    /// a body stream that is not empty) without a `Content-Length`. Requests without a body pass.
    pub fn require_content_length(mut self) -> Self {
        self.require_content_length = true;
        self
    }

    /// Whether [`BodyLimitLayer::require_content_length`] is set.
    #[cfg(feature = "utoipa")]
    pub(crate) fn requires_content_length(&self) -> bool {
        self.require_content_length
    }
}

impl fmt::Debug for BodyLimitLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("BodyLimitLayer");
        match &self.policy {
            Policy::Fixed(limit) => debug.field("limit", limit),
            Policy::PerRequest(_) => debug.field("limit", &"per request"),
        };
        debug
            .field("require_content_length", &self.require_content_length)
            .finish()
    }
}

impl<S> Layer<S> for BodyLimitLayer {
    type Service = Validate<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        Validate::new(inner, self.clone())
    }
}

impl<S, B: Body> Check<S, B> for BodyLimitLayer {
    type Body = Limited<B>;
    type Pass = usize;
    type Later = Infallible;

    #[inline]
    fn check(&self, request: &mut Request<B>) -> Verdict<usize, Infallible> {
        let limit = match &self.policy {
            Policy::Fixed(limit) => *limit,
            Policy::PerRequest(limit) => with_parts(request, |head| limit(head)),
        };
        let error = match content_length(request.headers()) {
            Ok(Some(length)) if length > u64::try_from(limit).unwrap_or(u64::MAX) => {
                too_large(length, limit)
            }
            Ok(None)
                if self.require_content_length
                    && (request.headers().contains_key(TRANSFER_ENCODING)
                        || !request.body().is_end_stream()) =>
            {
                ApiError::new(
                    ErrorKind::LengthRequired,
                    "Content-Length header is required",
                )
            }
            Ok(_) => return Verdict::Pass(limit),
            Err(invalid) => invalid.into(),
        };
        Verdict::Reject(Rejection::new(error, request.headers()))
    }

    fn pass(&self, limit: usize, request: Request<B>) -> Request<Limited<B>> {
        request.map(|body| Limited::new(body, limit))
    }
}

/// The 413 for a declared length over the limit (Defender's `MaximumBatchSizeExceeded` wording).
pub(crate) fn too_large(length: u64, limit: usize) -> ApiError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        format!("Received: {length} bytes, allowed: {limit} bytes"),
    )
}

/// The 413 for a streamed body that went over the limit (its full length is unknown).
pub(crate) fn too_large_streamed(limit: usize) -> ApiError {
    ApiError::new(
        ErrorKind::PayloadTooLarge,
        format!("Received: more than {limit} bytes, allowed: {limit} bytes"),
    )
}

/// A `Content-Length` that is not one length.
#[derive(Debug)]
pub(crate) enum InvalidContentLength {
    /// A value that is not a decimal number (or does not fit a `u64`).
    Malformed(String),
    /// Several values that disagree (`Content-Length: 5, 6`, or two headers).
    Conflicting,
}

impl From<InvalidContentLength> for ApiError {
    fn from(invalid: InvalidContentLength) -> Self {
        let error = match invalid {
            InvalidContentLength::Malformed(value) => ApiError::new(
                ErrorKind::BadRequest,
                format!("Content-Length \"{}\" is not a valid length", echo(&value)),
            ),
            InvalidContentLength::Conflicting => ApiError::new(
                ErrorKind::BadRequest,
                "Content-Length header has conflicting values",
            ),
        };
        error.with_target("Content-Length")
    }
}

/// The declared body length: `None` without a `Content-Length`; several equal values (RFC 9110
/// §8.6 allows `42, 42`) count as one. Borrows the headers; allocates only to report a
/// malformed value.
#[inline]
pub(crate) fn content_length(headers: &HeaderMap) -> Result<Option<u64>, InvalidContentLength> {
    // Fast path for one value of plain digits, what well-behaved clients send (the limit's
    // guard rail shows it).
    if let Ok(Some(value)) = crate::headers::single(headers, &CONTENT_LENGTH) {
        let digits = value.as_bytes();
        if (1..=19).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) {
            return Ok(Some(
                digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')),
            ));
        }
    }
    let mut length = None;
    for value in headers.get_all(CONTENT_LENGTH) {
        let malformed =
            || InvalidContentLength::Malformed(String::from_utf8_lossy(value.as_bytes()).into());
        for element in value.as_bytes().split(|b| *b == b',') {
            let digits = element.trim_ascii();
            if digits.is_empty() {
                return Err(malformed());
            }
            let mut n: u64 = 0;
            for d in digits {
                if !d.is_ascii_digit() {
                    return Err(malformed());
                }
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(d - b'0')))
                    .ok_or_else(malformed)?;
            }
            match length {
                Some(previous) if previous != n => return Err(InvalidContentLength::Conflicting),
                _ => length = Some(n),
            }
        }
    }
    Ok(length)
}

/// Whether a request carries a body, given its parsed `Content-Length` (`declared`): a non-zero
/// (or invalid) length, a `Transfer-Encoding`, or — without either header, as in HTTP/2 — a body
/// stream that is not known to be empty.
pub(crate) fn carries_body<B: Body>(
    declared: &Result<Option<u64>, InvalidContentLength>,
    headers: &HeaderMap,
    body: &B,
) -> bool {
    match declared {
        Ok(Some(0)) => headers.contains_key(TRANSFER_ENCODING),
        Ok(Some(_)) | Err(_) => true,
        Ok(None) => headers.contains_key(TRANSFER_ENCODING) || !body.is_end_stream(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn parse(values: &[&'static str]) -> Result<Option<u64>, InvalidContentLength> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(CONTENT_LENGTH, HeaderValue::from_static(v));
        }
        content_length(&headers)
    }

    #[test]
    fn content_length_values() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&["0"]).unwrap(), Some(0));
        assert_eq!(parse(&["4096"]).unwrap(), Some(4096));
        assert_eq!(parse(&["42, 42"]).unwrap(), Some(42));
        assert_eq!(parse(&["42", "42"]).unwrap(), Some(42));
        assert_eq!(parse(&["18446744073709551615"]).unwrap(), Some(u64::MAX));
        for bad in [
            "",
            "abc",
            "-1",
            "+1",
            "1.0",
            "0x10",
            "18446744073709551616",
            "1,",
            " ",
        ] {
            assert!(
                matches!(parse(&[bad]), Err(InvalidContentLength::Malformed(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse(&["1, 2"]),
            Err(InvalidContentLength::Conflicting)
        ));
        assert!(matches!(
            parse(&["1", "2"]),
            Err(InvalidContentLength::Conflicting)
        ));
    }
}
