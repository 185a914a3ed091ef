//! A real tonic client against the tonic health service behind `AuthTokenLayer` and
//! `ErrorEnvelopeLayer` (examples/tonic_health.rs).

#[allow(dead_code)]
#[path = "../examples/tonic_health.rs"]
mod tonic_health_example;

use tonic::metadata::MetadataValue;
use tonic::transport::Endpoint;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

#[tokio::test]
async fn tonic_client_sees_grpc_statuses() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tonic_health_example::serve(listener, async {
        let _ = stopped.await;
    }));

    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = HealthClient::new(channel);

    // No token: the envelope answers a trailers-only gRPC status, which tonic reads as a Status.
    let status = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "Authorization header is missing");

    // A token the server does not know.
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::from_static("Bearer wrong-token"),
    );
    let status = client.check(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "token is not recognised");

    // With the token: the health service answers.
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: String::new(),
    });
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::from_static("Bearer grpc-token"),
    );
    let response = client.check(request).await.unwrap().into_inner();
    assert_eq!(response.status, ServingStatus::Serving as i32);

    // An unknown service is the health service's own NOT_FOUND, passed through untouched.
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: "no.such.Service".to_owned(),
    });
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::from_static("Bearer grpc-token"),
    );
    let status = client.check(request).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
