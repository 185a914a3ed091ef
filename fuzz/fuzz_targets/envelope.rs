#![no_main]
//! `ErrorEnvelopeLayer` over an arbitrary inner response: status, headers, body chunks, an
//! optional body error, an optional `ApiError` tag.

use std::convert::Infallible;
use std::future::Future as _;
use std::future::{ready, Ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, StreamBody};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, Service};
use tower_envelope::{ApiError, ErrorEnvelopeLayer, ErrorKind};

type Chunks = Vec<Result<http_body::Frame<Bytes>, std::io::Error>>;
type Inner = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

struct Canned(Response<()>, Chunks);

impl<B> Service<Request<B>> for Canned {
    type Response = Response<Inner>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let chunks = std::mem::take(&mut self.1);
        let body = StreamBody::new(futures_util::stream::iter(chunks)).boxed_unsync();
        let (parts, ()) = std::mem::replace(&mut self.0, Response::new(())).into_parts();
        ready(Ok(Response::from_parts(parts, body)))
    }
}

const BOUND: usize = 256;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let status = StatusCode::from_u16(100 + u16::from_be_bytes([data[0], data[1]]) % 500)
        .unwrap_or(StatusCode::OK);
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return;
    }
    let flags = data[2];
    let header_count = usize::from(data[3] % 4);
    let mut rest = &data[4..];
    let mut response = Response::new(());
    *response.status_mut() = status;
    for _ in 0..header_count {
        let Some(split) = rest.iter().position(|b| *b == b'\n') else {
            break;
        };
        let line = &rest[..split];
        rest = &rest[split + 1..];
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(&line[..colon]),
                HeaderValue::from_bytes(&line[colon + 1..]),
            ) {
                response.headers_mut().append(name, value);
            }
        }
    }
    if flags & 1 == 1 {
        response
            .extensions_mut()
            .insert(ApiError::new(ErrorKind::Conflict, "tagged"));
    }
    let mut chunks: Chunks = rest
        .chunks(usize::from(flags >> 4) + 1)
        .map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    if flags & 2 == 2 {
        chunks.push(Err(std::io::Error::other("body failed")));
    }
    let expected_body: Vec<u8> = rest.to_vec();
    let mut svc = ErrorEnvelopeLayer::defender()
        .max_error_body(BOUND)
        .layer(Canned(response, chunks));
    let request = Request::get("/")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let Poll::Ready(Ok(())) =
        Service::<Request<http_body_util::Empty<Bytes>>>::poll_ready(&mut svc, &mut cx)
    else {
        panic!("not ready")
    };
    let mut future = std::pin::pin!(svc.call(request));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
        panic!("envelope pending on a ready inner service")
    };
    for (name, value) in response.headers() {
        assert!(
            !value
                .as_bytes()
                .iter()
                .any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "{name}: {value:?}"
        );
    }
    let out_status = response.status();
    let mut body = std::pin::pin!(response.into_body());
    let mut bytes = Vec::new();
    let mut failed = false;
    loop {
        match body.as_mut().poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    bytes.extend_from_slice(d);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                failed = true;
                break;
            }
            Poll::Ready(None) => break,
            Poll::Pending => panic!("body pending"),
        }
    }
    if status.as_u16() < 400 {
        assert_eq!(out_status, status);
        if !failed {
            assert_eq!(bytes, expected_body);
        }
    } else {
        assert!(out_status.as_u16() >= 400);
        assert!(bytes.starts_with(b"{\"error\":{"), "{bytes:?}");
    }
});
