//! What a [`FakeCriRuntime`](super::FakeCriRuntime) records: the
//! `RuntimeService` calls it handled ([`Call`]), the requests of every
//! other path it echoed ([`RawCall`]), and the error of a wait that ran
//! out ([`Timeout`]).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use nri_cri::cri::{
    ContainerStatusRequest, CreateContainerRequest, ListContainersRequest, ListPodSandboxRequest,
    PodSandboxStatusRequest, RemoveContainerRequest, RemovePodSandboxRequest, RunPodSandboxRequest,
    StartContainerRequest, StopContainerRequest, StopPodSandboxRequest,
    UpdateContainerResourcesRequest, UpdatePodSandboxResourcesRequest, VersionRequest,
};

/// The gRPC service the fake implements.
const SERVICE: &str = "runtime.v1.RuntimeService";

/// A method of our CRI `RuntimeService` (`nri-cri/schema/cri.proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `Version`.
    Version,
    /// `RunPodSandbox`.
    RunPodSandbox,
    /// `StopPodSandbox`.
    StopPodSandbox,
    /// `RemovePodSandbox`.
    RemovePodSandbox,
    /// `PodSandboxStatus`.
    PodSandboxStatus,
    /// `ListPodSandbox`.
    ListPodSandbox,
    /// `CreateContainer`.
    CreateContainer,
    /// `StartContainer`.
    StartContainer,
    /// `StopContainer`.
    StopContainer,
    /// `RemoveContainer`.
    RemoveContainer,
    /// `ListContainers`.
    ListContainers,
    /// `ContainerStatus`.
    ContainerStatus,
    /// `UpdateContainerResources`.
    UpdateContainerResources,
    /// `UpdatePodSandboxResources`.
    UpdatePodSandboxResources,
}

impl Method {
    /// Every method, in the order of the schema.
    pub const ALL: [Method; 14] = [
        Method::Version,
        Method::RunPodSandbox,
        Method::StopPodSandbox,
        Method::RemovePodSandbox,
        Method::PodSandboxStatus,
        Method::ListPodSandbox,
        Method::CreateContainer,
        Method::StartContainer,
        Method::StopContainer,
        Method::RemoveContainer,
        Method::ListContainers,
        Method::ContainerStatus,
        Method::UpdateContainerResources,
        Method::UpdatePodSandboxResources,
    ];

    /// The method's gRPC name, e.g. `CreateContainer`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Version => "Version",
            Method::RunPodSandbox => "RunPodSandbox",
            Method::StopPodSandbox => "StopPodSandbox",
            Method::RemovePodSandbox => "RemovePodSandbox",
            Method::PodSandboxStatus => "PodSandboxStatus",
            Method::ListPodSandbox => "ListPodSandbox",
            Method::CreateContainer => "CreateContainer",
            Method::StartContainer => "StartContainer",
            Method::StopContainer => "StopContainer",
            Method::RemoveContainer => "RemoveContainer",
            Method::ListContainers => "ListContainers",
            Method::ContainerStatus => "ContainerStatus",
            Method::UpdateContainerResources => "UpdateContainerResources",
            Method::UpdatePodSandboxResources => "UpdatePodSandboxResources",
        }
    }

    /// The HTTP/2 path of the method, e.g.
    /// `/runtime.v1.RuntimeService/CreateContainer`.
    pub fn path(self) -> String {
        format!("/{SERVICE}/{}", self.name())
    }

    /// The method whose HTTP/2 path is `path`, if it is one of ours.
    pub fn from_path(path: &str) -> Option<Method> {
        let name = path
            .strip_prefix('/')?
            .strip_prefix(SERVICE)?
            .strip_prefix('/')?;
        Method::ALL.into_iter().find(|method| method.name() == name)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The request of a recorded call, typed.
///
/// Each variant holds the request of the method it is named after,
/// unboxed so that tests match on it directly (records are few; their
/// size does not matter).
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs, clippy::large_enum_variant)]
pub enum CriRequest {
    Version(VersionRequest),
    RunPodSandbox(RunPodSandboxRequest),
    StopPodSandbox(StopPodSandboxRequest),
    RemovePodSandbox(RemovePodSandboxRequest),
    PodSandboxStatus(PodSandboxStatusRequest),
    ListPodSandbox(ListPodSandboxRequest),
    CreateContainer(CreateContainerRequest),
    StartContainer(StartContainerRequest),
    StopContainer(StopContainerRequest),
    RemoveContainer(RemoveContainerRequest),
    ListContainers(ListContainersRequest),
    ContainerStatus(ContainerStatusRequest),
    UpdateContainerResources(UpdateContainerResourcesRequest),
    UpdatePodSandboxResources(UpdatePodSandboxResourcesRequest),
}

impl CriRequest {
    /// The method this request is for.
    pub fn method(&self) -> Method {
        match self {
            CriRequest::Version(_) => Method::Version,
            CriRequest::RunPodSandbox(_) => Method::RunPodSandbox,
            CriRequest::StopPodSandbox(_) => Method::StopPodSandbox,
            CriRequest::RemovePodSandbox(_) => Method::RemovePodSandbox,
            CriRequest::PodSandboxStatus(_) => Method::PodSandboxStatus,
            CriRequest::ListPodSandbox(_) => Method::ListPodSandbox,
            CriRequest::CreateContainer(_) => Method::CreateContainer,
            CriRequest::StartContainer(_) => Method::StartContainer,
            CriRequest::StopContainer(_) => Method::StopContainer,
            CriRequest::RemoveContainer(_) => Method::RemoveContainer,
            CriRequest::ListContainers(_) => Method::ListContainers,
            CriRequest::ContainerStatus(_) => Method::ContainerStatus,
            CriRequest::UpdateContainerResources(_) => Method::UpdateContainerResources,
            CriRequest::UpdatePodSandboxResources(_) => Method::UpdatePodSandboxResources,
        }
    }

    /// The pod sandbox or container id the request names: the pod of
    /// pod calls and of CreateContainer, the container of container calls;
    /// `None` for Version, RunPodSandbox and the listings.
    pub fn subject_id(&self) -> Option<&str> {
        match self {
            CriRequest::Version(_)
            | CriRequest::RunPodSandbox(_)
            | CriRequest::ListPodSandbox(_)
            | CriRequest::ListContainers(_) => None,
            CriRequest::StopPodSandbox(r) => Some(&r.pod_sandbox_id),
            CriRequest::RemovePodSandbox(r) => Some(&r.pod_sandbox_id),
            CriRequest::PodSandboxStatus(r) => Some(&r.pod_sandbox_id),
            CriRequest::CreateContainer(r) => Some(&r.pod_sandbox_id),
            CriRequest::UpdatePodSandboxResources(r) => Some(&r.pod_sandbox_id),
            CriRequest::StartContainer(r) => Some(&r.container_id),
            CriRequest::StopContainer(r) => Some(&r.container_id),
            CriRequest::RemoveContainer(r) => Some(&r.container_id),
            CriRequest::ContainerStatus(r) => Some(&r.container_id),
            CriRequest::UpdateContainerResources(r) => Some(&r.container_id),
        }
    }
}

/// A `RuntimeService` call the fake handled, recorded once it was
/// answered (so the state it changed is visible when a wait returns it).
#[derive(Debug, Clone)]
pub struct Call {
    /// The request.
    pub request: CriRequest,
    /// The request's gRPC metadata (its HTTP/2 headers but the reserved
    /// ones).
    pub metadata: tonic::metadata::MetadataMap,
    /// The error the call was answered with; `None` when it succeeded.
    pub error: Option<tonic::Status>,
}

impl Call {
    /// The method called.
    pub fn method(&self) -> Method {
        self.request.method()
    }

    /// The pod sandbox or container id the request names (see
    /// [`CriRequest::subject_id`]).
    pub fn subject_id(&self) -> Option<&str> {
        self.request.subject_id()
    }

    /// Whether the call succeeded.
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    /// The request, if this is a CreateContainer call.
    pub fn create_container(&self) -> Option<&CreateContainerRequest> {
        match &self.request {
            CriRequest::CreateContainer(request) => Some(request),
            _ => None,
        }
    }

    /// The request, if this is an UpdateContainerResources call.
    pub fn update_container_resources(&self) -> Option<&UpdateContainerResourcesRequest> {
        match &self.request {
            CriRequest::UpdateContainerResources(request) => Some(request),
            _ => None,
        }
    }
}

/// A request on a path that is not one of [`Method`]'s, answered by
/// echoing its body, as received.
#[derive(Debug, Clone)]
pub struct RawCall {
    /// The request's path, e.g. `/runtime.v1.ImageService/ListImages`.
    pub path: String,
    /// The request's HTTP/2 headers (pseudo-headers are not headers).
    pub headers: http::HeaderMap,
    /// The request body exactly as received: gRPC frames, each with its
    /// 5-byte prefix (compression flag, big-endian length).
    pub body: Bytes,
}

/// A wait of a [`FakeCriRuntime`](super::FakeCriRuntime) ran out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("waited {waited:?} for {waiting_for}; calls seen: [{}]", seen.join(", "))]
pub struct Timeout {
    /// How long the wait lasted.
    pub waited: Duration,
    /// What it waited for.
    pub waiting_for: String,
    /// The calls recorded when it gave up: method names, and the paths of
    /// raw calls.
    pub seen: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_our_methods_only() {
        for method in Method::ALL {
            assert_eq!(Method::from_path(&method.path()), Some(method));
        }
        assert_eq!(
            Method::CreateContainer.path(),
            "/runtime.v1.RuntimeService/CreateContainer"
        );
        for other in [
            "/runtime.v1.RuntimeService/Status",
            "/runtime.v1.ImageService/ListImages",
            "/runtime.v1.RuntimeService/",
            "/runtime.v1.RuntimeServiceX/Version",
            "runtime.v1.RuntimeService/Version",
            "/",
        ] {
            assert_eq!(Method::from_path(other), None, "{other}");
        }
    }

    #[test]
    fn requests_know_their_method_and_subject() {
        let stop = CriRequest::StopContainer(StopContainerRequest {
            container_id: "c1".into(),
            timeout: 10,
        });
        assert_eq!(stop.method(), Method::StopContainer);
        assert_eq!(stop.subject_id(), Some("c1"));
        let create = CriRequest::CreateContainer(CreateContainerRequest {
            pod_sandbox_id: "p1".into(),
            ..Default::default()
        });
        assert_eq!(create.method(), Method::CreateContainer);
        assert_eq!(create.subject_id(), Some("p1"));
        assert_eq!(
            CriRequest::ListContainers(ListContainersRequest::default()).subject_id(),
            None
        );
    }
}
