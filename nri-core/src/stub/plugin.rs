//! The trait a plugin implements.

use std::time::Duration;

use nri_proto::api::{
    Container, ContainerUpdate, CreateContainerResponse, LinuxResources, PodSandbox,
    StopContainerResponse, UpdateContainerResponse, UpdatePodSandboxRequest,
    ValidateContainerAdjustmentRequest,
};
use nri_proto::event::EventMask;
use nri_proto::identity::PluginId;

use super::runtime::RuntimeClient;

/// What a handler returns on failure: any error. The runtime receives its
/// text (gRPC code 2, `Unknown`), except from
/// [`Plugin::validate_container_adjustment`], where an error rejects the
/// adjustment with the text as the reason.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// A handler's result.
pub type HandlerResult<T> = Result<T, HandlerError>;

/// What the runtime told the plugin in `Configure`.
#[derive(Debug, Clone)]
pub struct Configuration {
    /// The identity the plugin registered with.
    pub plugin: PluginId,
    /// The plugin's configuration from the runtime (for a pre-installed
    /// plugin, its configuration file), often empty.
    pub config: String,
    /// The runtime's name, e.g. `containerd`.
    pub runtime_name: String,
    /// The runtime's version.
    pub runtime_version: String,
    /// The runtime's NRI version, inferred from its name and version when
    /// the runtime did not say (NRI v0.11 and older); `None` if unknown.
    pub runtime_nri_version: Option<String>,
    /// How long the runtime waits for a plugin to register.
    pub registration_timeout: Duration,
    /// How long the runtime waits for each answer.
    pub request_timeout: Duration,
    /// Calls the runtime: updates and evictions outside of any event.
    pub runtime: RuntimeClient,
}

/// An NRI plugin: handlers for what the runtime sends, each with a default.
///
/// Write the impl block with the [`#[nri_core::plugin]`](crate::plugin)
/// attribute: it derives the events the plugin subscribes to from the
/// handlers the block defines, so there is no mask to keep in step with the
/// code. A plugin that defines no event handler is refused when it starts.
///
/// Handlers run concurrently with one another only if the runtime calls
/// them so (runtimes send one event at a time). Each is bounded by the
/// runtime's request timeout: when it passes, the handler's future is
/// dropped, as the runtime has given up on the answer.
#[async_trait::async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// The events this plugin has handlers for. Written by
    /// [`#[nri_core::plugin]`](crate::plugin); do not write it by hand.
    #[doc(hidden)]
    fn handled_events(&self) -> EventMask {
        EventMask::NONE
    }

    /// Whether this plugin defines [`synchronize`](Self::synchronize).
    /// Written by [`#[nri_core::plugin]`](crate::plugin); do not write it by
    /// hand. Without it, the stub does not decode the pods and containers
    /// of a Synchronize (the default handler ignores them).
    #[doc(hidden)]
    fn defines_synchronize(&self) -> bool {
        true
    }

    /// The runtime configures the plugin. Returns the events to subscribe
    /// to out of those it handles (`None`: all of them), for example as its
    /// configuration narrows them; a mask with an event the plugin has no
    /// handler for fails registration.
    async fn configure(&self, configuration: Configuration) -> HandlerResult<Option<EventMask>> {
        let _ = configuration;
        Ok(None)
    }

    /// The pods and containers that exist when the plugin connects, all at
    /// once (the stub reassembles a split Synchronize). Returns updates of
    /// existing containers.
    async fn synchronize(
        &self,
        pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> HandlerResult<Vec<ContainerUpdate>> {
        let _ = (pods, containers);
        Ok(Vec::new())
    }

    /// The runtime is shutting down.
    async fn shutdown(&self) {}

    /// A pod is being started.
    async fn run_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        let _ = pod;
        Ok(())
    }

    /// A pod's resources are being changed (NRI v0.10 and later).
    async fn update_pod_sandbox(&self, request: UpdatePodSandboxRequest) -> HandlerResult<()> {
        let _ = request;
        Ok(())
    }

    /// A pod's resources were changed (NRI v0.10 and later).
    async fn post_update_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        let _ = pod;
        Ok(())
    }

    /// A pod was stopped.
    async fn stop_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        let _ = pod;
        Ok(())
    }

    /// A pod was removed.
    async fn remove_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        let _ = pod;
        Ok(())
    }

    /// A container is being created: adjust it, update other containers,
    /// evict containers.
    async fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        let _ = (pod, container);
        Ok(CreateContainerResponse::default())
    }

    /// A container was created.
    async fn post_create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        let _ = (pod, container);
        Ok(())
    }

    /// A container is being started.
    async fn start_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        let _ = (pod, container);
        Ok(())
    }

    /// A container was started.
    async fn post_start_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        let _ = (pod, container);
        Ok(())
    }

    /// A container's resources are being changed to `resources`: update
    /// it or other containers, evict containers.
    async fn update_container(
        &self,
        pod: PodSandbox,
        container: Container,
        resources: Option<LinuxResources>,
    ) -> HandlerResult<UpdateContainerResponse> {
        let _ = (pod, container, resources);
        Ok(UpdateContainerResponse::default())
    }

    /// A container's resources were changed.
    async fn post_update_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        let _ = (pod, container);
        Ok(())
    }

    /// A container stopped: update other containers.
    async fn stop_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<StopContainerResponse> {
        let _ = (pod, container);
        Ok(StopContainerResponse::default())
    }

    /// A container was removed.
    async fn remove_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        let _ = (pod, container);
        Ok(())
    }

    /// Checks the merged adjustment of a container being created (a
    /// validator, NRI v0.10 and later). An error rejects it, with the
    /// error's text as the reason.
    async fn validate_container_adjustment(
        &self,
        request: ValidateContainerAdjustmentRequest,
    ) -> HandlerResult<()> {
        let _ = request;
        Ok(())
    }
}
