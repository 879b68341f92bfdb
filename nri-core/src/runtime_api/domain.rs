//! Domains: the runtime's namespaces (containerd's `k8s.io`, …), each with
//! its own store of pods and containers and its own way to update and
//! evict them; and the registry of domains, which is what the adaptation
//! sees as the runtime.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use nri_proto::api::{Container, ContainerEviction, ContainerUpdate, PodSandbox};

use super::state::{Kind, State, States};
use crate::adaptation::sync::Seen as _;
use crate::adaptation::{FailedEviction, Listing, RuntimeBackend, Snapshot, SnapshotError};

/// An error a domain reports.
pub type DomainError = Box<dyn std::error::Error + Send + Sync>;

/// One of the runtime's namespaces.
///
/// The listing methods are called while NRI holds its event lock, during a
/// plugin's synchronization: they must read the runtime's store and return,
/// never wait for an NRI event in progress.
#[async_trait::async_trait]
pub trait Domain: Send + Sync + 'static {
    /// The domain's name (containerd's namespace).
    fn name(&self) -> &str;
    /// Every pod of the domain.
    async fn list_pod_sandboxes(&self) -> Vec<PodSandbox>;
    /// Every container of the domain.
    async fn list_containers(&self) -> Vec<Container>;
    /// Lends every pod and container of the domain to `listing`, pods
    /// first: how NRI lists the domain for a plugin. The default lists
    /// them with [`list_pod_sandboxes`](Self::list_pod_sandboxes) and
    /// [`list_containers`](Self::list_containers). A runtime that keeps
    /// NRI's pods and containers in its store can lend them instead, so
    /// that none is copied but onto the wire (with 1,000 pods and 5,000
    /// containers, copying them cost more CPU time than encoding them):
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use nri_core::adaptation::Listing;
    /// use nri_core::proto::api::{Container, ContainerEviction, ContainerUpdate, PodSandbox};
    /// use nri_core::runtime_api::{Domain, DomainError};
    ///
    /// struct Store {
    ///     pods: Mutex<Vec<PodSandbox>>,
    ///     containers: Mutex<Vec<Container>>,
    /// }
    ///
    /// #[async_trait::async_trait]
    /// impl Domain for Store {
    ///     fn name(&self) -> &str {
    ///         "k8s.io"
    ///     }
    ///     async fn list_pod_sandboxes(&self) -> Vec<PodSandbox> {
    ///         self.pods.lock().unwrap().clone()
    ///     }
    ///     async fn list_containers(&self) -> Vec<Container> {
    ///         self.containers.lock().unwrap().clone()
    ///     }
    ///     async fn list_into(&self, listing: &mut Listing<'_>) {
    ///         self.pods.lock().unwrap().iter().for_each(|p| listing.pod(p));
    ///         self.containers.lock().unwrap().iter().for_each(|c| listing.container(c));
    ///     }
    ///     async fn update_container(&self, _: &ContainerUpdate) -> Result<(), DomainError> {
    ///         Ok(())
    ///     }
    ///     async fn evict_container(&self, _: &ContainerEviction) -> Result<(), DomainError> {
    ///         Ok(())
    ///     }
    /// }
    /// ```
    async fn list_into(&self, listing: &mut Listing<'_>) {
        for pod in self.list_pod_sandboxes().await {
            listing.pod(&pod);
        }
        for container in self.list_containers().await {
            listing.container(&container);
        }
    }
    /// Changes a container's resources as a plugin asked.
    async fn update_container(&self, update: &ContainerUpdate) -> Result<(), DomainError>;
    /// Evicts a container as a plugin asked.
    async fn evict_container(&self, eviction: &ContainerEviction) -> Result<(), DomainError>;
}

/// Two domains with one name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("domain {0:?} is already registered")]
pub struct DuplicateDomain(pub String);

/// The registered domains and the state of every pod and container.
#[derive(Default)]
pub(crate) struct Domains {
    domains: RwLock<BTreeMap<Arc<str>, Arc<dyn Domain>>>,
    states: Mutex<States>,
    /// Set by the first snapshot: from then on plugins know every container.
    listed: AtomicBool,
}

impl Domains {
    pub(crate) fn add(&self, domain: Arc<dyn Domain>) -> Result<Arc<str>, DuplicateDomain> {
        let name: Arc<str> = Arc::from(domain.name());
        let mut domains = self.domains.write().unwrap_or_else(PoisonError::into_inner);
        if domains.contains_key(&name) {
            return Err(DuplicateDomain(name.to_string()));
        }
        domains.insert(Arc::clone(&name), domain);
        Ok(name)
    }

    pub(crate) fn states(&self) -> MutexGuard<'_, States> {
        self.states.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a plugin has been given a snapshot yet.
    pub(crate) fn listed(&self) -> bool {
        self.listed.load(Ordering::Acquire)
    }

    fn all(&self) -> Vec<(Arc<str>, Arc<dyn Domain>)> {
        self.domains
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, domain)| (Arc::clone(name), Arc::clone(domain)))
            .collect()
    }

    fn get(&self, name: &str) -> Option<Arc<dyn Domain>> {
        self.domains
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The domain a container belongs to, if NRI knows the container.
    fn owner_of(&self, container_id: &str) -> Option<Arc<dyn Domain>> {
        let name = self.states().domain_of_container(container_id)?;
        self.get(&name)
    }
}

/// Seeds the states of one domain's pods and containers as they are listed.
struct Seen<'a> {
    domains: &'a Domains,
    name: Arc<str>,
}

impl crate::adaptation::sync::Seen for Seen<'_> {
    fn pod(&self, pod: &PodSandbox) {
        self.domains
            .states()
            .seed(Kind::Pod, &pod.id, Some(State::Running), &self.name);
    }

    fn container(&self, container: &Container) -> Option<i32> {
        let listed = State::of_listed(container.state);
        // What NRI saw (an exit during startup, say) wins over a store
        // that has not caught up yet.
        self.domains
            .states()
            .seed(Kind::Container, &container.id, listed, &self.name)
            .map(|held| held.to_container_state() as i32)
    }
}

#[async_trait::async_trait]
impl RuntimeBackend for Domains {
    async fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        let mut snapshot = Snapshot::default();
        self.listed.store(true, Ordering::Release);
        for (name, domain) in self.all() {
            let seen = Seen {
                domains: self,
                name,
            };
            let pods = domain.list_pod_sandboxes().await;
            let mut containers = domain.list_containers().await;
            pods.iter().for_each(|pod| seen.pod(pod));
            for container in &mut containers {
                if let Some(state) = seen.container(container) {
                    container.state = state;
                }
            }
            snapshot.pods.extend(pods);
            snapshot.containers.extend(containers);
        }
        Ok(snapshot)
    }

    async fn list_into(&self, listing: &mut Listing<'_>) -> Result<(), SnapshotError> {
        self.listed.store(true, Ordering::Release);
        for (name, domain) in self.all() {
            let seen = Seen {
                domains: self,
                name,
            };
            let mut part = Listing::seen_by(&seen);
            domain.list_into(&mut part).await;
            listing.append(part);
        }
        Ok(())
    }

    async fn update_containers(&self, updates: Vec<ContainerUpdate>) -> Vec<ContainerUpdate> {
        let mut failed = Vec::new();
        for update in updates {
            let outcome = match self.owner_of(&update.container_id) {
                Some(domain) => domain.update_container(&update).await,
                None => Err(format!("unknown container {:?}", update.container_id).into()),
            };
            if let Err(error) = outcome {
                tracing::warn!(container = %update.container_id, %error, "container update failed");
                if !update.ignore_failure {
                    failed.push(update);
                }
            }
        }
        failed
    }

    async fn evict_containers(&self, evictions: Vec<ContainerEviction>) -> Vec<FailedEviction> {
        let mut failed = Vec::new();
        for eviction in evictions {
            let outcome = match self.owner_of(&eviction.container_id) {
                Some(domain) => domain.evict_container(&eviction).await,
                None => Err(format!("unknown container {:?}", eviction.container_id).into()),
            };
            match outcome {
                Ok(()) => {
                    tracing::info!(container = %eviction.container_id, reason = %eviction.reason, "container evicted")
                }
                Err(error) => failed.push(FailedEviction {
                    eviction,
                    reason: error.to_string(),
                }),
            }
        }
        failed
    }
}
