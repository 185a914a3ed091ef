//! Inner services and a synchronous driver for the tests that count allocations.

#![allow(dead_code)]

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::Service;

/// Answers every request with a fixed status and static body, allocating nothing.
#[derive(Clone, Copy)]
pub struct Fixed {
    status: StatusCode,
    body: &'static [u8],
}

/// The bare service: a small 200.
pub const BARE: Fixed = Fixed {
    status: StatusCode::OK,
    body: b"ok",
};

/// An empty 404, as axum's fallback answers.
pub const NOT_FOUND: Fixed = Fixed {
    status: StatusCode::NOT_FOUND,
    body: b"",
};

impl<B> Service<Request<B>> for Fixed {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut res = Response::new(Full::new(Bytes::from_static(self.body)));
        *res.status_mut() = self.status;
        ready(Ok(res))
    }
}

/// Readies `svc`, calls it with `request` and polls the (ready) future to completion on this
/// thread with a no-op waker.
pub fn drive<S, B, RB>(svc: &mut S, request: Request<B>) -> Response<RB>
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(
        matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))),
        "service not ready"
    );
    let mut future = pin!(svc.call(request));
    loop {
        if let Poll::Ready(res) = future.as_mut().poll(&mut cx) {
            return res.expect("service failed");
        }
    }
}
