//! [`NriRuntimeService`]: any CRI `RuntimeService` with NRI in front of it.
//!
//! The middleware is itself a CRI `RuntimeService` (serve it with tonic's
//! `RuntimeServiceServer`). At every pod and container lifecycle call it
//! fires the NRI events containerd fires, with containerd's error policy:
//!
//! | CRI call | NRI, in order | a plugin error |
//! |---|---|---|
//! | RunPodSandbox | inner call, then RunPodSandbox | fails the call; plugins get StopPodSandbox and RemovePodSandbox and the sandbox is stopped and removed |
//! | UpdatePodSandboxResources | UpdatePodSandbox, inner call, PostUpdatePodSandbox | fails the call (Post: logged) |
//! | StopPodSandbox | inner call, StopContainer for each of its containers, StopPodSandbox | logged |
//! | RemovePodSandbox | inner call, RemoveContainer for each of its containers, RemovePodSandbox | logged |
//! | CreateContainer | CreateContainer (the adjustment is applied to the request), inner call, PostCreateContainer | fails the call; plugins get StopContainer and RemoveContainer (undo) |
//! | StartContainer | StartContainer, inner call, PostStartContainer | fails the call; plugins get StopContainer |
//! | UpdateContainerResources | UpdateContainer (its result replaces the request's resources), inner call, PostUpdateContainer | fails the call (Post: logged) |
//! | StopContainer | inner call, StopContainer | logged |
//! | RemoveContainer | inner call, RemoveContainer | logged |
//!
//! Every other call goes to the inner service unchanged. Lifecycle calls
//! hold off plugin registration while they run, so a plugin that registers
//! never misses an event in flight (containerd/nri#63).
//!
//! NRI keeps its view of the runtime through the inner service: plugins'
//! snapshots list its pods and containers, updates plugins ask for become
//! `UpdateContainerResources` and evictions become `StopContainer` with no
//! grace period, both on the inner service (so they fire no NRI events).
//! Container exits are reported through [`NriRuntimeService::container_exited`]
//! or found by an [`ExitWatcher`] that lists containers.
//!
//! **Container ids.** NRI's CreateContainer happens before the container
//! exists, so before the runtime has chosen its id. The middleware gives
//! the container an id of its own for NRI, records it in the container's
//! annotation [`NRI_ID_ANNOTATION`] (so it survives a restart of the
//! middleware), and maps between the two: plugins see one id for the
//! container's whole life, CRI clients see the runtime's. A runtime that
//! creates the container under the id in that annotation makes the two the
//! same. Containers that existed before the middleware keep their runtime
//! id.
//!
//! **Startup.** The inner service is a required argument of
//! [`NriRuntimeService::new`], and everything NRI needs from it is
//! reachable from the moment the value exists: exits seen during recovery,
//! before plugins are started, are queued by nri-core and shown to plugins
//! as stopped containers in their first snapshot (containerd#10401's panic
//! has no place to happen).

mod domain;
mod exits;
mod service;
mod views;

use std::sync::Arc;

use nri_core::adaptation::{EventError, Options};
use nri_core::runtime_api::{DomainHandle, NriApi};

use crate::cri::runtime_service_server::RuntimeService;

pub use exits::ExitWatcher;

/// The annotation in which the middleware records a container's NRI id.
pub const NRI_ID_ANNOTATION: &str = "io.nri-rs.cri.nri-id";

/// The name of the middleware's NRI domain: Kubernetes' containerd
/// namespace.
pub const DOMAIN: &str = "k8s.io";

/// A CRI `RuntimeService` with NRI in front of an inner one. Cheap to
/// clone.
pub struct NriRuntimeService<S> {
    shared: Arc<views::Shared<S>>,
    api: NriApi,
    nri: DomainHandle,
}

impl<S> Clone for NriRuntimeService<S> {
    fn clone(&self) -> Self {
        NriRuntimeService {
            shared: Arc::clone(&self.shared),
            api: self.api.clone(),
            nri: self.nri.clone(),
        }
    }
}

impl<S> std::fmt::Debug for NriRuntimeService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NriRuntimeService")
            .field("nri", &self.nri)
            .finish_non_exhaustive()
    }
}

impl<S: RuntimeService> NriRuntimeService<S> {
    /// Wraps `inner`. With `options: None` NRI is disabled and every call
    /// goes straight to `inner`. Start NRI with [`api`](Self::api)`.start(..)`
    /// once the runtime has recovered its state (and, for a runtime that
    /// does not report exits itself, an [`ExitWatcher`] runs).
    pub fn new(inner: Arc<S>, options: Option<Options>) -> NriRuntimeService<S> {
        let shared = Arc::new(views::Shared::new(inner));
        let domain = Arc::new(domain::CriDomain::new(Arc::clone(&shared)));
        let (api, nri) = NriApi::new(options, domain);
        NriRuntimeService { shared, api, nri }
    }

    /// The runtime API: start and stop NRI, its adaptation, states.
    pub fn api(&self) -> &NriApi {
        &self.api
    }

    /// The inner CRI service.
    pub fn inner(&self) -> &Arc<S> {
        &self.shared.inner
    }

    /// Reports that the container with runtime id `container_id` exited.
    /// Never blocks on plugins: the stop is queued and delivered before any
    /// later event. Reporting an exit twice, or the exit of a container
    /// that is not known, is harmless.
    pub async fn container_exited(&self, container_id: &str) {
        let Some((pod, container)) = self.shared.exited_views(container_id).await else {
            return;
        };
        tracing::debug!(pod = %pod.id, container = %container.id, "container exited");
        self.nri.notify_container_exit(&pod, &container);
    }
}

/// The CRI status of a failed NRI event.
fn event_failed(event: &str, error: &EventError) -> tonic::Status {
    tonic::Status::unknown(format!("NRI {event} failed: {error}"))
}
