#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One adaptation on a ttrpc and a gRPC transport at once: plugins of both
//! kinds in one list, ordered by index, events reaching them in that order.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    Dir, Journal, Recorder, container, labels, pod, register, registration, start, within,
};
use nri_core::proto::api::CreateContainerRequest;
use nri_core::proto::event::{Event, EventMask};
use nri_core::transport::{Origin, Transport};
use nri_transport_grpc::GrpcTransport;
use nri_transport_ttrpc::TtrpcTransport;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_of_both_transports_share_one_ordered_list() {
    let dir = Dir::new();
    let ttrpc_socket = dir.path("nri.sock");
    let ttrpc = Arc::new(TtrpcTransport::listen(&ttrpc_socket).unwrap());
    let grpc = Arc::new(GrpcTransport::listen(dir.path("nri-grpc.sock")).unwrap());
    let (adaptation, _) = start(vec![
        ttrpc.clone() as Arc<dyn Transport>,
        grpc.clone() as Arc<dyn Transport>,
    ])
    .await;

    let journal = Journal::new();
    let events = EventMask::of([Event::CreateContainer]);
    // The higher index joins first, so the order is not arrival's.
    let over_ttrpc = Recorder::new("20", "ttrpc", events, &journal);
    let ttrpc_plugin =
        nri_transport_ttrpc::RuntimeConnection::connect(&ttrpc_socket, over_ttrpc.clone())
            .await
            .unwrap();
    let registered = ttrpc_plugin
        .call(registration(&over_ttrpc), Some(Duration::from_secs(5)))
        .await;
    assert!(registered.is_ok(), "{registered:?}");
    within("the ttrpc plugin joining", adaptation.wait_for_plugins(1)).await;

    let over_grpc = Recorder::new("10", "grpc", events, &journal);
    let grpc_plugin =
        nri_transport_grpc::RuntimeConnection::connect(grpc.endpoint(), over_grpc.clone())
            .await
            .unwrap();
    register(&grpc_plugin, &over_grpc).await;
    within("the gRPC plugin joining", adaptation.wait_for_plugins(2)).await;

    assert_eq!(labels(&adaptation), ["10-grpc", "20-ttrpc"]);
    assert!(
        adaptation
            .plugins()
            .iter()
            .all(|p| p.origin == Origin::External)
    );

    journal.clear();
    let request = CreateContainerRequest {
        pod: Some(pod()),
        container: Some(container()),
    };
    let reply = within("CreateContainer", adaptation.create_container(request))
        .await
        .unwrap();
    assert_eq!(
        journal.entries(),
        ["10-grpc:CreateContainer", "20-ttrpc:CreateContainer"]
    );
    let env: Vec<(String, String)> = reply
        .adjust
        .unwrap_or_default()
        .env
        .into_iter()
        .map(|kv| (kv.key, kv.value))
        .collect();
    for expected in [("grpc", "10"), ("ttrpc", "20")] {
        assert!(
            env.iter()
                .any(|(k, v)| (k.as_str(), v.as_str()) == expected),
            "{expected:?} missing from {env:?}"
        );
    }

    within("stop", adaptation.stop()).await;
    within("the gRPC session's end", grpc_plugin.closed()).await;
    within("the ttrpc connection's end", ttrpc_plugin.closed()).await;
    let entries = journal.entries();
    for shutdown in ["10-grpc:Shutdown", "20-ttrpc:Shutdown"] {
        assert!(entries.iter().any(|e| e == shutdown), "{entries:?}");
    }
}
