//! How the JWKS document is fetched: one `GET` sent through a tower `Service` (the built-in
//! hyper-util client, or the application's own), its body read up to a size limit.

use std::future::{poll_fn, Future};
use std::pin::Pin;

use bytes::Bytes;
use http::header::ACCEPT;
use http::{HeaderValue, Request, Response, Uri};
use http_body::Body;
use http_body_util::{BodyExt, Empty, Limited};
use tower_service::Service;

use super::JwksError;
use crate::BoxError;

/// The largest JWKS document read by default (1 MiB).
pub const DEFAULT_MAX_JWKS_SIZE: usize = 1024 * 1024;

/// A fetch in flight: the response with its whole body.
pub(super) type Fetching = Pin<Box<dyn Future<Output = Result<Response<Bytes>, BoxError>> + Send>>;

/// A client with its type erased: sends `GET uri` and reads the body, failing past `max_size`
/// bytes.
pub(super) type Fetch = dyn Fn(&Uri, usize) -> Fetching + Send + Sync;

/// Sends `GET uri` through `client` and reads the response's body up to `max_size` bytes.
pub(super) async fn fetch<S, B>(
    mut client: S,
    uri: Uri,
    max_size: usize,
) -> Result<Response<Bytes>, BoxError>
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut request = Request::new(Empty::new());
    *request.uri_mut() = uri;
    request
        .headers_mut()
        .insert(ACCEPT, HeaderValue::from_static("application/json"));
    poll_fn(|cx| client.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    let (parts, body) = client.call(request).await.map_err(Into::into)?.into_parts();
    let body = Limited::new(body, max_size).collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// The built-in client: hyper-util's over rustls (the `ring` provider), trusting the platform's
/// certificates (or those of `SSL_CERT_FILE` / `SSL_CERT_DIR` when set), `https` and plain
/// `http`; it needs a tokio runtime.
pub(super) type BuiltIn = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

/// The built-in client, or why the certificates to trust could not be read.
pub(super) fn built_in() -> Result<BuiltIn, JwksError> {
    // `ring` builds with a C compiler alone (the post-quantum `aws-lc-rs` provider may need
    // cmake); the connection fetches public keys, whose signatures the tokens are checked with.
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider)
        .map_err(JwksError::Tls)?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https),
    )
}

/// `url` as the absolute URL of a document, with one of `schemes`.
pub(super) fn parse_url(url: &str, schemes: &[&str]) -> Result<Uri, JwksError> {
    let uri: Uri = url.parse().map_err(|_| JwksError::Url("not a valid URL"))?;
    match uri.scheme_str() {
        Some(scheme) if schemes.contains(&scheme) && uri.host().is_some() => Ok(uri),
        _ => Err(JwksError::Url("not an absolute https or http URL")),
    }
}
