//! What a quota does around the inner service once a request is admitted: charges the CPU time
//! the inner future spends in its polls, and adds the `RateLimit` fields to the response.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{Key, Shared, RATELIMIT, RATELIMIT_POLICY};

/// An admitted request's client, the requests it may still send at once and the time until
/// its request quota is full again (nanoseconds), handed from the check to [`Metered`] in the
/// request's extensions.
#[derive(Clone)]
pub struct Granted {
    pub(super) key: Key<'static>,
    pub(super) remaining: u64,
    pub(super) reset: u64,
}

/// The inner service of a [`QuotaLayer`](super::QuotaLayer)'s check: the inner service itself
/// when the quota neither charges CPU time nor adds fields to passing responses.
#[derive(Clone)]
pub struct Metered<S> {
    inner: S,
    shared: Option<Arc<Shared>>,
}

impl<S> Metered<S> {
    pub(super) fn new(inner: S, shared: Option<Arc<Shared>>) -> Self {
        Self { inner, shared }
    }
}

impl<S: fmt::Debug> fmt::Debug for Metered<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metered")
            .field("inner", &self.inner)
            .field("metered", &self.shared.is_some())
            .finish()
    }
}

impl<S, B, R> Service<Request<B>> for Metered<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = MeteredFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let meter = self.shared.as_ref().and_then(|shared| {
            let granted = request.extensions_mut().remove::<Granted>()?;
            Some(Box::new(Meter {
                shared: Arc::clone(shared),
                granted,
                spent: 0,
            }))
        });
        MeteredFuture {
            inner: self.inner.call(request),
            meter,
        }
    }
}

struct Meter {
    shared: Arc<Shared>,
    granted: Granted,
    /// The CPU time spent in the inner future's polls so far, in nanoseconds.
    spent: u64,
}

pin_project! {
    /// The response future of [`Metered`].
    pub struct MeteredFuture<F> {
        #[pin]
        inner: F,
        // Boxed: the future of a request that is not metered stays small.
        meter: Option<Box<Meter>>,
    }
}

impl<F, R, E> Future for MeteredFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(meter) = this.meter else {
            return this.inner.poll(cx);
        };
        let charges_cpu = meter.shared.settings.rules.cpu.is_some();
        let start = if charges_cpu { thread_cpu_nanos() } else { 0 };
        let poll = this.inner.poll(cx);
        if charges_cpu {
            meter.spent = meter
                .spent
                .saturating_add(thread_cpu_nanos().saturating_sub(start));
        }
        let mut result = ready!(poll);
        if let (Some(meter), Ok(response)) = (this.meter.take(), result.as_mut()) {
            meter.finish(response);
        }
        Poll::Ready(result)
    }
}

impl Meter {
    /// Adds the `RateLimit` fields to the response; the CPU time is charged when the meter is
    /// dropped, after the response or with a request given up on (its client gone, a timeout).
    fn finish<R>(&self, response: &mut Response<R>) {
        if self.shared.settings.headers {
            let headers = response.headers_mut();
            headers.insert(RATELIMIT_POLICY, self.shared.policy());
            let reset = self.granted.reset.div_ceil(1_000_000_000);
            let state = self.shared.state(self.granted.remaining, reset);
            headers.insert(RATELIMIT, state);
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if self.spent > 0 {
            let key = self.granted.key.clone();
            Arc::clone(&self.shared).charge(key, self.spent);
        }
    }
}

/// The CPU time this thread has spent, in nanoseconds.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "freebsd"
))]
pub(super) fn thread_cpu_nanos() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// No thread CPU clock here: nothing is charged.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "freebsd"
)))]
pub(super) fn thread_cpu_nanos() -> u64 {
    0
}
