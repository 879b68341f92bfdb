//! The middleware's NRI domain: the inner CRI service as nri-core sees the
//! runtime. Listings go through its list and status calls; updates and
//! evictions plugins ask for go straight to its `UpdateContainerResources`
//! and `StopContainer`, so they fire no NRI events and cannot recurse
//! into NRI.

use std::sync::Arc;

use nri_core::runtime_api::{Domain, DomainError};
use nri_proto::api::{Container, ContainerEviction, ContainerUpdate, PodSandbox};
use tonic::Request;

use super::DOMAIN;
use super::views::Shared;
use crate::convert::{ContainerSource, container, resources};
use crate::cri;
use crate::cri::runtime_service_server::RuntimeService;

pub(super) struct CriDomain<S> {
    shared: Arc<Shared<S>>,
}

impl<S> CriDomain<S> {
    pub(super) fn new(shared: Arc<Shared<S>>) -> CriDomain<S> {
        CriDomain { shared }
    }
}

#[async_trait::async_trait]
impl<S: RuntimeService> Domain for CriDomain<S> {
    fn name(&self) -> &str {
        DOMAIN
    }

    async fn list_pod_sandboxes(&self) -> Vec<PodSandbox> {
        let request = Request::new(cri::ListPodSandboxRequest::default());
        let pods = match self.shared.inner.list_pod_sandbox(request).await {
            Ok(response) => response.into_inner().items,
            Err(status) => {
                tracing::warn!(%status, "listing pods for NRI failed");
                return Vec::new();
            }
        };
        let mut views = Vec::with_capacity(pods.len());
        for pod in pods {
            views.push(self.shared.pod_view(&pod.id).await);
        }
        views
    }

    /// Every container but those in an unknown state; exited ones are
    /// listed as stopped, so that plugins learn of them and later see
    /// their removal.
    async fn list_containers(&self) -> Vec<Container> {
        let request = Request::new(cri::ListContainersRequest::default());
        let listed = match self.shared.inner.list_containers(request).await {
            Ok(response) => response.into_inner().containers,
            Err(status) => {
                tracing::warn!(%status, "listing containers for NRI failed");
                return Vec::new();
            }
        };
        let mut views = Vec::with_capacity(listed.len());
        for item in listed {
            if item.state() == cri::ContainerState::ContainerUnknown {
                continue;
            }
            let nri_id = self.shared.nri_id_of_listed(&item);
            let Some(entry) = self.shared.container_entry(&item.id).await else {
                continue;
            };
            let status = self.shared.container_status(&item.id).await;
            views.push(container(&ContainerSource {
                id: &nri_id,
                pod_sandbox_id: &item.pod_sandbox_id,
                config: entry.config.as_ref(),
                status: status.as_ref(),
                pid: 0,
                spec: None,
            }));
        }
        views
    }

    async fn update_container(&self, update: &ContainerUpdate) -> Result<(), DomainError> {
        let cri_id = self.shared.cri_id(&update.container_id);
        let current = self
            .shared
            .container_status(&cri_id)
            .await
            .and_then(|status| status.resources)
            .and_then(|resources| resources.linux)
            .unwrap_or_default();
        let wanted = update
            .linux
            .as_ref()
            .and_then(|linux| linux.resources.as_ref());
        let Some(wanted) = wanted else {
            return Ok(());
        };
        let linux = resources::to_cri(wanted, &current)?;
        let request = cri::UpdateContainerResourcesRequest {
            container_id: cri_id,
            linux: Some(linux),
            ..Default::default()
        };
        self.shared
            .inner
            .update_container_resources(Request::new(request))
            .await?;
        Ok(())
    }

    async fn evict_container(&self, eviction: &ContainerEviction) -> Result<(), DomainError> {
        let cri_id = self.shared.cri_id(&eviction.container_id);
        let request = cri::StopContainerRequest {
            container_id: cri_id.clone(),
            timeout: 0,
        };
        self.shared
            .inner
            .stop_container(Request::new(request))
            .await?;
        self.shared.nudge_exit(&cri_id);
        Ok(())
    }
}
