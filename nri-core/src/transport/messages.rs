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
use prost::Message as _;

use super::SynchronizeRef;
use super::borrowed::{
    Borrowed, ContainerEventRef, PodEventRef, UpdateContainerRef, UpdatePodSandboxRef,
    ValidateContainerAdjustmentRef,
};
use prost::bytes::Buf;

/// Why a message payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The service has no method of this name.
    #[error("unknown method {0:?}")]
    UnknownMethod(String),
    /// The bytes are not a valid message of the method's type.
    #[error("cannot decode the {method} payload: {source}")]
    Decode {
        /// The method whose message was being decoded.
        method: &'static str,
        /// What the decoder found.
        source: nri_proto::decode::DecodeError,
    },
}

/// Decodes a payload with nri-proto's single-pass decoder (`decode`, or
/// `decode_boxed` for the message enums' boxes), straight from the
/// payload's bytes when they are contiguous (as every transport's are).
fn decode_with<T>(
    method: &'static str,
    mut payload: impl Buf,
    decode: fn(&[u8]) -> Result<T, nri_proto::decode::DecodeError>,
) -> Result<T, PayloadError> {
    let decoded = if payload.chunk().len() == payload.remaining() {
        decode(payload.chunk())
    } else {
        decode(&payload.copy_to_bytes(payload.remaining()))
    };
    decoded.map_err(|source| PayloadError::Decode { method, source })
}

fn decode<M: nri_proto::decode::Decode>(
    method: &'static str,
    payload: impl Buf,
) -> Result<M, PayloadError> {
    decode_with(method, payload, nri_proto::decode::decode)
}

fn decode_boxed<M: nri_proto::decode::Decode>(
    method: &'static str,
    payload: impl Buf,
) -> Result<Box<M>, PayloadError> {
    decode_with(method, payload, nri_proto::decode::decode_boxed)
}

/// A request type of the `Plugin` service and its response type.
pub trait PluginRpc: Sized {
    /// The response type.
    type Response;
    /// The request as [`PluginRequestRef`] carries it: a reference, or for
    /// an event its borrowed form (such as
    /// [`ContainerEventRef`]).
    type Borrowed<'a>: Copy + Send + Sync + std::fmt::Debug
    where
        Self: 'a;
    /// The method this request type belongs to.
    const METHOD: Method;
    /// Wraps the request.
    fn into_request(self) -> PluginRequest;
    /// The request, borrowed.
    fn borrowed(&self) -> Self::Borrowed<'_>;
    /// Wraps a borrowed request of this method.
    fn request_ref(request: Self::Borrowed<'_>) -> PluginRequestRef<'_>;
    /// Wraps a reference to the request, to send it without a copy.
    fn as_request(&self) -> PluginRequestRef<'_> {
        Self::request_ref(self.borrowed())
    }
    /// Unwraps the matching response, or gives back a mismatched one.
    fn response_from(response: PluginResponse) -> Result<Self::Response, Box<PluginResponse>>;
}

/// A request of type `R` in any form a runtime holds it: the message, a
/// reference to it, or its borrowed form (for events, the runtime's own pod
/// and container, as [`ContainerEventRef`] holds them). The adaptation's
/// event methods take one.
pub trait BorrowRequest<R: PluginRpc>: Send + Sync {
    /// The request, borrowed.
    fn borrow_request(&self) -> R::Borrowed<'_>;
}

impl<R: PluginRpc + Send + Sync> BorrowRequest<R> for R {
    fn borrow_request(&self) -> R::Borrowed<'_> {
        self.borrowed()
    }
}

impl<R: PluginRpc + Send + Sync> BorrowRequest<R> for &R {
    fn borrow_request(&self) -> R::Borrowed<'_> {
        (**self).borrowed()
    }
}

macro_rules! plugin_methods {
    ($(
        $(#[$doc:meta])*
        $method:ident($request:ty as $borrowed:ty) -> $response:ty, event: $event:expr, state_change_fallback: $fallback:expr;
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

            /// The method with this wire name.
            pub fn from_name(name: &str) -> Option<Method> {
                match name {
                    $(stringify!($method) => Some(Method::$method),)*
                    _ => None,
                }
            }

            /// Whether a plugin that does not implement this method (NRI
            /// v0.11 and older) gets the event through `StateChange` instead
            /// (containerd/nri `pkg/adaptation/plugin_type.go`).
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

        /// A request to a plugin, borrowed: what a runtime sends. A wire
        /// transport serializes it where it is; the runtime keeps the
        /// request for the next plugin instead of copying it for each.
        /// Events carry their borrowed form ([`ContainerEventRef`] and others), which
        /// encodes to the bytes of the owned message: the runtime's pod and
        /// container go to the wire without a copy.
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum PluginRequestRef<'a> {
            $($(#[$doc])* $method($borrowed),)*
        }

        /// A plugin's reply. Payloads are boxed like [`PluginRequest`]'s.
        #[derive(Debug, Clone, PartialEq)]
        pub enum PluginResponse {
            $($(#[$doc])* $method(Box<$response>),)*
        }

        impl PluginRequestRef<'_> {
            /// The method this request calls.
            pub fn method(self) -> Method {
                match self {
                    $(PluginRequestRef::$method(_) => Method::$method,)*
                }
            }

            /// Length of the protobuf encoding of the payload.
            pub fn encoded_len(self) -> usize {
                match self {
                    $(PluginRequestRef::$method(m) => m.encoded_len(),)*
                }
            }

            /// Appends the protobuf encoding of the payload to `buf`.
            pub fn encode(self, buf: &mut impl prost::bytes::BufMut) -> Result<(), prost::EncodeError> {
                match self {
                    $(PluginRequestRef::$method(m) => m.encode(buf),)*
                }
            }

            /// Appends the protobuf encoding of the payload to a buffer that
            /// grows as needed (`Vec`, `BytesMut`), without the length pass
            /// [`encode`](Self::encode) makes to check for room.
            pub fn encode_raw(self, buf: &mut impl prost::bytes::BufMut) {
                match self {
                    $(PluginRequestRef::$method(m) => m.encode_raw(buf),)*
                }
            }

            /// Appends the protobuf encoding of the payload to `out`: the
            /// bytes of [`encode_raw`](Self::encode_raw), an event's pod and
            /// container written without a length pass over each
            /// ([`nri_proto::encode`]), which a wire transport that
            /// serializes into a `Vec` saves.
            pub fn append_to(self, out: &mut Vec<u8>) {
                match self {
                    $(PluginRequestRef::$method(m) => Borrowed::<$request>::append_to(m, out),)*
                }
            }

            /// An owned copy, for a transport that hands the request on
            /// (such as the in-process one).
            pub fn to_owned(self) -> PluginRequest {
                match self {
                    $(PluginRequestRef::$method(m) => PluginRequest::$method(Box::new(Borrowed::<$request>::to_message(m))),)*
                }
            }
        }

        impl PluginRequest {
            /// The method this request calls.
            pub fn method(&self) -> Method {
                match self {
                    $(PluginRequest::$method(_) => Method::$method,)*
                }
            }

            /// The request, borrowed, as connections take it.
            pub fn borrowed<'a>(&'a self) -> PluginRequestRef<'a> {
                match self {
                    $(PluginRequest::$method(m) => PluginRequestRef::$method(<$borrowed>::from(&**m)),)*
                }
            }

            /// Length of the protobuf encoding of the payload.
            pub fn encoded_len(&self) -> usize {
                match self {
                    $(PluginRequest::$method(m) => m.encoded_len(),)*
                }
            }

            /// Appends the protobuf encoding of the payload to `buf`.
            pub fn encode(&self, buf: &mut impl prost::bytes::BufMut) -> Result<(), prost::EncodeError> {
                match self {
                    $(PluginRequest::$method(m) => m.encode(buf),)*
                }
            }

            /// Appends the protobuf encoding of the payload to a buffer that
            /// grows as needed (`Vec`, `BytesMut`), without the length pass
            /// [`encode`](Self::encode) makes to check for room.
            pub fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
                match self {
                    $(PluginRequest::$method(m) => prost::Message::encode_raw(m, buf),)*
                }
            }

            /// Decodes the payload of a call of `method`.
            pub fn decode(method: Method, payload: impl Buf) -> Result<Self, PayloadError> {
                match method {
                    $(Method::$method => Ok(PluginRequest::$method(decode_boxed(stringify!($method), payload)?)),)*
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

            /// Length of the protobuf encoding of the payload.
            pub fn encoded_len(&self) -> usize {
                match self {
                    $(PluginResponse::$method(m) => m.encoded_len(),)*
                }
            }

            /// Appends the protobuf encoding of the payload to `buf`.
            pub fn encode(&self, buf: &mut impl prost::bytes::BufMut) -> Result<(), prost::EncodeError> {
                match self {
                    $(PluginResponse::$method(m) => m.encode(buf),)*
                }
            }

            /// Appends the protobuf encoding of the payload to a buffer that
            /// grows as needed (`Vec`, `BytesMut`), without the length pass
            /// [`encode`](Self::encode) makes to check for room.
            pub fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
                match self {
                    $(PluginResponse::$method(m) => prost::Message::encode_raw(m, buf),)*
                }
            }

            /// Decodes the reply to a call of `method`.
            pub fn decode(method: Method, payload: impl Buf) -> Result<Self, PayloadError> {
                match method {
                    $(Method::$method => Ok(PluginResponse::$method(decode_boxed(stringify!($method), payload)?)),)*
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

                type Borrowed<'a> = $borrowed;

                fn borrowed<'a>(&'a self) -> $borrowed {
                    <$borrowed>::from(self)
                }

                fn request_ref<'a>(request: Self::Borrowed<'a>) -> PluginRequestRef<'a> {
                    PluginRequestRef::$method(request)
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
    Configure(ConfigureRequest as &'a ConfigureRequest) -> ConfigureResponse, event: None, state_change_fallback: false;
    /// Synchronize.
    Synchronize(SynchronizeRequest as SynchronizeRef<'a>) -> SynchronizeResponse, event: None, state_change_fallback: false;
    /// Shutdown.
    Shutdown(Empty as &'a Empty) -> Empty, event: None, state_change_fallback: false;
    /// RunPodSandbox.
    RunPodSandbox(RunPodSandboxRequest as PodEventRef<'a>) -> RunPodSandboxResponse, event: Some(Event::RunPodSandbox), state_change_fallback: true;
    /// UpdatePodSandbox.
    UpdatePodSandbox(UpdatePodSandboxRequest as UpdatePodSandboxRef<'a>) -> UpdatePodSandboxResponse, event: Some(Event::UpdatePodSandbox), state_change_fallback: false;
    /// PostUpdatePodSandbox.
    PostUpdatePodSandbox(PostUpdatePodSandboxRequest as PodEventRef<'a>) -> PostUpdatePodSandboxResponse, event: Some(Event::PostUpdatePodSandbox), state_change_fallback: true;
    /// StopPodSandbox.
    StopPodSandbox(StopPodSandboxRequest as PodEventRef<'a>) -> StopPodSandboxResponse, event: Some(Event::StopPodSandbox), state_change_fallback: true;
    /// RemovePodSandbox.
    RemovePodSandbox(RemovePodSandboxRequest as PodEventRef<'a>) -> RemovePodSandboxResponse, event: Some(Event::RemovePodSandbox), state_change_fallback: true;
    /// CreateContainer.
    CreateContainer(CreateContainerRequest as ContainerEventRef<'a>) -> CreateContainerResponse, event: Some(Event::CreateContainer), state_change_fallback: false;
    /// PostCreateContainer.
    PostCreateContainer(PostCreateContainerRequest as ContainerEventRef<'a>) -> PostCreateContainerResponse, event: Some(Event::PostCreateContainer), state_change_fallback: true;
    /// StartContainer.
    StartContainer(StartContainerRequest as ContainerEventRef<'a>) -> StartContainerResponse, event: Some(Event::StartContainer), state_change_fallback: true;
    /// PostStartContainer.
    PostStartContainer(PostStartContainerRequest as ContainerEventRef<'a>) -> PostStartContainerResponse, event: Some(Event::PostStartContainer), state_change_fallback: true;
    /// UpdateContainer.
    UpdateContainer(UpdateContainerRequest as UpdateContainerRef<'a>) -> UpdateContainerResponse, event: Some(Event::UpdateContainer), state_change_fallback: false;
    /// PostUpdateContainer.
    PostUpdateContainer(PostUpdateContainerRequest as ContainerEventRef<'a>) -> PostUpdateContainerResponse, event: Some(Event::PostUpdateContainer), state_change_fallback: true;
    /// StopContainer.
    StopContainer(StopContainerRequest as ContainerEventRef<'a>) -> StopContainerResponse, event: Some(Event::StopContainer), state_change_fallback: false;
    /// RemoveContainer.
    RemoveContainer(RemoveContainerRequest as ContainerEventRef<'a>) -> RemoveContainerResponse, event: Some(Event::RemoveContainer), state_change_fallback: true;
    /// StateChange (deprecated).
    StateChange(StateChangeEvent as &'a StateChangeEvent) -> Empty, event: None, state_change_fallback: false;
    /// ValidateContainerAdjustment.
    ValidateContainerAdjustment(ValidateContainerAdjustmentRequest as ValidateContainerAdjustmentRef<'a>) -> ValidateContainerAdjustmentResponse, event: Some(Event::ValidateContainerAdjustment), state_change_fallback: false;
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

const REGISTER_PLUGIN: &str = "RegisterPlugin";
const UPDATE_CONTAINERS: &str = "UpdateContainers";

impl RuntimeRequest {
    /// The method's name on the wire.
    pub fn method_name(&self) -> &'static str {
        match self {
            RuntimeRequest::RegisterPlugin(_) => REGISTER_PLUGIN,
            RuntimeRequest::UpdateContainers(_) => UPDATE_CONTAINERS,
        }
    }

    /// Length of the protobuf encoding of the payload.
    pub fn encoded_len(&self) -> usize {
        match self {
            RuntimeRequest::RegisterPlugin(m) => m.encoded_len(),
            RuntimeRequest::UpdateContainers(m) => m.encoded_len(),
        }
    }

    /// Appends the protobuf encoding of the payload to `buf`.
    pub fn encode(&self, buf: &mut impl prost::bytes::BufMut) -> Result<(), prost::EncodeError> {
        match self {
            RuntimeRequest::RegisterPlugin(m) => m.encode(buf),
            RuntimeRequest::UpdateContainers(m) => m.encode(buf),
        }
    }

    /// Appends the protobuf encoding of the payload to a buffer that
    /// grows as needed (`Vec`, `BytesMut`), without the length pass
    /// [`encode`](Self::encode) makes to check for room.
    pub fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        match self {
            RuntimeRequest::RegisterPlugin(m) => prost::Message::encode_raw(m, buf),
            RuntimeRequest::UpdateContainers(m) => prost::Message::encode_raw(m, buf),
        }
    }

    /// Decodes a call of the method named `method`.
    pub fn decode(method: &str, payload: impl Buf) -> Result<Self, PayloadError> {
        match method {
            REGISTER_PLUGIN => Ok(RuntimeRequest::RegisterPlugin(decode(
                REGISTER_PLUGIN,
                payload,
            )?)),
            UPDATE_CONTAINERS => Ok(RuntimeRequest::UpdateContainers(decode(
                UPDATE_CONTAINERS,
                payload,
            )?)),
            other => Err(PayloadError::UnknownMethod(other.to_string())),
        }
    }
}

impl RuntimeResponse {
    /// The method's name on the wire.
    pub fn method_name(&self) -> &'static str {
        match self {
            RuntimeResponse::RegisterPlugin(_) => REGISTER_PLUGIN,
            RuntimeResponse::UpdateContainers(_) => UPDATE_CONTAINERS,
        }
    }

    /// Length of the protobuf encoding of the payload.
    pub fn encoded_len(&self) -> usize {
        match self {
            RuntimeResponse::RegisterPlugin(m) => m.encoded_len(),
            RuntimeResponse::UpdateContainers(m) => m.encoded_len(),
        }
    }

    /// Appends the protobuf encoding of the payload to `buf`.
    pub fn encode(&self, buf: &mut impl prost::bytes::BufMut) -> Result<(), prost::EncodeError> {
        match self {
            RuntimeResponse::RegisterPlugin(m) => m.encode(buf),
            RuntimeResponse::UpdateContainers(m) => m.encode(buf),
        }
    }

    /// Appends the protobuf encoding of the payload to a buffer that
    /// grows as needed (`Vec`, `BytesMut`), without the length pass
    /// [`encode`](Self::encode) makes to check for room.
    pub fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
        match self {
            RuntimeResponse::RegisterPlugin(m) => prost::Message::encode_raw(m, buf),
            RuntimeResponse::UpdateContainers(m) => prost::Message::encode_raw(m, buf),
        }
    }

    /// Decodes the reply to a call of the method named `method`.
    pub fn decode(method: &str, payload: impl Buf) -> Result<Self, PayloadError> {
        match method {
            REGISTER_PLUGIN => Ok(RuntimeResponse::RegisterPlugin(decode(
                REGISTER_PLUGIN,
                payload,
            )?)),
            UPDATE_CONTAINERS => Ok(RuntimeResponse::UpdateContainers(decode(
                UPDATE_CONTAINERS,
                payload,
            )?)),
            other => Err(PayloadError::UnknownMethod(other.to_string())),
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
    fn every_method_round_trips_through_its_wire_name_and_encoding() {
        for &method in METHODS {
            assert_eq!(Method::from_name(method.name()), Some(method));
            let request = PluginRequest::decode(method, &[][..]).unwrap();
            assert_eq!(request.method(), method);
            let mut buf = Vec::new();
            request.encode(&mut buf).unwrap();
            assert_eq!(buf.len(), request.encoded_len());
            let reply = PluginResponse::decode(method, &buf[..]).unwrap();
            assert_eq!(reply.method(), method);
        }
        assert_eq!(Method::from_name("Nope"), None);
    }

    #[test]
    fn runtime_calls_decode_by_name_and_reject_garbage() {
        let request = RuntimeRequest::RegisterPlugin(RegisterPluginRequest {
            plugin_name: "x".into(),
            plugin_idx: "10".into(),
            ..Default::default()
        });
        let mut buf = Vec::new();
        request.encode(&mut buf).unwrap();
        assert_eq!(
            RuntimeRequest::decode("RegisterPlugin", &buf[..]).unwrap(),
            request
        );
        assert!(matches!(
            RuntimeRequest::decode("Frobnicate", &buf[..]),
            Err(PayloadError::UnknownMethod(_))
        ));
        assert!(matches!(
            RuntimeRequest::decode("RegisterPlugin", &[0xff, 0xff][..]),
            Err(PayloadError::Decode { .. })
        ));
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
