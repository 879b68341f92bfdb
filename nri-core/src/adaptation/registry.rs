//! The ordered list of registered plugins.
//!
//! Plugins are called in the order of their index, then their name (both
//! compared as strings, so `00-b` < `05-a` < `05-b`). Upstream sorts by
//! index only with an unstable sort, so plugins of equal index run in an
//! unspecified order; nri-rs breaks the tie by name, which makes the order
//! deterministic and equal to the order of `NN-name` file names.
//!
//! Events read a snapshot of the list (an `Arc` clone), so a plugin
//! registering or being removed never disturbs an event in flight.

use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::watch;

use super::metrics;
use super::plugin::Plugin;

pub(crate) struct Registry {
    plugins: RwLock<Arc<[Arc<Plugin>]>>,
    /// Bumped on every change.
    version: watch::Sender<u64>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            plugins: RwLock::new(Arc::from(Vec::new())),
            version: watch::channel(0).0,
        }
    }
}

impl Registry {
    /// Notified on every change of the list.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn changed(&self, len: usize) {
        metrics::active_plugins(len);
        self.version.send_modify(|version| *version += 1);
    }

    /// The current plugins, in invocation order.
    pub(crate) fn snapshot(&self) -> Arc<[Arc<Plugin>]> {
        Arc::clone(&self.plugins.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Adds a plugin in its place. A plugin with the same identity is
    /// replaced (and returned, for the caller to close).
    pub(crate) fn add(&self, plugin: Arc<Plugin>) -> Option<Arc<Plugin>> {
        let mut list = self.plugins.write().unwrap_or_else(PoisonError::into_inner);
        let mut next: Vec<Arc<Plugin>> = list.iter().cloned().collect();
        let replaced = next
            .iter()
            .position(|p| p.id == plugin.id)
            .map(|at| next.remove(at));
        next.push(plugin);
        next.sort_by(|a, b| a.id.cmp(&b.id));
        let order: Vec<&str> = next.iter().map(|p| &*p.label).collect();
        tracing::info!(?order, "plugin invocation order");
        let len = next.len();
        *list = next.into();
        drop(list);
        self.changed(len);
        replaced
    }

    /// Removes a plugin; true if it was listed.
    pub(crate) fn remove(&self, plugin: &Arc<Plugin>) -> bool {
        let mut list = self.plugins.write().unwrap_or_else(PoisonError::into_inner);
        if !list.iter().any(|p| Arc::ptr_eq(p, plugin)) {
            return false;
        }
        let next: Vec<Arc<Plugin>> = list
            .iter()
            .filter(|p| !Arc::ptr_eq(p, plugin))
            .cloned()
            .collect();
        let len = next.len();
        *list = next.into();
        drop(list);
        self.changed(len);
        true
    }

    /// Empties the list, returning what it held.
    pub(crate) fn take_all(&self) -> Arc<[Arc<Plugin>]> {
        let mut list = self.plugins.write().unwrap_or_else(PoisonError::into_inner);
        let all = std::mem::replace(&mut *list, Arc::from(Vec::new()));
        drop(list);
        self.changed(0);
        all
    }
}
