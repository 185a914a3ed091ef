//! A per-thread allocation counter shared by the test binaries that count allocations (each
//! binary that declares `mod common;` gets it as its global allocator), and the inner services
//! and driver of `service`.

#![allow(dead_code)]

pub mod service;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::Service;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A header value as hyper parses one: a slice of the connection's read buffer, shared, so
/// that cloning it does not allocate.
pub fn parsed(value: &str) -> http::HeaderValue {
    let mut buffer = bytes::BytesMut::from(value);
    let read = buffer.split_to(buffer.len()).freeze();
    http::HeaderValue::from_maybe_shared(read).unwrap()
}

/// Allocations made so far on this thread.
pub fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// Counts the allocations `f` makes on this thread.
pub fn count<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = allocations();
    let out = f();
    (allocations() - before, out)
}

/// Readies `service`, calls it and polls the response to completion on this thread; returns the
/// allocations made meanwhile and the status.
pub fn allocations_of<S, B>(service: &mut S, request: Request<Full<Bytes>>) -> (usize, StatusCode)
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    count(|| {
        assert!(service.poll_ready(&mut cx).is_ready());
        let mut future = pin!(service.call(request));
        loop {
            if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
                break response.unwrap().status();
            }
        }
    })
}
