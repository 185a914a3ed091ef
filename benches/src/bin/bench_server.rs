//! A server for load tests: the same small JSON API bare, behind the full stack of this crate's
//! layers (envelope with `catch_panic`, bearer auth with scopes, URL, Content-Type and
//! body-limit checks), or behind the stack a user assembles from the peers (tower-http 0.7's
//! bearer check and body limit under axum-problem's `ProblemLayer`).
//!
//! ```sh
//! cargo run --release -p tower-envelope-benches --bin bench_server -- --addr 127.0.0.1:8080  # bare
//! cargo run --release -p tower-envelope-benches --bin bench_server -- --stack         # on each route
//! cargo run --release -p tower-envelope-benches --bin bench_server -- --stack-around
//! cargo run --release -p tower-envelope-benches --bin bench_server -- --peer          # on each route
//! cargo run --release -p tower-envelope-benches --bin bench_server -- --peer-around
//! cargo run --release -p tower-envelope-benches --bin bench_server -- --quota         # + a quota
//! cargo run --release -p tower-envelope-benches --features redis --bin bench_server -- --quota-redis redis://127.0.0.1:6379/
//! ```
//!
//! `--stack` and `--peer` apply their stack with `Router::layer` (to every route and the
//! fallback); `--stack-around` and `--peer-around` wrap the whole router with it.
//! `benches/load.sh` drives them with wrk and compares them.

use std::net::SocketAddr;

use tower::make::Shared;
use tower_envelope_benches::server::{around, peer, peer_around, router, stacked};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut mode = Mode::Bare;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stack" => mode = Mode::Stack,
            "--stack-around" => mode = Mode::Around,
            "--peer" => mode = Mode::Peer,
            "--peer-around" => mode = Mode::PeerAround,
            "--quota" => mode = Mode::Quota(None),
            "--quota-redis" => mode = Mode::Quota(Some(args.next().unwrap_or_default())),
            #[cfg(feature = "jwt")]
            "--jwt" => mode = Mode::Jwt,
            #[cfg(feature = "jwt")]
            "--print-jwt" => {
                println!("{}", tower_envelope_benches::server::jwt_stacked().1);
                return Ok(());
            }
            "--addr" => {
                let value = args.next().unwrap_or_default();
                addr = value.parse().unwrap_or_else(|e| {
                    eprintln!("--addr {value}: {e}");
                    std::process::exit(2)
                });
            }
            other => {
                eprintln!(
                    "usage: bench_server [--addr HOST:PORT] \
                     [--stack | --stack-around | --peer | --peer-around | --quota | \
                     --quota-redis URL] (got {other})"
                );
                std::process::exit(2);
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "bench_server ({mode:?}) on http://{}",
        listener.local_addr()?
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match mode {
        Mode::Bare => {
            axum::serve(listener, router())
                .with_graceful_shutdown(shutdown)
                .await
        }
        Mode::Stack => {
            axum::serve(listener, stacked())
                .with_graceful_shutdown(shutdown)
                .await
        }
        Mode::Around => {
            axum::serve(listener, Shared::new(around()))
                .with_graceful_shutdown(shutdown)
                .await
        }
        Mode::Peer => {
            axum::serve(listener, peer())
                .with_graceful_shutdown(shutdown)
                .await
        }
        Mode::PeerAround => {
            axum::serve(listener, Shared::new(peer_around()))
                .with_graceful_shutdown(shutdown)
                .await
        }
        Mode::Quota(redis) => {
            let app = tower_envelope_benches::server::quota_stacked(redis.as_deref());
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        #[cfg(feature = "jwt")]
        Mode::Jwt => {
            axum::serve(listener, tower_envelope_benches::server::jwt_stacked().0)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

/// What the server runs: the router alone, or with this crate's stack or the peer stack on
/// every route or around it.
#[derive(Debug)]
enum Mode {
    Bare,
    Stack,
    Around,
    Peer,
    PeerAround,
    /// `--stack` and a quota per principal that every request passes, counted in this process
    /// (`--quota`) or in Redis (`--quota-redis URL`, feature `redis`).
    Quota(Option<String>),
    /// `--stack` with JWT bearer tokens (feature `jwt`); `--print-jwt` prints a token it takes.
    #[cfg(feature = "jwt")]
    Jwt,
}
