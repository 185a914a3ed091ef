//! What the harnesses of this package share: the inner services and the synchronous driver
//! ([`service`]), the load-test server's routers and stacks ([`server`]) and, with feature `jwt`,
//! the JWT harness's keys ([`keys`]).

pub mod server;
pub mod service;

#[cfg(feature = "jwt")]
pub mod keys;
