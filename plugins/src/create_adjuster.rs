//! A plugin that adjusts each container being created with a function of
//! its pod and container, and fails the creation with the function's error:
//! what `nri-device-injector` and `nri-ulimit-adjuster` are, each with its
//! own function.

use nri_core::proto::api::{Container, ContainerAdjustment, CreateContainerResponse, PodSandbox};
use nri_core::stub::{HandlerResult, Plugin};

/// Runs `F` on every container being created.
#[derive(Debug, Clone)]
pub struct CreateAdjuster<F>(pub F);

#[nri_core::plugin]
impl<F, E> Plugin for CreateAdjuster<F>
where
    F: Fn(&PodSandbox, &Container) -> Result<ContainerAdjustment, E> + Send + Sync + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    async fn create_container(
        &self,
        pod: PodSandbox,
        container: Container,
    ) -> HandlerResult<CreateContainerResponse> {
        let adjust = (self.0)(&pod, &container)?;
        Ok(CreateContainerResponse {
            adjust: Some(adjust),
            ..Default::default()
        })
    }
}
