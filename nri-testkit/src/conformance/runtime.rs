//! [`FakeRuntime`]: the runtime behind the adaptation under test.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::PoisonError;

use nri_core::adaptation::{FailedEviction, RuntimeBackend, Snapshot, SnapshotError};
use nri_core::proto::api::{ContainerEviction, ContainerUpdate};
use tokio::sync::watch;

/// What the runtime was asked to do, in order.
#[derive(Debug, Clone, Default)]
struct Record {
    updates: Vec<ContainerUpdate>,
    evictions: Vec<ContainerEviction>,
}

/// A runtime with a fixed set of pods and containers that records the
/// updates and evictions it receives.
#[derive(Debug)]
pub struct FakeRuntime {
    state: Mutex<Snapshot>,
    listing_error: Mutex<Option<String>>,
    failing: Mutex<BTreeSet<String>>,
    record: watch::Sender<Record>,
}

impl FakeRuntime {
    /// A runtime listing these pods and containers.
    pub fn new(state: Snapshot) -> Self {
        FakeRuntime {
            state: Mutex::new(state),
            listing_error: Mutex::new(None),
            failing: Mutex::new(BTreeSet::new()),
            record: watch::channel(Record::default()).0,
        }
    }

    /// What the runtime lists.
    pub fn state(&self) -> Snapshot {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes listing fail with `error` (`None`: succeed again).
    pub fn fail_listing(&self, error: Option<&str>) {
        *self
            .listing_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = error.map(str::to_string);
    }

    /// Makes updates and evictions of this container fail.
    pub fn fail_container(&self, id: &str) {
        self.failing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_string());
    }

    /// Every update received so far, in order.
    pub fn updates(&self) -> Vec<ContainerUpdate> {
        self.record.borrow().updates.clone()
    }

    /// Every eviction received so far, in order.
    pub fn evictions(&self) -> Vec<ContainerEviction> {
        self.record.borrow().evictions.clone()
    }

    /// Waits until at least `count` updates were received.
    pub async fn wait_updates(&self, count: usize) {
        let mut watcher = self.record.subscribe();
        let _ = watcher.wait_for(|r| r.updates.len() >= count).await;
    }

    fn fails(&self, id: &str) -> bool {
        self.failing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }
}

#[async_trait::async_trait]
impl RuntimeBackend for FakeRuntime {
    async fn snapshot(&self) -> Result<Snapshot, SnapshotError> {
        let error = self
            .listing_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match error {
            Some(error) => Err(SnapshotError::new(error)),
            None => Ok(self.state()),
        }
    }

    async fn update_containers(&self, updates: Vec<ContainerUpdate>) -> Vec<ContainerUpdate> {
        let failed = updates
            .iter()
            .filter(|u| !u.ignore_failure && self.fails(&u.container_id))
            .cloned()
            .collect();
        self.record.send_modify(|r| r.updates.extend(updates));
        failed
    }

    async fn evict_containers(&self, evictions: Vec<ContainerEviction>) -> Vec<FailedEviction> {
        let failed = evictions
            .iter()
            .filter(|e| self.fails(&e.container_id))
            .map(|e| FailedEviction {
                eviction: e.clone(),
                reason: "scripted failure".into(),
            })
            .collect();
        self.record.send_modify(|r| r.evictions.extend(evictions));
        failed
    }
}
