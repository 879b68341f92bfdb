#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The seed's sequence (containerd#10401): a runtime restarts with running
//! containers, and one exits before any NRI plugin registered. Nothing
//! panics, the plugin's first snapshot is consistent, and the exit is not
//! lost: NRI holds the container stopped and its removal reaches the
//! plugin without another stop.

mod cri;

use std::sync::Arc;
use std::time::Duration;

use nri_core::proto::api::{Container, ContainerState};
use nri_core::runtime_api::State;
use nri_cri::cri as api;
use nri_cri::middleware::NriRuntimeService;
use tokio::sync::watch;

use cri::observer::{Observer, Seen, await_seen};
use cri::{PATIENCE, Setup, client, container_config, plugins_registered, pod_config};

fn state_of(containers: &[Container], id: &str) -> ContainerState {
    containers
        .iter()
        .find(|c| c.id == id)
        .map(Container::state)
        .unwrap_or_else(|| panic!("{id} not in the snapshot"))
}

/// What the runtime finds when it restarts: a pod with two running
/// containers, `gone` and `alive`.
fn recovered(setup: &Setup) -> (String, String, String) {
    let pod = setup.fake.seed_pod(pod_config("old", &[]));
    let seed = |name| {
        setup
            .fake
            .seed_container(&pod, container_config(name), true)
            .expect("seed")
    };
    let (gone, alive) = (seed("gone"), seed("alive"));
    (pod, gone, alive)
}

/// The middleware in a runtime's own process: the exit is reported before
/// NRI even starts, exactly when containerd crashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_reported_before_nri_starts_is_neither_a_crash_nor_lost() {
    let setup = Setup::new();
    let (pod, gone, alive) = recovered(&setup);

    let options = nri_core::adaptation::Options::new("fake-cri", "0.1")
        .with_plugin_path(None)
        .with_timeouts(Duration::from_secs(10), Duration::from_secs(5));
    let middleware = NriRuntimeService::new(Arc::new(setup.fake.clone()), Some(options));
    // Recovery: the container exits and the runtime reports it, NRI not
    // started, no plugin anywhere.
    setup.fake.exit(&gone, 137).expect("exit");
    middleware.container_exited(&gone).await;
    middleware.container_exited(&gone).await; // a retried exit event
    let transport = nri_transport_ttrpc::TtrpcTransport::listen(setup.nri_socket()).expect("NRI");
    middleware
        .api()
        .start(vec![Arc::new(transport)])
        .await
        .expect("NRI starts");

    let (seen, mut seen_rx) = watch::channel(Seen::default());
    let _stub = setup.plugin_in_process(Observer { seen }, "10", "watcher");
    let adaptation = middleware.api().adaptation().expect("enabled");
    tokio::time::timeout(PATIENCE, adaptation.wait_for_plugins(1))
        .await
        .expect("registers");
    let snapshot = await_seen(&mut seen_rx, "the snapshot", |s| s.snapshot.is_some()).await;
    let (pods, containers) = snapshot.snapshot.expect("snapshot");
    assert_eq!(
        pods.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        vec![pod.as_str()]
    );
    assert_eq!(
        state_of(&containers, &gone),
        ContainerState::ContainerStopped
    );
    assert_eq!(
        state_of(&containers, &alive),
        ContainerState::ContainerRunning
    );
    let exited = containers.iter().find(|c| c.id == gone).expect("gone");
    assert_eq!(exited.exit_code, 137);
    assert_eq!(
        middleware.api().container_state(&gone),
        Some(State::Stopped)
    );

    // Its removal reaches the plugin, without a second stop.
    use nri_cri::cri::runtime_service_server::RuntimeService as _;
    middleware
        .remove_container(tonic::Request::new(api::RemoveContainerRequest {
            container_id: gone.clone(),
        }))
        .await
        .expect("RemoveContainer");
    let seen = await_seen(&mut seen_rx, "the removal", |s| !s.events.is_empty()).await;
    assert_eq!(seen.ids(), vec![("RemoveContainer", gone.clone())]);
    middleware.api().stop().await;
}

/// The proxy: its exit watcher starts before NRI, finds the exit on its
/// own, and the plugin that registers later sees it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_finds_an_exit_before_any_plugin_registers() {
    let setup = Setup::new();
    let (_pod, gone, alive) = recovered(&setup);
    let proxy = setup.proxy().await;
    setup.fake.exit(&gone, 1).expect("exit");
    // The watcher's next listing finds it and asks for its status.
    let before = setup.fake.calls().len();
    setup
        .fake
        .wait_for_calls("the exit's status", PATIENCE, |calls| {
            calls[before.min(calls.len())..]
                .iter()
                .any(|c| {
                    c.subject_id() == Some(gone.as_str())
                        && c.method() == nri_testkit::fake_cri::Method::ContainerStatus
                })
                .then_some(())
        })
        .await
        .expect("the exit is found");

    let (seen, mut seen_rx) = watch::channel(Seen::default());
    let _stub = setup.plugin_in_process(Observer { seen }, "10", "watcher");
    plugins_registered(&proxy, 1).await;
    let snapshot = await_seen(&mut seen_rx, "the snapshot", |s| s.snapshot.is_some()).await;
    let (_, containers) = snapshot.snapshot.expect("snapshot");
    assert_eq!(
        state_of(&containers, &gone),
        ContainerState::ContainerStopped
    );
    assert_eq!(
        state_of(&containers, &alive),
        ContainerState::ContainerRunning
    );

    // A later exit of a running container reaches the plugin as a stop.
    setup.fake.exit(&alive, 0).expect("exit");
    let seen = await_seen(&mut seen_rx, "the stop", |s| !s.events.is_empty()).await;
    assert_eq!(seen.ids(), vec![("StopContainer", alive.clone())]);
    // And a removal through CRI, of the one that exited first, too.
    client(proxy.path())
        .remove_container(api::RemoveContainerRequest {
            container_id: gone.clone(),
        })
        .await
        .expect("RemoveContainer");
    let seen = await_seen(&mut seen_rx, "the removal", |s| s.events.len() >= 2).await;
    assert_eq!(seen.ids()[1], ("RemoveContainer", gone.clone()));
    proxy.shut_down().await;
}
