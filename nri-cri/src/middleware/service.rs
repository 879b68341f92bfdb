//! The CRI calls of the middleware: each lifecycle call with its NRI
//! events, in containerd's order and with its error policy (see the
//! module table in [`super`]).

use nri_proto::api::{Container, PodSandbox};
use tonic::{Request, Response, Status};

use super::views::{ContainerEntry, PodEntry};
use super::{NRI_ID_ANNOTATION, NriRuntimeService, event_failed};
use crate::config_adjust;
use crate::convert::{ContainerSource, container, resources};
use crate::cri;
use crate::cri::runtime_service_server::RuntimeService;

type Reply<T> = Result<Response<T>, Status>;

/// Logs the error of an event whose failure does not fail the CRI call.
fn logged<T>(event: &str, outcome: Result<T, nri_core::adaptation::EventError>) {
    if let Err(error) = outcome {
        tracing::warn!(%error, "NRI {event} failed");
    }
}

impl<S: RuntimeService> NriRuntimeService<S> {
    /// Plugins are told a container that was being created is gone.
    async fn undo_create(&self, pod: &PodSandbox, container: &Container) {
        logged(
            "StopContainer",
            self.nri.stop_container(pod, container).await,
        );
        logged(
            "RemoveContainer",
            self.nri.remove_container(pod, container).await,
        );
    }

    /// The pod's containers, as the runtime lists them.
    async fn containers_of(&self, pod_id: &str) -> Vec<cri::Container> {
        let request = cri::ListContainersRequest {
            filter: Some(cri::ContainerFilter {
                pod_sandbox_id: pod_id.to_string(),
                ..Default::default()
            }),
        };
        match self.inner().list_containers(Request::new(request)).await {
            Ok(response) => response.into_inner().containers,
            Err(status) => {
                tracing::warn!(pod = %pod_id, %status, "listing the pod's containers failed");
                Vec::new()
            }
        }
    }
}

#[tonic::async_trait]
impl<S: RuntimeService> RuntimeService for NriRuntimeService<S> {
    async fn version(&self, request: Request<cri::VersionRequest>) -> Reply<cri::VersionResponse> {
        self.inner().version(request).await
    }

    #[tracing::instrument(skip_all)]
    async fn run_pod_sandbox(
        &self,
        request: Request<cri::RunPodSandboxRequest>,
    ) -> Reply<cri::RunPodSandboxResponse> {
        let _block = self.api.block_plugin_sync().await;
        let config = request.get_ref().config.clone();
        let runtime_handler = request.get_ref().runtime_handler.clone();
        let response = self.inner().run_pod_sandbox(request).await?;
        let id = response.get_ref().pod_sandbox_id.clone();
        let span = tracing::info_span!("pod", pod = %id);
        let _enter = span.enter();
        let status = self.shared.pod_status(&id).await;
        self.shared.remember_pod(
            &id,
            PodEntry {
                config,
                status,
                runtime_handler,
            },
        );
        let pod = self.shared.pod_view(&id).await;
        if let Err(error) = self.nri.run_pod_sandbox(&pod).await {
            logged("StopPodSandbox", self.nri.stop_pod_sandbox(&pod).await);
            logged("RemovePodSandbox", self.nri.remove_pod_sandbox(&pod).await);
            let stop = cri::StopPodSandboxRequest {
                pod_sandbox_id: id.clone(),
            };
            if let Err(status) = self.inner().stop_pod_sandbox(Request::new(stop)).await {
                tracing::warn!(%status, "stopping the rejected pod failed");
            }
            let remove = cri::RemovePodSandboxRequest {
                pod_sandbox_id: id.clone(),
            };
            if let Err(status) = self.inner().remove_pod_sandbox(Request::new(remove)).await {
                tracing::warn!(%status, "removing the rejected pod failed");
            }
            self.shared.forget_pod(&id);
            return Err(event_failed("RunPodSandbox", &error));
        }
        Ok(response)
    }

    #[tracing::instrument(skip_all, fields(pod = %request.get_ref().pod_sandbox_id))]
    async fn update_pod_sandbox_resources(
        &self,
        request: Request<cri::UpdatePodSandboxResourcesRequest>,
    ) -> Reply<cri::UpdatePodSandboxResourcesResponse> {
        let id = request.get_ref().pod_sandbox_id.clone();
        let pod = self.shared.pod_view(&id).await;
        let overhead = request.get_ref().overhead.as_ref().map(resources::from_cri);
        let wanted = request
            .get_ref()
            .resources
            .as_ref()
            .map(resources::from_cri);
        self.nri
            .update_pod_sandbox(&pod, overhead, wanted)
            .await
            .map_err(|error| event_failed("UpdatePodSandbox", &error))?;
        let response = self.inner().update_pod_sandbox_resources(request).await?;
        let pod = self.shared.pod_view(&id).await;
        logged(
            "PostUpdatePodSandbox",
            self.nri.post_update_pod_sandbox(&pod).await,
        );
        Ok(response)
    }

    #[tracing::instrument(skip_all, fields(pod = %request.get_ref().pod_sandbox_id))]
    async fn stop_pod_sandbox(
        &self,
        request: Request<cri::StopPodSandboxRequest>,
    ) -> Reply<cri::StopPodSandboxResponse> {
        let _block = self.api.block_plugin_sync().await;
        let id = request.get_ref().pod_sandbox_id.clone();
        let response = self.inner().stop_pod_sandbox(request).await?;
        for listed in self.containers_of(&id).await {
            if let Some((pod, container, _)) = self.shared.container_views(&listed.id).await {
                logged(
                    "StopContainer",
                    self.nri.stop_container(&pod, &container).await,
                );
            }
        }
        let pod = self.shared.pod_view(&id).await;
        logged("StopPodSandbox", self.nri.stop_pod_sandbox(&pod).await);
        Ok(response)
    }

    #[tracing::instrument(skip_all, fields(pod = %request.get_ref().pod_sandbox_id))]
    async fn remove_pod_sandbox(
        &self,
        request: Request<cri::RemovePodSandboxRequest>,
    ) -> Reply<cri::RemovePodSandboxResponse> {
        let _block = self.api.block_plugin_sync().await;
        let id = request.get_ref().pod_sandbox_id.clone();
        // Views are taken before the runtime forgets the containers.
        let mut doomed = Vec::new();
        for listed in self.containers_of(&id).await {
            if let Some((pod, container, _)) = self.shared.container_views(&listed.id).await {
                doomed.push((listed.id, pod, container));
            }
        }
        let pod = self.shared.pod_view(&id).await;
        let response = self.inner().remove_pod_sandbox(request).await?;
        for (cri_id, pod, container) in doomed {
            logged(
                "RemoveContainer",
                self.nri.remove_container(&pod, &container).await,
            );
            self.shared.forget_container(&cri_id);
        }
        logged("RemovePodSandbox", self.nri.remove_pod_sandbox(&pod).await);
        self.shared.forget_pod(&id);
        Ok(response)
    }

    async fn pod_sandbox_status(
        &self,
        request: Request<cri::PodSandboxStatusRequest>,
    ) -> Reply<cri::PodSandboxStatusResponse> {
        self.inner().pod_sandbox_status(request).await
    }

    async fn list_pod_sandbox(
        &self,
        request: Request<cri::ListPodSandboxRequest>,
    ) -> Reply<cri::ListPodSandboxResponse> {
        self.inner().list_pod_sandbox(request).await
    }

    #[tracing::instrument(skip_all, fields(pod = %request.get_ref().pod_sandbox_id, container))]
    async fn create_container(
        &self,
        mut request: Request<cri::CreateContainerRequest>,
    ) -> Reply<cri::CreateContainerResponse> {
        let _block = self.api.block_plugin_sync().await;
        let pod_id = request.get_ref().pod_sandbox_id.clone();
        let nri_id = self.shared.new_nri_id();
        tracing::Span::current().record("container", nri_id.as_str());
        if let Some(sandbox_config) = request.get_ref().sandbox_config.clone() {
            self.shared.remember_sandbox_config(&pod_id, sandbox_config);
        }
        let pod = self.shared.pod_view(&pod_id).await;
        let mut config = request.get_ref().config.clone().unwrap_or_default();
        let view = container(&ContainerSource {
            id: &nri_id,
            pod_sandbox_id: &pod_id,
            config: Some(&config),
            status: None,
            pid: 0,
            spec: None,
        });
        let created = match self.nri.create_container(&pod, &view).await {
            Ok(created) => created,
            Err(error) => {
                self.undo_create(&pod, &view).await;
                return Err(event_failed("CreateContainer", &error));
            }
        };
        if let Some(adjustment) = &created.adjustment
            && let Err(error) = config_adjust::apply(&mut config, adjustment)
        {
            self.undo_create(&pod, &view).await;
            return Err(Status::failed_precondition(format!(
                "NRI CreateContainer: {error}"
            )));
        }
        config
            .annotations
            .insert(NRI_ID_ANNOTATION.to_string(), nri_id.clone());
        request.get_mut().config = Some(config.clone());
        let response = match self.inner().create_container(request).await {
            Ok(response) => response,
            Err(status) => {
                self.undo_create(&pod, &view).await;
                return Err(status);
            }
        };
        let cri_id = response.get_ref().container_id.clone();
        self.shared.remember_container(
            &cri_id,
            ContainerEntry {
                nri_id,
                pod_id,
                config: Some(config),
            },
        );
        if let Some((pod, container, _)) = self.shared.container_views(&cri_id).await {
            logged(
                "PostCreateContainer",
                self.nri.post_create_container(&pod, &container).await,
            );
        }
        Ok(response)
    }

    #[tracing::instrument(skip_all, fields(container = %request.get_ref().container_id))]
    async fn start_container(
        &self,
        request: Request<cri::StartContainerRequest>,
    ) -> Reply<cri::StartContainerResponse> {
        let _block = self.api.block_plugin_sync().await;
        let cri_id = request.get_ref().container_id.clone();
        let Some((pod, view, _)) = self.shared.container_views(&cri_id).await else {
            return self.inner().start_container(request).await;
        };
        if let Err(error) = self.nri.start_container(&pod, &view).await {
            logged("StopContainer", self.nri.stop_container(&pod, &view).await);
            return Err(event_failed("StartContainer", &error));
        }
        let response = match self.inner().start_container(request).await {
            Ok(response) => response,
            Err(status) => {
                logged("StopContainer", self.nri.stop_container(&pod, &view).await);
                return Err(status);
            }
        };
        if let Some((pod, container, _)) = self.shared.container_views(&cri_id).await {
            logged(
                "PostStartContainer",
                self.nri.post_start_container(&pod, &container).await,
            );
        }
        Ok(response)
    }

    #[tracing::instrument(skip_all, fields(container = %request.get_ref().container_id))]
    async fn stop_container(
        &self,
        request: Request<cri::StopContainerRequest>,
    ) -> Reply<cri::StopContainerResponse> {
        let _block = self.api.block_plugin_sync().await;
        let cri_id = request.get_ref().container_id.clone();
        let response = self.inner().stop_container(request).await?;
        if let Some((pod, container, _)) = self.shared.container_views(&cri_id).await {
            logged(
                "StopContainer",
                self.nri.stop_container(&pod, &container).await,
            );
        }
        Ok(response)
    }

    #[tracing::instrument(skip_all, fields(container = %request.get_ref().container_id))]
    async fn remove_container(
        &self,
        request: Request<cri::RemoveContainerRequest>,
    ) -> Reply<cri::RemoveContainerResponse> {
        let _block = self.api.block_plugin_sync().await;
        let cri_id = request.get_ref().container_id.clone();
        let views = self.shared.container_views(&cri_id).await;
        let response = self.inner().remove_container(request).await?;
        if let Some((pod, container, _)) = views {
            logged(
                "RemoveContainer",
                self.nri.remove_container(&pod, &container).await,
            );
        }
        self.shared.forget_container(&cri_id);
        Ok(response)
    }

    async fn list_containers(
        &self,
        request: Request<cri::ListContainersRequest>,
    ) -> Reply<cri::ListContainersResponse> {
        self.inner().list_containers(request).await
    }

    async fn container_status(
        &self,
        request: Request<cri::ContainerStatusRequest>,
    ) -> Reply<cri::ContainerStatusResponse> {
        self.inner().container_status(request).await
    }

    #[tracing::instrument(skip_all, fields(container = %request.get_ref().container_id))]
    async fn update_container_resources(
        &self,
        mut request: Request<cri::UpdateContainerResourcesRequest>,
    ) -> Reply<cri::UpdateContainerResourcesResponse> {
        let _block = self.api.block_plugin_sync().await;
        let cri_id = request.get_ref().container_id.clone();
        let Some((pod, view, _)) = self.shared.container_views(&cri_id).await else {
            return self.inner().update_container_resources(request).await;
        };
        let requested = request.get_ref().linux.clone();
        let updated = self
            .nri
            .update_container(&pod, &view, requested.as_ref().map(resources::from_cri))
            .await
            .map_err(|error| event_failed("UpdateContainer", &error))?;
        if let Some(wanted) = &updated.resources {
            let base = requested.unwrap_or_default();
            let linux = resources::to_cri(wanted, &base).map_err(|error| {
                Status::failed_precondition(format!("NRI UpdateContainer: {error}"))
            })?;
            request.get_mut().linux = Some(linux);
        }
        let response = self.inner().update_container_resources(request).await?;
        if let Some((pod, container, _)) = self.shared.container_views(&cri_id).await {
            logged(
                "PostUpdateContainer",
                self.nri.post_update_container(&pod, &container).await,
            );
        }
        Ok(response)
    }
}
