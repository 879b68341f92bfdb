//! [`FakePlugin`] as a [`Plugin`]: every handler defined, each following
//! the script.

use nri_core::proto::api::{
    Container, ContainerUpdate, CreateContainerResponse, LinuxResources, PodSandbox,
    StopContainerResponse, UpdateContainerResponse, UpdatePodSandboxRequest,
    ValidateContainerAdjustmentRequest,
};
use nri_core::proto::event::EventMask;
use nri_core::stub::{Configuration, HandlerResult, Plugin};

use super::FakePlugin;
use super::call::Call;
use super::record::{Answer, Record};
use super::script::Script;

impl FakePlugin {
    async fn pod_event(&self, call: Call, pod: &PodSandbox) -> HandlerResult<()> {
        self.inner.handle(call, Some(pod), None).await.map(drop)
    }

    async fn container_event(
        &self,
        call: Call,
        pod: &PodSandbox,
        container: &Container,
    ) -> HandlerResult<()> {
        self.inner
            .handle(call, Some(pod), Some(container))
            .await
            .map(drop)
    }
}

#[nri_core::plugin]
impl Plugin for FakePlugin {
    async fn configure(&self, configuration: Configuration) -> HandlerResult<Option<EventMask>> {
        self.inner.set_runtime(configuration.runtime.clone());
        if !configuration.config.trim().is_empty() {
            match Script::from_yaml(&configuration.config) {
                Ok(script) => self.inner.load(script),
                Err(error) => {
                    tracing::error!(%error, "the runtime's configuration is not a script");
                    self.inner.push(Record {
                        call: Call::Configure,
                        pod: None,
                        container: None,
                        step: None,
                        answer: Answer::Failed(error.to_string()),
                        later: None,
                    });
                    return Err(error.into());
                }
            }
        }
        self.inner.handle(Call::Configure, None, None).await?;
        Ok(Some(self.inner.armed().script.subscription()))
    }

    async fn synchronize(
        &self,
        _pods: Vec<PodSandbox>,
        containers: Vec<Container>,
    ) -> HandlerResult<Vec<ContainerUpdate>> {
        self.inner.synchronized(&containers);
        let answered = self.inner.handle(Call::Synchronize, None, None).await?;
        Ok(answered.update)
    }

    async fn shutdown(&self) {
        let _ = self.inner.handle(Call::Shutdown, None, None).await;
    }

    async fn run_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.pod_event(Call::RunPodSandbox, &pod).await
    }

    async fn update_pod_sandbox(&self, request: UpdatePodSandboxRequest) -> HandlerResult<()> {
        let pod = request.pod.unwrap_or_default();
        self.pod_event(Call::UpdatePodSandbox, &pod).await
    }

    async fn post_update_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.pod_event(Call::PostUpdatePodSandbox, &pod).await
    }

    async fn stop_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.pod_event(Call::StopPodSandbox, &pod).await
    }

    async fn remove_pod_sandbox(&self, pod: PodSandbox) -> HandlerResult<()> {
        self.pod_event(Call::RemovePodSandbox, &pod).await
    }

    async fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        let answered = self
            .inner
            .handle(Call::CreateContainer, Some(&pod), Some(&container))
            .await?;
        Ok(CreateContainerResponse {
            adjust: answered.adjust,
            update: answered.update,
            evict: answered.evict,
        })
    }

    async fn post_create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        self.container_event(Call::PostCreateContainer, &pod, &container)
            .await
    }

    async fn start_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.container_event(Call::StartContainer, &pod, &container)
            .await
    }

    async fn post_start_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        self.container_event(Call::PostStartContainer, &pod, &container)
            .await
    }

    async fn update_container(
        &self,
        pod: PodSandbox,
        container: Container,
        _resources: Option<LinuxResources>,
    ) -> HandlerResult<UpdateContainerResponse> {
        let answered = self
            .inner
            .handle(Call::UpdateContainer, Some(&pod), Some(&container))
            .await?;
        Ok(UpdateContainerResponse {
            update: answered.update,
            evict: answered.evict,
        })
    }

    async fn post_update_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<()> {
        self.container_event(Call::PostUpdateContainer, &pod, &container)
            .await
    }

    async fn stop_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<StopContainerResponse> {
        let answered = self
            .inner
            .handle(Call::StopContainer, Some(&pod), Some(&container))
            .await?;
        Ok(StopContainerResponse {
            update: answered.update,
        })
    }

    async fn remove_container(&self, pod: PodSandbox, container: Container) -> HandlerResult<()> {
        self.container_event(Call::RemoveContainer, &pod, &container)
            .await
    }

    async fn validate_container_adjustment(
        &self,
        request: ValidateContainerAdjustmentRequest,
    ) -> HandlerResult<()> {
        let pod = request.pod.unwrap_or_default();
        let container = request.container.unwrap_or_default();
        self.container_event(Call::ValidateContainerAdjustment, &pod, &container)
            .await
    }
}
