//! Drives `bench_server`'s axum router in process, bare or behind the full stack, for
//! instruction counting under callgrind: what the stack costs a request that passes, with
//! axum's own routing and body handling around it.
//!
//! ```sh
//! cargo build --release --example router_instructions
//! valgrind --tool=callgrind target/release/examples/router_instructions stack 10000
//! ```

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use http::Request;
use tower::{Service, ServiceExt};

#[path = "bench_server.rs"]
#[allow(dead_code)]
mod server;

fn run<S>(app: S, n: usize)
where
    S: Service<Request<Body>, Error = std::convert::Infallible> + Clone,
    S::Response: HasStatus,
{
    let reqs: Vec<_> = (0..n)
        .map(|_| {
            Request::get("/api/machines/1")
                .header("host", "127.0.0.1:8080")
                .header("user-agent", "wrk")
                .header("authorization", "Bearer read-token")
                .body(Body::empty())
                .unwrap()
        })
        .collect();
    // As `axum::serve` does: the handlers become routes (and get their layers) once.
    let mut svc = app;
    let mut cx = Context::from_waker(Waker::noop());
    for r in reqs {
        let ready = svc.ready();
        let mut ready = pin!(ready);
        let Poll::Ready(Ok(svc)) = ready.as_mut().poll(&mut cx) else {
            panic!("not ready")
        };
        let mut future = pin!(svc.call(r));
        let response = loop {
            if let Poll::Ready(res) = future.as_mut().poll(&mut cx) {
                break res.unwrap();
            }
        };
        assert_eq!(response.status(), 200);
        drop(std::hint::black_box(response));
    }
}

/// The status of a response, whatever its body.
trait HasStatus {
    fn status(&self) -> http::StatusCode;
}

impl<B> HasStatus for http::Response<B> {
    fn status(&self) -> http::StatusCode {
        http::Response::status(self)
    }
}

fn main() {
    let usage = "usage: router_instructions bare|stack|stack_around N";
    let which = std::env::args().nth(1).expect(usage);
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .expect(usage);
    match which.as_str() {
        // As `axum::serve` does: the handlers become routes (and get their layers) once.
        "bare" => run(server::router().with_state(()).into_service::<Body>(), n),
        // The stack on every route (`Router::layer`), or around the whole router.
        "stack" => run(server::stacked().with_state(()).into_service::<Body>(), n),
        "stack_around" => run(server::around(), n),
        other => panic!("unknown configuration {other}; {usage}"),
    }
}
