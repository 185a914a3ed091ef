//! Shared by the fuzz targets: drive a service synchronously and check what it answers.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use tower::Service;

#[path = "../../tests/common/service.rs"]
mod service;
/// A service that answers 200 "ok" to anything.
pub use service::BARE as OK_200;

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
