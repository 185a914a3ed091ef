//! Shared by the fuzz targets: drive a service synchronously and check what it answers.

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower::Service;

/// A service that answers 200 "ok" to anything.
#[derive(Clone, Copy)]
pub struct Ok200;

/// The service every target puts its layer over.
pub const OK_200: Ok200 = Ok200;

impl<B> Service<Request<B>> for Ok200 {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        ready(Ok(Response::new(Full::new(Bytes::from_static(b"ok")))))
    }
}

/// Readies and calls `svc`, polls the future (which must complete without waking) and reads the
/// whole response body. Panics if anything stays pending: nothing here may wait.
pub fn drive<S, B, RB>(svc: &mut S, request: Request<B>) -> (Response<()>, Vec<u8>)
where
    S: Service<Request<B>, Response = Response<RB>>,
    S::Error: std::fmt::Debug,
    RB: Body<Data = Bytes>,
    RB::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Ok(())) = svc.poll_ready(&mut cx) else {
        panic!("service not ready");
    };
    let mut future = pin!(svc.call(request));
    let response = match future.as_mut().poll(&mut cx) {
        Poll::Ready(res) => res.expect("service error"),
        Poll::Pending => panic!("service pending on a ready inner service"),
    };
    let (parts, body) = response.into_parts();
    let mut body = pin!(body);
    let mut bytes = Vec::new();
    loop {
        match body.as_mut().poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    bytes.extend_from_slice(data);
                }
            }
            Poll::Ready(Some(Err(e))) => panic!("body error: {e:?}"),
            Poll::Ready(None) => break,
            Poll::Pending => panic!("body pending"),
        }
    }
    (Response::from_parts(parts, ()), bytes)
}

/// Every header of `response` is free of CR, LF and NUL.
pub fn assert_clean_headers(response: &Response<()>) {
    for (name, value) in response.headers() {
        assert!(
            !value
                .as_bytes()
                .iter()
                .any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "{name}: {value:?}"
        );
    }
}
