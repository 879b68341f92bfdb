//! The fake's `RuntimeService`: each call checks for an injected failure,
//! runs on the state, and is recorded, all under the runtime's lock.

use nri_cri::cri::runtime_service_server::RuntimeService;
use nri_cri::cri::{
    ContainerStatusRequest, ContainerStatusResponse, CreateContainerRequest,
    CreateContainerResponse, ListContainersRequest, ListContainersResponse, ListPodSandboxRequest,
    ListPodSandboxResponse, PodSandboxStatusRequest, PodSandboxStatusResponse,
    RemoveContainerRequest, RemoveContainerResponse, RemovePodSandboxRequest,
    RemovePodSandboxResponse, RunPodSandboxRequest, RunPodSandboxResponse, StartContainerRequest,
    StartContainerResponse, StopContainerRequest, StopContainerResponse, StopPodSandboxRequest,
    StopPodSandboxResponse, UpdateContainerResourcesRequest, UpdateContainerResourcesResponse,
    UpdatePodSandboxResourcesRequest, UpdatePodSandboxResourcesResponse, VersionRequest,
    VersionResponse,
};
use tonic::{Request, Response, Status};

use super::state::State;
use super::{Call, CriRequest, FakeCriRuntime, Method};

impl FakeCriRuntime {
    /// Handles one call of `method`: an injected failure if one is queued,
    /// else `operation` on the state; records it either way.
    fn handle<Q, R>(
        &self,
        method: Method,
        request: Request<Q>,
        wrap: fn(Q) -> CriRequest,
        operation: fn(&mut State, &Q) -> Result<R, Status>,
    ) -> Result<Response<R>, Status> {
        let (metadata, _, message) = request.into_parts();
        self.modify(|world| {
            let injected = world
                .failures
                .get_mut(&method)
                .and_then(std::collections::VecDeque::pop_front);
            let result = match injected {
                Some(status) => Err(status),
                None => operation(&mut world.state, &message),
            };
            world.calls.push(Call {
                request: wrap(message),
                metadata,
                error: result.as_ref().err().cloned(),
            });
            result.map(Response::new)
        })
    }
}

#[async_trait::async_trait]
impl RuntimeService for FakeCriRuntime {
    async fn version(
        &self,
        request: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        self.handle(
            Method::Version,
            request,
            CriRequest::Version,
            State::version,
        )
    }

    async fn run_pod_sandbox(
        &self,
        request: Request<RunPodSandboxRequest>,
    ) -> Result<Response<RunPodSandboxResponse>, Status> {
        self.handle(
            Method::RunPodSandbox,
            request,
            CriRequest::RunPodSandbox,
            State::run_pod_sandbox,
        )
    }

    async fn stop_pod_sandbox(
        &self,
        request: Request<StopPodSandboxRequest>,
    ) -> Result<Response<StopPodSandboxResponse>, Status> {
        self.handle(
            Method::StopPodSandbox,
            request,
            CriRequest::StopPodSandbox,
            State::stop_pod_sandbox,
        )
    }

    async fn remove_pod_sandbox(
        &self,
        request: Request<RemovePodSandboxRequest>,
    ) -> Result<Response<RemovePodSandboxResponse>, Status> {
        self.handle(
            Method::RemovePodSandbox,
            request,
            CriRequest::RemovePodSandbox,
            State::remove_pod_sandbox,
        )
    }

    async fn pod_sandbox_status(
        &self,
        request: Request<PodSandboxStatusRequest>,
    ) -> Result<Response<PodSandboxStatusResponse>, Status> {
        self.handle(
            Method::PodSandboxStatus,
            request,
            CriRequest::PodSandboxStatus,
            State::pod_sandbox_status,
        )
    }

    async fn list_pod_sandbox(
        &self,
        request: Request<ListPodSandboxRequest>,
    ) -> Result<Response<ListPodSandboxResponse>, Status> {
        self.handle(
            Method::ListPodSandbox,
            request,
            CriRequest::ListPodSandbox,
            State::list_pod_sandbox,
        )
    }

    async fn create_container(
        &self,
        request: Request<CreateContainerRequest>,
    ) -> Result<Response<CreateContainerResponse>, Status> {
        self.handle(
            Method::CreateContainer,
            request,
            CriRequest::CreateContainer,
            State::create_container,
        )
    }

    async fn start_container(
        &self,
        request: Request<StartContainerRequest>,
    ) -> Result<Response<StartContainerResponse>, Status> {
        self.handle(
            Method::StartContainer,
            request,
            CriRequest::StartContainer,
            State::start_container,
        )
    }

    async fn stop_container(
        &self,
        request: Request<StopContainerRequest>,
    ) -> Result<Response<StopContainerResponse>, Status> {
        self.handle(
            Method::StopContainer,
            request,
            CriRequest::StopContainer,
            State::stop_container,
        )
    }

    async fn remove_container(
        &self,
        request: Request<RemoveContainerRequest>,
    ) -> Result<Response<RemoveContainerResponse>, Status> {
        self.handle(
            Method::RemoveContainer,
            request,
            CriRequest::RemoveContainer,
            State::remove_container,
        )
    }

    async fn list_containers(
        &self,
        request: Request<ListContainersRequest>,
    ) -> Result<Response<ListContainersResponse>, Status> {
        self.handle(
            Method::ListContainers,
            request,
            CriRequest::ListContainers,
            State::list_containers,
        )
    }

    async fn container_status(
        &self,
        request: Request<ContainerStatusRequest>,
    ) -> Result<Response<ContainerStatusResponse>, Status> {
        self.handle(
            Method::ContainerStatus,
            request,
            CriRequest::ContainerStatus,
            State::container_status,
        )
    }

    async fn update_container_resources(
        &self,
        request: Request<UpdateContainerResourcesRequest>,
    ) -> Result<Response<UpdateContainerResourcesResponse>, Status> {
        self.handle(
            Method::UpdateContainerResources,
            request,
            CriRequest::UpdateContainerResources,
            State::update_container_resources,
        )
    }

    async fn update_pod_sandbox_resources(
        &self,
        request: Request<UpdatePodSandboxResourcesRequest>,
    ) -> Result<Response<UpdatePodSandboxResourcesResponse>, Status> {
        self.handle(
            Method::UpdatePodSandboxResources,
            request,
            CriRequest::UpdatePodSandboxResources,
            State::update_pod_sandbox_resources,
        )
    }
}
