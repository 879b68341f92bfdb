//! Event requests that borrow the pod and container they are about.
//!
//! A runtime has its pods and containers; the protocol's request messages
//! own theirs. These borrowed forms encode to exactly the bytes of the
//! message they stand for, so a runtime can send an event without copying
//! the pod and container into a message first. Transports take them inside
//! [`PluginRequestRef`](super::PluginRequestRef).
//!
//! Copying a 3 KB container and its pod into the owned request, and
//! dropping the copy afterwards, was about a quarter of the runtime's CPU
//! time per event with one WASM plugin (perf profile of `nri-harness bench
//! --transport wasm --plugins 1`). Without the copies the bench measured
//! the runtime's CPU per event at 5.0 µs instead of 7.9 with one WASM
//! plugin and 14.2 µs instead of 17.1 with one ttrpc plugin (medians of 3,
//! alternated with the copying build).

use nri_proto::api::{
    Container, ContainerAdjustment, ContainerUpdate, OwningPlugins, PluginInstance,
    ValidateContainerAdjustmentRequest,
};
use nri_proto::api::{
    CreateContainerRequest, LinuxResources, PodSandbox, PostCreateContainerRequest,
    PostStartContainerRequest, PostUpdateContainerRequest, PostUpdatePodSandboxRequest,
    RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest, StartContainerRequest,
    StopContainerRequest, StopPodSandboxRequest, UpdateContainerRequest, UpdatePodSandboxRequest,
};
use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType, message};

/// Declares a borrowed request and implements `prost::Message` for it:
/// each message field (`optional`, or `repeated` as a slice) is encoded
/// under its field number, in field-number order, as prost encodes the
/// owned message. Decoding into a borrowed request leaves it as it was: it
/// has nowhere to put what it decodes.
macro_rules! borrowed_request {
    (
        $(#[$doc:meta])*
        $name:ident {
            $($(#[$field_doc:meta])* $kind:ident $field:ident: $type:ty = $tag:literal,)+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Default)]
        pub struct $name<'a> {
            $($(#[$field_doc])* pub $field: borrowed_field!(type $kind $type),)+
        }

        impl prost::Message for $name<'_> {
            fn encode_raw(&self, buf: &mut impl BufMut) {
                $(borrowed_field!(encode $kind self.$field, $tag, buf);)+
            }

            fn merge_field(
                &mut self,
                tag: u32,
                wire_type: WireType,
                buf: &mut impl Buf,
                ctx: DecodeContext,
            ) -> Result<(), prost::DecodeError> {
                // Nowhere to put what is decoded: it is skipped.
                prost::encoding::skip_field(wire_type, tag, buf, ctx)
            }

            fn encoded_len(&self) -> usize {
                0 $(+ borrowed_field!(len $kind self.$field, $tag))+
            }

            fn clear(&mut self) {
                $(borrowed_field!(clear $kind self.$field);)+
            }
        }

        impl $name<'_> {
            /// Appends the encoding to `out`, the bytes of
            /// [`encode_raw`](prost::Message::encode_raw), each message
            /// field without a length pass over it first
            /// ([`nri_proto::encode`]).
            fn append_fields(&self, out: &mut Vec<u8>) {
                $(borrowed_field!(append $kind self.$field, $tag, out);)+
            }
        }
    };
}

/// One field of [`borrowed_request!`].
macro_rules! borrowed_field {
    (type optional $type:ty) => {
        Option<&'a $type>
    };
    (type repeated $type:ty) => {
        &'a [$type]
    };
    (encode optional $value:expr, $tag:literal, $buf:ident) => {
        if let Some(value) = $value {
            message::encode($tag, value, $buf);
        }
    };
    (encode repeated $value:expr, $tag:literal, $buf:ident) => {
        message::encode_repeated($tag, $value, $buf)
    };
    (append optional $value:expr, $tag:literal, $out:ident) => {
        if let Some(value) = $value {
            nri_proto::encode::length_delimited($tag, $out, |out| prost::Message::encode_raw(value, out));
        }
    };
    (append repeated $value:expr, $tag:literal, $out:ident) => {
        for value in $value {
            nri_proto::encode::length_delimited($tag, $out, |out| prost::Message::encode_raw(value, out));
        }
    };
    (len optional $value:expr, $tag:literal) => {
        $value.map_or(0, |value| message::encoded_len($tag, value))
    };
    (len repeated $value:expr, $tag:literal) => {
        message::encoded_len_repeated($tag, $value)
    };
    (clear optional $value:expr) => {
        $value = None
    };
    (clear repeated $value:expr) => {
        $value = &[]
    };
}

borrowed_request! {
    /// The request of RunPodSandbox, PostUpdatePodSandbox, StopPodSandbox
    /// and RemovePodSandbox, with the pod borrowed.
    PodEventRef {
        /// The pod.
        optional pod: PodSandbox = 1,
    }
}

impl<'a> PodEventRef<'a> {
    /// The request about `pod`.
    pub fn new(pod: &'a PodSandbox) -> Self {
        PodEventRef { pod: Some(pod) }
    }
}

borrowed_request! {
    /// The request of UpdatePodSandbox, with the pod and resources borrowed.
    UpdatePodSandboxRef {
        /// The pod.
        optional pod: PodSandbox = 1,
        /// The pod's overhead resources.
        optional overhead_linux_resources: LinuxResources = 2,
        /// The pod's resources.
        optional linux_resources: LinuxResources = 3,
    }
}

borrowed_request! {
    /// The request of CreateContainer, PostCreateContainer, StartContainer,
    /// PostStartContainer, PostUpdateContainer, StopContainer and
    /// RemoveContainer, with the pod and container borrowed.
    ContainerEventRef {
        /// The container's pod.
        optional pod: PodSandbox = 1,
        /// The container.
        optional container: Container = 2,
    }
}

impl<'a> ContainerEventRef<'a> {
    /// The request about `container` of `pod`.
    pub fn new(pod: &'a PodSandbox, container: &'a Container) -> Self {
        ContainerEventRef {
            pod: Some(pod),
            container: Some(container),
        }
    }
}

borrowed_request! {
    /// The request of UpdateContainer, with the pod, container and requested
    /// resources borrowed.
    UpdateContainerRef {
        /// The container's pod.
        optional pod: PodSandbox = 1,
        /// The container.
        optional container: Container = 2,
        /// The requested resources.
        optional linux_resources: LinuxResources = 3,
    }
}

borrowed_request! {
    /// The request of ValidateContainerAdjustment, with the pod, container,
    /// merged adjustment and updates borrowed.
    ValidateContainerAdjustmentRef {
        /// The container's pod.
        optional pod: PodSandbox = 1,
        /// The container, as the runtime sent it.
        optional container: Container = 2,
        /// The merged adjustment.
        optional adjust: ContainerAdjustment = 3,
        /// The merged updates of other containers.
        repeated update: ContainerUpdate = 4,
        /// Who set what.
        optional owners: OwningPlugins = 5,
        /// The plugins consulted.
        repeated plugins: PluginInstance = 6,
    }
}

impl<'a> From<&'a ValidateContainerAdjustmentRequest> for ValidateContainerAdjustmentRef<'a> {
    fn from(message: &'a ValidateContainerAdjustmentRequest) -> Self {
        ValidateContainerAdjustmentRef {
            pod: message.pod.as_ref(),
            container: message.container.as_ref(),
            adjust: message.adjust.as_ref(),
            update: &message.update,
            owners: message.owners.as_ref(),
            plugins: &message.plugins,
        }
    }
}

impl From<ValidateContainerAdjustmentRef<'_>> for ValidateContainerAdjustmentRequest {
    fn from(view: ValidateContainerAdjustmentRef<'_>) -> Self {
        ValidateContainerAdjustmentRequest {
            pod: view.pod.cloned(),
            container: view.container.cloned(),
            adjust: view.adjust.cloned(),
            update: view.update.to_vec(),
            owners: view.owners.cloned(),
            plugins: view.plugins.to_vec(),
        }
    }
}

impl Borrowed<ValidateContainerAdjustmentRequest> for ValidateContainerAdjustmentRef<'_> {
    fn to_message(self) -> ValidateContainerAdjustmentRequest {
        self.into()
    }

    fn append_to(self, out: &mut Vec<u8>) {
        self.append_fields(out);
    }
}

impl super::BorrowRequest<ValidateContainerAdjustmentRequest>
    for ValidateContainerAdjustmentRef<'_>
{
    fn borrow_request(&self) -> ValidateContainerAdjustmentRef<'_> {
        *self
    }
}

/// A request in the form [`PluginRequestRef`](super::PluginRequestRef)
/// carries for its method: the message itself, or its borrowed form.
pub(super) trait Borrowed<M>: Copy {
    /// An owned copy.
    fn to_message(self) -> M;

    /// Appends the encoding of the request to `out`.
    fn append_to(self, out: &mut Vec<u8>);
}

impl<M: Clone + prost::Message> Borrowed<M> for &M {
    fn to_message(self) -> M {
        self.clone()
    }

    fn append_to(self, out: &mut Vec<u8>) {
        self.encode_raw(out);
    }
}

/// `$view` stands for `$message`: it converts from a reference to the
/// message and back into an owned copy, field by field.
macro_rules! stands_for {
    ($view:ident $fields:tt => $($message:ty),+ $(,)?) => {
        $(stands_for!(@one $view $fields $message);)+
    };
    (@one $view:ident { $($field:ident),+ } $message:ty) => {
        impl<'a> From<&'a $message> for $view<'a> {
            fn from(message: &'a $message) -> Self {
                $view { $($field: message.$field.as_ref()),+ }
            }
        }

        impl Borrowed<$message> for $view<'_> {
            fn to_message(self) -> $message {
                <$message>::from(self)
            }

            fn append_to(self, out: &mut Vec<u8>) {
                self.append_fields(out);
            }
        }

        impl super::BorrowRequest<$message> for $view<'_> {
            fn borrow_request(&self) -> $view<'_> {
                *self
            }
        }

        impl From<$view<'_>> for $message {
            fn from(view: $view<'_>) -> Self {
                Self { $($field: view.$field.cloned()),+ }
            }
        }
    };
}

stands_for!(PodEventRef { pod } =>
    RunPodSandboxRequest,
    PostUpdatePodSandboxRequest,
    StopPodSandboxRequest,
    RemovePodSandboxRequest,
);
stands_for!(UpdatePodSandboxRef { pod, overhead_linux_resources, linux_resources } =>
    UpdatePodSandboxRequest,
);
stands_for!(ContainerEventRef { pod, container } =>
    CreateContainerRequest,
    PostCreateContainerRequest,
    StartContainerRequest,
    PostStartContainerRequest,
    PostUpdateContainerRequest,
    StopContainerRequest,
    RemoveContainerRequest,
);
stands_for!(UpdateContainerRef { pod, container, linux_resources } =>
    UpdateContainerRequest,
);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use nri_proto::api::{Hook, Hooks, LinuxContainer, LinuxCpu, LinuxPodSandbox, Mount};
    use nri_proto::builders::{ContainerBuilder, PodBuilder};
    use proptest::prelude::*;

    use super::*;
    use crate::transport::{METHODS, Method, PluginRequest, PluginRpc};

    /// One owned request of every method the borrowed forms stand for,
    /// about `pod` and `container`.
    fn owned_events(
        pod: Option<&PodSandbox>,
        container: Option<&Container>,
        resources: Option<&LinuxResources>,
        overhead: Option<&LinuxResources>,
    ) -> Vec<PluginRequest> {
        let (pod, container) = (pod.cloned(), container.cloned());
        let resources = resources.cloned();
        macro_rules! pod_event {
            ($request:ident) => {
                $request { pod: pod.clone() }.into_request()
            };
        }
        macro_rules! container_event {
            ($request:ident) => {
                $request {
                    pod: pod.clone(),
                    container: container.clone(),
                }
                .into_request()
            };
        }
        vec![
            pod_event!(RunPodSandboxRequest),
            UpdatePodSandboxRequest {
                pod: pod.clone(),
                overhead_linux_resources: overhead.cloned(),
                linux_resources: resources.clone(),
            }
            .into_request(),
            pod_event!(PostUpdatePodSandboxRequest),
            pod_event!(StopPodSandboxRequest),
            pod_event!(RemovePodSandboxRequest),
            container_event!(CreateContainerRequest),
            container_event!(PostCreateContainerRequest),
            container_event!(StartContainerRequest),
            container_event!(PostStartContainerRequest),
            UpdateContainerRequest {
                pod: pod.clone(),
                container: container.clone(),
                linux_resources: resources,
            }
            .into_request(),
            container_event!(PostUpdateContainerRequest),
            container_event!(StopContainerRequest),
            container_event!(RemoveContainerRequest),
            ValidateContainerAdjustmentRequest {
                pod: pod.clone(),
                container: container.clone(),
                adjust: container.as_ref().map(|container| ContainerAdjustment {
                    annotations: container.annotations.clone(),
                    args: container.args.clone(),
                    ..Default::default()
                }),
                update: container
                    .iter()
                    .map(|container| ContainerUpdate {
                        container_id: container.id.clone(),
                        ..Default::default()
                    })
                    .collect(),
                owners: pod.as_ref().map(|_| OwningPlugins::default()),
                plugins: pod
                    .iter()
                    .map(|pod| PluginInstance {
                        name: pod.name.clone(),
                        index: pod.uid.clone(),
                    })
                    .collect(),
            }
            .into_request(),
        ]
    }

    /// The borrowed form of `request` encodes to the owned message's bytes
    /// (prost's derived encoding), and copies back into the same message.
    fn check_borrowed_encoding(request: &PluginRequest) {
        let method = request.method().name();
        let mut owned = Vec::new();
        request.encode(&mut owned).unwrap();
        let borrowed = request.borrowed();
        assert_eq!(borrowed.encoded_len(), owned.len(), "{method}");
        let mut raw = Vec::new();
        borrowed.encode_raw(&mut raw);
        assert_eq!(raw, owned, "{method}");
        let mut checked = Vec::new();
        borrowed.encode(&mut checked).unwrap();
        assert_eq!(checked, owned, "{method}");
        let mut appended = vec![0xaa];
        borrowed.append_to(&mut appended);
        assert_eq!(appended[1..], owned, "{method}");
        assert_eq!(&borrowed.to_owned(), request, "{method}");
    }

    fn realistic() -> (PodSandbox, Container, LinuxResources) {
        let pod = PodBuilder::new("web").build();
        let container = ContainerBuilder::new(&pod, "app").build();
        let resources = container
            .linux
            .as_ref()
            .and_then(|linux| linux.resources.clone())
            .unwrap();
        (pod, container, resources)
    }

    #[test]
    fn every_event_has_a_borrowed_form_that_encodes_like_its_message() {
        let (pod, container, resources) = realistic();
        let requests = owned_events(Some(&pod), Some(&container), Some(&resources), None);
        let mut methods: Vec<Method> = requests.iter().map(PluginRequest::method).collect();
        methods.sort();
        let mut events: Vec<Method> = METHODS
            .iter()
            .copied()
            .filter(|m| m.event().is_some())
            .collect();
        events.sort();
        assert_eq!(methods, events);
        for request in &requests {
            check_borrowed_encoding(request);
        }
        for request in owned_events(None, None, None, None) {
            check_borrowed_encoding(&request);
        }
    }

    #[test]
    fn the_runtime_s_own_pod_and_container_encode_like_a_request_holding_copies() {
        let (pod, container, _) = realistic();
        let owned = CreateContainerRequest {
            pod: Some(pod.clone()),
            container: Some(container.clone()),
        };
        let borrowed =
            CreateContainerRequest::request_ref(ContainerEventRef::new(&pod, &container));
        let mut bytes = Vec::new();
        borrowed.encode_raw(&mut bytes);
        assert_eq!(bytes, prost::Message::encode_to_vec(&owned));
        assert_eq!(borrowed.to_owned(), owned.into_request());
    }

    #[test]
    fn decoding_into_a_borrowed_request_leaves_it_as_it_was() {
        let (pod, container, _) = realistic();
        let mut view = ContainerEventRef::new(&pod, &container);
        let bytes = prost::Message::encode_to_vec(&view);
        prost::Message::merge(&mut view, &bytes[..]).unwrap();
        assert_eq!(view, ContainerEventRef::new(&pod, &container));
        prost::Message::clear(&mut view);
        assert_eq!(view, ContainerEventRef::default());
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-z0-9./=-]{0,12}"
    }

    fn map() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map(text(), text(), 0..4)
    }

    fn resources() -> impl Strategy<Value = LinuxResources> {
        (prop::option::of((text(), text())), map()).prop_map(|(cpu, unified)| LinuxResources {
            cpu: cpu.map(|(cpus, mems)| LinuxCpu {
                cpus,
                mems,
                ..Default::default()
            }),
            unified,
            ..Default::default()
        })
    }

    fn pods() -> impl Strategy<Value = PodSandbox> {
        (
            (text(), text(), text(), text()),
            (map(), map()),
            any::<u32>(),
            prop::collection::vec(text(), 0..3),
            prop::option::of((text(), prop::option::of(resources()))),
        )
            .prop_map(
                |((id, name, uid, namespace), (labels, annotations), pid, ips, linux)| PodSandbox {
                    id,
                    name,
                    uid,
                    namespace,
                    labels,
                    annotations,
                    pid,
                    ips,
                    linux: linux.map(|(cgroup_parent, resources)| LinuxPodSandbox {
                        cgroup_parent,
                        resources,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
    }

    fn containers() -> impl Strategy<Value = Container> {
        (
            (text(), text(), text(), 0..4i32),
            (map(), map()),
            (
                prop::collection::vec(text(), 0..4),
                prop::collection::vec(text(), 0..4),
            ),
            prop::collection::vec((text(), text()), 0..3),
            prop::option::of(prop::collection::vec(text(), 0..2)),
            prop::option::of((text(), prop::option::of(resources()), map())),
            (any::<u32>(), any::<i64>(), any::<i32>()),
        )
            .prop_map(
                |(
                    (id, pod_sandbox_id, name, state),
                    (labels, annotations),
                    (args, env),
                    mounts,
                    hooks,
                    linux,
                    (pid, created_at, exit_code),
                )| Container {
                    id,
                    pod_sandbox_id,
                    name,
                    state,
                    labels,
                    annotations,
                    args,
                    env,
                    mounts: mounts
                        .into_iter()
                        .map(|(destination, source)| Mount {
                            destination,
                            source,
                            ..Default::default()
                        })
                        .collect(),
                    hooks: hooks.map(|paths| Hooks {
                        prestart: paths
                            .into_iter()
                            .map(|path| Hook {
                                path,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }),
                    linux: linux.map(|(cgroups_path, resources, sysctl)| LinuxContainer {
                        cgroups_path,
                        resources,
                        sysctl,
                        ..Default::default()
                    }),
                    pid,
                    created_at,
                    exit_code,
                    ..Default::default()
                },
            )
    }

    proptest! {
        #[test]
        fn borrowed_requests_encode_like_their_messages(
            pod in prop::option::of(pods()),
            container in prop::option::of(containers()),
            resources in prop::option::of(resources()),
            overhead in prop::option::of(resources()),
        ) {
            let requests = owned_events(
                pod.as_ref(),
                container.as_ref(),
                resources.as_ref(),
                overhead.as_ref(),
            );
            for request in &requests {
                check_borrowed_encoding(request);
            }
        }
    }
}
