#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The plugin stub (nri-core's `stub`) against our runtime over real unix
//! sockets with the ttrpc transport: subscription derivation, handshake,
//! split Synchronize, adjustments, evictions and unsolicited updates,
//! validation, the handshake deadline and reconnection after a runtime
//! restart.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nri_core::adaptation::{Adaptation, Snapshot};
use nri_core::proto::api::{
    Container, ContainerAdjustment, ContainerEviction, ContainerUpdate, CreateContainerResponse,
    Empty, PodSandbox, RegisterPluginRequest, ValidateContainerAdjustmentRequest,
};
use nri_core::proto::event::{Event, EventMask};
use nri_core::stub::{
    Backoff, Configuration, HandlerResult, Plugin, RuntimeClient, Stub, StubError,
};
use nri_core::transport::{RuntimeRequest, RuntimeResponse};
use nri_testkit::conformance::Harness;
use nri_testkit::conformance::{
    TtrpcHarness, container, create_request, options, pod, start, state, within,
};
use nri_testkit::domain::FakeDomain;
use nri_transport_ttrpc::PluginConnector;
use tokio::sync::watch;

/// What the test plugin saw.
#[derive(Debug, Default, Clone)]
struct Seen {
    configured: usize,
    synchronized: Vec<(usize, usize)>,
    created: Vec<String>,
}

/// A plugin handling CreateContainer, StopContainer and validation, and
/// narrowing its subscription to `narrow` in Configure.
struct Recorder {
    seen: watch::Sender<Seen>,
    narrow: Option<EventMask>,
    runtime: Mutex<Option<RuntimeClient>>,
}

impl Recorder {
    fn new(narrow: Option<EventMask>) -> (Self, watch::Receiver<Seen>) {
        let (seen, watcher) = watch::channel(Seen::default());
        let plugin = Recorder {
            seen,
            narrow,
            runtime: Mutex::new(None),
        };
        (plugin, watcher)
    }
}

#[nri_core::plugin]
impl Plugin for Recorder {
    async fn configure(&self, configuration: Configuration) -> HandlerResult<Option<EventMask>> {
        *self.runtime.lock().unwrap() = Some(configuration.runtime);
        self.seen.send_modify(|s| s.configured += 1);
        Ok(self.narrow)
    }

    async fn synchronize(
        &self,
        pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> HandlerResult<Vec<ContainerUpdate>> {
        self.seen
            .send_modify(|s| s.synchronized.push((pods.len(), containers.len())));
        Ok(Vec::new())
    }

    async fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        self.seen
            .send_modify(|s| s.created.push(container.name.clone()));
        let mut adjust = ContainerAdjustment::default();
        adjust
            .annotations
            .insert("stub.nri-rs.dev/pod".into(), pod.name.clone());
        Ok(CreateContainerResponse {
            adjust: Some(adjust),
            evict: vec![ContainerEviction {
                container_id: format!("victim-of-{}", container.id),
                reason: "room for a guaranteed container".into(),
            }],
            ..Default::default()
        })
    }

    async fn stop_container(
        &self,
        _pod: PodSandbox,
        _container: Container,
    ) -> HandlerResult<nri_core::proto::api::StopContainerResponse> {
        Ok(Default::default())
    }

    async fn validate_container_adjustment(
        &self,
        request: ValidateContainerAdjustmentRequest,
    ) -> HandlerResult<()> {
        let name = request.container.map(|c| c.name).unwrap_or_default();
        if name.contains("forbidden") {
            return Err(format!("containers named {name} are not allowed here").into());
        }
        Ok(())
    }
}

fn stub(harness: &TtrpcHarness, plugin: Recorder, index: &str) -> Arc<Stub<Recorder>> {
    Arc::new(
        Stub::builder(plugin)
            .index(index)
            .name("recorder")
            .build(Arc::new(PluginConnector::dial(harness.socket())))
            .unwrap(),
    )
}

fn spawn_run<P: Plugin>(stub: &Arc<Stub<P>>) -> tokio::task::JoinHandle<Result<(), StubError>> {
    let stub = Arc::clone(stub);
    tokio::spawn(async move { stub.run().await })
}

async fn running(state: Snapshot) -> (TtrpcHarness, Adaptation, Arc<FakeDomain>) {
    let harness = TtrpcHarness::new().unwrap();
    let runtime = Arc::new(FakeDomain::from_snapshot(state));
    let adaptation = start(&harness, options(), Arc::clone(&runtime)).await;
    (harness, adaptation, runtime)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_follows_the_handlers_and_narrows() {
    let (harness, adaptation, _runtime) = running(state()).await;
    let (plugin, _seen) = Recorder::new(None);
    let derived = stub(&harness, plugin, "10");
    let running_derived = spawn_run(&derived);
    let (plugin, _seen) = Recorder::new(Some(EventMask::of([Event::CreateContainer])));
    let narrowed = stub(&harness, plugin, "20");
    let running_narrowed = spawn_run(&narrowed);
    within("two plugins register", adaptation.wait_for_plugins(2)).await;

    let events: Vec<(String, EventMask)> = adaptation
        .plugins()
        .into_iter()
        .map(|p| (p.id.to_string(), p.events))
        .collect();
    let handled = EventMask::of([
        Event::CreateContainer,
        Event::StopContainer,
        Event::ValidateContainerAdjustment,
    ]);
    assert_eq!(
        events,
        [
            ("10-recorder".to_string(), handled),
            (
                "20-recorder".to_string(),
                EventMask::of([Event::CreateContainer])
            ),
        ]
    );
    assert_eq!(derived.subscribed_events(), Some(handled));
    assert_eq!(derived.runtime_nri_version().as_deref(), Some("v0.12.2"));

    derived.stop();
    narrowed.stop();
    assert!(within("stop", running_derived).await.unwrap().is_ok());
    assert!(within("stop", running_narrowed).await.unwrap().is_ok());
    adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_an_unhandled_event_fails_registration() {
    let (harness, adaptation, _runtime) = running(state()).await;
    let (plugin, _seen) = Recorder::new(Some(EventMask::of([Event::RunPodSandbox])));
    let error = within("registration fails", stub(&harness, plugin, "10").run())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StubError::Configure(message) if message.contains("RunPodSandbox")),
        "{error}"
    );
    assert!(adaptation.plugins().is_empty());

    // And a plugin without handlers never gets as far as connecting.
    struct Idle;
    #[nri_core::plugin]
    impl Plugin for Idle {
        async fn shutdown(&self) {}
    }
    let error = Stub::builder(Idle)
        .index("10")
        .name("idle")
        .build(Arc::new(PluginConnector::dial(harness.socket())))
        .unwrap_err();
    assert!(matches!(error, StubError::NoHandlers), "{error}");
    adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adjustments_evictions_and_updates_reach_the_runtime() {
    let (harness, adaptation, runtime) = running(state()).await;
    let (plugin, mut seen) = Recorder::new(None);
    let stub = stub(&harness, plugin, "10");
    let running = spawn_run(&stub);
    within("registered", adaptation.wait_for_plugins(1)).await;

    let reply = within(
        "CreateContainer",
        adaptation.create_container(create_request(&pod(0), &container(0, 0))),
    )
    .await
    .unwrap();
    let adjust = reply.adjust.unwrap();
    assert_eq!(
        adjust.annotations.get("stub.nri-rs.dev/pod"),
        Some(&pod(0).name)
    );
    assert_eq!(reply.evict.len(), 1);
    assert_eq!(
        reply.evict[0].container_id,
        format!("victim-of-{}", container(0, 0).id)
    );
    within("seen", seen.wait_for(|s| s.created.len() == 1))
        .await
        .unwrap();

    // Unsolicited, from outside any event: an update and an eviction.
    let update = ContainerUpdate {
        container_id: container(1, 0).id,
        ..Default::default()
    };
    let eviction = ContainerEviction {
        container_id: container(2, 0).id,
        reason: "evicted by the stub test".into(),
    };
    let failed = within(
        "UpdateContainers",
        stub.runtime()
            .update_containers(vec![update.clone()], vec![eviction.clone()]),
    )
    .await
    .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(runtime.updates().len(), 1);
    assert_eq!(runtime.updates()[0].container_id, update.container_id);
    assert_eq!(runtime.evictions(), [eviction]);

    stub.stop();
    within("stop", running).await.unwrap().unwrap();
    assert!(matches!(
        stub.runtime().update_containers(vec![], vec![]).await,
        Err(StubError::NotConnected)
    ));
    adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_error_rejects_with_its_text() {
    let (harness, adaptation, _runtime) = running(state()).await;
    let (plugin, _seen) = Recorder::new(None);
    let stub = stub(&harness, plugin, "10");
    let running = spawn_run(&stub);
    within("registered", adaptation.wait_for_plugins(1)).await;

    let mut forbidden = container(0, 0);
    forbidden.name = "forbidden-one".into();
    let error = within(
        "CreateContainer",
        adaptation.create_container(create_request(&pod(0), &forbidden)),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("containers named forbidden-one are not allowed here"),
        "{error}"
    );
    stub.stop();
    within("stop", running).await.unwrap().unwrap();
    adaptation.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_synchronize_reaches_the_plugin_whole() {
    // About 6 MiB of pods: more than one Synchronize message can carry.
    let pods: Vec<PodSandbox> = (0..3_000)
        .map(|i| {
            let mut p = pod(i);
            p.annotations = (0..4)
                .map(|k| {
                    (
                        format!("example.com/a{k}"),
                        format!("{i}-{}", "v".repeat(480)),
                    )
                })
                .collect();
            p
        })
        .collect();
    let containers: Vec<Container> = (0..500).map(|i| container(i, i)).collect();
    let (harness, adaptation, _runtime) = running(Snapshot {
        pods: pods.clone(),
        containers: containers.clone(),
    })
    .await;
    let (plugin, mut seen) = Recorder::new(None);
    let stub = stub(&harness, plugin, "10");
    let running = spawn_run(&stub);
    within("registered", adaptation.wait_for_plugins(1)).await;
    let seen = within(
        "synchronized",
        seen.wait_for(|s| !s.synchronized.is_empty()),
    )
    .await
    .unwrap()
    .clone();
    assert_eq!(seen.synchronized, [(pods.len(), containers.len())]);
    stub.stop();
    within("stop", running).await.unwrap().unwrap();
    adaptation.stop().await;
}

/// A runtime that registers plugins but never configures them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_that_never_configures_ends_the_handshake_at_its_deadline() {
    let harness = TtrpcHarness::new().unwrap();
    let transport = harness.transport();
    let deadline = Duration::from_millis(300);
    let (plugin, _seen) = Recorder::new(None);
    let stub = Arc::new(
        Stub::builder(plugin)
            .index("10")
            .name("recorder")
            .handshake_timeout(deadline)
            .build(Arc::new(PluginConnector::dial(harness.socket())))
            .unwrap(),
    );
    let started = Instant::now();
    let running = spawn_run(&stub);
    let mut accepted = within("accept", transport.accept()).await.unwrap();
    let call = within("RegisterPlugin", accepted.calls.recv())
        .await
        .unwrap();
    let (request, responder) = call.into_parts();
    assert!(matches!(
        request,
        RuntimeRequest::RegisterPlugin(RegisterPluginRequest { plugin_idx, .. }) if plugin_idx == "10"
    ));
    assert!(responder.reply(Ok(RuntimeResponse::RegisterPlugin(Empty {}))));
    let error = within("handshake deadline", running)
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(error, StubError::HandshakeTimeout(d) if d == deadline),
        "{error}"
    );
    assert!(started.elapsed() >= deadline);
    // The plugin hung up: the runtime's end sees the connection close.
    let reason = within(
        "closed",
        accepted.connection.call(
            nri_core::transport::PluginRequestRef::Shutdown(&Empty {}),
            Duration::from_secs(5),
        ),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(reason, nri_core::transport::CallError::Closed { .. }),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_plugin_registers_again_after_a_runtime_restart() {
    let mut harness = TtrpcHarness::new().unwrap();
    let first_runtime = Arc::new(FakeDomain::from_snapshot(state()));
    let first = start(&harness, options(), first_runtime).await;
    let (plugin, mut seen) = Recorder::new(None);
    let stub = Arc::new(
        Stub::builder(plugin)
            .index("10")
            .name("recorder")
            .reconnect(Backoff {
                initial: Duration::from_millis(20),
                max: Duration::from_millis(200),
            })
            .build(Arc::new(PluginConnector::dial(harness.socket())))
            .unwrap(),
    );
    let running = spawn_run(&stub);
    within("registered", first.wait_for_plugins(1)).await;
    within("first sync", seen.wait_for(|s| s.synchronized.len() == 1))
        .await
        .unwrap();

    // The runtime goes away and comes back on the same socket.
    first.stop().await;
    harness.restart().unwrap();
    let second = start(
        &harness,
        options(),
        Arc::new(FakeDomain::from_snapshot(state())),
    )
    .await;
    within("registered again", second.wait_for_plugins(1)).await;
    let seen_now = within("second sync", seen.wait_for(|s| s.synchronized.len() == 2))
        .await
        .unwrap()
        .clone();
    assert_eq!(seen_now.configured, 2);
    assert_eq!(second.plugins()[0].id.to_string(), "10-recorder");
    stub.stop();
    within("stop", running).await.unwrap().unwrap();
    second.stop().await;
}
