//! What the middleware remembers of pods and containers (the configs they
//! were created from, the NRI id of each container) and the NRI views it
//! builds from that and the inner service's status calls.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nri_proto::api::{Container, PodSandbox};

use super::NRI_ID_ANNOTATION;
use crate::convert::{ContainerSource, PodSource, container, pod_sandbox};
use crate::cri;
use crate::cri::runtime_service_server::RuntimeService;

/// A pod the middleware has seen.
#[derive(Debug, Clone, Default)]
pub(super) struct PodEntry {
    pub(super) config: Option<cri::PodSandboxConfig>,
    pub(super) status: Option<cri::PodSandboxStatus>,
    pub(super) runtime_handler: String,
}

/// A container the middleware has seen.
#[derive(Debug, Clone)]
pub(super) struct ContainerEntry {
    pub(super) nri_id: String,
    pub(super) pod_id: String,
    pub(super) config: Option<cri::ContainerConfig>,
}

#[derive(Default)]
struct Containers {
    /// By runtime id.
    by_cri: HashMap<String, ContainerEntry>,
    /// Runtime id by NRI id.
    by_nri: HashMap<String, String>,
}

/// The state the CRI service and the NRI domain share.
pub(super) struct Shared<S> {
    pub(super) inner: Arc<S>,
    pods: Mutex<HashMap<String, PodEntry>>,
    containers: Mutex<Containers>,
    ids: IdSource,
    /// Woken when a container was stopped behind NRI's back (an eviction),
    /// so that an exit watcher looks at once.
    exit_nudge: tokio::sync::Notify,
}

impl<S: RuntimeService> Shared<S> {
    pub(super) fn new(inner: Arc<S>) -> Shared<S> {
        Shared {
            inner,
            pods: Mutex::default(),
            containers: Mutex::default(),
            ids: IdSource::default(),
            exit_nudge: tokio::sync::Notify::new(),
        }
    }

    /// Asks an exit watcher, if one runs, to look for exits now.
    pub(super) fn nudge_exit(&self, cri_id: &str) {
        tracing::debug!(container = %cri_id, "looking for the exit of a stopped container");
        self.exit_nudge.notify_one();
    }

    /// Completes when [`nudge_exit`](Self::nudge_exit) was called.
    pub(super) async fn nudged(&self) {
        self.exit_nudge.notified().await;
    }

    /// The NRI id of a container known by its runtime id (the runtime id
    /// itself when the middleware has not seen it).
    pub(super) fn nri_id_of(&self, cri_id: &str) -> String {
        self.containers()
            .by_cri
            .get(cri_id)
            .map_or_else(|| cri_id.to_string(), |entry| entry.nri_id.clone())
    }

    fn pods(&self) -> MutexGuard<'_, HashMap<String, PodEntry>> {
        self.pods.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn containers(&self) -> MutexGuard<'_, Containers> {
        self.containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn new_nri_id(&self) -> String {
        self.ids.next()
    }

    pub(super) fn remember_pod(&self, id: &str, entry: PodEntry) {
        self.pods().insert(id.to_string(), entry);
    }

    /// Remembers a pod's config (from a CreateContainer request) when the
    /// pod's own creation was not seen.
    pub(super) fn remember_sandbox_config(&self, id: &str, config: cri::PodSandboxConfig) {
        let mut pods = self.pods();
        let entry = pods.entry(id.to_string()).or_default();
        if entry.config.is_none() {
            entry.config = Some(config);
        }
    }

    pub(super) fn forget_pod(&self, id: &str) {
        self.pods().remove(id);
    }

    pub(super) fn remember_container(&self, cri_id: &str, entry: ContainerEntry) {
        let mut containers = self.containers();
        containers
            .by_nri
            .insert(entry.nri_id.clone(), cri_id.to_string());
        containers.by_cri.insert(cri_id.to_string(), entry);
    }

    pub(super) fn forget_container(&self, cri_id: &str) {
        let mut containers = self.containers();
        if let Some(entry) = containers.by_cri.remove(cri_id) {
            containers.by_nri.remove(&entry.nri_id);
        }
    }

    /// The runtime id of the container NRI knows as `nri_id`.
    pub(super) fn cri_id(&self, nri_id: &str) -> String {
        self.containers()
            .by_nri
            .get(nri_id)
            .cloned()
            .unwrap_or_else(|| nri_id.to_string())
    }

    /// The NRI id of a container the runtime lists.
    pub(super) fn nri_id_of_listed(&self, listed: &cri::Container) -> String {
        if let Some(entry) = self.containers().by_cri.get(&listed.id) {
            return entry.nri_id.clone();
        }
        let nri_id = listed
            .annotations
            .get(NRI_ID_ANNOTATION)
            .cloned()
            .unwrap_or_else(|| listed.id.clone());
        self.remember_container(
            &listed.id,
            ContainerEntry {
                nri_id: nri_id.clone(),
                pod_id: listed.pod_sandbox_id.clone(),
                config: None,
            },
        );
        nri_id
    }

    /// The NRI view of a pod, from what was remembered and its status.
    pub(super) async fn pod_view(&self, id: &str) -> PodSandbox {
        let cached = self.pods().get(id).cloned();
        let mut entry = cached.clone().unwrap_or_default();
        if entry.status.is_none() {
            entry.status = self.pod_status(id).await;
            if cached.is_some() || entry.status.is_some() {
                self.remember_pod(id, entry.clone());
            }
        }
        pod_sandbox(&PodSource {
            id,
            config: entry.config.as_ref(),
            status: entry.status.as_ref(),
            runtime_handler: &entry.runtime_handler,
            pid: 0,
            spec: None,
        })
    }

    pub(super) async fn pod_status(&self, id: &str) -> Option<cri::PodSandboxStatus> {
        let request = cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.to_string(),
            verbose: false,
        };
        match self
            .inner
            .pod_sandbox_status(tonic::Request::new(request))
            .await
        {
            Ok(response) => response.into_inner().status,
            Err(status) => {
                tracing::debug!(pod = %id, %status, "no pod status");
                None
            }
        }
    }

    pub(super) async fn container_status(&self, cri_id: &str) -> Option<cri::ContainerStatus> {
        let request = cri::ContainerStatusRequest {
            container_id: cri_id.to_string(),
            verbose: false,
        };
        match self
            .inner
            .container_status(tonic::Request::new(request))
            .await
        {
            Ok(response) => response.into_inner().status,
            Err(status) => {
                tracing::debug!(container = %cri_id, %status, "no container status");
                None
            }
        }
    }

    /// The entry of a container, asking the runtime about one the
    /// middleware has not seen.
    pub(super) async fn container_entry(&self, cri_id: &str) -> Option<ContainerEntry> {
        if let Some(entry) = self.containers().by_cri.get(cri_id) {
            return Some(entry.clone());
        }
        let request = cri::ListContainersRequest {
            filter: Some(cri::ContainerFilter {
                id: cri_id.to_string(),
                ..Default::default()
            }),
        };
        let listed = self
            .inner
            .list_containers(tonic::Request::new(request))
            .await
            .ok()?
            .into_inner()
            .containers;
        let found = listed.iter().find(|c| c.id == cri_id)?;
        self.nri_id_of_listed(found);
        self.containers().by_cri.get(cri_id).cloned()
    }

    /// The NRI views of a container (with its current status) and its pod.
    pub(super) async fn container_views(
        &self,
        cri_id: &str,
    ) -> Option<(PodSandbox, Container, cri::ContainerStatus)> {
        let entry = self.container_entry(cri_id).await?;
        let status = self.container_status(cri_id).await;
        let pod = self.pod_view(&entry.pod_id).await;
        let view = container(&ContainerSource {
            id: &entry.nri_id,
            pod_sandbox_id: &entry.pod_id,
            config: entry.config.as_ref(),
            status: status.as_ref(),
            pid: 0,
            spec: None,
        });
        Some((pod, view, status.unwrap_or_default()))
    }

    /// The views of a container reported as exited.
    pub(super) async fn exited_views(&self, cri_id: &str) -> Option<(PodSandbox, Container)> {
        let (pod, container, _) = self.container_views(cri_id).await?;
        Some((pod, container))
    }
}

/// Container ids for NRI: 64 hex digits, as runtimes make them, unique
/// within the process and unpredictable across processes.
#[derive(Default)]
struct IdSource {
    seed: RandomState,
    counter: AtomicU64,
}

impl IdSource {
    fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(64);
        for part in 0..4u64 {
            let word = self.seed.hash_one((n, part, std::process::id()));
            id.push_str(&format!("{word:016x}"));
        }
        id
    }
}
