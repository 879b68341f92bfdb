//! `nri-template`: upstream's template sample, a handler for every pod and
//! container event. It takes a YAML configuration with one example key,
//! `cfgParam1`, and logs every event it receives.
//!
//! To start a plugin of your own, copy the repository's
//! `examples/rust/plugin.rs`: a complete plugin with its `main()`, on
//! `nri-core` and `nri-plugin` alone (connection from the environment a
//! runtime sets or a socket path, a clean exit on Shutdown, SIGINT and
//! SIGTERM). Take the signature of any other event's handler from this
//! file.

use std::sync::{Mutex, PoisonError};

use nri_core::proto::api::{
    Container, ContainerUpdate, CreateContainerResponse, LinuxResources, PodSandbox,
    StopContainerResponse, UpdateContainerResponse, UpdatePodSandboxRequest,
};
use nri_core::proto::event::EventMask;
use nri_core::stub::{Configuration, HandlerResult, Plugin};

/// The template's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TemplateConfig {
    /// An example parameter.
    pub cfg_param1: String,
}

impl TemplateConfig {
    /// Parses a YAML (or JSON) configuration; empty text is the default.
    pub fn parse(text: &str) -> Result<Self, String> {
        crate::config_text::parse(text)
    }
}

/// The template plugin.
#[derive(Debug, Default)]
pub struct Template {
    config: Mutex<TemplateConfig>,
}

impl Template {
    /// A template plugin with `config` until the runtime sends another.
    pub fn new(config: TemplateConfig) -> Self {
        Template {
            config: Mutex::new(config),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> TemplateConfig {
        self.config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn log(event: &str, pod: &PodSandbox, container: Option<&Container>) {
    match container {
        Some(c) => tracing::info!(pod = %pod.name, container = %c.name, "{event}"),
        None => tracing::info!(pod = %pod.name, "{event}"),
    }
}

#[nri_core::plugin]
impl Plugin for Template {
    async fn configure(&self, configuration: Configuration) -> HandlerResult<Option<EventMask>> {
        tracing::info!(runtime = %configuration.runtime_name, version = %configuration.runtime_version, "Configure");
        if !configuration.config.trim().is_empty() {
            let config = TemplateConfig::parse(&configuration.config)?;
            tracing::info!(cfg_param1 = %config.cfg_param1, "configured");
            *self.config.lock().unwrap_or_else(PoisonError::into_inner) = config;
        }
        Ok(None)
    }

    async fn synchronize(
        &self,
        pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> HandlerResult<Vec<ContainerUpdate>> {
        tracing::info!(
            pods = pods.len(),
            containers = containers.len(),
            "Synchronize"
        );
        Ok(Vec::new())
    }

    async fn shutdown(&self) {
        tracing::info!("Shutdown");
    }

    async fn run_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        log("RunPodSandbox", &pod, None);
        Ok(())
    }

    async fn update_pod_sandbox(&self, request: UpdatePodSandboxRequest) -> HandlerResult<()> {
        log("UpdatePodSandbox", &request.pod.unwrap_or_default(), None);
        Ok(())
    }

    async fn post_update_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        log("PostUpdatePodSandbox", &pod, None);
        Ok(())
    }

    async fn stop_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        log("StopPodSandbox", &pod, None);
        Ok(())
    }

    async fn remove_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        log("RemovePodSandbox", &pod, None);
        Ok(())
    }

    async fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        log("CreateContainer", &pod, Some(&container));
        Ok(CreateContainerResponse::default())
    }

    async fn post_create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        log("PostCreateContainer", &pod, Some(&container));
        Ok(())
    }

    async fn start_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        log("StartContainer", &pod, Some(&container));
        Ok(())
    }

    async fn post_start_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        log("PostStartContainer", &pod, Some(&container));
        Ok(())
    }

    async fn update_container(
        &self,
        pod: PodSandbox,
        container: Container,
        _resources: Option<LinuxResources>,
    ) -> HandlerResult<UpdateContainerResponse> {
        log("UpdateContainer", &pod, Some(&container));
        Ok(UpdateContainerResponse::default())
    }

    async fn post_update_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        log("PostUpdateContainer", &pod, Some(&container));
        Ok(())
    }

    async fn stop_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<StopContainerResponse> {
        log("StopContainer", &pod, Some(&container));
        Ok(StopContainerResponse::default())
    }

    async fn remove_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        log("RemoveContainer", &pod, Some(&container));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_has_one_example_key() {
        assert_eq!(
            TemplateConfig::parse("cfgParam1: hello\n")
                .unwrap()
                .cfg_param1,
            "hello"
        );
        assert_eq!(
            TemplateConfig::parse("").unwrap(),
            TemplateConfig::default()
        );
        assert!(TemplateConfig::parse("cfgParam1: [").is_err());
    }
}
