//! The messages of both NRI services, as enums a transport can carry
//! without knowing NRI semantics.

use nri_proto::api::{
    ConfigureRequest, ConfigureResponse, CreateContainerRequest, CreateContainerResponse, Empty,
    PostCreateContainerRequest, PostCreateContainerResponse, PostStartContainerRequest,
    PostStartContainerResponse, PostUpdateContainerRequest, PostUpdateContainerResponse,
    PostUpdatePodSandboxRequest, PostUpdatePodSandboxResponse, RegisterPluginRequest,
    RemoveContainerRequest, RemoveContainerResponse, RemovePodSandboxRequest,
    RemovePodSandboxResponse, RunPodSandboxRequest, RunPodSandboxResponse, StartContainerRequest,
    StartContainerResponse, StateChangeEvent, StopContainerRequest, StopContainerResponse,
    StopPodSandboxRequest, StopPodSandboxResponse, SynchronizeRequest, SynchronizeResponse,
    UpdateContainerRequest, UpdateContainerResponse, UpdateContainersRequest,
    UpdateContainersResponse, UpdatePodSandboxRequest, UpdatePodSandboxResponse,
    ValidateContainerAdjustmentRequest, ValidateContainerAdjustmentResponse,
};
use nri_proto::event::Event;

/// A request type of the `Plugin` service and its response type.
pub trait PluginRpc: Sized {
    /// The response type.
    type Response;
    /// The method this request type belongs to.
    const METHOD: Method;
    /// Wraps the request.
    fn into_request(self) -> PluginRequest;
    /// Unwraps the matching response, or gives back a mismatched one.
    fn response_from(response: PluginResponse) -> Result<Self::Response, Box<PluginResponse>>;
}

macro_rules! plugin_methods {
    ($(
        $(#[$doc:meta])*
        $method:ident($request:ty) -> $response:ty, event: $event:expr, state_change_fallback: $fallback:expr;
    )*) => {
        /// A method of the `Plugin` service.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Method {
            $($(#[$doc])* $method,)*
        }

        /// Every method, in protocol order.
        pub const METHODS: &[Method] = &[$(Method::$method,)*];

        impl Method {
            /// The method's name on the wire.
            pub fn name(self) -> &'static str {
                match self {
                    $(Method::$method => stringify!($method),)*
                }
            }

            /// The event this method delivers, if it delivers one.
            pub fn event(self) -> Option<Event> {
                match self {
                    $(Method::$method => $event,)*
                }
            }

            /// Whether a plugin that does not implement this method (NRI
            /// v0.11 and older) gets the event through `StateChange` instead
            /// (`shared/reference/nri-upstream.md` §3.14).
            pub fn has_state_change_fallback(self) -> bool {
                match self {
                    $(Method::$method => $fallback,)*
                }
            }
        }

        /// A request to a plugin. Payloads are boxed: the messages are large
        /// and move through queues and tasks.
        #[derive(Debug, Clone, PartialEq)]
        pub enum PluginRequest {
            $($(#[$doc])* $method(Box<$request>),)*
        }

        /// A plugin's reply. Payloads are boxed like [`PluginRequest`]'s.
        #[derive(Debug, Clone, PartialEq)]
        pub enum PluginResponse {
            $($(#[$doc])* $method(Box<$response>),)*
        }

        impl PluginRequest {
            /// The method this request calls.
            pub fn method(&self) -> Method {
                match self {
                    $(PluginRequest::$method(_) => Method::$method,)*
                }
            }
        }

        impl PluginResponse {
            /// The method this reply answers.
            pub fn method(&self) -> Method {
                match self {
                    $(PluginResponse::$method(_) => Method::$method,)*
                }
            }
        }

        $(
            impl PluginRpc for $request {
                type Response = $response;
                const METHOD: Method = Method::$method;

                fn into_request(self) -> PluginRequest {
                    PluginRequest::$method(Box::new(self))
                }

                fn response_from(response: PluginResponse) -> Result<$response, Box<PluginResponse>> {
                    match response {
                        PluginResponse::$method(reply) => Ok(*reply),
                        other => Err(Box::new(other)),
                    }
                }
            }
        )*
    };
}

plugin_methods! {
    /// Configure.
    Configure(ConfigureRequest) -> ConfigureResponse, event: None, state_change_fallback: false;
    /// Synchronize.
    Synchronize(SynchronizeRequest) -> SynchronizeResponse, event: None, state_change_fallback: false;
    /// Shutdown.
    Shutdown(Empty) -> Empty, event: None, state_change_fallback: false;
    /// RunPodSandbox.
    RunPodSandbox(RunPodSandboxRequest) -> RunPodSandboxResponse, event: Some(Event::RunPodSandbox), state_change_fallback: true;
    /// UpdatePodSandbox.
    UpdatePodSandbox(UpdatePodSandboxRequest) -> UpdatePodSandboxResponse, event: Some(Event::UpdatePodSandbox), state_change_fallback: false;
    /// PostUpdatePodSandbox.
    PostUpdatePodSandbox(PostUpdatePodSandboxRequest) -> PostUpdatePodSandboxResponse, event: Some(Event::PostUpdatePodSandbox), state_change_fallback: true;
    /// StopPodSandbox.
    StopPodSandbox(StopPodSandboxRequest) -> StopPodSandboxResponse, event: Some(Event::StopPodSandbox), state_change_fallback: true;
    /// RemovePodSandbox.
    RemovePodSandbox(RemovePodSandboxRequest) -> RemovePodSandboxResponse, event: Some(Event::RemovePodSandbox), state_change_fallback: true;
    /// CreateContainer.
    CreateContainer(CreateContainerRequest) -> CreateContainerResponse, event: Some(Event::CreateContainer), state_change_fallback: false;
    /// PostCreateContainer.
    PostCreateContainer(PostCreateContainerRequest) -> PostCreateContainerResponse, event: Some(Event::PostCreateContainer), state_change_fallback: true;
    /// StartContainer.
    StartContainer(StartContainerRequest) -> StartContainerResponse, event: Some(Event::StartContainer), state_change_fallback: true;
    /// PostStartContainer.
    PostStartContainer(PostStartContainerRequest) -> PostStartContainerResponse, event: Some(Event::PostStartContainer), state_change_fallback: true;
    /// UpdateContainer.
    UpdateContainer(UpdateContainerRequest) -> UpdateContainerResponse, event: Some(Event::UpdateContainer), state_change_fallback: false;
    /// PostUpdateContainer.
    PostUpdateContainer(PostUpdateContainerRequest) -> PostUpdateContainerResponse, event: Some(Event::PostUpdateContainer), state_change_fallback: true;
    /// StopContainer.
    StopContainer(StopContainerRequest) -> StopContainerResponse, event: Some(Event::StopContainer), state_change_fallback: false;
    /// RemoveContainer.
    RemoveContainer(RemoveContainerRequest) -> RemoveContainerResponse, event: Some(Event::RemoveContainer), state_change_fallback: true;
    /// StateChange (deprecated).
    StateChange(StateChangeEvent) -> Empty, event: None, state_change_fallback: false;
    /// ValidateContainerAdjustment.
    ValidateContainerAdjustment(ValidateContainerAdjustmentRequest) -> ValidateContainerAdjustmentResponse, event: Some(Event::ValidateContainerAdjustment), state_change_fallback: false;
}

/// A call a plugin makes on the runtime's `Runtime` service.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeRequest {
    /// RegisterPlugin.
    RegisterPlugin(RegisterPluginRequest),
    /// UpdateContainers.
    UpdateContainers(UpdateContainersRequest),
}

/// The runtime's answer to a [`RuntimeRequest`].
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeResponse {
    /// RegisterPlugin.
    RegisterPlugin(Empty),
    /// UpdateContainers.
    UpdateContainers(UpdateContainersResponse),
}

impl RuntimeRequest {
    /// The method's name on the wire.
    pub fn method_name(&self) -> &'static str {
        match self {
            RuntimeRequest::RegisterPlugin(_) => "RegisterPlugin",
            RuntimeRequest::UpdateContainers(_) => "UpdateContainers",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nri_proto::event::EVENTS;

    #[test]
    fn every_event_but_validation_has_exactly_one_method() {
        for event in EVENTS {
            let methods: Vec<Method> = METHODS
                .iter()
                .copied()
                .filter(|m| m.event() == Some(event))
                .collect();
            assert_eq!(methods.len(), 1, "{event}");
            assert_eq!(methods[0].name(), event.name());
        }
    }

    #[test]
    fn nine_events_fall_back_to_state_change() {
        let fallback: Vec<&str> = METHODS
            .iter()
            .filter(|m| m.has_state_change_fallback())
            .map(|m| m.name())
            .collect();
        assert_eq!(fallback.len(), 9, "{fallback:?}");
        assert!(!fallback.contains(&"CreateContainer"));
        assert!(!fallback.contains(&"UpdatePodSandbox"));
    }

    #[test]
    fn responses_unwrap_only_for_their_own_method() {
        let reply = PluginResponse::Configure(Box::new(ConfigureResponse { events: 8 }));
        assert_eq!(
            ConfigureRequest::response_from(reply.clone()),
            Ok(ConfigureResponse { events: 8 })
        );
        assert_eq!(
            SynchronizeRequest::response_from(reply.clone()),
            Err(Box::new(reply))
        );
    }
}
