#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The runtime's answers to protocol errors, to a stock tonic client:
//! endpoint metadata missing, malformed, off loopback or unreachable,
//! calls without a session, a second registration for a live session (and
//! for a session that ends meanwhile), unknown launch tokens, unknown
//! methods.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    Dir, Journal, Recorder, Runtime, from_endpoint, register, start, unix_channel, within,
};
use nri_core::adaptation::Adaptation;
use nri_core::proto::event::EventMask;
use nri_core::transport::{RuntimeResponse, Transport};
use nri_proto::api::plugin_client::PluginClient;
use nri_proto::api::runtime_client::RuntimeClient;
use nri_proto::api::{
    ConfigureRequest, ContainerUpdate, Empty, RegisterPluginRequest, UpdateContainersRequest,
};
use nri_transport_grpc::{Endpoint, GrpcTransport, RuntimeConnection};
use tonic::Code;
use tonic::transport::Channel;

/// A running adaptation on a gRPC transport, and a stock channel to it.
struct Fixture {
    dir: Dir,
    transport: Arc<GrpcTransport>,
    adaptation: Adaptation,
    runtime: Arc<Runtime>,
    channel: Channel,
}

impl Fixture {
    async fn new() -> Self {
        let dir = Dir::new();
        let transport = Arc::new(GrpcTransport::listen(dir.path("nri-grpc.sock")).unwrap());
        let (adaptation, runtime) = start(vec![transport.clone() as Arc<dyn Transport>]).await;
        let channel = unix_channel(transport.endpoint().path().unwrap()).await;
        Fixture {
            dir,
            transport,
            adaptation,
            runtime,
            channel,
        }
    }

    fn client(&self) -> RuntimeClient<Channel> {
        RuntimeClient::new(self.channel.clone())
    }

    /// The code of a RegisterPlugin carrying `request`'s metadata.
    async fn register(&self, request: tonic::Request<RegisterPluginRequest>) -> Code {
        let mut client = self.client();
        let answer = within("RegisterPlugin", client.register_plugin(request)).await;
        answer.map_or_else(|status| status.code(), |_| Code::Ok)
    }

    async fn update(&self, endpoint: &str) -> Result<(), tonic::Status> {
        let request = UpdateContainersRequest {
            update: vec![ContainerUpdate {
                container_id: "ctr0".into(),
                ..Default::default()
            }],
            evict: Vec::new(),
        };
        let mut client = self.client();
        let call = client.update_containers(from_endpoint(request, endpoint));
        within("UpdateContainers", call).await.map(drop)
    }
}

fn registration() -> RegisterPluginRequest {
    RegisterPluginRequest {
        plugin_name: "stock".into(),
        plugin_idx: "50".into(),
        nri_version: "v0.12.2".into(),
    }
}

#[tokio::test]
async fn registering_without_an_endpoint_is_an_invalid_argument() {
    let f = Fixture::new().await;
    let code = f.register(tonic::Request::new(registration())).await;
    assert_eq!(code, Code::InvalidArgument);
    assert!(f.adaptation.plugins().is_empty());
}

#[tokio::test]
async fn malformed_and_remote_endpoints_are_invalid_arguments() {
    let f = Fixture::new().await;
    // Dialing 10.1.2.3 would have taken the dial timeout and answered
    // UNAVAILABLE: the address is refused before that.
    for endpoint in [
        "10.1.2.3:5000",
        "0.0.0.0:5000",
        "unix:relative.sock",
        "localhost:5000",
        "",
    ] {
        let code = f.register(from_endpoint(registration(), endpoint)).await;
        assert_eq!(code, Code::InvalidArgument, "{endpoint:?}");
    }
}

#[tokio::test]
async fn an_endpoint_nobody_listens_on_is_unavailable() {
    let f = Fixture::new().await;
    let stale = f.dir.path("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let missing = f.dir.path("missing.sock");
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for endpoint in [
        format!("unix://{}", stale.display()),
        format!("unix:{}", missing.display()),
        format!("127.0.0.1:{port}"),
    ] {
        let code = f.register(from_endpoint(registration(), &endpoint)).await;
        assert_eq!(code, Code::Unavailable, "{endpoint}");
    }
    assert!(f.adaptation.plugins().is_empty());
}

#[tokio::test]
async fn updates_from_an_endpoint_without_a_session_fail_their_precondition() {
    let f = Fixture::new().await;
    let nobody = format!("unix://{}", f.dir.path("nobody.sock").display());
    let status = f.update(&nobody).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(f.runtime.updates().is_empty());
}

#[tokio::test]
async fn a_session_is_its_endpoint_whatever_channel_calls() {
    let f = Fixture::new().await;
    let journal = Journal::new();
    let plugin = Recorder::new("10", "first", EventMask::NONE, &journal);
    let connection = RuntimeConnection::connect(f.transport.endpoint(), plugin.clone())
        .await
        .unwrap();
    register(&connection, &plugin).await;
    within("joining", f.adaptation.wait_for_plugins(1)).await;
    let path = connection.endpoint().path().unwrap().to_path_buf();

    // Another channel registering the same endpoint, spelled otherwise.
    let code = f
        .register(from_endpoint(
            registration(),
            &format!("unix:{}", path.display()),
        ))
        .await;
    assert_eq!(code, Code::AlreadyExists);
    assert!(!connection.is_closed());
    assert_eq!(common::labels(&f.adaptation), ["10-first"]);

    // Another channel calling for the registered endpoint is that plugin.
    f.update(&connection.endpoint().to_string()).await.unwrap();
    assert_eq!(f.runtime.updates().len(), 1);
}

#[tokio::test]
async fn a_plugin_restarting_at_its_endpoint_takes_over_from_its_ending_session() {
    let f = Fixture::new().await;
    let journal = Journal::new();
    let endpoint = Endpoint::unix(f.dir.path("restarting.sock"));
    let first = Recorder::new("10", "first", EventMask::NONE, &journal);
    let old =
        RuntimeConnection::connect_serving_at(f.transport.endpoint(), &endpoint, first.clone())
            .await
            .unwrap();
    register(&old, &first).await;
    within("joining", f.adaptation.wait_for_plugins(1)).await;

    // The restarted plugin registers while the runtime still has the first
    // session: the registration waits for it instead of being refused.
    let second = Recorder::new("10", "second", EventMask::NONE, &journal);
    let new =
        RuntimeConnection::connect_serving_at(f.transport.endpoint(), &endpoint, second.clone())
            .await
            .unwrap();
    let registering = new.call(common::registration(&second), Some(Duration::from_secs(5)));
    tokio::pin!(registering);
    let early = tokio::time::timeout(Duration::from_millis(100), &mut registering).await;
    assert!(
        early.is_err(),
        "answered while the first session was live: {early:?}"
    );

    // The first session ends: the second plugin takes the endpoint over.
    old.close();
    let answer = within("RegisterPlugin", registering).await;
    assert!(
        matches!(answer, Ok(RuntimeResponse::RegisterPlugin(_))),
        "{answer:?}"
    );
    assert!(!new.is_closed());
    within("synchronizing", journal.wait_for("10-second:Synchronize")).await;
    f.update(&endpoint.to_string()).await.unwrap();
    assert_eq!(f.runtime.updates().len(), 1);
}

#[tokio::test]
async fn an_unknown_launch_token_is_denied() {
    let f = Fixture::new().await;
    let nobody = format!("unix://{}", f.dir.path("nobody.sock").display());
    let mut request = from_endpoint(registration(), &nobody);
    request
        .metadata_mut()
        .insert("nri-launch-token", "0123456789abcdef".parse().unwrap());
    assert_eq!(f.register(request).await, Code::PermissionDenied);
}

#[tokio::test]
async fn unknown_methods_and_services_are_unimplemented() {
    let f = Fixture::new().await;
    let mut grpc = tonic::client::Grpc::new(f.channel.clone());
    within("ready", grpc.ready()).await.unwrap();
    let call = grpc.unary(
        from_endpoint(Empty {}, "unix:/nowhere.sock"),
        http::uri::PathAndQuery::from_static("/nri.pkg.api.v1alpha1.Runtime/Bogus"),
        nri_proto::grpc_codec::NriCodec::<Empty, Empty>::default(),
    );
    let status = within("Runtime/Bogus", call).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");

    // The runtime does not serve the Plugin service.
    let mut client = PluginClient::new(f.channel.clone());
    let call = client.configure(ConfigureRequest::default());
    let status = within("Plugin/Configure", call).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
}
