//! Drives `bench_server`'s axum router in process, bare, behind the full stack or behind the peer
//! stack, for instruction counting under callgrind: what a stack costs a request that passes,
//! with axum's own routing and body handling around it.
//!
//! ```sh
//! cargo build --release -p tower-envelope-benches --bin router_instructions
//! valgrind --tool=callgrind target/release/router_instructions stack 10000
//! ```

use axum::body::Body;
use http::{Request, Response, StatusCode};
use tower::Service;

use tower_envelope_benches::{server, service};

fn run<S, RB>(mut svc: S, n: usize)
where
    S: Service<Request<Body>, Response = Response<RB>, Error = std::convert::Infallible>,
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
    for r in reqs {
        let response = service::drive(&mut svc, r);
        assert_eq!(response.status(), StatusCode::OK);
        drop(std::hint::black_box(response));
    }
}

fn main() {
    let usage = "usage: router_instructions bare|stack|stack_around|peer|peer_around N";
    let (which, n) = service::args(usage);
    match which.as_str() {
        // As `axum::serve` does: the handlers become routes (and get their layers) once.
        "bare" => run(server::router().with_state(()).into_service::<Body>(), n),
        // The stack on every route (`Router::layer`), or around the whole router.
        "stack" => run(server::stacked().with_state(()).into_service::<Body>(), n),
        "stack_around" => run(server::around(), n),
        // The peer stack (tower-http's bearer and limit under axum-problem), the same two ways.
        "peer" => run(server::peer().with_state(()).into_service::<Body>(), n),
        "peer_around" => run(server::peer_around(), n),
        other => panic!("unknown configuration {other}; {usage}"),
    }
}
