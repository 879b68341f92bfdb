#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Shutting the runtime's transport down, or dropping it, stops new
//! registrations only: sessions already made, and their plugins' calls,
//! go on until nri-core ends them on stop (with Shutdown), as on ttrpc.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    Dir, Journal, Recorder, container, from_endpoint, joined, pod, register, start, unix_channel,
    within,
};
use nri_core::proto::api::{
    ContainerUpdate, CreateContainerRequest, RegisterPluginRequest, UpdateContainersRequest,
};
use nri_core::proto::event::EventMask;
use nri_core::transport::{RuntimeRequest, RuntimeResponse, Transport};
use nri_proto::api::runtime_client::RuntimeClient;
use nri_transport_grpc::{GrpcTransport, RuntimeConnection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_says_shutdown_when_only_the_adaptation_held_the_transport() {
    let dir = Dir::new();
    let transport = GrpcTransport::listen(dir.path("nri-grpc.sock")).unwrap();
    let endpoint = transport.endpoint().clone();
    // The adaptation holds the only reference: its accept loop drops it
    // when the stop begins, before Shutdown goes out.
    let (adaptation, _) = start(vec![Arc::new(transport) as Arc<dyn Transport>]).await;
    let journal = Journal::new();
    let plugin = Recorder::new("10", "plugin", EventMask::NONE, &journal);
    let connection = RuntimeConnection::connect(&endpoint, plugin.clone())
        .await
        .unwrap();
    register(&connection, &plugin).await;
    within("joining", adaptation.wait_for_plugins(1)).await;

    within("stop", adaptation.stop()).await;
    let entries = journal.entries();
    assert_eq!(
        entries.last().map(String::as_str),
        Some("10-plugin:Shutdown"),
        "{entries:?}"
    );
    within("the session's end", connection.closed()).await;
    assert!(!endpoint.path().unwrap().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shut_down_leaves_sessions_and_their_calls_alone() {
    let dir = Dir::new();
    let transport = Arc::new(GrpcTransport::listen(dir.path("nri-grpc.sock")).unwrap());
    let socket = transport.endpoint().path().unwrap().to_path_buf();
    let (adaptation, runtime) = start(vec![transport.clone() as Arc<dyn Transport>]).await;
    let (connection, _plugin, journal) = joined(&transport, &adaptation, "plugin").await;
    // A channel opened (and served: a call was answered) before the
    // shutdown.
    let mut stock = RuntimeClient::new(unix_channel(&socket).await);
    let request = from_endpoint(UpdateContainersRequest::default(), "unix:/nobody.sock");
    let status = within("a call", stock.update_containers(request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");

    transport.shut_down();
    assert!(!socket.exists());

    // No new registration, even over a channel that was open: the plugin
    // at this endpoint listens, so only the shutdown can refuse it.
    let late = dir.path("late.sock");
    let _listening = tokio::net::UnixListener::bind(&late).unwrap();
    let registration = RegisterPluginRequest {
        plugin_name: "late".into(),
        plugin_idx: "20".into(),
        nri_version: "v0.12.2".into(),
    };
    let request = from_endpoint(registration, &format!("unix://{}", late.display()));
    let status = within("a late RegisterPlugin", stock.register_plugin(request))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");

    // The registered plugin still gets events and may still call.
    journal.clear();
    let request = CreateContainerRequest {
        pod: Some(pod()),
        container: Some(container()),
    };
    within("CreateContainer", adaptation.create_container(request))
        .await
        .unwrap();
    assert_eq!(journal.entries(), ["10-plugin:CreateContainer"]);
    let update = RuntimeRequest::UpdateContainers(UpdateContainersRequest {
        update: vec![ContainerUpdate {
            container_id: "ctr0".into(),
            ..Default::default()
        }],
        evict: Vec::new(),
    });
    let answer = within(
        "UpdateContainers",
        connection.call(update, Some(Duration::from_secs(5))),
    )
    .await;
    assert!(
        matches!(answer, Ok(RuntimeResponse::UpdateContainers(_))),
        "{answer:?}"
    );
    assert_eq!(runtime.updates().len(), 1);
    assert!(!connection.is_closed());

    within("stop", adaptation.stop()).await;
    assert_eq!(
        journal.entries().last().map(String::as_str),
        Some("10-plugin:Shutdown")
    );
    within("the session's end", connection.closed()).await;
}
