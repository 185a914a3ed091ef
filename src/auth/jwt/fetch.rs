//! How a JWKS document is fetched: the [`JwksFetcher`] trait and the built-in [`HttpFetcher`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::header::ACCEPT;
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::JwksError;
use crate::BoxError;

/// Fetches the JWKS document: one `GET` of the key set's URL, answered with the response (its
/// status, its headers for `Cache-Control`, and its whole body).
///
/// [`HttpFetcher`] is the built-in one (plain `http`, e.g. a sidecar or a loopback issuer). For
/// `https` plug in the HTTP client the application already has; a closure returning a future
/// is a fetcher, e.g. with `reqwest`:
///
/// ```ignore
/// let client = reqwest::Client::new();
/// let fetch = move || {
///     let request = client.get("https://login.microsoftonline.com/common/discovery/v2.0/keys");
///     async move {
///         let response = request.send().await?;
///         let mut out = http::Response::builder().status(response.status());
///         if let Some(cache) = response.headers().get(http::header::CACHE_CONTROL) {
///             out = out.header(http::header::CACHE_CONTROL, cache);
///         }
///         Ok(out.body(response.bytes().await?)?)
///     }
/// };
/// let jwks = Jwks::with_fetcher(fetch);
/// ```
///
/// A fetcher should bound the body it reads; the cache bounds the time a fetch takes
/// ([`Jwks::timeout`](super::Jwks::timeout)).
pub trait JwksFetcher: Send + Sync + 'static {
    /// The fetch.
    type Future: Future<Output = Result<Response<Bytes>, BoxError>> + Send + 'static;

    /// Starts fetching the JWKS document.
    fn fetch(&self) -> Self::Future;
}

impl<F, Fut> JwksFetcher for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Bytes>, BoxError>> + Send + 'static,
{
    type Future = Fut;

    fn fetch(&self) -> Fut {
        self()
    }
}

/// The largest JWKS document [`HttpFetcher`] reads by default (1 MiB).
pub const DEFAULT_MAX_JWKS_SIZE: usize = 1024 * 1024;

/// A [`JwksFetcher`] over plain `http`, on hyper-util's client (requires a tokio runtime).
#[derive(Clone)]
pub struct HttpFetcher {
    uri: Uri,
    client: Client<HttpConnector, Empty<Bytes>>,
    max_size: usize,
}

impl HttpFetcher {
    /// Fetches the `http` URL `url`.
    ///
    /// # Errors
    ///
    /// [`JwksError::Url`] when `url` is not an absolute `http` URL (for `https`, plug in another
    /// client: see [`JwksFetcher`]).
    pub fn new(url: &str) -> Result<Self, JwksError> {
        let uri: Uri = url
            .parse()
            .map_err(|_| JwksError::Url("the JWKS URL is not a valid URL"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(JwksError::Url(
                "the built-in fetcher reads absolute http URLs only: plug in a client for https",
            ));
        }
        Ok(Self {
            uri,
            client: Client::builder(TokioExecutor::new()).build_http(),
            max_size: DEFAULT_MAX_JWKS_SIZE,
        })
    }

    /// Sets the largest document read (default [`DEFAULT_MAX_JWKS_SIZE`]); a larger one fails
    /// the fetch.
    pub fn max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }
}

impl JwksFetcher for HttpFetcher {
    type Future = Pin<Box<dyn Future<Output = Result<Response<Bytes>, BoxError>> + Send>>;

    fn fetch(&self) -> Self::Future {
        let client = self.client.clone();
        let uri = self.uri.clone();
        let max_size = self.max_size;
        Box::pin(async move {
            let mut request = Request::new(Empty::new());
            *request.uri_mut() = uri;
            request
                .headers_mut()
                .insert(ACCEPT, HeaderValue::from_static("application/json"));
            let (parts, body) = client.request(request).await?.into_parts();
            let body = Limited::new(body, max_size).collect().await?.to_bytes();
            Ok(Response::from_parts(parts, body))
        })
    }
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("uri", &self.uri)
            .field("max_size", &self.max_size)
            .finish()
    }
}
