#![allow(clippy::unwrap_used, clippy::expect_used)]
//! What the runtime allows a connection to its gRPC socket, over real unix
//! sockets: one that never registers is closed at the registration timeout
//! while a registered plugin's channel stays; a request that is not gRPC is
//! answered HTTP 415; UpdateContainers for a registered endpoint from
//! another process is refused (that process is this test binary, run
//! again); and the `Runtime` service mounted in a tonic server of the
//! runtime's own serves a plugin through the runtime's tower layers.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{Dir, from_endpoint, joined, start, unix_channel, within};
use nri_core::transport::{RuntimeRequest, RuntimeResponse, Transport};
use nri_proto::api::runtime_client::RuntimeClient;
use nri_proto::api::{ContainerUpdate, UpdateContainersRequest};
use nri_transport_grpc::{Endpoint, GrpcTransport, RuntimeConnection};
use tonic::Code;

/// The registration timeout of these tests' transports.
const REGISTRATION: Duration = Duration::from_millis(300);

/// An HTTP/2 connection to `path` that sends nothing; resolves when the
/// other side closes it.
async fn idle_connection(path: &std::path::Path) -> impl std::future::Future<Output = ()> {
    let socket = tokio::net::UnixStream::connect(path).await.unwrap();
    let (send, connection) = h2::client::handshake(socket).await.unwrap();
    async move {
        let _keep = send;
        let _ = connection.await;
    }
}

/// UpdateContainers for ctr0 from `connection`'s plugin; must succeed.
async fn update_as(connection: &RuntimeConnection) {
    let answer = within(
        "UpdateContainers",
        connection.call(
            RuntimeRequest::UpdateContainers(an_update("ctr0")),
            Some(Duration::from_secs(5)),
        ),
    )
    .await;
    assert!(
        matches!(answer, Ok(RuntimeResponse::UpdateContainers(_))),
        "{answer:?}"
    );
}

fn an_update(container: &str) -> UpdateContainersRequest {
    UpdateContainersRequest {
        update: vec![ContainerUpdate {
            container_id: container.into(),
            ..Default::default()
        }],
        evict: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_registers_is_closed_and_a_plugin_stays() {
    let dir = Dir::new();
    let transport = Arc::new(
        GrpcTransport::listen(dir.path("nri-grpc.sock"))
            .unwrap()
            .with_registration_timeout(REGISTRATION),
    );
    let (adaptation, runtime) = start(vec![transport.clone() as Arc<dyn Transport>]).await;
    let socket = transport.endpoint().path().unwrap().to_path_buf();

    // A plugin registers, and an idle connection opens at the same time.
    let idle = idle_connection(&socket).await;
    let (connection, _plugin, _journal) = joined(&transport, &adaptation, "stays").await;

    // The idle connection is closed by the runtime...
    within("the idle connection's end", idle).await;

    // ...and the plugin's channel, as old, still carries its calls.
    update_as(&connection).await;
    assert_eq!(runtime.updates().len(), 1);
    adaptation.stop().await;
}

#[tokio::test]
async fn a_request_that_is_not_grpc_is_answered_415() {
    let dir = Dir::new();
    let transport = GrpcTransport::listen(dir.path("nri-grpc.sock")).unwrap();
    let socket = tokio::net::UnixStream::connect(transport.endpoint().path().unwrap())
        .await
        .unwrap();
    let (send, connection) = h2::client::handshake(socket).await.unwrap();
    tokio::spawn(connection);
    let mut send = send.ready().await.unwrap();
    let request = http::Request::builder()
        .method("POST")
        .uri("http://localhost/nri.pkg.api.v1alpha1.Runtime/RegisterPlugin")
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    let (response, mut body) = send.send_request(request, false).unwrap();
    body.send_data(Bytes::from_static(b"{}"), true).unwrap();
    let response = within("the answer", response).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

/// Set in the intruder's environment: the runtime's socket and the
/// endpoint it claims.
const INTRUDER_SOCKET: &str = "NRI_TEST_INTRUDER_SOCKET";
const INTRUDER_ENDPOINT: &str = "NRI_TEST_INTRUDER_ENDPOINT";

/// Not a test of its own: run by `update_containers_from_another_process_is_refused`
/// in a process of its own, it calls UpdateContainers in the name of
/// another plugin's endpoint and prints the status code.
#[tokio::test]
async fn intruder() {
    let (Some(socket), Some(endpoint)) = (
        std::env::var_os(INTRUDER_SOCKET),
        std::env::var(INTRUDER_ENDPOINT).ok(),
    ) else {
        return;
    };
    let channel = unix_channel(std::path::Path::new(&socket)).await;
    let mut client = RuntimeClient::new(channel);
    let answer = client
        .update_containers(from_endpoint(an_update("ctr0"), &endpoint))
        .await;
    let code = answer.map_or_else(|status| status.code(), |_| Code::Ok);
    println!("intruder answered: {}", code as i32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_containers_from_another_process_is_refused() {
    let dir = Dir::new();
    let transport = Arc::new(GrpcTransport::listen(dir.path("nri-grpc.sock")).unwrap());
    let (adaptation, runtime) = start(vec![transport.clone() as Arc<dyn Transport>]).await;
    let (connection, _plugin, _journal) = joined(&transport, &adaptation, "victim").await;

    let output = within(
        "the intruder",
        tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "intruder", "--nocapture", "--test-threads", "1"])
            .env(INTRUDER_SOCKET, transport.endpoint().path().unwrap())
            .env(INTRUDER_ENDPOINT, connection.endpoint().to_string())
            .output(),
    )
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains(&format!(
            "intruder answered: {}",
            Code::PermissionDenied as i32
        )),
        "{printed}"
    );
    assert!(runtime.updates().is_empty());

    // The plugin itself still may.
    update_as(&connection).await;
    adaptation.stop().await;
}

/// A tower layer counting the calls that pass it.
#[derive(Clone)]
struct Count(Arc<AtomicUsize>);

impl<S> tower::Layer<S> for Count {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted(inner, Arc::clone(&self.0))
    }
}

#[derive(Clone)]
struct Counted<S>(S, Arc<AtomicUsize>);

impl<S, R> tower::Service<R> for Counted<S>
where
    S: tower::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.call(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_service_mounted_in_a_tonic_server_serves_plugins() {
    let dir = Dir::new();
    let path = dir.path("runtime-api.sock");
    let transport = Arc::new(GrpcTransport::mounted(Endpoint::unix(&path)));
    let calls = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = tonic::transport::Server::builder()
        .layer(Count(Arc::clone(&calls)))
        .add_service(transport.runtime_service())
        .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener));
    let server = tokio::spawn(server);
    let (adaptation, runtime) = start(vec![transport.clone() as Arc<dyn Transport>]).await;

    let (connection, _plugin, _journal) = joined(&transport, &adaptation, "mounted").await;
    let (pod, container) = (common::pod(), common::container());
    let reply = within(
        "CreateContainer",
        adaptation.create_container(nri_proto::api::CreateContainerRequest {
            pod: Some(pod),
            container: Some(container),
        }),
    )
    .await
    .unwrap();
    assert_eq!(reply.adjust.unwrap().env[0].key, "mounted");
    update_as(&connection).await;
    assert_eq!(runtime.updates().len(), 1);
    // RegisterPlugin and UpdateContainers passed the runtime's own layer.
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    adaptation.stop().await;
    server.abort();
}
