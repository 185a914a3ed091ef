//! [`RouteHints`]: the answer for a request no route matched, naming the route the client
//! meant when the path matches a known one but for a trailing `/` or its letter case.
//!
//! EdgeCast's guide says of its 404 "Endpoint not found": "make sure that a forward slash (/) has
//! not been appended to the end of the URI", and lists "Invalid Case" among its 403s. A router
//! answers both with a bare 404; `RouteHints`, as the router's fallback, answers:
//!
//! | request | kind | message |
//! |---|---|---|
//! | `GET /api/machines/1/` | `NotFound` (404) | `Endpoint not found. Did you mean /api/machines/1 (without the trailing /)?` |
//! | `GET /API/machines/1` | `InvalidCase` (404; Edgio's 403) | `Invalid Case. Did you mean /api/machines/1?` |
//! | `GET /nothing/like/it` | `NotFound` (404) | the format's own (`Endpoint not found` in Edgio's) |
//!
//! The error's target is the route meant. No hint is ever a redirect: the client is told, not
//! moved. Being the fallback, it costs nothing on a request a route matches.
//!
//! ```
//! use axum::{routing::get, Router};
//! use tower_envelope::{ErrorEnvelopeLayer, RouteHints};
//!
//! let app: Router = Router::new()
//!     .route("/api/machines/{id}", get(|| async { "machine" }))
//!     .fallback_service(RouteHints::new(["/api/machines/{id}"]))
//!     .layer(ErrorEnvelopeLayer::defender());
//! ```

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower_service::Service;

use crate::error::{echo, ApiError, ErrorKind};
use crate::format::error_response;

/// One segment of a route template.
#[derive(Debug, PartialEq)]
enum Segment {
    Literal(Box<str>),
    /// `{id}`: any one segment.
    Param,
    /// `{*rest}`: the rest of the path.
    Rest,
}

/// The fallback service that answers a request no route matched; see the
/// [module docs](self).
#[derive(Clone, Debug)]
pub struct RouteHints {
    routes: Arc<[Vec<Segment>]>,
}

impl RouteHints {
    /// Hints among `templates`, axum's route paths: `/api/machines/{id}`, `/files/{*path}`.
    pub fn new<I>(templates: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let routes = templates
            .into_iter()
            .map(|template| parse(template.as_ref()))
            .collect();
        Self { routes }
    }

    /// Hints among the paths of an OpenAPI document (feature `utoipa`), whose templates are
    /// axum's.
    #[cfg(feature = "utoipa")]
    pub fn from_openapi(document: &utoipa::openapi::OpenApi) -> Self {
        Self::new(document.paths.paths.keys())
    }

    /// The error for a request to `path` that no route matched: `NotFound` or `InvalidCase`
    /// naming the route meant, or a plain `NotFound`.
    pub fn error(&self, path: &str) -> ApiError {
        let Some((case, route)) = self.hint(path) else {
            return ApiError::from_kind(ErrorKind::NotFound);
        };
        // The route meant holds the request's own segments: echoed, bounded.
        let route = echo(&route).into_owned();
        let error = if case {
            let message = format!("Invalid Case. Did you mean {route}?");
            ApiError::new(ErrorKind::InvalidCase, message)
        } else {
            let message =
                format!("Endpoint not found. Did you mean {route} (without the trailing /)?");
            ApiError::new(ErrorKind::NotFound, message)
        };
        error.with_target(route)
    }

    /// The route `path` means, and whether its letter case is wrong; `None` when it means none
    /// (or matches one exactly).
    fn hint(&self, path: &str) -> Option<(bool, String)> {
        let trimmed = path.trim_end_matches('/');
        // `/` itself ends with no slash too many.
        let slash = trimmed.len() < path.len() && path.len() > 1;
        let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
        let mut found: Option<(bool, String)> = None;
        for route in self.routes.iter() {
            let Some((case, mut meant)) = meant(route, &segments) else {
                continue;
            };
            if matches!(route.last(), Some(Segment::Rest)) {
                // A wildcard takes a trailing `/` as part of what it matches: only the case
                // can be off.
                if slash {
                    meant.push('/');
                }
                if case {
                    found.get_or_insert((true, meant));
                }
                continue;
            }
            if !case {
                // A route the path matches but for the slash: the best hint there is.
                return slash.then_some((false, meant));
            }
            found.get_or_insert((true, meant));
        }
        found
    }
}

/// `/api/machines/{id}` as segments; a leading `/` is optional.
fn parse(template: &str) -> Vec<Segment> {
    template
        .trim_start_matches('/')
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| match segment.strip_prefix('{') {
            Some(param) if param.starts_with('*') => Segment::Rest,
            Some(_) => Segment::Param,
            None => Segment::Literal(segment.into()),
        })
        .collect()
}

/// The path `route` gives `segments` when its literals are compared without regard to case,
/// and whether any literal differed in case; `None` when it does not match.
fn meant(route: &[Segment], segments: &[&str]) -> Option<(bool, String)> {
    let mut case = false;
    let mut path = String::new();
    for (i, segment) in route.iter().enumerate() {
        match segment {
            Segment::Rest => {
                // As axum's `{*rest}`: at least one segment.
                let rest = segments.get(i..).filter(|rest| !rest.is_empty())?;
                for segment in rest {
                    path.push('/');
                    path.push_str(segment);
                }
                return Some((case, path));
            }
            Segment::Param => {
                let value = segments.get(i).filter(|value| !value.is_empty())?;
                path.push('/');
                path.push_str(value);
            }
            Segment::Literal(literal) => {
                let value = segments.get(i)?;
                if !value.eq_ignore_ascii_case(literal) {
                    return None;
                }
                case |= *value != &**literal;
                path.push('/');
                path.push_str(literal);
            }
        }
    }
    if segments.len() != route.len() {
        return None;
    }
    if path.is_empty() {
        path.push('/');
    }
    Some((case, path))
}

impl<B> Service<Request<B>> for RouteHints {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let error = self.error(request.uri().path());
        ready(Ok(error_response(error).map(Full::new)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints() -> RouteHints {
        RouteHints::new([
            "/api/machines/{id}",
            "/api/machines",
            "/healthz",
            "/files/{*path}",
        ])
    }

    #[test]
    fn names_the_route_meant() {
        let hints = hints();
        // (path, whether the case is off, the route meant); `None`: no hint.
        let cases: [(&str, Option<(bool, &str)>); 16] = [
            ("/api/machines/1/", Some((false, "/api/machines/1"))),
            ("/api/machines//", Some((false, "/api/machines"))),
            ("/API/machines/1", Some((true, "/api/machines/1"))),
            ("/Api/Machines/7/", Some((true, "/api/machines/7"))),
            ("/HEALTHZ", Some((true, "/healthz"))),
            ("/FILES/a/B", Some((true, "/files/a/B"))),
            ("/FILES/a/", Some((true, "/files/a/"))),
            // A wildcard needs a segment; what it matches is no near miss.
            ("/files/", None),
            ("/FILES", None),
            ("/files/a/", None),
            // Exact matches, and paths like no route: no hint.
            ("/api/machines/1", None),
            ("/api/machines/1/disks", None),
            ("/api", None),
            ("/", None),
            ("", None),
            ("/nothing/", None),
        ];
        for (path, expected) in cases {
            let expected = expected.map(|(case, route)| (case, route.to_owned()));
            assert_eq!(hints.hint(path), expected, "{path:?}");
        }
        let root = RouteHints::new(["/"]);
        assert_eq!(root.hint("/"), None);
        assert_eq!(root.hint("//"), Some((false, "/".into())));
    }

    #[test]
    fn the_error_is_in_the_kind_and_words_of_the_hint() {
        let hints = hints();
        let slash = hints.error("/api/machines/1/");
        assert_eq!(slash.kind(), ErrorKind::NotFound);
        assert_eq!(
            slash.message(),
            "Endpoint not found. Did you mean /api/machines/1 (without the trailing /)?"
        );
        assert_eq!(slash.target(), Some("/api/machines/1"));
        let case = hints.error("/API/machines/1");
        assert_eq!(case.kind(), ErrorKind::InvalidCase);
        assert_eq!(
            case.message(),
            "Invalid Case. Did you mean /api/machines/1?"
        );
        let none = hints.error("/nothing");
        assert_eq!(none.kind(), ErrorKind::NotFound);
        assert_eq!(none.message(), "");
    }
}
