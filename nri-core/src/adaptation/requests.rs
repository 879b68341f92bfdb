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

/// A request type that delivers one event to a plugin. The adaptation
/// sends it in its borrowed form ([`PluginRpc::Borrowed`]): the pod and
/// container stay the runtime's.
pub(crate) trait EventRequest: PluginRpc + Send + Sync + 'static
where
    Self::Response: Default + Send + 'static,
{
    /// The event.
    const EVENT: Event;
    /// The pod the event is about.
    fn pod(request: Self::Borrowed<'_>) -> Option<&PodSandbox>;
    /// The container the event is about, for container events.
    fn container(request: Self::Borrowed<'_>) -> Option<&Container>;

    /// The event as an old plugin's `StateChange`.
    fn state_change(request: Self::Borrowed<'_>) -> StateChangeEvent {
        StateChangeEvent {
            event: Self::EVENT as i32,
            pod: Self::pod(request).cloned(),
            container: Self::container(request).cloned(),
        }
    }
}

/// Events whose borrowed request holds the pod as `pod` and, for container
/// events, the container as `container`.
macro_rules! events {
    (pods: $($pod_request:ty => $pod_event:ident),* ;
     containers: $($request:ty => $event:ident),* $(,)?) => {
        $(
            impl EventRequest for $pod_request {
                const EVENT: Event = Event::$pod_event;
                fn pod(request: Self::Borrowed<'_>) -> Option<&PodSandbox> {
                    request.pod
                }
                fn container(_: Self::Borrowed<'_>) -> Option<&Container> {
                    None
                }
            }
        )*
        $(
            impl EventRequest for $request {
                const EVENT: Event = Event::$event;
                fn pod(request: Self::Borrowed<'_>) -> Option<&PodSandbox> {
                    request.pod
                }
                fn container(request: Self::Borrowed<'_>) -> Option<&Container> {
                    request.container
                }
            }
        )*
    };
}

events! {
    pods:
    RunPodSandboxRequest => RunPodSandbox,
    UpdatePodSandboxRequest => UpdatePodSandbox,
    PostUpdatePodSandboxRequest => PostUpdatePodSandbox,
    StopPodSandboxRequest => StopPodSandbox,
    RemovePodSandboxRequest => RemovePodSandbox;
    containers:
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
