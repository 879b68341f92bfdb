//! The fake's pods and containers and what each `RuntimeService` call
//! does to them. Every operation here is synchronous and runs under the
//! runtime's one lock, so calls are atomic and recorded in the order they
//! took effect.

use std::collections::BTreeMap;

use nri_cri::cri::{
    ContainerConfig, ContainerResources, ContainerState, ContainerStatusRequest,
    ContainerStatusResponse, CreateContainerRequest, CreateContainerResponse,
    LinuxContainerResources, ListContainersRequest, ListContainersResponse, ListPodSandboxRequest,
    ListPodSandboxResponse, PodSandboxConfig, PodSandboxState, PodSandboxStatusRequest,
    PodSandboxStatusResponse, RemoveContainerRequest, RemoveContainerResponse,
    RemovePodSandboxRequest, RemovePodSandboxResponse, RunPodSandboxRequest, RunPodSandboxResponse,
    StartContainerRequest, StartContainerResponse, StopContainerRequest, StopContainerResponse,
    StopPodSandboxRequest, StopPodSandboxResponse, UpdateContainerResourcesRequest,
    UpdateContainerResourcesResponse, UpdatePodSandboxResourcesRequest,
    UpdatePodSandboxResourcesResponse, VersionRequest, VersionResponse,
};
use tonic::Status;

use super::container::FakeContainer;
use super::filters::{container_matches, pod_matches};
use super::ids::Allocator;
use super::pod::{FakePod, host_network};
use super::{KILLED_EXIT_CODE, RUNTIME_API_VERSION, RUNTIME_NAME, RUNTIME_VERSION};

/// The version of the kubelet runtime API a CRI runtime reports (what
/// containerd and CRI-O answer).
const KUBE_RUNTIME_API_VERSION: &str = "0.1.0";

/// The pods and containers, in the order they were created, and what the
/// fake keeps about containers after they are gone.
#[derive(Debug, Default)]
pub(crate) struct State {
    pods: Vec<FakePod>,
    containers: Vec<FakeContainer>,
    allocator: Allocator,
    /// Every container's config as created, kept after its removal.
    created: BTreeMap<String, ContainerConfig>,
    /// The Linux resources of every UpdateContainerResources applied, per
    /// container, kept after its removal.
    applied: BTreeMap<String, Vec<LinuxContainerResources>>,
}

/// `NOT_FOUND` naming `id`.
fn not_found(kind: &str, id: &str) -> Status {
    Status::not_found(format!("{kind} {id:?} not found"))
}

/// `INVALID_ARGUMENT` for an empty id.
fn check_id(kind: &str, id: &str) -> Result<(), Status> {
    if id.is_empty() {
        Err(Status::invalid_argument(format!("{kind} id is empty")))
    } else {
        Ok(())
    }
}

fn state_name(state: ContainerState) -> &'static str {
    state.as_str_name()
}

impl State {
    pub(crate) fn pods(&self) -> &[FakePod] {
        &self.pods
    }

    pub(crate) fn containers(&self) -> &[FakeContainer] {
        &self.containers
    }

    pub(crate) fn pod(&self, id: &str) -> Option<&FakePod> {
        self.pods.iter().find(|pod| pod.id == id)
    }

    pub(crate) fn container(&self, id: &str) -> Option<&FakeContainer> {
        self.containers.iter().find(|container| container.id == id)
    }

    pub(crate) fn created_config(&self, id: &str) -> Option<&ContainerConfig> {
        self.created.get(id)
    }

    pub(crate) fn applied_resources(&self, id: &str) -> &[LinuxContainerResources] {
        self.applied.get(id).map_or(&[], Vec::as_slice)
    }

    fn find_pod(&self, id: &str) -> Result<&FakePod, Status> {
        check_id("pod sandbox", id)?;
        self.pod(id).ok_or_else(|| not_found("pod sandbox", id))
    }

    fn find_pod_mut(&mut self, id: &str) -> Result<&mut FakePod, Status> {
        check_id("pod sandbox", id)?;
        self.pods
            .iter_mut()
            .find(|pod| pod.id == id)
            .ok_or_else(|| not_found("pod sandbox", id))
    }

    fn find_container(&self, id: &str) -> Result<&FakeContainer, Status> {
        check_id("container", id)?;
        self.container(id).ok_or_else(|| not_found("container", id))
    }

    fn find_container_mut(&mut self, id: &str) -> Result<&mut FakeContainer, Status> {
        check_id("container", id)?;
        self.containers
            .iter_mut()
            .find(|container| container.id == id)
            .ok_or_else(|| not_found("container", id))
    }

    // --- Test controls ----------------------------------------------------

    /// Adds a ready pod without any check.
    pub(crate) fn add_pod(&mut self, config: PodSandboxConfig, runtime_handler: String) -> String {
        let id = self.allocator.id();
        let ip = if host_network(&config) {
            String::new()
        } else {
            self.allocator.pod_ip()
        };
        let now = self.allocator.now();
        self.pods
            .push(FakePod::new(id.clone(), config, runtime_handler, now, ip));
        id
    }

    /// Adds a created container to the existing pod `pod_id`.
    fn add_container(&mut self, pod_id: &str, config: ContainerConfig) -> Result<String, Status> {
        let pod_config = self.find_pod(pod_id)?.config.clone();
        let id = self.allocator.id();
        let now = self.allocator.now();
        self.created.insert(id.clone(), config.clone());
        self.containers.push(FakeContainer::new(
            id.clone(),
            pod_id.to_string(),
            config,
            &pod_config,
            now,
        ));
        Ok(id)
    }

    /// Adds a container to `pod_id`, started if `running` (then the pod
    /// must be ready).
    pub(crate) fn seed_container(
        &mut self,
        pod_id: &str,
        config: ContainerConfig,
        running: bool,
    ) -> Result<String, Status> {
        if running && !self.find_pod(pod_id)?.is_ready() {
            return Err(Status::failed_precondition(format!(
                "pod sandbox {pod_id:?} is not ready: a running container cannot be in it"
            )));
        }
        let id = self.add_container(pod_id, config)?;
        if running {
            let now = self.allocator.now();
            self.find_container_mut(&id)?.start(now);
        }
        Ok(id)
    }

    /// The running container `id` exits on its own.
    pub(crate) fn exit(
        &mut self,
        id: &str,
        exit_code: i32,
        reason: Option<&str>,
        message: &str,
    ) -> Result<(), Status> {
        let now = self.allocator.now();
        let container = self.find_container_mut(id)?;
        if !container.is_running() {
            return Err(Status::failed_precondition(format!(
                "container {id:?} is in state {}, not running",
                state_name(container.state)
            )));
        }
        container.finish(now, exit_code, reason, message);
        Ok(())
    }

    /// Kills the container at `index` if it runs.
    fn kill(&mut self, index: usize) {
        let now = self.allocator.now();
        if let Some(container) = self.containers.get_mut(index)
            && container.is_running()
        {
            container.finish(now, KILLED_EXIT_CODE, None, "");
        }
    }

    fn kill_pod_containers(&mut self, pod_id: &str) {
        for index in 0..self.containers.len() {
            if self.containers[index].pod_sandbox_id == pod_id {
                self.kill(index);
            }
        }
    }

    // --- RuntimeService ---------------------------------------------------

    pub(crate) fn version(&mut self, _request: &VersionRequest) -> Result<VersionResponse, Status> {
        Ok(VersionResponse {
            version: KUBE_RUNTIME_API_VERSION.to_string(),
            runtime_name: RUNTIME_NAME.to_string(),
            runtime_version: RUNTIME_VERSION.to_string(),
            runtime_api_version: RUNTIME_API_VERSION.to_string(),
        })
    }

    pub(crate) fn run_pod_sandbox(
        &mut self,
        request: &RunPodSandboxRequest,
    ) -> Result<RunPodSandboxResponse, Status> {
        let config = request
            .config
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("pod sandbox config is missing"))?;
        let metadata = config
            .metadata
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("pod sandbox config has no metadata"))?;
        if let Some(existing) = self
            .pods
            .iter()
            .find(|pod| pod.metadata() == Some(metadata))
        {
            return Err(Status::already_exists(format!(
                "pod sandbox name {:?} (namespace {:?}, uid {:?}, attempt {}) is reserved for {:?}",
                metadata.name, metadata.namespace, metadata.uid, metadata.attempt, existing.id
            )));
        }
        let id = self.add_pod(config.clone(), request.runtime_handler.clone());
        Ok(RunPodSandboxResponse { pod_sandbox_id: id })
    }

    pub(crate) fn stop_pod_sandbox(
        &mut self,
        request: &StopPodSandboxRequest,
    ) -> Result<StopPodSandboxResponse, Status> {
        let id = &request.pod_sandbox_id;
        self.find_pod(id)?;
        self.kill_pod_containers(id);
        self.find_pod_mut(id)?.state = PodSandboxState::SandboxNotready;
        Ok(StopPodSandboxResponse {})
    }

    pub(crate) fn remove_pod_sandbox(
        &mut self,
        request: &RemovePodSandboxRequest,
    ) -> Result<RemovePodSandboxResponse, Status> {
        let id = &request.pod_sandbox_id;
        check_id("pod sandbox", id)?;
        self.kill_pod_containers(id);
        self.containers
            .retain(|container| &container.pod_sandbox_id != id);
        self.pods.retain(|pod| &pod.id != id);
        Ok(RemovePodSandboxResponse {})
    }

    pub(crate) fn pod_sandbox_status(
        &mut self,
        request: &PodSandboxStatusRequest,
    ) -> Result<PodSandboxStatusResponse, Status> {
        let pod = self.find_pod(&request.pod_sandbox_id)?;
        let status = pod.status();
        let containers_statuses = self
            .containers
            .iter()
            .filter(|container| container.pod_sandbox_id == pod.id)
            .map(FakeContainer::status)
            .collect();
        Ok(PodSandboxStatusResponse {
            status: Some(status),
            info: BTreeMap::new(),
            containers_statuses,
            timestamp: self.allocator.now(),
        })
    }

    pub(crate) fn list_pod_sandbox(
        &mut self,
        request: &ListPodSandboxRequest,
    ) -> Result<ListPodSandboxResponse, Status> {
        Ok(ListPodSandboxResponse {
            items: self
                .pods
                .iter()
                .filter(|pod| pod_matches(pod, request.filter.as_ref()))
                .map(FakePod::listed)
                .collect(),
        })
    }

    pub(crate) fn create_container(
        &mut self,
        request: &CreateContainerRequest,
    ) -> Result<CreateContainerResponse, Status> {
        let pod_id = &request.pod_sandbox_id;
        if !self.find_pod(pod_id)?.is_ready() {
            return Err(Status::failed_precondition(format!(
                "pod sandbox {pod_id:?} is not ready"
            )));
        }
        let config = request
            .config
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("container config is missing"))?;
        let metadata = config
            .metadata
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("container config has no metadata"))?;
        if let Some(existing) = self.containers.iter().find(|container| {
            &container.pod_sandbox_id == pod_id && container.metadata() == Some(metadata)
        }) {
            return Err(Status::already_exists(format!(
                "container name {:?} (attempt {}) in pod sandbox {pod_id:?} is reserved for {:?}",
                metadata.name, metadata.attempt, existing.id
            )));
        }
        let id = self.add_container(pod_id, config.clone())?;
        Ok(CreateContainerResponse { container_id: id })
    }

    pub(crate) fn start_container(
        &mut self,
        request: &StartContainerRequest,
    ) -> Result<StartContainerResponse, Status> {
        let id = &request.container_id;
        let container = self.find_container(id)?;
        if container.state != ContainerState::ContainerCreated {
            return Err(Status::failed_precondition(format!(
                "container {id:?} is in state {}, not CONTAINER_CREATED",
                state_name(container.state)
            )));
        }
        let pod_id = container.pod_sandbox_id.clone();
        if !self.pod(&pod_id).is_some_and(FakePod::is_ready) {
            return Err(Status::failed_precondition(format!(
                "pod sandbox {pod_id:?} of container {id:?} is not ready"
            )));
        }
        let now = self.allocator.now();
        self.find_container_mut(id)?.start(now);
        Ok(StartContainerResponse {})
    }

    pub(crate) fn stop_container(
        &mut self,
        request: &StopContainerRequest,
    ) -> Result<StopContainerResponse, Status> {
        let id = &request.container_id;
        self.find_container(id)?;
        if let Some(index) = self.containers.iter().position(|c| &c.id == id) {
            self.kill(index);
        }
        Ok(StopContainerResponse {})
    }

    pub(crate) fn remove_container(
        &mut self,
        request: &RemoveContainerRequest,
    ) -> Result<RemoveContainerResponse, Status> {
        let id = &request.container_id;
        check_id("container", id)?;
        if let Some(index) = self.containers.iter().position(|c| &c.id == id) {
            self.kill(index);
            self.containers.remove(index);
        }
        Ok(RemoveContainerResponse {})
    }

    pub(crate) fn list_containers(
        &mut self,
        request: &ListContainersRequest,
    ) -> Result<ListContainersResponse, Status> {
        Ok(ListContainersResponse {
            containers: self
                .containers
                .iter()
                .filter(|container| container_matches(container, request.filter.as_ref()))
                .map(FakeContainer::listed)
                .collect(),
        })
    }

    pub(crate) fn container_status(
        &mut self,
        request: &ContainerStatusRequest,
    ) -> Result<ContainerStatusResponse, Status> {
        Ok(ContainerStatusResponse {
            status: Some(self.find_container(&request.container_id)?.status()),
            info: BTreeMap::new(),
        })
    }

    pub(crate) fn update_container_resources(
        &mut self,
        request: &UpdateContainerResourcesRequest,
    ) -> Result<UpdateContainerResourcesResponse, Status> {
        let id = &request.container_id;
        let container = self.find_container_mut(id)?;
        if !matches!(
            container.state,
            ContainerState::ContainerCreated | ContainerState::ContainerRunning
        ) {
            return Err(Status::failed_precondition(format!(
                "container {id:?} is in state {}, neither created nor running",
                state_name(container.state)
            )));
        }
        if let Some(linux) = &request.linux {
            container
                .resources
                .get_or_insert_with(ContainerResources::default)
                .linux = Some(linux.clone());
        }
        if !request.windows.is_empty() {
            container
                .resources
                .get_or_insert_with(ContainerResources::default)
                .windows = request.windows.clone();
        }
        if let Some(linux) = &request.linux {
            self.applied
                .entry(id.clone())
                .or_default()
                .push(linux.clone());
        }
        Ok(UpdateContainerResourcesResponse {})
    }

    pub(crate) fn update_pod_sandbox_resources(
        &mut self,
        request: &UpdatePodSandboxResourcesRequest,
    ) -> Result<UpdatePodSandboxResourcesResponse, Status> {
        let pod = self.find_pod_mut(&request.pod_sandbox_id)?;
        if let Some(overhead) = &request.overhead {
            pod.overhead = Some(overhead.clone());
        }
        if let Some(resources) = &request.resources {
            pod.resources = Some(resources.clone());
        }
        Ok(UpdatePodSandboxResourcesResponse {})
    }
}
