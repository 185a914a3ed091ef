//! [`Readiness`]: a switch the application flips once it has initialized; until then, requests
//! are answered `InitializationFailure`.
//!
//! QRadar's table has a status for this: 550, "A failure occurred during initialization of
//! services. API will be unavailable." (reason phrase `Initialization Failure` on HTTP/1,
//! feature `hyper`). The other formats answer 503 `ServiceUnavailable`-style, gRPC
//! `UNAVAILABLE`; every answer carries `Retry-After: 1`.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_envelope::{ErrorEnvelopeLayer, Readiness};
//!
//! # tokio_test::block_on(async {
//! let readiness = Readiness::new(); // not ready
//! let svc = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::qradar())
//!     .layer(readiness.clone())
//!     .service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(String::new())) });
//! let early = svc.clone().oneshot(Request::new(())).await.unwrap();
//! assert_eq!(early.status().as_u16(), 550);
//! readiness.set_ready(true); // caches warm, connections open
//! let ready = svc.oneshot(Request::new(())).await.unwrap();
//! assert_eq!(ready.status().as_u16(), 200);
//! # });
//! ```

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use tower_layer::Layer;

use crate::check::{Check, Rejection, Validate, Verdict};
use crate::error::{ApiError, ErrorKind};

/// A readiness switch, and the layer that answers `InitializationFailure` while it is off; its
/// clones share the switch. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    ready: Arc<AtomicBool>,
}

impl Readiness {
    /// A switch that is off: requests are refused until [`Readiness::set_ready`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A switch that is on.
    pub fn ready() -> Self {
        let readiness = Self::new();
        readiness.set_ready(true);
        readiness
    }

    /// Turns the switch on (`true`) or off again (`false`, while the application reinitializes).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Whether requests pass.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

impl<S> Layer<S> for Readiness {
    type Service = Validate<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        Validate::new(inner, self.clone())
    }
}

impl<S, B> Check<S, B> for Readiness {
    type Body = B;
    type Pass = ();
    type Later = Infallible;

    fn check(&self, request: &mut Request<B>) -> Verdict<(), Infallible> {
        if self.is_ready() {
            return Verdict::Pass(());
        }
        let error = ApiError::from_kind(ErrorKind::InitializationFailure)
            .with_retry_after(Duration::from_secs(1));
        Verdict::Reject(Rejection::new(error, request.headers()))
    }

    fn pass(&self, (): (), request: Request<B>) -> Request<B> {
        request
    }
}
