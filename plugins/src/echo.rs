//! `nri-echo`, the benchmark plugin: it subscribes to every event and, on
//! CreateContainer, adds the environment variable `NRI_ECHO_<idx>=<name>`
//! and the annotation `echo.nri.dev/<idx>-<name>: "true"`, where `<idx>`
//! and `<name>` are its own registered index and name. Nothing else, so
//! that what it costs is the cost of NRI itself.

use std::sync::OnceLock;

use nri_core::proto::api::{
    Container, ContainerAdjustment, CreateContainerResponse, KeyValue, LinuxResources, PodSandbox,
    StopContainerResponse, UpdateContainerResponse, UpdatePodSandboxRequest,
    ValidateContainerAdjustmentRequest,
};
use nri_core::proto::event::EventMask;
use nri_core::proto::identity::PluginId;
use nri_core::stub::{Configuration, HandlerResult, Plugin};

/// The echo plugin.
#[derive(Debug, Default)]
pub struct Echo {
    id: OnceLock<PluginId>,
}

impl Echo {
    /// The adjustment the plugin registered as `id` makes.
    pub fn adjustment(id: &PluginId) -> ContainerAdjustment {
        let (idx, name) = (id.index().as_str(), id.name());
        let mut adjust = ContainerAdjustment::default();
        adjust.env.push(KeyValue {
            key: format!("NRI_ECHO_{idx}"),
            value: name.to_string(),
        });
        adjust
            .annotations
            .insert(format!("echo.nri.dev/{idx}-{name}"), "true".to_string());
        adjust
    }
}

#[nri_core::plugin]
impl Plugin for Echo {
    async fn configure(&self, configuration: Configuration) -> HandlerResult<Option<EventMask>> {
        let _ = self.id.set(configuration.plugin);
        Ok(None)
    }

    async fn run_pod_sandbox(&self, _: PodSandbox) -> HandlerResult<()> {
        Ok(())
    }

    async fn update_pod_sandbox(&self, _: UpdatePodSandboxRequest) -> HandlerResult<()> {
        Ok(())
    }

    async fn post_update_pod_sandbox(&self, _: PodSandbox) -> HandlerResult<()> {
        Ok(())
    }

    async fn stop_pod_sandbox(&self, _: PodSandbox) -> HandlerResult<()> {
        Ok(())
    }

    async fn remove_pod_sandbox(&self, _: PodSandbox) -> HandlerResult<()> {
        Ok(())
    }

    async fn create_container(
        &self,
        _: PodSandbox,
        _: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        let id = self.id.get().ok_or("CreateContainer before Configure")?;
        Ok(CreateContainerResponse {
            adjust: Some(Echo::adjustment(id)),
            ..Default::default()
        })
    }

    async fn post_create_container(&self, _: PodSandbox, _: Container) -> HandlerResult<()> {
        Ok(())
    }

    async fn start_container(&self, _: PodSandbox, _: Container) -> HandlerResult<()> {
        Ok(())
    }

    async fn post_start_container(&self, _: PodSandbox, _: Container) -> HandlerResult<()> {
        Ok(())
    }

    async fn update_container(
        &self,
        _: PodSandbox,
        _: Container,
        _: Option<LinuxResources>,
    ) -> HandlerResult<UpdateContainerResponse> {
        Ok(UpdateContainerResponse::default())
    }

    async fn post_update_container(&self, _: PodSandbox, _: Container) -> HandlerResult<()> {
        Ok(())
    }

    async fn stop_container(
        &self,
        _: PodSandbox,
        _: Container,
    ) -> HandlerResult<StopContainerResponse> {
        Ok(StopContainerResponse::default())
    }

    async fn remove_container(&self, _: PodSandbox, _: Container) -> HandlerResult<()> {
        Ok(())
    }

    async fn validate_container_adjustment(
        &self,
        _: ValidateContainerAdjustmentRequest,
    ) -> HandlerResult<()> {
        Ok(())
    }
}
