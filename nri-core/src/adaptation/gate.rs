//! The registration gate (upstream's `BlockPluginSync`).
//!
//! While the runtime holds a [`SyncBlock`], no plugin can complete its
//! synchronization; while a plugin synchronizes, new blocks wait. A runtime
//! takes one block around each operation that both changes its store and
//! sends an NRI event, so a registering plugin sees a pod or container
//! either in its synchronization snapshot or as an event, never in both and
//! never in neither (containerd#13698).
//!
//! Blocks nest by cloning: code that already holds a block passes it down
//! and clones it instead of taking a new one. Taking a second block while
//! holding one could deadlock behind a waiting plugin (the gate is fair,
//! so a waiting plugin holds back new blocks), which upstream's read lock
//! allowed to happen (runtime-integration.md §1.4).

use std::sync::Arc;

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// The gate itself.
#[derive(Debug, Default, Clone)]
pub(crate) struct SyncGate(Arc<RwLock<()>>);

impl SyncGate {
    /// Blocks plugin synchronization until the returned block (and all its
    /// clones) are dropped.
    pub(crate) async fn block(&self) -> SyncBlock {
        SyncBlock {
            _held: Some(Arc::new(Arc::clone(&self.0).read_owned().await)),
        }
    }

    /// Waits until no block is held, and holds off new ones.
    pub(crate) async fn exclusive(&self) -> OwnedRwLockWriteGuard<()> {
        Arc::clone(&self.0).write_owned().await
    }
}

/// Holds off plugin synchronization while alive. Clone it to pass it down;
/// drop it (or call [`SyncBlock::unblock`]) to release.
#[derive(Debug, Clone)]
pub struct SyncBlock {
    _held: Option<Arc<OwnedRwLockReadGuard<()>>>,
}

impl SyncBlock {
    /// A block that holds nothing back: what the runtime API gives a
    /// runtime with NRI disabled.
    pub(crate) fn unheld() -> Self {
        SyncBlock { _held: None }
    }

    /// Releases this block (the gate opens when every clone is gone).
    pub fn unblock(self) {}
}
