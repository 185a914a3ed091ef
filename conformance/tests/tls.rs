//! JWT from an issuer over real TLS: a CA and server certificates made here (rcgen), an HTTPS
//! issuer (tokio-rustls and hyper) serving OpenID Connect discovery documents and a JWKS, and
//! the built-in client trusting the CA through `SSL_CERT_FILE`, as a deployment with a private
//! CA does. Requests go through `ErrorEnvelopeLayer::defender()` and `AuthTokenLayer`.
//!
//! One test function, its own binary: `SSL_CERT_FILE` is read by every built-in client of the
//! process, so it is set once, before any thread or runtime starts.

#[path = "common/jwt.rs"]
mod keys;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::{ServiceBuilder, ServiceExt};
use tower_envelope::auth::jwt::JwksValidator;
use tower_envelope::auth::{AuthTokenLayer, BoxValidator};
use tower_envelope::ErrorEnvelopeLayer;

use keys::{jwks, now_plus, rsa1, TestKey};

const AUD: &str = "api://demo";

/// A CA: its certificate (PEM) and what signs with it.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Ca {
        pem,
        issuer: Issuer::new(params, key),
    }
}

/// A certificate for 127.0.0.1 and localhost signed by `ca`, with its key.
fn server_certificate(ca: &Ca) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.der().clone(), der)
}

/// An HTTPS issuer on 127.0.0.1: `/{tenant}/v2.0/.well-known/openid-configuration` and `/keys`.
/// The document of `tenant-1` names its own issuer, that of `liar` another issuer, that of
/// `common` the multi-tenant template `https://ADDR/{tenantid}/v2.0`.
async fn issuer(ca: &Ca, keys: &[&TestKey]) -> SocketAddr {
    let (cert, key) = server_certificate(ca);
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        #[allow(deprecated)]
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let document = jwks(keys);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, document) = (acceptor.clone(), document.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return; // a client that does not trust the CA
                };
                let service = hyper::service::service_fn(move |req: Request<_>| {
                    let base = format!("https://{addr}");
                    let path = req.uri().path().to_owned();
                    let body = match path.as_str() {
                        "/keys" => Some(document.clone()),
                        _ => path
                            .strip_suffix("/v2.0/.well-known/openid-configuration")
                            .map(|tenant| {
                                let issuer = match tenant {
                                    "/liar" => "https://login.example.com/liar/v2.0".to_owned(),
                                    "/common" => format!("{base}/{{tenantid}}/v2.0"),
                                    tenant => format!("{base}{tenant}/v2.0"),
                                };
                                json!({"issuer": issuer, "jwks_uri": format!("{base}/keys")})
                                    .to_string()
                            }),
                    };
                    let response = match body {
                        Some(body) => Response::new(Full::new(Bytes::from(body))),
                        None => Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::default())
                            .unwrap(),
                    };
                    async move { Ok::<_, Infallible>(response) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

fn token(key: &TestKey, iss: &str, extra: Value) -> String {
    let mut claims = json!({
        "iss": iss,
        "aud": AUD,
        "sub": "alice",
        "scp": "read",
        "exp": now_plus(3600),
    });
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    key.mint(&claims)
}

/// The status, `Retry-After` and Defender `error.message` of a request with `token`.
async fn send(validator: JwksValidator, token: &str) -> (StatusCode, Option<String>, String) {
    let svc = ServiceBuilder::new()
        .layer(ErrorEnvelopeLayer::defender())
        .layer(AuthTokenLayer::<BoxValidator>::bearer_async(validator))
        .service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
        });
    let request = Request::get("/machines")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Full::default())
        .unwrap();
    let response = svc.oneshot(request).await.unwrap();
    let status = response.status();
    let retry = response
        .headers()
        .get(RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let message = match status {
        StatusCode::OK => String::from_utf8(body.to_vec()).unwrap(),
        _ => serde_json::from_slice::<Value>(&body).unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned(),
    };
    (status, retry, message)
}

#[test]
fn jwt_from_an_issuer_over_tls() {
    let trusted = ca("tower-envelope test CA");
    let untrusted = ca("another CA");
    let dir = std::env::temp_dir().join(format!("tower-envelope-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &trusted.pem).unwrap();
    // Before any thread reads the environment: this binary's only test, no runtime yet.
    std::env::set_var("SSL_CERT_FILE", &ca_file);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let key = rsa1();
        let addr = issuer(&trusted, &[&key]).await;
        let iss = format!("https://{addr}/tenant-1/v2.0");

        // Discovered over https, the CA trusted through SSL_CERT_FILE: the token passes.
        let validator = JwksValidator::discover(iss.as_str(), AUD).unwrap();
        let passed = send(validator.clone(), &token(&key, &iss, json!({}))).await;
        assert_eq!(passed, (StatusCode::OK, None, "ok".to_owned()));
        // Another issuer's token is refused with the keys in hand.
        let other = token(&key, "https://login.example.com/tenant-2/v2.0", json!({}));
        let refused = send(validator, &other).await;
        assert_eq!(refused.0, StatusCode::UNAUTHORIZED);

        // A server whose certificate the client does not trust: 503 with Retry-After, never 200.
        let stranger = issuer(&untrusted, &[&key]).await;
        let iss = format!("https://{stranger}/tenant-1/v2.0");
        let validator = JwksValidator::discover(iss.as_str(), AUD)
            .unwrap()
            .max_wait(std::time::Duration::from_secs(5));
        let (status, retry, _) = send(validator, &token(&key, &iss, json!({}))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(retry.is_some(), "Retry-After");

        // A discovery document naming another issuer: its keys are not used.
        let iss = format!("https://{addr}/liar/v2.0");
        let validator = JwksValidator::discover(iss.as_str(), AUD).unwrap();
        let (status, retry, _) = send(validator, &token(&key, &iss, json!({}))).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(retry.is_some(), "Retry-After");

        // Entra-shaped multi-tenant tokens: the template discovered at `common`, one tenant
        // accepted, one client application accepted (v2 `azp`, v1 `appid`).
        let template = format!("https://{addr}/{{tenantid}}/v2.0");
        let validator = JwksValidator::discover(template.as_str(), AUD)
            .unwrap()
            .accept_tenants(["tenant-a"])
            .accept_clients(["client-1"]);
        let of = |tenant: &str, tid: &str, client: Value| {
            let iss = template.replace("{tenantid}", tenant);
            let mut extra = json!({"tid": tid, "oid": "0b9c-oid"});
            extra
                .as_object_mut()
                .unwrap()
                .extend(client.as_object().unwrap().clone());
            token(&key, &iss, extra)
        };
        let azp = json!({"azp": "client-1"});
        let ok = send(validator.clone(), &of("tenant-a", "tenant-a", azp.clone())).await;
        assert_eq!(ok.0, StatusCode::OK);
        let v1 = send(
            validator.clone(),
            &of("tenant-a", "tenant-a", json!({"appid": "client-1"})),
        )
        .await;
        assert_eq!(v1.0, StatusCode::OK);
        for (tenant, tid) in [
            ("tenant-b", "tenant-b"),
            ("tenant-a", "tenant-b"),
            ("tenant-b", "tenant-a"),
        ] {
            let refused = send(validator.clone(), &of(tenant, tid, azp.clone())).await;
            assert_eq!(
                (refused.0, refused.2.as_str()),
                (
                    StatusCode::UNAUTHORIZED,
                    "token is issued by a tenant that is not accepted"
                ),
                "iss {tenant}, tid {tid}"
            );
        }
        let other_client = send(
            validator,
            &of("tenant-a", "tenant-a", json!({"azp": "client-2"})),
        )
        .await;
        assert_eq!(
            (other_client.0, other_client.2.as_str()),
            (
                StatusCode::UNAUTHORIZED,
                "token is issued to a client application that is not accepted"
            )
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
