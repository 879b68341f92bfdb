//! The runtime API layer: what a runtime calls at each lifecycle point
//! (containerd's `internal/nri` API), on top of an [`Adaptation`].
//!
//! This is the layer a runtime embeds: it implements a [`Domain`] per
//! namespace and calls the [`DomainHandle`]'s methods. The adaptation
//! underneath ([`NriApi::adaptation`]) runs the plugins; this layer is its
//! [`RuntimeBackend`](crate::adaptation::RuntimeBackend), made of the
//! domains.
//!
//! An [`NriApi`] owns the adaptation, the runtime's [`Domain`]s and the
//! pod and container [state machine](state). Lifecycle events are sent
//! through a [`DomainHandle`], which exists only for a registered domain,
//! and they carry the runtime's pod and container themselves (borrowed for
//! the event, not copied into a request): no event path looks anything up
//! in a backend that could be missing. This makes the bug of
//! containerd#10401 (an exit during startup recovery reached a CRI backend
//! that was not registered yet and crashed the runtime) impossible to
//! write:
//!
//! - there is no runtime API without a domain: [`NriApi::new`] takes the
//!   first one, and events are methods of the handle it returns;
//! - every entry point is total over every phase: before
//!   [`start`](NriApi::start) events reach no plugin but are tracked, while
//!   running they reach plugins, after [`stop`](NriApi::stop) they are
//!   tracked again, and with NRI disabled they return at once;
//! - [`DomainHandle::notify_container_exit`] never blocks: it queues the
//!   exit, and the stop it causes is delivered before any later event of
//!   the runtime (every event first delivers the exits queued before it).
//!   An exit queued before any plugin synchronized is remembered, so the
//!   plugins' snapshot shows that container stopped.
//!
//! Locks, in the only order they are taken: the runtime's
//! [`SyncBlock`], then this layer's event
//! lock, then the adaptation's. Updates and evictions plugins ask for are
//! applied through the domains after both event locks are released, so a
//! domain may stop containers (and notify exits) while doing so.

mod domain;
mod outcome;
pub mod state;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use nri_proto::api::{
    Container, ContainerUpdate, LinuxResources, PodSandbox, StopContainerResponse,
};
use nri_proto::event::Event;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use domain::{Domain, DomainError, DuplicateDomain};
pub use outcome::{Applied, Created, Stopped, Updated};
pub use state::State;

use crate::adaptation::{Adaptation, EventError, Options, StartError, SyncBlock};
use crate::config::Config;
use crate::merge::CreateMerge;
use crate::transport::{
    ContainerEventRef, PodEventRef, Transport, UpdateContainerRef, UpdatePodSandboxRef,
};
use domain::Domains;
use state::Kind;

/// The runtime's NRI entry point. Cheap to clone.
#[derive(Clone)]
pub struct NriApi {
    enabled: Option<Arc<Enabled>>,
}

impl std::fmt::Debug for NriApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NriApi")
            .field("enabled", &self.enabled.is_some())
            .finish_non_exhaustive()
    }
}

/// The events of one domain. Clone it freely.
#[derive(Clone)]
pub struct DomainHandle {
    name: Arc<str>,
    enabled: Option<Arc<Enabled>>,
}

impl std::fmt::Debug for DomainHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DomainHandle")
            .field("domain", &self.name)
            .field("enabled", &self.enabled.is_some())
            .finish()
    }
}

struct Enabled {
    adaptation: Adaptation,
    domains: Arc<Domains>,
    /// Serializes this layer's events: state checks and relays are atomic.
    events: tokio::sync::Mutex<()>,
    exits: Mutex<VecDeque<Exit>>,
    exit_signal: Arc<Notify>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

struct Exit {
    domain: Arc<str>,
    pod: PodSandbox,
    container: Container,
}

impl NriApi {
    /// An enabled runtime API (`options: Some`) or a disabled one (`None`),
    /// with its first domain.
    pub fn new(options: Option<Options>, domain: Arc<dyn Domain>) -> (NriApi, DomainHandle) {
        let name: Arc<str> = Arc::from(domain.name());
        let Some(options) = options else {
            return (
                NriApi { enabled: None },
                DomainHandle {
                    name,
                    enabled: None,
                },
            );
        };
        let domains = Arc::new(Domains::default());
        // A fresh registry holds no domain, so this cannot be a duplicate.
        let _ = domains.add(domain);
        let enabled = Arc::new(Enabled {
            adaptation: Adaptation::new(options, Arc::clone(&domains) as _),
            domains,
            events: tokio::sync::Mutex::new(()),
            exits: Mutex::new(VecDeque::new()),
            exit_signal: Arc::new(Notify::new()),
            worker: Mutex::new(None),
        });
        let handle = DomainHandle {
            name,
            enabled: Some(Arc::clone(&enabled)),
        };
        (
            NriApi {
                enabled: Some(enabled),
            },
            handle,
        )
    }

    /// A runtime API from containerd-style configuration: disabled when
    /// `config.disable` is set.
    pub fn from_config(
        config: &Config,
        runtime_name: &str,
        runtime_version: &str,
        domain: Arc<dyn Domain>,
    ) -> (NriApi, DomainHandle) {
        let options =
            (!config.disable).then(|| Options::from_config(config, runtime_name, runtime_version));
        NriApi::new(options, domain)
    }

    /// Registers another domain.
    pub fn add_domain(&self, domain: Arc<dyn Domain>) -> Result<DomainHandle, DuplicateDomain> {
        let name = match &self.enabled {
            Some(enabled) => enabled.domains.add(domain)?,
            None => Arc::from(domain.name()),
        };
        Ok(DomainHandle {
            name,
            enabled: self.enabled.clone(),
        })
    }

    /// Whether NRI is enabled.
    pub fn is_enabled(&self) -> bool {
        self.enabled.is_some()
    }

    /// The adaptation, when enabled.
    pub fn adaptation(&self) -> Option<&Adaptation> {
        self.enabled.as_ref().map(|enabled| &enabled.adaptation)
    }

    /// Starts NRI: delivers the exits queued so far, then starts the
    /// adaptation (builtin and pre-installed plugins, then the transports).
    pub async fn start(&self, transports: Vec<Arc<dyn Transport>>) -> Result<(), StartError> {
        let Some(enabled) = &self.enabled else {
            return Ok(());
        };
        enabled.session().await.finish().await;
        enabled.start_exit_worker();
        enabled.adaptation.start(transports).await
    }

    /// Stops NRI: plugins are shut down; later events reach none.
    pub async fn stop(&self) {
        let Some(enabled) = &self.enabled else {
            return;
        };
        enabled.adaptation.stop().await;
        let worker = enabled
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(worker) = worker {
            worker.abort();
        }
    }

    /// Holds off plugin synchronization; see [`SyncBlock`]. Take one around
    /// each operation that changes the runtime's store and sends an event.
    pub async fn block_plugin_sync(&self) -> SyncBlock {
        match &self.enabled {
            Some(enabled) => enabled.adaptation.block_plugin_sync().await,
            None => SyncBlock::unheld(),
        }
    }

    /// The state NRI holds for a container, if it tracks it.
    pub fn container_state(&self, id: &str) -> Option<State> {
        let enabled = self.enabled.as_ref()?;
        enabled.domains.states().get(Kind::Container, id)
    }

    /// How many pods and containers NRI tracks.
    pub fn tracked(&self) -> (usize, usize) {
        self.enabled
            .as_ref()
            .map_or((0, 0), |enabled| enabled.domains.states().len())
    }

    /// The state NRI holds for a pod, if it tracks it.
    pub fn pod_state(&self, id: &str) -> Option<State> {
        let enabled = self.enabled.as_ref()?;
        enabled.domains.states().get(Kind::Pod, id)
    }
}

/// One event of this layer in progress: its lock, and the updates the
/// queued exits' stops asked for, applied once the lock is released.
struct Session<'a> {
    api: &'a Enabled,
    lock: tokio::sync::MutexGuard<'a, ()>,
    deferred: Vec<ContainerUpdate>,
}

impl Enabled {
    /// Takes the event lock and delivers the exits queued before it.
    async fn session(&self) -> Session<'_> {
        let lock = self.events.lock().await;
        let mut session = Session {
            api: self,
            lock,
            deferred: Vec::new(),
        };
        loop {
            // Boxed: an exit holds a pod and a container (kilobytes), and
            // what lives across the stop below is in every event's future.
            let next = self
                .exits
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front()
                .map(Box::new);
            let Some(exit) = next else { break };
            let known = self
                .domains
                .states()
                .get(Kind::Container, &exit.container.id)
                .is_some();
            if known {
                if let Some(Ok(reply)) =
                    session.stop(&exit.domain, &exit.pod, &exit.container).await
                {
                    session.deferred.extend(reply.update);
                }
            } else if !self.domains.listed() {
                // No plugin has seen any container yet (startup recovery):
                // remember the exit so the plugins' snapshot shows the
                // container stopped. Later, an unknown container is one NRI
                // never tracked or already removed, and its exit is dropped.
                self.domains.states().set(
                    Kind::Container,
                    &exit.container.id,
                    State::Stopped,
                    &exit.domain,
                );
            }
        }
        session
    }

    fn start_exit_worker(self: &Arc<Self>) {
        let api: Weak<Enabled> = Arc::downgrade(self);
        let signal = Arc::clone(&self.exit_signal);
        let worker = tokio::spawn(async move {
            loop {
                signal.notified().await;
                let Some(api) = api.upgrade() else { break };
                api.session().await.finish().await;
            }
        });
        if let Some(old) = self
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(worker)
        {
            old.abort();
        }
    }
}

impl Session<'_> {
    /// Delivers a container's stop if it still has to reach plugins.
    async fn stop(
        &mut self,
        domain: &Arc<str>,
        pod: &PodSandbox,
        container: &Container,
    ) -> Option<Result<StopContainerResponse, EventError>> {
        let api = self.api;
        if !api
            .domains
            .states()
            .claim_stop(Kind::Container, &container.id, domain)
        {
            tracing::trace!(container = %container.id, "container needs no stop");
            return None;
        }
        if api.adaptation.reaches_no_plugin(&[Event::StopContainer]) {
            return Some(Ok(StopContainerResponse::default()));
        }
        let request = ContainerEventRef::new(pod, container);
        Some(Box::pin(api.adaptation.stop_container(request)).await)
    }

    fn set(&self, kind: Kind, id: &str, state: State, domain: &Arc<str>) {
        self.api.domains.states().set(kind, id, state, domain);
    }

    /// Releases the lock, then applies the deferred updates.
    async fn finish(self) -> Applied {
        let Session {
            api,
            lock,
            deferred,
        } = self;
        drop(lock);
        Applied::apply(api.domains.as_ref(), deferred, Vec::new()).await
    }
}

impl DomainHandle {
    /// Sends an event whose reply carries nothing: takes this layer's lock,
    /// delivers the queued exits, sends the request `build` makes, and
    /// records `state` (even if a plugin failed the event). With NRI
    /// disabled, or no plugin subscribed to `event`, nothing is built or
    /// sent.
    async fn relay<'a, F, Fut>(
        &'a self,
        event: Event,
        state: Option<(Kind, &str, State)>,
        build: F,
    ) -> Result<(), EventError>
    where
        F: FnOnce(&'a Adaptation) -> Fut,
        Fut: std::future::Future<Output = Result<(), EventError>>,
    {
        let Some(api) = &self.enabled else {
            return Ok(());
        };
        let session = api.session().await;
        let result = if api.adaptation.reaches_no_plugin(&[event]) {
            Ok(())
        } else {
            build(&api.adaptation).await
        };
        if let Some((kind, id, state)) = state {
            session.set(kind, id, state, &self.name);
        }
        session.finish().await;
        result
    }

    /// The domain's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A pod was started. It is tracked as running even if a plugin fails.
    pub async fn run_pod_sandbox(&self, pod: &PodSandbox) -> Result<(), EventError> {
        self.relay(
            Event::RunPodSandbox,
            Some((Kind::Pod, &pod.id, State::Running)),
            move |adaptation| adaptation.run_pod_sandbox(PodEventRef::new(pod)),
        )
        .await
    }

    /// A pod's resources are changing.
    pub async fn update_pod_sandbox(
        &self,
        pod: &PodSandbox,
        overhead: Option<LinuxResources>,
        resources: Option<LinuxResources>,
    ) -> Result<(), EventError> {
        let request = UpdatePodSandboxRef {
            pod: Some(pod),
            overhead_linux_resources: overhead.as_ref(),
            linux_resources: resources.as_ref(),
        };
        self.relay(Event::UpdatePodSandbox, None, move |adaptation| {
            adaptation.update_pod_sandbox(request)
        })
        .await
    }

    /// A pod's resources changed.
    pub async fn post_update_pod_sandbox(&self, pod: &PodSandbox) -> Result<(), EventError> {
        self.relay(Event::PostUpdatePodSandbox, None, move |adaptation| {
            adaptation.post_update_pod_sandbox(PodEventRef::new(pod))
        })
        .await
    }

    /// A pod was stopped. Delivered once, and only for a running pod.
    pub async fn stop_pod_sandbox(&self, pod: &PodSandbox) -> Result<(), EventError> {
        let Some(api) = &self.enabled else {
            return Ok(());
        };
        let session = api.session().await;
        let result = if api
            .domains
            .states()
            .claim_stop(Kind::Pod, &pod.id, &self.name)
            && !api.adaptation.reaches_no_plugin(&[Event::StopPodSandbox])
        {
            api.adaptation.stop_pod_sandbox(PodEventRef::new(pod)).await
        } else {
            Ok(())
        };
        session.finish().await;
        result
    }

    /// A pod was removed. Delivered once, and only for a tracked pod.
    pub async fn remove_pod_sandbox(&self, pod: &PodSandbox) -> Result<(), EventError> {
        let Some(api) = &self.enabled else {
            return Ok(());
        };
        let session = api.session().await;
        let result = if api.domains.states().needs_removal(Kind::Pod, &pod.id) {
            let result = if api.adaptation.reaches_no_plugin(&[Event::RemovePodSandbox]) {
                Ok(())
            } else {
                api.adaptation
                    .remove_pod_sandbox(PodEventRef::new(pod))
                    .await
            };
            api.domains.states().remove(Kind::Pod, &pod.id);
            result
        } else {
            Ok(())
        };
        session.finish().await;
        result
    }

    /// A container is being created. Returns the adjustment to apply,
    /// after carrying out the updates of other containers
    /// and the evictions plugins asked for. The container is tracked as
    /// created even if a plugin fails the creation.
    pub async fn create_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<Created, EventError> {
        let Some(api) = &self.enabled else {
            return Ok(Created::default());
        };
        let session = api.session().await;
        let unseen = [Event::CreateContainer, Event::ValidateContainerAdjustment];
        let result = if api.adaptation.reaches_no_plugin(&unseen) {
            Ok(CreateMerge::reply_without_plugins())
        } else {
            let request = ContainerEventRef::new(pod, container);
            api.adaptation.create_container(request).await
        };
        session.set(Kind::Container, &container.id, State::Created, &self.name);
        let mut applied = session.finish().await;
        let reply = result?;
        applied.merge(Applied::apply(api.domains.as_ref(), reply.update, reply.evict).await);
        Ok(Created {
            adjustment: reply.adjust,
            applied,
        })
    }

    /// A container was created.
    pub async fn post_create_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<(), EventError> {
        self.relay(Event::PostCreateContainer, None, move |adaptation| {
            adaptation.post_create_container(ContainerEventRef::new(pod, container))
        })
        .await
    }

    /// A container is being started. It is tracked as running even if a
    /// plugin fails.
    pub async fn start_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<(), EventError> {
        self.relay(
            Event::StartContainer,
            Some((Kind::Container, &container.id, State::Running)),
            move |adaptation| adaptation.start_container(ContainerEventRef::new(pod, container)),
        )
        .await
    }

    /// A container was started.
    pub async fn post_start_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<(), EventError> {
        self.relay(Event::PostStartContainer, None, move |adaptation| {
            adaptation.post_start_container(ContainerEventRef::new(pod, container))
        })
        .await
    }

    /// A container's resources are changing. Returns the resources to
    /// apply (`None`: the requested ones), after carrying out the updates of
    /// other containers and the evictions plugins asked for.
    pub async fn update_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
        resources: Option<LinuxResources>,
    ) -> Result<Updated, EventError> {
        let Some(api) = &self.enabled else {
            return Ok(Updated::default());
        };
        let session = api.session().await;
        if api.adaptation.reaches_no_plugin(&[Event::UpdateContainer]) {
            let applied = session.finish().await;
            return Ok(Updated {
                resources: Some(crate::merge::requested_resources(resources)),
                applied,
            });
        }
        let request = UpdateContainerRef {
            pod: Some(pod),
            container: Some(container),
            linux_resources: resources.as_ref(),
        };
        let result = api.adaptation.update_container(request).await;
        let mut applied = session.finish().await;
        let mut reply = result?;
        let target = match reply.update.last() {
            Some(last) if last.container_id == container.id => reply.update.pop(),
            _ => None,
        };
        applied.merge(Applied::apply(api.domains.as_ref(), reply.update, reply.evict).await);
        Ok(Updated {
            resources: target
                .and_then(|update| update.linux)
                .and_then(|linux| linux.resources),
            applied,
        })
    }

    /// A container's resources changed.
    pub async fn post_update_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<(), EventError> {
        self.relay(Event::PostUpdateContainer, None, move |adaptation| {
            adaptation.post_update_container(ContainerEventRef::new(pod, container))
        })
        .await
    }

    /// A container was stopped by the runtime. Delivered once, and only
    /// for a created or running container.
    pub async fn stop_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<Stopped, EventError> {
        let Some(api) = &self.enabled else {
            return Ok(Stopped::default());
        };
        let mut session = api.session().await;
        let result = session.stop(&self.name, pod, container).await;
        let mut applied = session.finish().await;
        match result {
            None => Ok(Stopped::default()),
            Some(result) => {
                let reply = result?;
                applied.merge(Applied::apply(api.domains.as_ref(), reply.update, Vec::new()).await);
                Ok(Stopped {
                    delivered: true,
                    applied,
                })
            }
        }
    }

    /// A container exited. Never blocks: the stop is queued and delivered
    /// (once, like every stop) before any event the runtime sends after
    /// this call. Safe in every phase, including startup recovery before
    /// [`NriApi::start`].
    pub fn notify_container_exit(&self, pod: &PodSandbox, container: &Container) {
        let Some(api) = &self.enabled else { return };
        api.exits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(Exit {
                domain: Arc::clone(&self.name),
                pod: pod.clone(),
                container: container.clone(),
            });
        api.exit_signal.notify_one();
    }

    /// A container was removed. A container still created or running is
    /// stopped first (its stop delivered, its error ignored). Delivered
    /// once, and only for a tracked container.
    pub async fn remove_container(
        &self,
        pod: &PodSandbox,
        container: &Container,
    ) -> Result<(), EventError> {
        let Some(api) = &self.enabled else {
            return Ok(());
        };
        let mut session = api.session().await;
        if !api
            .domains
            .states()
            .needs_removal(Kind::Container, &container.id)
        {
            session.finish().await;
            return Ok(());
        }
        if let Some(Ok(reply)) = session.stop(&self.name, pod, container).await {
            session.deferred.extend(reply.update);
        }
        let result = if api.adaptation.reaches_no_plugin(&[Event::RemoveContainer]) {
            Ok(())
        } else {
            let request = ContainerEventRef::new(pod, container);
            api.adaptation.remove_container(request).await
        };
        api.domains.states().remove(Kind::Container, &container.id);
        session.finish().await;
        result
    }
}
