#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The end of a plugin's session, from either side: the plugin closing
//! makes the runtime drop it (and frees its endpoint); the runtime stopping
//! ends the plugin's session. The plugin's socket is gone once dialed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Dir, Journal, Recorder, labels, register, start, within};
use nri_core::adaptation::Adaptation;
use nri_core::proto::event::EventMask;
use nri_core::transport::{CallError, Transport};
use nri_transport_grpc::{Endpoint, GrpcTransport, RuntimeConnection};

/// Waits until the adaptation lists no plugin. The adaptation has no
/// awaitable for a plugin leaving, so this polls, under the watchdog.
async fn until_no_plugins(adaptation: &Adaptation) {
    within("the plugin's removal", async {
        while !adaptation.plugins().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

async fn transport(dir: &Dir) -> (Arc<GrpcTransport>, Adaptation) {
    let transport = Arc::new(GrpcTransport::listen(dir.path("nri-grpc.sock")).unwrap());
    let (adaptation, _) = start(vec![transport.clone() as Arc<dyn Transport>]).await;
    (transport, adaptation)
}

#[tokio::test]
async fn the_plugin_closing_drops_it_and_frees_its_endpoint() {
    let dir = Dir::new();
    let (transport, adaptation) = transport(&dir).await;
    let journal = Journal::new();
    let plugin = Recorder::new("10", "leaving", EventMask::NONE, &journal);
    let endpoint = Endpoint::unix(dir.path("plugin.sock"));

    let connection =
        RuntimeConnection::connect_serving_at(transport.endpoint(), &endpoint, plugin.clone())
            .await
            .unwrap();
    register(&connection, &plugin).await;
    within("joining", adaptation.wait_for_plugins(1)).await;

    connection.close();
    let ended = within("the session's end", connection.closed()).await;
    assert!(matches!(ended, CallError::Closed { .. }), "{ended:?}");
    until_no_plugins(&adaptation).await;

    // The endpoint has no session any more: the plugin may come back.
    let again = Recorder::new("10", "back", EventMask::NONE, &journal);
    let connection =
        RuntimeConnection::connect_serving_at(transport.endpoint(), &endpoint, again.clone())
            .await
            .unwrap();
    register(&connection, &again).await;
    within("joining again", adaptation.wait_for_plugins(1)).await;
    assert_eq!(labels(&adaptation), ["10-back"]);
    within("stop", adaptation.stop()).await;
}

#[tokio::test]
async fn an_ended_session_leaves_a_successors_socket_alone() {
    let dir = Dir::new();
    let (transport, adaptation) = transport(&dir).await;
    let journal = Journal::new();
    let endpoint = Endpoint::unix(dir.path("plugin.sock"));
    let first = Recorder::new("10", "first", EventMask::NONE, &journal);
    let first = RuntimeConnection::connect_serving_at(transport.endpoint(), &endpoint, first)
        .await
        .unwrap();

    // The first plugin gives up before registering; a second one takes the
    // path before the first has cleaned up (nothing yields in between on
    // this single-threaded runtime).
    first.close();
    let second = Recorder::new("10", "second", EventMask::NONE, &journal);
    let connection =
        RuntimeConnection::connect_serving_at(transport.endpoint(), &endpoint, second.clone())
            .await
            .unwrap();
    within("the first session's end", first.closed()).await;

    let path = endpoint.path().unwrap();
    assert!(
        path.exists(),
        "the first plugin removed the second's socket"
    );
    register(&connection, &second).await;
    within("joining", adaptation.wait_for_plugins(1)).await;
    assert_eq!(labels(&adaptation), ["10-second"]);
    within("stop", adaptation.stop()).await;
}

#[tokio::test]
async fn the_runtime_stopping_ends_the_session() {
    let dir = Dir::new();
    let (transport, adaptation) = transport(&dir).await;
    let journal = Journal::new();
    let plugin = Recorder::new("10", "staying", EventMask::NONE, &journal);
    let connection = RuntimeConnection::connect(transport.endpoint(), plugin.clone())
        .await
        .unwrap();
    let socket = connection.endpoint().path().unwrap().to_path_buf();
    assert!(socket.exists(), "the plugin does not listen at {socket:?}");

    register(&connection, &plugin).await;
    within("joining", adaptation.wait_for_plugins(1)).await;
    // The runtime dialed (and Configure came over that connection): the
    // plugin listens no more.
    assert!(!socket.exists(), "{socket:?} is still there");
    assert!(!connection.is_closed());

    within("stop", adaptation.stop()).await;
    let ended = within("the session's end", connection.closed()).await;
    assert!(matches!(ended, CallError::Closed { .. }), "{ended:?}");
    assert!(connection.is_closed());
    assert!(
        journal
            .entries()
            .contains(&"10-staying:Shutdown".to_string()),
        "{:?}",
        journal.entries()
    );
    let late = connection
        .call(common::registration(&plugin), Some(Duration::from_secs(1)))
        .await;
    assert!(matches!(late, Err(CallError::Closed { .. })), "{late:?}");
}
