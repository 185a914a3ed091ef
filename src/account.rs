//! [`AccountLayer`]: the customer account in the URL, bound to the admitted principal's.
//!
//! EdgeCast's URIs name the customer account (`/v2/mcc/customers/0001/...`); its 400s say
//! "Invalid Customer ID Value" when that account is not the token's, and "Inactive/Deleted
//! Customer" ("Cannot update or retrieve information of a deleted customer.") when the account
//! is no longer active. The same holds for a tenant id in a multi-tenant API. After the token
//! check, `AccountLayer` compares the account segment of the path with a claim of the
//! [`Principal`] (default `account`) and, optionally, asks an asynchronous lookup whether the
//! account is active:
//!
//! | request | kind (400 in every format) | message |
//! |---|---|---|
//! | account not the token's | `InvalidCustomerId` | `Invalid Customer ID Value: account 0002 is not the token's account.` |
//! | account inactive or deleted | `InactiveCustomer` | `Cannot update or retrieve information of a deleted customer.` |
//!
//! Defender's code for them is the kind's name (as for its other 400 codes: `InvalidHashValue`);
//! gRPC answers `INVALID_ARGUMENT` and `FAILED_PRECONDITION`. A request whose path does not
//! start with the template, or that carries no principal, passes: the token check, before this
//! layer, answers for a missing token.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//! use tower_envelope::auth::{AuthTokenLayer, Principal, StaticTokens};
//! use tower_envelope::{AccountLayer, ErrorEnvelopeLayer};
//!
//! # tokio_test::block_on(async {
//! let principal = Principal::new("ops", ["read"]).with_claims(r#"{"account":"0001"}"#).unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(ErrorEnvelopeLayer::defender())
//!     .layer(AuthTokenLayer::bearer(StaticTokens::new().principal(principal, ["t"])))
//!     .layer(AccountLayer::new("/customers/{account}"))
//!     .service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(String::new())) });
//! let get = |path| Request::get(path).header("authorization", "Bearer t").body(()).unwrap();
//! let ok = svc.clone().oneshot(get("/customers/0001/machines")).await.unwrap();
//! assert_eq!(ok.status(), StatusCode::OK);
//! let other = svc.oneshot(get("/customers/0002/machines")).await.unwrap();
//! assert_eq!(other.status(), StatusCode::BAD_REQUEST);
//! # });
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::Request;
use tower_layer::Layer;

use crate::auth::Principal;
use crate::check::{Check, Deferred, Refuse, Rejection, Validate, Verdict};
use crate::error::{echo, ApiError, ErrorKind};

type Lookup = dyn Fn(String) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync;

/// Binds the customer account in the URL to the principal's; see the [module docs](self).
#[derive(Clone)]
pub struct AccountLayer {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    /// The template's segments before and at the account: `None` marks the account.
    prefix: Vec<Option<Box<str>>>,
    claim: Cow<'static, str>,
    lookup: Option<Arc<Lookup>>,
}

impl AccountLayer {
    /// The account is the first segment of `template` in braces (`/api/customers/{account}`);
    /// the segments before it must match literally, as sent.
    ///
    /// # Panics
    ///
    /// When `template` has no segment in braces.
    pub fn new(template: &str) -> Self {
        let mut prefix = Vec::new();
        for segment in template.split('/').filter(|s| !s.is_empty()) {
            if segment.starts_with('{') {
                prefix.push(None);
                break;
            }
            prefix.push(Some(segment.into()));
        }
        assert!(
            prefix.last().is_some_and(Option::is_none),
            "AccountLayer: the template names no {{account}} segment"
        );
        Self {
            inner: Arc::new(Inner {
                prefix,
                claim: Cow::Borrowed("account"),
                lookup: None,
            }),
        }
    }

    fn configure(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.inner);
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The principal's claim that holds its account (default `account`; `tid` for an Entra ID
    /// tenant).
    pub fn claim(self, name: impl Into<Cow<'static, str>>) -> Self {
        let name = name.into();
        self.configure(|inner| inner.claim = name)
    }

    /// Asks `lookup` whether the account in the URL is active; `false` answers
    /// `InactiveCustomer`, whatever the token (a deleted account is reported as such, as
    /// EdgeCast does), before the account is compared with the token's. Called once per
    /// request whose path names an account, so any token holder learns whether an account is
    /// deleted, and the lookup should be cheap (a cache) and bound its own time.
    pub fn active_when<F, Fut>(self, lookup: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        let lookup: Arc<Lookup> = Arc::new(move |account| Box::pin(lookup(account)));
        self.configure(|inner| inner.lookup = Some(lookup))
    }

    /// Whether the account's state is looked up.
    #[cfg(feature = "utoipa")]
    pub(crate) fn looks_up(&self) -> bool {
        self.inner.lookup.is_some()
    }

    /// The account segment of `path`, percent-decoded, when `path` starts with the template
    /// (compared as sent, as a router matches it). A segment that does not decode to UTF-8 is
    /// no account anyone holds: it is kept as sent, and compared as such.
    fn account<'p>(&self, path: &'p str) -> Option<Cow<'p, str>> {
        let mut segments = path.split('/').skip(1);
        for expected in &self.inner.prefix {
            let segment = segments.next()?;
            match expected {
                Some(literal) if **literal != *segment => return None,
                Some(_) => {}
                None if segment.is_empty() => return None,
                None => {
                    let decoded = percent_encoding::percent_decode_str(segment).decode_utf8();
                    return Some(decoded.unwrap_or(Cow::Borrowed(segment)));
                }
            }
        }
        None
    }
}

impl<S> Layer<S> for AccountLayer {
    type Service = Validate<S, Self>;

    fn layer(&self, inner: S) -> Self::Service {
        Validate::new(inner, self.clone())
    }
}

impl<S: Clone, B> Check<S, B> for AccountLayer {
    type Body = B;
    type Pass = ();
    type Later = Deferred;

    fn check(&self, request: &mut Request<B>) -> Verdict<(), Deferred> {
        let Some(account) = self.account(request.uri().path()) else {
            return Verdict::Pass(());
        };
        let Some(principal) = request.extensions().get::<Principal>() else {
            return Verdict::Pass(());
        };
        let own: Option<String> = principal.claim(&self.inner.claim);
        let bound = own.as_deref() == Some(&*account);
        let Some(lookup) = &self.inner.lookup else {
            return match bound {
                true => Verdict::Pass(()),
                false => Verdict::Reject(Rejection::new(not_bound(&account), request.headers())),
            };
        };
        // The account's state first: a deleted account is reported as such.
        let account = account.into_owned();
        let active = lookup(account.clone());
        Verdict::Wait(Deferred::new(async move {
            let error = if !active.await {
                ApiError::from_kind(ErrorKind::InactiveCustomer)
                    .with_target(echo(&account).into_owned())
            } else if !bound {
                not_bound(&account)
            } else {
                return Ok(http::Extensions::new());
            };
            let refuse: Refuse = Box::new(move |headers| Rejection::new(error, headers));
            Err(refuse)
        }))
    }

    fn pass(&self, (): (), request: Request<B>) -> Request<B> {
        request
    }
}

/// `InvalidCustomerId` for `account`, which is not the token's.
fn not_bound(account: &str) -> ApiError {
    let account = echo(account);
    let message =
        format!("Invalid Customer ID Value: account {account} is not the token's account.");
    ApiError::new(ErrorKind::InvalidCustomerId, message).with_target(account.into_owned())
}

impl fmt::Debug for AccountLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountLayer")
            .field("claim", &self.inner.claim)
            .field("lookup", &self.inner.lookup.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_account_segment() {
        let layer = AccountLayer::new("/api/customers/{account}/machines");
        assert_eq!(
            layer.account("/api/customers/0001/machines").as_deref(),
            Some("0001")
        );
        assert_eq!(
            layer.account("/api/customers/0001").as_deref(),
            Some("0001")
        );
        assert_eq!(layer.account("/api/customers/"), None);
        assert_eq!(layer.account("/api/other/0001"), None);
        assert_eq!(layer.account("/api"), None);
        assert_eq!(
            layer.account("/api/customers/a%20b").as_deref(),
            Some("a b")
        );
        assert_eq!(layer.account("/api/customers/%FF").as_deref(), Some("%FF"));
    }
}
