//! What the adaptation needs from the runtime: its pods and containers, and
//! a way to change and evict containers.

use nri_proto::api::{Container, ContainerEviction, ContainerUpdate, PodSandbox};

use super::sync::Listing;

/// The runtime's pods and containers at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Every pod.
    pub pods: Vec<PodSandbox>,
    /// Every container.
    pub containers: Vec<Container>,
}

/// Why the runtime could not list its pods and containers for a plugin's
/// synchronization. The plugin then fails to join with
/// [`SyncError::Runtime`](super::SyncError::Runtime).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SnapshotError {
    /// What went wrong, as the runtime tells it.
    pub reason: String,
}

impl SnapshotError {
    /// An error with this reason (an error's text, for example).
    pub fn new(reason: impl std::fmt::Display) -> Self {
        SnapshotError {
            reason: reason.to_string(),
        }
    }
}

/// An eviction the runtime could not carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedEviction {
    /// The eviction asked for.
    pub eviction: ContainerEviction,
    /// Why it failed.
    pub reason: String,
}

/// The runtime, as the adaptation sees it (upstream's `SyncFn` and
/// `UpdateFn`, plus evictions).
///
/// The adaptation calls these while it holds its event lock (snapshot,
/// during a plugin's synchronization) or with no lock at all (updates and
/// evictions). An implementation must therefore never wait for an NRI event
/// in progress: list from the runtime's own store and return.
#[async_trait::async_trait]
pub trait RuntimeBackend: Send + Sync + 'static {
    /// Lists every pod and container, for a plugin's synchronization.
    async fn snapshot(&self) -> Result<Snapshot, SnapshotError>;

    /// Lends every pod and container to `listing`, for a plugin's
    /// synchronization: what the adaptation calls. The default lists them
    /// with [`snapshot`](Self::snapshot); a runtime that keeps NRI's pods
    /// and containers in its store can lend them instead, and none is
    /// copied but onto the wire.
    async fn list_into(&self, listing: &mut Listing<'_>) -> Result<(), SnapshotError> {
        listing.extend(&self.snapshot().await?);
        Ok(())
    }

    /// Applies updates to containers; returns the updates that failed
    /// (except those marked `ignore_failure`).
    async fn update_containers(&self, updates: Vec<ContainerUpdate>) -> Vec<ContainerUpdate>;

    /// Evicts containers; returns the evictions that failed.
    async fn evict_containers(&self, evictions: Vec<ContainerEviction>) -> Vec<FailedEviction>;
}
