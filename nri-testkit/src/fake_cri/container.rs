//! [`FakeContainer`]: a container as the fake holds it, and how CRI sees
//! it.

use std::path::Path;

use nri_cri::cri::{
    Container, ContainerConfig, ContainerMetadata, ContainerResources, ContainerState,
    ContainerStatus, ContainerUser, ImageSpec, LinuxContainerUser, PodSandboxConfig,
};

use super::ids::image_id;

/// A container held by a [`FakeCriRuntime`](super::FakeCriRuntime).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeContainer {
    /// Its id (64 hex digits).
    pub id: String,
    /// The pod sandbox it is in.
    pub pod_sandbox_id: String,
    /// The config it was created (or seeded) with, exactly as received.
    pub config: ContainerConfig,
    /// Created, running or exited.
    pub state: ContainerState,
    /// When it was created, in nanoseconds since the epoch.
    pub created_at: i64,
    /// When it was started; 0 if it never was.
    pub started_at: i64,
    /// When it exited; 0 if it has not.
    pub finished_at: i64,
    /// Its exit code, once exited.
    pub exit_code: i32,
    /// Why it is in its state, once exited: `Completed`, `Error`, or what
    /// [`exit_with`](super::FakeCriRuntime::exit_with) said.
    pub reason: String,
    /// A message to go with the reason.
    pub message: String,
    /// Its resources: the config's Linux resources, replaced by each
    /// UpdateContainerResources.
    pub resources: Option<ContainerResources>,
    /// Its log file: the pod's log directory joined with the config's log
    /// path (empty if either is).
    pub log_path: String,
}

impl FakeContainer {
    pub(crate) fn new(
        id: String,
        pod_sandbox_id: String,
        config: ContainerConfig,
        pod_config: &PodSandboxConfig,
        created_at: i64,
    ) -> FakeContainer {
        let resources = config
            .linux
            .as_ref()
            .and_then(|linux| linux.resources.clone())
            .map(|linux| ContainerResources {
                linux: Some(linux),
                windows: Vec::new(),
            });
        let log_path = if pod_config.log_directory.is_empty() || config.log_path.is_empty() {
            String::new()
        } else {
            Path::new(&pod_config.log_directory)
                .join(&config.log_path)
                .to_string_lossy()
                .into_owned()
        };
        FakeContainer {
            id,
            pod_sandbox_id,
            config,
            state: ContainerState::ContainerCreated,
            created_at,
            started_at: 0,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            resources,
            log_path,
        }
    }

    /// The container's name, from its metadata.
    pub fn name(&self) -> &str {
        self.config
            .metadata
            .as_ref()
            .map_or("", |metadata| metadata.name.as_str())
    }

    /// Whether the container runs.
    pub fn is_running(&self) -> bool {
        self.state == ContainerState::ContainerRunning
    }

    pub(crate) fn metadata(&self) -> Option<&ContainerMetadata> {
        self.config.metadata.as_ref()
    }

    pub(crate) fn start(&mut self, now: i64) {
        self.state = ContainerState::ContainerRunning;
        self.started_at = now;
    }

    /// Exits the container with `exit_code`; the reason defaults to
    /// `Completed` for 0 and `Error` otherwise.
    pub(crate) fn finish(&mut self, now: i64, exit_code: i32, reason: Option<&str>, message: &str) {
        self.state = ContainerState::ContainerExited;
        self.finished_at = now;
        self.exit_code = exit_code;
        self.reason = reason
            .unwrap_or(if exit_code == 0 { "Completed" } else { "Error" })
            .to_string();
        self.message = message.to_string();
    }

    fn image(&self) -> Option<ImageSpec> {
        self.config.image.clone()
    }

    fn image_id(&self) -> String {
        image_id(
            self.config
                .image
                .as_ref()
                .map_or("", |image| image.image.as_str()),
        )
    }

    fn user(&self) -> ContainerUser {
        let context = self
            .config
            .linux
            .as_ref()
            .and_then(|linux| linux.security_context.as_ref());
        ContainerUser {
            linux: Some(LinuxContainerUser {
                uid: context
                    .and_then(|context| context.run_as_user.as_ref())
                    .map_or(0, |uid| uid.value),
                gid: context
                    .and_then(|context| context.run_as_group.as_ref())
                    .map_or(0, |gid| gid.value),
                supplemental_groups: context
                    .map(|context| context.supplemental_groups.clone())
                    .unwrap_or_default(),
            }),
        }
    }

    /// The container as ContainerStatus reports it.
    pub fn status(&self) -> ContainerStatus {
        ContainerStatus {
            id: self.id.clone(),
            metadata: self.config.metadata.clone(),
            state: self.state.into(),
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            exit_code: self.exit_code,
            image: self.image(),
            image_ref: self.image_id(),
            reason: self.reason.clone(),
            message: self.message.clone(),
            labels: self.config.labels.clone(),
            annotations: self.config.annotations.clone(),
            mounts: self.config.mounts.clone(),
            log_path: self.log_path.clone(),
            resources: self.resources.clone(),
            image_id: self.image_id(),
            user: Some(self.user()),
            stop_signal: self.config.stop_signal,
        }
    }

    /// The container as ListContainers lists it.
    pub fn listed(&self) -> Container {
        Container {
            id: self.id.clone(),
            pod_sandbox_id: self.pod_sandbox_id.clone(),
            metadata: self.config.metadata.clone(),
            image: self.image(),
            image_ref: self.image_id(),
            state: self.state.into(),
            created_at: self.created_at,
            labels: self.config.labels.clone(),
            annotations: self.config.annotations.clone(),
            image_id: self.image_id(),
        }
    }
}
