//! What the runtime API layer reports back after an event: the adjustment
//! or resources to apply, and what became of the updates and evictions
//! plugins asked for.

use nri_proto::api::{ContainerAdjustment, ContainerEviction, ContainerUpdate, LinuxResources};

use crate::adaptation::{FailedEviction, RuntimeBackend};

/// Updates and evictions carried out after an event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// Updates of other containers that were applied.
    pub updated: Vec<String>,
    /// Updates that failed (those marked `ignore_failure` are not listed).
    pub failed_updates: Vec<ContainerUpdate>,
    /// Containers evicted.
    pub evicted: Vec<String>,
    /// Evictions that failed.
    pub failed_evictions: Vec<FailedEviction>,
}

impl Applied {
    /// Applies updates and evictions through the runtime's domains.
    pub(crate) async fn apply(
        backend: &dyn RuntimeBackend,
        updates: Vec<ContainerUpdate>,
        evictions: Vec<ContainerEviction>,
    ) -> Applied {
        if updates.is_empty() && evictions.is_empty() {
            return Applied::default();
        }
        // Boxed: the runtime's calls are large futures, and every event's
        // future would carry them even though most events apply nothing.
        Box::pin(Applied::carry_out(backend, updates, evictions)).await
    }

    async fn carry_out(
        backend: &dyn RuntimeBackend,
        updates: Vec<ContainerUpdate>,
        evictions: Vec<ContainerEviction>,
    ) -> Applied {
        let mut applied = Applied::default();
        if !updates.is_empty() {
            let ids: Vec<String> = updates.iter().map(|u| u.container_id.clone()).collect();
            applied.failed_updates = backend.update_containers(updates).await;
            applied.updated = ids
                .into_iter()
                .filter(|id| !applied.failed_updates.iter().any(|f| &f.container_id == id))
                .collect();
        }
        if !evictions.is_empty() {
            let ids: Vec<String> = evictions.iter().map(|e| e.container_id.clone()).collect();
            applied.failed_evictions = backend.evict_containers(evictions).await;
            applied.evicted = ids
                .into_iter()
                .filter(|id| {
                    !applied
                        .failed_evictions
                        .iter()
                        .any(|f| &f.eviction.container_id == id)
                })
                .collect();
        }
        applied
    }

    pub(crate) fn merge(&mut self, other: Applied) {
        self.updated.extend(other.updated);
        self.failed_updates.extend(other.failed_updates);
        self.evicted.extend(other.evicted);
        self.failed_evictions.extend(other.failed_evictions);
    }
}

/// The outcome of a container creation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Created {
    /// The merged adjustment to apply to the new container; empty parts
    /// change nothing (`None` when NRI is disabled).
    pub adjustment: Option<ContainerAdjustment>,
    /// What became of the updates and evictions plugins asked for.
    pub applied: Applied,
}

/// The outcome of a container update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Updated {
    /// The resources to apply (`None`: those requested).
    pub resources: Option<LinuxResources>,
    /// What became of the updates and evictions plugins asked for.
    pub applied: Applied,
}

/// The outcome of a container stop.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stopped {
    /// Whether the stop reached plugins (false when it was delivered before).
    pub delivered: bool,
    /// What became of the updates plugins asked for.
    pub applied: Applied,
}
