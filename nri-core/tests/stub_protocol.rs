//! The stub's side of the protocol against a hand-driven runtime end (the
//! in-process transport): what it answers an old runtime's Configure, how
//! it routes StateChange, and the timeouts it keeps. The stub against a
//! real runtime over real sockets is tested in nri-testkit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use nri_core::proto::api::{
    ConfigureRequest, Container, Empty, Event, PodSandbox, StateChangeEvent,
    ValidateContainerAdjustmentRequest,
};
use nri_core::proto::event::EventMask;
use nri_core::stub::{HandlerResult, Plugin, Stub, StubError};
use nri_core::transport::in_process;
use nri_core::transport::{
    Accepted, PluginRequestRef, PluginResponse, RuntimeRequest, RuntimeResponse, Transport,
};
use tokio::sync::watch;

const WATCHDOG: Duration = Duration::from_secs(10);

/// Records the events it handles, by name and subject.
struct Watcher(watch::Sender<Vec<String>>);

impl Watcher {
    fn saw(&self, what: String) {
        self.0.send_modify(|seen| seen.push(what));
    }
}

#[nri_core::plugin]
impl Plugin for Watcher {
    async fn run_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.saw(format!("RunPodSandbox {}", pod.id));
        Ok(())
    }

    async fn post_update_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.saw(format!("PostUpdatePodSandbox {}", pod.id));
        Ok(())
    }

    async fn start_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.saw(format!("StartContainer {} {}", pod.id, container.id));
        Ok(())
    }

    async fn remove_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.saw(format!("RemoveContainer {} {}", pod.id, container.id));
        Ok(())
    }

    async fn validate_container_adjustment(
        &self,
        _: ValidateContainerAdjustmentRequest,
    ) -> HandlerResult<()> {
        Ok(())
    }
}

/// A stub connected to a hand-driven runtime end.
struct Connected {
    stub: Arc<Stub<Watcher>>,
    seen: watch::Receiver<Vec<String>>,
    running: tokio::task::JoinHandle<Result<(), StubError>>,
    accepted: Accepted,
    /// The connection ends with the transport.
    _transport: in_process::InProcessTransport,
}

/// Starts the stub and plays the runtime up to RegisterPlugin.
async fn connected() -> Connected {
    let (transport, connector) = in_process::transport();
    let (seen, watcher) = watch::channel(Vec::new());
    let stub = Arc::new(
        Stub::builder(Watcher(seen))
            .index("10")
            .name("watcher")
            .build(Arc::new(connector))
            .unwrap(),
    );
    let running = {
        let stub = Arc::clone(&stub);
        tokio::spawn(async move { stub.run().await })
    };
    let mut accepted = tokio::time::timeout(WATCHDOG, transport.accept())
        .await
        .unwrap()
        .unwrap();
    let call = tokio::time::timeout(WATCHDOG, accepted.calls.recv())
        .await
        .unwrap()
        .unwrap();
    let (request, responder) = call.into_parts();
    assert!(matches!(request, RuntimeRequest::RegisterPlugin(_)));
    assert!(responder.reply(Ok(RuntimeResponse::RegisterPlugin(Empty {}))));
    Connected {
        stub,
        seen: watcher,
        running,
        accepted,
        _transport: transport,
    }
}

async fn configure(accepted: &Accepted, request: ConfigureRequest) -> EventMask {
    let reply = accepted
        .connection
        .call(PluginRequestRef::Configure(&request), WATCHDOG)
        .await
        .unwrap();
    match reply {
        PluginResponse::Configure(reply) => EventMask::from_bits(reply.events),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_old_runtime_gets_only_the_events_it_knows_and_default_timeouts() {
    let Connected {
        stub,
        seen: _,
        running,
        accepted,
        _transport,
    } = connected().await;
    // containerd 2.1 says nothing of its NRI version (v0.8), nor of
    // timeouts (as runtimes before NRI v0.7 do).
    let events = configure(
        &accepted,
        ConfigureRequest {
            runtime_name: "containerd".into(),
            runtime_version: "v2.1.3".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        events,
        EventMask::of([
            Event::RunPodSandbox,
            Event::StartContainer,
            Event::RemoveContainer
        ])
    );
    assert_eq!(stub.runtime_nri_version().as_deref(), Some("v0.8.0"));
    assert_eq!(stub.request_timeout(), Some(Duration::from_secs(2)));
    stub.stop();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_current_runtime_gets_every_handled_event_and_its_timeouts() {
    let Connected {
        stub,
        seen: _,
        running,
        accepted,
        _transport,
    } = connected().await;
    let events = configure(
        &accepted,
        ConfigureRequest {
            runtime_name: "containerd".into(),
            runtime_version: "v2.1.3".into(),
            nri_version: "v0.12.2".into(),
            request_timeout: 7_000,
            registration_timeout: 9_000,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        events,
        EventMask::of([
            Event::RunPodSandbox,
            Event::PostUpdatePodSandbox,
            Event::StartContainer,
            Event::RemoveContainer,
            Event::ValidateContainerAdjustment
        ])
    );
    assert_eq!(stub.request_timeout(), Some(Duration::from_secs(7)));
    stub.stop();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn state_change_reaches_the_same_handlers() {
    let Connected {
        stub,
        mut seen,
        running,
        accepted,
        _transport,
    } = connected().await;
    configure(&accepted, ConfigureRequest::default()).await;
    let pod = PodSandbox {
        id: "pod1".into(),
        ..Default::default()
    };
    let container = Container {
        id: "ctr1".into(),
        ..Default::default()
    };
    for (event, with_container) in [
        (Event::RunPodSandbox, false),
        (Event::StartContainer, true),
        (Event::RemoveContainer, true),
        // Not routed (no StateChange form upstream): accepted, ignored.
        (Event::CreateContainer, true),
    ] {
        let change = StateChangeEvent {
            event: event as i32,
            pod: Some(pod.clone()),
            container: with_container.then(|| container.clone()),
        };
        let reply = accepted
            .connection
            .call(PluginRequestRef::StateChange(&change), WATCHDOG)
            .await
            .unwrap();
        assert!(matches!(reply, PluginResponse::StateChange(_)), "{reply:?}");
    }
    let seen = seen.wait_for(|s| s.len() >= 3).await.unwrap().clone();
    assert_eq!(
        seen,
        [
            "RunPodSandbox pod1",
            "StartContainer pod1 ctr1",
            "RemoveContainer pod1 ctr1"
        ]
    );
    stub.stop();
    running.await.unwrap().unwrap();
}

/// A plugin that defines `synchronize`.
struct Synchronizing;

#[nri_core::plugin]
impl Plugin for Synchronizing {
    async fn synchronize(
        &self,
        _: Vec<PodSandbox>,
        _: Vec<Container>,
    ) -> HandlerResult<Vec<nri_core::proto::api::ContainerUpdate>> {
        Ok(Vec::new())
    }

    async fn start_container(&self, _: PodSandbox, _: Container) -> HandlerResult<()> {
        Ok(())
    }
}

#[test]
fn the_plugin_attribute_says_whether_synchronize_is_defined() {
    let (seen, _watcher) = watch::channel(Vec::new());
    // The stub then decodes a Synchronize's pods and containers only for
    // the plugin that reads them.
    assert!(!Watcher(seen).defines_synchronize());
    assert!(Synchronizing.defines_synchronize());
}
