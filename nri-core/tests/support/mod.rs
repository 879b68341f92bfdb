//! Pieces the nri-core integration tests share: a recording plugin over
//! the in-process transport and an in-memory domain.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nri_core::proto::api::{
    ConfigureResponse, Container, ContainerEviction, ContainerUpdate, Empty, PodSandbox,
    RegisterPluginRequest,
};
use nri_core::proto::event::{Event, EventMask};
use nri_core::runtime_api::{Domain, DomainError};
use nri_core::transport::in_process::{InProcessConnector, RuntimeHandle};
use nri_core::transport::{
    CallError, Origin, PluginHandler, PluginRequest, PluginResponse, RuntimeRequest,
    RuntimeResponse,
};
use tokio::sync::mpsc;

/// What a recording plugin saw: the event and the pod and container ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub event: Event,
    pub pod: String,
    pub container: String,
}

/// A plugin that answers every event with an empty reply and reports it.
pub struct Recorder {
    events: EventMask,
    seen: mpsc::UnboundedSender<Seen>,
    /// Pods and containers of the Synchronize requests it got.
    pub synced: Mutex<Vec<(Vec<PodSandbox>, Vec<Container>)>>,
}

impl Recorder {
    pub fn new(events: EventMask) -> (Arc<Self>, mpsc::UnboundedReceiver<Seen>) {
        let (seen, receiver) = mpsc::unbounded_channel();
        let recorder = Arc::new(Recorder {
            events,
            seen,
            synced: Mutex::new(Vec::new()),
        });
        (recorder, receiver)
    }

    fn record(&self, event: Event, pod: Option<&PodSandbox>, container: Option<&Container>) {
        let _ = self.seen.send(Seen {
            event,
            pod: pod.map(|p| p.id.clone()).unwrap_or_default(),
            container: container.map(|c| c.id.clone()).unwrap_or_default(),
        });
    }
}

#[async_trait::async_trait]
impl PluginHandler for Recorder {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        use PluginRequest as Q;
        use PluginResponse as A;
        Ok(match request {
            Q::Configure(_) => A::Configure(Box::new(ConfigureResponse {
                events: self.events.bits(),
            })),
            Q::Synchronize(r) => {
                self.synced
                    .lock()
                    .unwrap()
                    .push((r.pods.clone(), r.containers.clone()));
                A::Synchronize(Box::new(nri_core::proto::api::SynchronizeResponse {
                    update: vec![],
                    more: r.more,
                }))
            }
            Q::Shutdown(_) => A::Shutdown(Box::new(Empty {})),
            Q::RunPodSandbox(r) => {
                self.record(Event::RunPodSandbox, r.pod.as_ref(), None);
                A::RunPodSandbox(Box::default())
            }
            Q::StopPodSandbox(r) => {
                self.record(Event::StopPodSandbox, r.pod.as_ref(), None);
                A::StopPodSandbox(Box::default())
            }
            Q::RemovePodSandbox(r) => {
                self.record(Event::RemovePodSandbox, r.pod.as_ref(), None);
                A::RemovePodSandbox(Box::default())
            }
            Q::CreateContainer(r) => {
                self.record(Event::CreateContainer, r.pod.as_ref(), r.container.as_ref());
                A::CreateContainer(Box::default())
            }
            Q::StartContainer(r) => {
                self.record(Event::StartContainer, r.pod.as_ref(), r.container.as_ref());
                A::StartContainer(Box::default())
            }
            Q::StopContainer(r) => {
                self.record(Event::StopContainer, r.pod.as_ref(), r.container.as_ref());
                A::StopContainer(Box::default())
            }
            Q::RemoveContainer(r) => {
                self.record(Event::RemoveContainer, r.pod.as_ref(), r.container.as_ref());
                A::RemoveContainer(Box::default())
            }
            other => {
                return Err(CallError::Unimplemented {
                    method: other.method().name().into(),
                });
            }
        })
    }
}

/// Connects a plugin and registers it as `NN-name`.
pub async fn connect(
    connector: &InProcessConnector,
    plugin: Arc<dyn PluginHandler>,
    index: &str,
    name: &str,
) -> RuntimeHandle {
    let handle = connector
        .connect(plugin, Origin::External)
        .await
        .expect("connects");
    let reply = handle
        .call(
            RuntimeRequest::RegisterPlugin(RegisterPluginRequest {
                plugin_name: name.into(),
                plugin_idx: index.into(),
                nri_version: "test".into(),
            }),
            Duration::from_secs(5),
        )
        .await
        .expect("registers");
    assert_eq!(reply, RuntimeResponse::RegisterPlugin(Empty {}));
    handle
}

/// An in-memory domain, the least a runtime API test needs.
///
/// Not nri-testkit's `FakeDomain`, the fake runtime of every other crate:
/// nri-testkit depends on nri-core, so as a dev-dependency of nri-core it
/// would link a second copy of nri-core, whose `Domain` is not the one
/// under test here.
#[derive(Default)]
pub struct MemoryDomain {
    pub pods: Mutex<Vec<PodSandbox>>,
    pub containers: Mutex<Vec<Container>>,
    pub updates: Mutex<Vec<ContainerUpdate>>,
    pub evictions: Mutex<Vec<ContainerEviction>>,
    /// Lends its pods and containers to a synchronization
    /// (`Domain::list_into`) instead of listing copies.
    pub lends: bool,
}

#[async_trait::async_trait]
impl Domain for MemoryDomain {
    fn name(&self) -> &str {
        "k8s.io"
    }
    async fn list_pod_sandboxes(&self) -> Vec<PodSandbox> {
        self.pods.lock().unwrap().clone()
    }
    async fn list_containers(&self) -> Vec<Container> {
        self.containers.lock().unwrap().clone()
    }
    async fn list_into(&self, listing: &mut nri_core::adaptation::Listing<'_>) {
        if !self.lends {
            // What the default does: the listing methods' copies.
            let pods = self.list_pod_sandboxes().await;
            let containers = self.list_containers().await;
            pods.iter().for_each(|pod| listing.pod(pod));
            containers.iter().for_each(|c| listing.container(c));
            return;
        }
        let pods = self.pods.lock().unwrap();
        pods.iter().for_each(|pod| listing.pod(pod));
        let containers = self.containers.lock().unwrap();
        containers.iter().for_each(|c| listing.container(c));
    }
    async fn update_container(&self, update: &ContainerUpdate) -> Result<(), DomainError> {
        self.updates.lock().unwrap().push(update.clone());
        Ok(())
    }
    async fn evict_container(&self, eviction: &ContainerEviction) -> Result<(), DomainError> {
        self.evictions.lock().unwrap().push(eviction.clone());
        Ok(())
    }
}

pub fn pod(id: &str) -> PodSandbox {
    PodSandbox {
        id: id.into(),
        name: format!("{id}-name"),
        ..Default::default()
    }
}

pub fn container(pod: &str, id: &str, state: i32) -> Container {
    Container {
        id: id.into(),
        pod_sandbox_id: pod.into(),
        name: format!("{id}-name"),
        state,
        ..Default::default()
    }
}

/// How a probe answers one request: `None` for the default answer. An
/// answer of `Err(CallError::Timeout)` makes the probe hang instead, so the
/// runtime's real timeout fires.
pub type Script = dyn Fn(&PluginRequest) -> Option<Result<PluginResponse, CallError>> + Send + Sync;

/// A plugin that reports every request it gets and answers by script.
pub struct Probe {
    events: EventMask,
    requests: mpsc::UnboundedSender<PluginRequest>,
    script: Box<Script>,
}

impl Probe {
    pub fn new(
        events: EventMask,
        script: impl Fn(&PluginRequest) -> Option<Result<PluginResponse, CallError>>
        + Send
        + Sync
        + 'static,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<PluginRequest>) {
        let (requests, receiver) = mpsc::unbounded_channel();
        let probe = Arc::new(Probe {
            events,
            requests,
            script: Box::new(script),
        });
        (probe, receiver)
    }
}

#[async_trait::async_trait]
impl PluginHandler for Probe {
    async fn handle(&self, request: PluginRequest) -> Result<PluginResponse, CallError> {
        let _ = self.requests.send(request.clone());
        match (self.script)(&request) {
            Some(Err(CallError::Timeout { .. })) => std::future::pending().await,
            Some(answer) => return answer,
            None => {}
        }
        Ok(match request {
            PluginRequest::Configure(_) => PluginResponse::Configure(Box::new(ConfigureResponse {
                events: self.events.bits(),
            })),
            PluginRequest::Synchronize(r) => {
                PluginResponse::Synchronize(Box::new(nri_core::proto::api::SynchronizeResponse {
                    update: vec![],
                    more: r.more,
                }))
            }
            other => default_reply(other.method()),
        })
    }
}

/// The empty reply of a method.
pub fn default_reply(method: nri_core::transport::Method) -> PluginResponse {
    use PluginResponse as A;
    use nri_core::transport::Method as M;
    match method {
        M::Configure => A::Configure(Box::default()),
        M::Synchronize => A::Synchronize(Box::default()),
        M::Shutdown => A::Shutdown(Box::new(Empty {})),
        M::StateChange => A::StateChange(Box::new(Empty {})),
        M::RunPodSandbox => A::RunPodSandbox(Box::default()),
        M::UpdatePodSandbox => A::UpdatePodSandbox(Box::default()),
        M::PostUpdatePodSandbox => A::PostUpdatePodSandbox(Box::default()),
        M::StopPodSandbox => A::StopPodSandbox(Box::default()),
        M::RemovePodSandbox => A::RemovePodSandbox(Box::default()),
        M::CreateContainer => A::CreateContainer(Box::default()),
        M::PostCreateContainer => A::PostCreateContainer(Box::default()),
        M::StartContainer => A::StartContainer(Box::default()),
        M::PostStartContainer => A::PostStartContainer(Box::default()),
        M::UpdateContainer => A::UpdateContainer(Box::default()),
        M::PostUpdateContainer => A::PostUpdateContainer(Box::default()),
        M::StopContainer => A::StopContainer(Box::default()),
        M::RemoveContainer => A::RemoveContainer(Box::default()),
        M::ValidateContainerAdjustment => A::ValidateContainerAdjustment(Box::default()),
    }
}
