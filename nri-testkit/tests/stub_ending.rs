#![allow(clippy::unwrap_used, clippy::expect_used)]
//! How `Stub::run` ends against a real runtime, over ttrpc and gRPC: a
//! runtime that stops normally (Shutdown, then close) ends the plugin
//! cleanly (`Ok`); a connection that ends without Shutdown is an error.

use std::sync::Arc;
use std::time::Duration;

use nri_core::proto::api::{Container, CreateContainerResponse, PodSandbox};
use nri_core::stub::{HandlerResult, Plugin, Stub, StubError};
use nri_core::transport::Connector;
use nri_testkit::conformance::{
    GrpcHarness, Harness, TtrpcHarness, container, create_request, options, pod, start, state,
    within,
};
use nri_testkit::domain::FakeDomain;
use tokio::sync::watch;

/// A plugin that notes Shutdown and, if told to, never answers
/// CreateContainer.
struct Plugin1 {
    shut_down: watch::Sender<bool>,
    hang: bool,
}

#[nri_core::plugin]
impl Plugin for Plugin1 {
    async fn create_container(
        &self,
        _pod: PodSandbox,
        _container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        Ok(CreateContainerResponse::default())
    }

    async fn shutdown(&self) {
        self.shut_down.send_replace(true);
    }
}

/// Runs a stub on `connector` against an adaptation on `harness` until it
/// registered. Returns the adaptation, the running stub and whether the
/// plugin saw Shutdown.
async fn registered(
    harness: &dyn Harness,
    connector: Arc<dyn Connector>,
    hang: bool,
) -> (
    nri_core::adaptation::Adaptation,
    tokio::task::JoinHandle<Result<(), StubError>>,
    watch::Receiver<bool>,
) {
    let opts = options().with_timeouts(Duration::from_secs(5), Duration::from_millis(200));
    let adaptation = start(harness, opts, Arc::new(FakeDomain::from_snapshot(state()))).await;
    let (shut_down, seen) = watch::channel(false);
    let stub = Stub::builder(Plugin1 { shut_down, hang })
        .index("10")
        .name("ending")
        .build(connector)
        .unwrap();
    let run = tokio::spawn(async move { stub.run().await });
    within("registered", adaptation.wait_for_plugins(1)).await;
    (adaptation, run, seen)
}

async fn a_runtime_that_stops_ends_the_plugin_cleanly(
    harness: &dyn Harness,
    connector: Arc<dyn Connector>,
) {
    let (adaptation, run, mut seen) = registered(harness, connector, false).await;
    adaptation.stop().await;
    let ended = within("the stub ends", run).await.unwrap();
    assert!(ended.is_ok(), "{}: {ended:?}", harness.name());
    within("Shutdown seen", seen.wait_for(|shut| *shut))
        .await
        .unwrap();
}

async fn a_connection_lost_without_shutdown_is_an_error(
    harness: &dyn Harness,
    connector: Arc<dyn Connector>,
) {
    let (adaptation, run, seen) = registered(harness, connector, true).await;
    // The plugin never answers: the runtime removes it at the request
    // timeout and closes its connection, without Shutdown.
    let _ = within(
        "CreateContainer",
        adaptation.create_container(create_request(&pod(0), &container(0, 0))),
    )
    .await;
    let ended = within("the stub ends", run).await.unwrap();
    assert!(
        matches!(ended, Err(StubError::ConnectionLost(_))),
        "{}: {ended:?}",
        harness.name()
    );
    assert!(!*seen.borrow(), "{}: no Shutdown was sent", harness.name());
    adaptation.stop().await;
}

fn ttrpc() -> (TtrpcHarness, Arc<dyn Connector>) {
    let harness = TtrpcHarness::new().unwrap();
    let connector = Arc::new(nri_transport_ttrpc::PluginConnector::dial(harness.socket()));
    (harness, connector)
}

fn grpc() -> (GrpcHarness, Arc<dyn Connector>) {
    let harness = GrpcHarness::new().unwrap();
    let connector = Arc::new(nri_transport_grpc::PluginConnector::dial(
        harness.endpoint().clone(),
    ));
    (harness, connector)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttrpc_a_runtime_that_stops_ends_the_plugin_cleanly() {
    let (harness, connector) = ttrpc();
    a_runtime_that_stops_ends_the_plugin_cleanly(&harness, connector).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_a_runtime_that_stops_ends_the_plugin_cleanly() {
    let (harness, connector) = grpc();
    a_runtime_that_stops_ends_the_plugin_cleanly(&harness, connector).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttrpc_a_connection_lost_without_shutdown_is_an_error() {
    let (harness, connector) = ttrpc();
    a_connection_lost_without_shutdown_is_an_error(&harness, connector).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_a_connection_lost_without_shutdown_is_an_error() {
    let (harness, connector) = grpc();
    a_connection_lost_without_shutdown_is_an_error(&harness, connector).await;
}
