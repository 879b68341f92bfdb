//! `nri-echo`, the benchmark plugin: it subscribes to every event and, on
//! CreateContainer, adds the environment variable `NRI_ECHO_<idx>=<name>`
//! and the annotation `echo.nri.dev/<idx>-<name>: "true"`, where `<idx>`
//! and `<name>` are its own registered index and name. Nothing else, so
//! that what it costs is the cost of NRI itself.
//!
//! Every event but ValidateContainerAdjustment: validation is another
//! plugin's role (it runs after all adjustments are merged, as a second
//! call per CreateContainer), so an adjusting plugin normally leaves it
//! out. The configuration `validate: true` (a file, or what the runtime
//! sends) subscribes to it as well (it
//! accepts every adjustment), to measure what validation costs.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use nri_core::proto::api::{
    Container, ContainerAdjustment, CreateContainerResponse, KeyValue, LinuxResources, PodSandbox,
    StopContainerResponse, UpdateContainerResponse, UpdatePodSandboxRequest,
    ValidateContainerAdjustmentRequest,
};
use nri_core::proto::event::{Event, EventMask};
use nri_core::proto::identity::PluginId;
use nri_core::stub::{Configuration, HandlerResult, Plugin};

/// What the echo plugin's configuration text may say.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoConfig {
    /// Also subscribe to ValidateContainerAdjustment (and accept every
    /// adjustment).
    #[serde(default)]
    pub validate: bool,
}

/// The echo plugin.
#[derive(Debug, Default)]
pub struct Echo {
    id: OnceLock<PluginId>,
    validate: AtomicBool,
}

impl Echo {
    /// An echo plugin configured so, until the runtime sends a
    /// configuration (which replaces this one).
    pub fn new(config: EchoConfig) -> Echo {
        Echo {
            id: OnceLock::new(),
            validate: AtomicBool::new(config.validate),
        }
    }

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
        if !configuration.config.trim().is_empty() {
            let config: EchoConfig = crate::config_text::parse(&configuration.config)?;
            self.validate.store(config.validate, Ordering::Relaxed);
        }
        let _ = self.id.set(configuration.plugin);
        Ok(if self.validate.load(Ordering::Relaxed) {
            None
        } else {
            Some(
                self.handled_events()
                    .without(Event::ValidateContainerAdjustment),
            )
        })
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
