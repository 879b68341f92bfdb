//! [`FakeDomain`]: the test kit's fake runtime, an in-memory runtime
//! namespace behind an [`NriApi`](nri_core::runtime_api::NriApi) (as its
//! [`Domain`]) or directly behind an
//! [`Adaptation`](nri_core::adaptation::Adaptation) (as its
//! [`RuntimeBackend`]).
//!
//! It holds pods and containers, lists them when a plugin synchronizes,
//! and carries out what plugins ask as a runtime would: an update changes
//! the stored container's Linux resources, an eviction stops the container
//! and, once a [`DomainHandle`] is [attached](FakeDomain::attach), reports
//! its exit through [`DomainHandle::notify_container_exit`]. Every update
//! and eviction it is asked for is recorded in order, and chosen ones can
//! be made to fail, and so can listing, as a runtime backend.
//!
//! ```
//! use std::sync::Arc;
//! use nri_core::adaptation::Options;
//! use nri_core::runtime_api::NriApi;
//! use nri_testkit::builders::{ContainerBuilder, PodBuilder};
//! use nri_testkit::domain::FakeDomain;
//!
//! let pod = PodBuilder::new("web").build();
//! let app = ContainerBuilder::new(&pod, "app").build();
//! let domain = Arc::new(FakeDomain::default().with_pod(pod).with_container(app.clone()));
//! domain.fail_updates(&app.id, "cgroup is gone");
//!
//! let (api, handle) = NriApi::new(Some(Options::new("test", "1.0")), domain.clone());
//! domain.attach(handle);
//! assert_eq!(domain.containers(), [app]);
//! # drop(api);
//! ```

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use indexmap::IndexMap;
use nri_core::adaptation::{FailedEviction, Listing, RuntimeBackend, Snapshot, SnapshotError};
use nri_core::proto::api::{
    Container, ContainerEviction, ContainerState, ContainerUpdate, LinuxContainer, LinuxCpu,
    LinuxMemory, LinuxResources, PodSandbox,
};
use nri_core::runtime_api::{Domain, DomainError, DomainHandle};
use tokio::sync::watch;

/// The domain containerd uses for Kubernetes.
pub const DEFAULT_DOMAIN: &str = "k8s.io";

/// The exit code of an evicted container (killed by SIGKILL).
pub const EVICTED_EXIT_CODE: i32 = 137;

/// The store and the scripted failures. Pods and containers are keyed by
/// id (setting up thousands of them stays linear) and listed in the order
/// added.
#[derive(Debug, Default)]
struct Store {
    pods: IndexMap<String, PodSandbox>,
    containers: IndexMap<String, Container>,
    failing_updates: BTreeMap<String, String>,
    failing_evictions: BTreeMap<String, String>,
    listing_error: Option<String>,
    handle: Option<DomainHandle>,
}

/// What the domain was asked to do, in order.
#[derive(Debug, Clone, Default)]
struct Record {
    updates: Vec<ContainerUpdate>,
    evictions: Vec<ContainerEviction>,
}

/// An in-memory domain. Share it as an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct FakeDomain {
    name: String,
    store: Mutex<Store>,
    record: watch::Sender<Record>,
}

impl Default for FakeDomain {
    /// An empty [`DEFAULT_DOMAIN`].
    fn default() -> Self {
        FakeDomain::new(DEFAULT_DOMAIN)
    }
}

impl FakeDomain {
    /// An empty domain called `name`.
    pub fn new(name: &str) -> Self {
        FakeDomain {
            name: name.to_string(),
            store: Mutex::new(Store::default()),
            record: watch::channel(Record::default()).0,
        }
    }

    /// A [`DEFAULT_DOMAIN`] holding the pods and containers of `snapshot`.
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let domain = FakeDomain::default();
        {
            let mut store = domain.store();
            store.pods = snapshot
                .pods
                .into_iter()
                .map(|p| (p.id.clone(), p))
                .collect();
            store.containers = snapshot
                .containers
                .into_iter()
                .map(|c| (c.id.clone(), c))
                .collect();
        }
        domain
    }

    /// This domain with `pod` added.
    pub fn with_pod(self, pod: PodSandbox) -> Self {
        self.add_pod(pod);
        self
    }

    /// This domain with `container` added.
    pub fn with_container(self, container: Container) -> Self {
        self.add_container(container);
        self
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reports evicted containers' exits through `handle` from now on. The
    /// handle refers back to this domain: [`detach`](Self::detach) it when
    /// done, or the two are never freed.
    pub fn attach(&self, handle: DomainHandle) {
        self.store().handle = Some(handle);
    }

    /// Forgets the handle [`attach`](Self::attach) gave.
    pub fn detach(&self) -> Option<DomainHandle> {
        self.store().handle.take()
    }

    /// Adds a pod, replacing the one with the same id; returns that one.
    pub fn add_pod(&self, pod: PodSandbox) -> Option<PodSandbox> {
        self.store().pods.insert(pod.id.clone(), pod)
    }

    /// Removes a pod (not its containers).
    pub fn remove_pod(&self, id: &str) -> Option<PodSandbox> {
        self.store().pods.shift_remove(id)
    }

    /// The pod with this id.
    pub fn pod(&self, id: &str) -> Option<PodSandbox> {
        self.store().pods.get(id).cloned()
    }

    /// Every pod, in the order added.
    pub fn pods(&self) -> Vec<PodSandbox> {
        self.store().pods.values().cloned().collect()
    }

    /// Adds a container, replacing the one with the same id; returns that
    /// one.
    pub fn add_container(&self, container: Container) -> Option<Container> {
        self.store()
            .containers
            .insert(container.id.clone(), container)
    }

    /// Removes a container.
    pub fn remove_container(&self, id: &str) -> Option<Container> {
        self.store().containers.shift_remove(id)
    }

    /// The container with this id.
    pub fn container(&self, id: &str) -> Option<Container> {
        self.store().containers.get(id).cloned()
    }

    /// Every container, in the order added.
    pub fn containers(&self) -> Vec<Container> {
        self.store().containers.values().cloned().collect()
    }

    /// Sets a container's state; false if there is no such container.
    pub fn set_container_state(&self, id: &str, state: ContainerState) -> bool {
        let mut store = self.store();
        match store.containers.get_mut(id) {
            Some(container) => {
                container.state = state as i32;
                true
            }
            None => false,
        }
    }

    /// Changes a stored container's Linux resources to `resources`, field
    /// by field as an update does; false if there is no such container.
    pub fn set_container_resources(&self, id: &str, resources: &LinuxResources) -> bool {
        let mut store = self.store();
        match store.containers.get_mut(id) {
            Some(container) => {
                overlay(container, resources);
                true
            }
            None => false,
        }
    }

    /// Makes every later update of this container fail with `reason`.
    pub fn fail_updates(&self, container_id: &str, reason: &str) {
        self.store()
            .failing_updates
            .insert(container_id.to_string(), reason.to_string());
    }

    /// Makes every later eviction of this container fail with `reason`.
    pub fn fail_evictions(&self, container_id: &str, reason: &str) {
        self.store()
            .failing_evictions
            .insert(container_id.to_string(), reason.to_string());
    }

    /// Makes listing as a [`RuntimeBackend`] fail with `reason` (`None`:
    /// succeed again), so that plugins fail to synchronize.
    pub fn fail_listing(&self, reason: Option<&str>) {
        self.store().listing_error = reason.map(str::to_string);
    }

    /// Lets updates and evictions of this container succeed again.
    pub fn stop_failing(&self, container_id: &str) {
        let mut store = self.store();
        store.failing_updates.remove(container_id);
        store.failing_evictions.remove(container_id);
    }

    /// Every update the domain was asked for, in order, those that failed
    /// included.
    pub fn updates(&self) -> Vec<ContainerUpdate> {
        self.record.borrow().updates.clone()
    }

    /// Every eviction the domain was asked for, in order, those that
    /// failed included.
    pub fn evictions(&self) -> Vec<ContainerEviction> {
        self.record.borrow().evictions.clone()
    }

    /// Waits until at least `count` updates were asked for; returns them
    /// all. Wrap it in a timeout: it waits as long as it takes.
    pub async fn wait_updates(&self, count: usize) -> Vec<ContainerUpdate> {
        let mut watcher = self.record.subscribe();
        // The sender lives in `self`, so waiting cannot fail.
        let _ = watcher.wait_for(|r| r.updates.len() >= count).await;
        self.updates()
    }

    /// Waits until at least `count` evictions were asked for; returns them
    /// all. Wrap it in a timeout: it waits as long as it takes.
    pub async fn wait_evictions(&self, count: usize) -> Vec<ContainerEviction> {
        let mut watcher = self.record.subscribe();
        let _ = watcher.wait_for(|r| r.evictions.len() >= count).await;
        self.evictions()
    }

    /// Stops a container as if its process exited with `exit_code`, and
    /// reports the exit through the attached handle, if any. Returns the
    /// stopped container; `None` (and nothing reported) if there is no
    /// such container.
    pub fn exit_container(&self, id: &str, exit_code: i32, reason: &str) -> Option<Container> {
        let (pod, container, handle) = {
            let mut store = self.store();
            let container = store.containers.get_mut(id)?;
            container.state = ContainerState::ContainerStopped as i32;
            container.pid = 0;
            container.exit_code = exit_code;
            container.status_reason = reason.to_string();
            if container.started_at != 0 && container.finished_at == 0 {
                container.finished_at = container.started_at + 1_000_000_000;
            }
            let container = container.clone();
            let pod = store
                .pods
                .get(&container.pod_sandbox_id)
                .cloned()
                .unwrap_or_else(|| PodSandbox {
                    id: container.pod_sandbox_id.clone(),
                    ..Default::default()
                });
            (pod, container, store.handle.clone())
        };
        if let Some(handle) = handle {
            handle.notify_container_exit(&pod, &container);
        }
        Some(container)
    }
}

impl FakeDomain {
    /// Lends the store to a plugin's synchronization, as a runtime that
    /// keeps NRI's objects does: nothing is copied but onto the wire.
    fn lend(&self, listing: &mut Listing<'_>) {
        let store = self.store();
        store.pods.values().for_each(|pod| listing.pod(pod));
        store.containers.values().for_each(|c| listing.container(c));
    }
}

#[async_trait::async_trait]
impl Domain for FakeDomain {
    fn name(&self) -> &str {
        &self.name
    }

    async fn list_pod_sandboxes(&self) -> Vec<PodSandbox> {
        self.pods()
    }

    async fn list_containers(&self) -> Vec<Container> {
        self.containers()
    }

    async fn list_into(&self, listing: &mut Listing<'_>) {
        self.lend(listing);
    }

    async fn update_container(&self, update: &ContainerUpdate) -> Result<(), DomainError> {
        let outcome = {
            let mut store = self.store();
            if let Some(reason) = store.failing_updates.get(&update.container_id) {
                Err(reason.clone())
            } else {
                match store.containers.get_mut(&update.container_id) {
                    Some(container) => {
                        let resources = update.linux.as_ref().and_then(|l| l.resources.as_ref());
                        if let Some(resources) = resources {
                            overlay(container, resources);
                        }
                        Ok(())
                    }
                    None => Err(format!("no container {:?}", update.container_id)),
                }
            }
        };
        self.record.send_modify(|r| r.updates.push(update.clone()));
        outcome.map_err(DomainError::from)
    }

    async fn evict_container(&self, eviction: &ContainerEviction) -> Result<(), DomainError> {
        let failure = self
            .store()
            .failing_evictions
            .get(&eviction.container_id)
            .cloned();
        let outcome = match failure {
            Some(reason) => Err(reason),
            None => self
                .exit_container(&eviction.container_id, EVICTED_EXIT_CODE, "Evicted")
                .map(drop)
                .ok_or_else(|| format!("no container {:?}", eviction.container_id)),
        };
        self.record
            .send_modify(|r| r.evictions.push(eviction.clone()));
        outcome.map_err(DomainError::from)
    }
}

/// As an adaptation's runtime: lists the store, and carries out updates and
/// evictions one by one as the [`Domain`] does.
#[async_trait::async_trait]
impl RuntimeBackend for FakeDomain {
    async fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        let store = self.store();
        match &store.listing_error {
            Some(reason) => Err(SnapshotError::new(reason)),
            None => Ok(Snapshot {
                pods: store.pods.values().cloned().collect(),
                containers: store.containers.values().cloned().collect(),
            }),
        }
    }

    async fn list_into(&self, listing: &mut Listing<'_>) -> Result<(), SnapshotError> {
        if let Some(reason) = &self.store().listing_error {
            return Err(SnapshotError::new(reason));
        }
        self.lend(listing);
        Ok(())
    }

    async fn update_containers(&self, updates: Vec<ContainerUpdate>) -> Vec<ContainerUpdate> {
        let mut failed = Vec::new();
        for update in updates {
            if Domain::update_container(self, &update).await.is_err() && !update.ignore_failure {
                failed.push(update);
            }
        }
        failed
    }

    async fn evict_containers(&self, evictions: Vec<ContainerEviction>) -> Vec<FailedEviction> {
        let mut failed = Vec::new();
        for eviction in evictions {
            if let Err(error) = Domain::evict_container(self, &eviction).await {
                failed.push(FailedEviction {
                    eviction,
                    reason: error.to_string(),
                });
            }
        }
        failed
    }
}

/// Applies what `src` sets to the container's resources, as a runtime
/// applies an update: set scalars replace, huge page limits replace those
/// of the same page size, unified entries replace those of the same key.
/// Device rules are not part of updates and are left alone.
fn overlay(container: &mut Container, src: &LinuxResources) {
    let dst = container
        .linux
        .get_or_insert_with(LinuxContainer::default)
        .resources
        .get_or_insert_with(LinuxResources::default);
    macro_rules! set {
        ($dst:expr, $src:expr, [$($field:ident),+]) => {
            $(if $src.$field.is_some() {
                $dst.$field.clone_from(&$src.$field);
            })+
        };
    }
    if let Some(memory) = &src.memory {
        let to = dst.memory.get_or_insert_with(LinuxMemory::default);
        set!(
            to,
            memory,
            [
                limit,
                reservation,
                swap,
                kernel,
                kernel_tcp,
                swappiness,
                disable_oom_killer,
                use_hierarchy
            ]
        );
    }
    if let Some(cpu) = &src.cpu {
        let to = dst.cpu.get_or_insert_with(LinuxCpu::default);
        set!(
            to,
            cpu,
            [shares, quota, period, realtime_runtime, realtime_period]
        );
        if !cpu.cpus.is_empty() {
            to.cpus.clone_from(&cpu.cpus);
        }
        if !cpu.mems.is_empty() {
            to.mems.clone_from(&cpu.mems);
        }
    }
    for limit in &src.hugepage_limits {
        match dst
            .hugepage_limits
            .iter_mut()
            .find(|l| l.page_size == limit.page_size)
        {
            Some(existing) => *existing = limit.clone(),
            None => dst.hugepage_limits.push(limit.clone()),
        }
    }
    set!(dst, src, [blockio_class, rdt_class, pids]);
    dst.unified
        .extend(src.unified.iter().map(|(k, v)| (k.clone(), v.clone())));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use nri_core::proto::api::{HugepageLimit, LinuxContainerUpdate};
    use nri_core::proto::optional;

    use super::*;
    use crate::builders::{ContainerBuilder, PodBuilder};

    fn update(id: &str, resources: LinuxResources) -> ContainerUpdate {
        ContainerUpdate {
            container_id: id.to_string(),
            linux: Some(LinuxContainerUpdate {
                resources: Some(resources),
            }),
            ignore_failure: false,
        }
    }

    fn domain() -> (FakeDomain, Container) {
        let pod = PodBuilder::new("web").build();
        let app = ContainerBuilder::new(&pod, "app").build();
        let domain = FakeDomain::default()
            .with_pod(pod)
            .with_container(app.clone());
        (domain, app)
    }

    #[tokio::test]
    async fn an_update_overlays_what_it_sets_and_is_recorded() {
        let (domain, app) = domain();
        let resources = LinuxResources {
            cpu: Some(LinuxCpu {
                shares: optional::uint64(2048u64),
                cpus: "3".into(),
                ..Default::default()
            }),
            hugepage_limits: vec![HugepageLimit {
                page_size: "2MB".into(),
                limit: 4 << 20,
            }],
            ..Default::default()
        };
        domain
            .update_container(&update(&app.id, resources))
            .await
            .unwrap();
        let stored = domain.container(&app.id).unwrap();
        let stored = stored.linux.unwrap().resources.unwrap();
        let cpu = stored.cpu.unwrap();
        assert_eq!(cpu.shares, optional::uint64(2048u64));
        assert_eq!(cpu.cpus, "3");
        // What the update left alone stays.
        assert_eq!(cpu.quota, optional::int64(50_000));
        assert_eq!(stored.memory.unwrap().limit, optional::int64(256 << 20));
        assert_eq!(stored.hugepage_limits.len(), 1);
        assert_eq!(domain.wait_updates(1).await.len(), 1);
    }

    #[tokio::test]
    async fn chosen_updates_and_evictions_fail_with_their_reason_and_are_recorded() {
        let (domain, app) = domain();
        domain.fail_updates(&app.id, "cgroup is gone");
        domain.fail_evictions(&app.id, "protected");
        let error = domain
            .update_container(&update(&app.id, LinuxResources::default()))
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "cgroup is gone");
        let eviction = ContainerEviction {
            container_id: app.id.clone(),
            reason: "too hungry".into(),
        };
        let error = domain.evict_container(&eviction).await.unwrap_err();
        assert_eq!(error.to_string(), "protected");
        assert_eq!(domain.updates().len(), 1);
        assert_eq!(domain.evictions(), std::slice::from_ref(&eviction));
        assert_eq!(
            domain.container(&app.id).unwrap().state,
            ContainerState::ContainerCreated as i32
        );

        domain.stop_failing(&app.id);
        domain.evict_container(&eviction).await.unwrap();
        let evicted = domain.container(&app.id).unwrap();
        assert_eq!(evicted.state, ContainerState::ContainerStopped as i32);
        assert_eq!(evicted.exit_code, EVICTED_EXIT_CODE);
    }

    #[tokio::test]
    async fn unknown_containers_cannot_be_updated_or_evicted() {
        let domain = FakeDomain::new("other");
        assert_eq!(domain.name(), "other");
        assert!(
            domain
                .update_container(&update("nope", LinuxResources::default()))
                .await
                .is_err()
        );
        let eviction = ContainerEviction {
            container_id: "nope".into(),
            reason: String::new(),
        };
        assert!(domain.evict_container(&eviction).await.is_err());
    }

    #[test]
    fn pods_and_containers_are_added_replaced_and_removed() {
        let (domain, app) = domain();
        let mut changed = app.clone();
        changed.args = vec!["true".into()];
        assert_eq!(domain.add_container(changed.clone()), Some(app.clone()));
        assert_eq!(domain.containers(), [changed]);
        assert!(domain.set_container_state(&app.id, ContainerState::ContainerRunning));
        assert!(!domain.set_container_state("nope", ContainerState::ContainerRunning));
        assert!(domain.remove_container(&app.id).is_some());
        assert!(domain.containers().is_empty());
        let pod_id = domain.pods()[0].id.clone();
        assert!(domain.pod(&pod_id).is_some());
        assert!(domain.remove_pod(&pod_id).is_some());
        assert!(domain.pods().is_empty());
    }
}
