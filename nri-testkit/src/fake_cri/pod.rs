//! [`FakePod`]: a pod sandbox as the fake holds it, and how CRI sees it.

use nri_cri::cri::{
    LinuxContainerResources, LinuxPodSandboxStatus, Namespace, NamespaceMode, NamespaceOption,
    PodSandbox, PodSandboxConfig, PodSandboxMetadata, PodSandboxNetworkStatus, PodSandboxState,
    PodSandboxStatus,
};

/// A pod sandbox held by a [`FakeCriRuntime`](super::FakeCriRuntime).
#[derive(Debug, Clone, PartialEq)]
pub struct FakePod {
    /// Its id (64 hex digits).
    pub id: String,
    /// The config it was run (or seeded) with, as received.
    pub config: PodSandboxConfig,
    /// The runtime handler it was run with.
    pub runtime_handler: String,
    /// Ready until stopped.
    pub state: PodSandboxState,
    /// When it was run, in nanoseconds since the epoch.
    pub created_at: i64,
    /// The IP it was given; empty for a pod on the host network.
    pub ip: String,
    /// Its overhead: the config's, then the last UpdatePodSandboxResources'.
    pub overhead: Option<LinuxContainerResources>,
    /// Its resources: the config's, then the last
    /// UpdatePodSandboxResources'.
    pub resources: Option<LinuxContainerResources>,
}

impl FakePod {
    pub(crate) fn new(
        id: String,
        config: PodSandboxConfig,
        runtime_handler: String,
        created_at: i64,
        ip: String,
    ) -> FakePod {
        let linux = config.linux.as_ref();
        FakePod {
            id,
            overhead: linux.and_then(|linux| linux.overhead.clone()),
            resources: linux.and_then(|linux| linux.resources.clone()),
            config,
            runtime_handler,
            state: PodSandboxState::SandboxReady,
            created_at,
            ip,
        }
    }

    /// Whether the pod is ready (run and not stopped).
    pub fn is_ready(&self) -> bool {
        self.state == PodSandboxState::SandboxReady
    }

    /// The pod's name, from its metadata.
    pub fn name(&self) -> &str {
        self.config
            .metadata
            .as_ref()
            .map_or("", |metadata| metadata.name.as_str())
    }

    pub(crate) fn metadata(&self) -> Option<&PodSandboxMetadata> {
        self.config.metadata.as_ref()
    }

    fn namespace_options(&self) -> Option<&NamespaceOption> {
        self.config
            .linux
            .as_ref()?
            .security_context
            .as_ref()?
            .namespace_options
            .as_ref()
    }

    /// The IP PodSandboxStatus reports: none once the pod is stopped (its
    /// network is torn down), as containerd does.
    fn reported_ip(&self) -> String {
        if self.is_ready() {
            self.ip.clone()
        } else {
            String::new()
        }
    }

    /// The pod as PodSandboxStatus reports it.
    pub fn status(&self) -> PodSandboxStatus {
        PodSandboxStatus {
            id: self.id.clone(),
            metadata: self.config.metadata.clone(),
            state: self.state.into(),
            created_at: self.created_at,
            network: Some(PodSandboxNetworkStatus {
                ip: self.reported_ip(),
                additional_ips: Vec::new(),
            }),
            linux: Some(LinuxPodSandboxStatus {
                namespaces: Some(Namespace {
                    options: Some(self.namespace_options().cloned().unwrap_or_default()),
                }),
            }),
            labels: self.config.labels.clone(),
            annotations: self.config.annotations.clone(),
            runtime_handler: self.runtime_handler.clone(),
        }
    }

    /// The pod as ListPodSandbox lists it.
    pub fn listed(&self) -> PodSandbox {
        PodSandbox {
            id: self.id.clone(),
            metadata: self.config.metadata.clone(),
            state: self.state.into(),
            created_at: self.created_at,
            labels: self.config.labels.clone(),
            annotations: self.config.annotations.clone(),
            runtime_handler: self.runtime_handler.clone(),
        }
    }
}

/// Whether a pod with `config` uses the host's network (and gets no IP).
pub(crate) fn host_network(config: &PodSandboxConfig) -> bool {
    config
        .linux
        .as_ref()
        .and_then(|linux| linux.security_context.as_ref())
        .and_then(|context| context.namespace_options.as_ref())
        .is_some_and(|options| options.network == NamespaceMode::Node as i32)
}
