//! The event requests, typed: which event each one delivers, which pod and
//! container it is about, and its `StateChange` form for old plugins.

use nri_proto::api::{
    Container, CreateContainerRequest, PodSandbox, PostCreateContainerRequest,
    PostStartContainerRequest, PostUpdateContainerRequest, PostUpdatePodSandboxRequest,
    RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest,
    StateChangeEvent, StopContainerRequest, StopPodSandboxRequest, UpdateContainerRequest,
    UpdatePodSandboxRequest, ValidateContainerAdjustmentRequest,
};
use nri_proto::event::Event;

use crate::transport::PluginRpc;

/// A request that delivers one event to a plugin.
pub(crate) trait EventRequest: PluginRpc + Clone + Send + Sync + 'static
where
    Self::Response: Default + Send + 'static,
{
    /// The event.
    const EVENT: Event;
    /// The pod the event is about.
    fn pod(&self) -> Option<&PodSandbox>;
    /// The container the event is about, for container events.
    fn container(&self) -> Option<&Container>;

    /// The event as an old plugin's `StateChange`.
    fn state_change(&self) -> StateChangeEvent {
        StateChangeEvent {
            event: Self::EVENT as i32,
            pod: self.pod().cloned(),
            container: self.container().cloned(),
        }
    }

    /// The pod's id, or "" if the request carries none.
    fn pod_id(&self) -> &str {
        self.pod().map_or("", |pod| pod.id.as_str())
    }

    /// The container's id, or "" for pod events.
    fn container_id(&self) -> &str {
        self.container()
            .map_or("", |container| container.id.as_str())
    }
}

macro_rules! pod_events {
    ($($request:ty => $event:ident),* $(,)?) => {$(
        impl EventRequest for $request {
            const EVENT: Event = Event::$event;
            fn pod(&self) -> Option<&PodSandbox> {
                self.pod.as_ref()
            }
            fn container(&self) -> Option<&Container> {
                None
            }
        }
    )*};
}

macro_rules! container_events {
    ($($request:ty => $event:ident),* $(,)?) => {$(
        impl EventRequest for $request {
            const EVENT: Event = Event::$event;
            fn pod(&self) -> Option<&PodSandbox> {
                self.pod.as_ref()
            }
            fn container(&self) -> Option<&Container> {
                self.container.as_ref()
            }
        }
    )*};
}

pod_events! {
    RunPodSandboxRequest => RunPodSandbox,
    UpdatePodSandboxRequest => UpdatePodSandbox,
    PostUpdatePodSandboxRequest => PostUpdatePodSandbox,
    StopPodSandboxRequest => StopPodSandbox,
    RemovePodSandboxRequest => RemovePodSandbox,
}

container_events! {
    CreateContainerRequest => CreateContainer,
    PostCreateContainerRequest => PostCreateContainer,
    StartContainerRequest => StartContainer,
    PostStartContainerRequest => PostStartContainer,
    UpdateContainerRequest => UpdateContainer,
    PostUpdateContainerRequest => PostUpdateContainer,
    StopContainerRequest => StopContainer,
    RemoveContainerRequest => RemoveContainer,
    ValidateContainerAdjustmentRequest => ValidateContainerAdjustment,
}
