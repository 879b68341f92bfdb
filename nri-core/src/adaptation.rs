//! The runtime side of NRI: plugins, their order, event dispatch, merging
//! and validation (upstream's `pkg/adaptation`).
//!
//! This is the lower of the two runtime layers. A runtime normally embeds
//! [`NriApi`](crate::runtime_api::NriApi), which owns an adaptation, is its
//! [`RuntimeBackend`] and adds the pod and container state machine; use an
//! adaptation directly only if the runtime tracks which events still have
//! to reach plugins itself, or to drive events from a test or a tool.
//!
//! An [`Adaptation`] is built with [`Options`] and the runtime's
//! [`RuntimeBackend`], then [`started`](Adaptation::start) with one or more
//! [`Transport`]s. Builtin plugins and the default validator join first,
//! then pre-installed plugins found in the plugin directory (launched
//! through the first transport that can launch), and finally the
//! transports' accept loops admit external plugins, each in a task of its
//! own so that one slow plugin holds up no other.
//!
//! Events are serialized: one event is delivered at a time, to the
//! subscribed plugins in [order](registry), each plugin seeing the container
//! as adjusted by the plugins before it. A plugin's synchronization is
//! atomic with respect to events, so a joining plugin sees every pod and
//! container exactly once, either in its snapshot or as an event. See
//! [`SyncBlock`] for the runtime's half of that guarantee.
//!
//! # Failures
//!
//! | what the plugin does | during an event | as a validator | in Configure / Synchronize |
//! |---|---|---|---|
//! | answers an error | the event fails; later plugins are not called | creation fails | the plugin is removed |
//! | times out | removed (or kept, per [`FailurePolicy`]); the event goes on without it | removed; creation fails | removed |
//! | crashes, disconnects, breaks the protocol | removed; the event goes on without it | removed; creation fails | removed |
//! | rejects | – | creation fails | – |
//!
//! # Differences from upstream
//!
//! Each quirk of upstream's adaptation (nri-upstream.md Appendix B) and
//! what nri-rs does about it:
//!
//! 1. *Sort by index only, unstable*: fixed; ties are broken by name.
//! 2. *Same plugin claiming a field twice conflicts*: fixed; see [`crate::merge`].
//! 3. *Pure removals dropped or unchecked*: fixed; see [`crate::merge`].
//! 4. *Namespace order lost*: fixed; see [`crate::merge`].
//! 5. *Update merge ignores the update's pids*: fixed; see [`crate::merge`].
//! 6. *Nil target element in UpdateContainer's reply*: fixed; the target's
//!    update is always last and always present.
//! 7. *Required plugins that timed out count as consulted*: fixed; only
//!    plugins that answered this creation (or were not asked) count.
//! 8. *Evictions ignored*: fixed; replies carry them to the runtime, and
//!    the runtime API layer carries them out through the domain after the
//!    event; unsolicited evictions go to [`RuntimeBackend::evict_containers`].
//! 9. *Stop leaves external plugins connected, never sends Shutdown, kills
//!    launched plugins at once*: fixed; [`Adaptation::stop`] sends Shutdown
//!    to every plugin, closes every connection, and gives launched plugins
//!    [`Options::shutdown_grace`] before the transport kills them.
//! 10. *Failed registration leaves the connection open*: fixed; it is
//!     closed. A second RegisterPlugin on one connection is answered with an
//!     error instead of hanging.
//! 11. *Stub quirks*: belong to the stub.
//! 12. *Mux allocates unbounded frames, drops unknown ids*: belongs to the
//!     ttrpc transport.
//! 13. *Absent seccomp profile treated as unconfined*: kept, see
//!     [`crate::default_validator`].
//! 14. *OCI helper applies only the memory limit*: not part of nri-core.
//! 15. *Sample plugin bugs*: not part of nri-core.
//!
//! Other deliberate differences: timeouts are per adaptation, not
//! process-global; plugins register concurrently; a badly named
//! pre-installed plugin is skipped with a warning instead of failing the
//! start; a plugin that subscribed to "everything" (mask 0) and does not
//! implement an event added in NRI v0.10 is unsubscribed from it rather than
//! failing the runtime's request; a plugin re-registering with the identity
//! of a connected plugin replaces it.

mod backend;
mod builtin;
mod error;
mod events;
mod gate;
pub mod metrics;
mod options;
mod plugin;
mod registration;
pub mod registry;
mod requests;
pub(crate) mod sync;
mod validation;

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use backend::{FailedEviction, RuntimeBackend, Snapshot, SnapshotError};
pub use builtin::Builtin;
pub use error::{EventError, RegistrationError, StartError, SyncError};
pub use gate::SyncBlock;
pub use options::{FailurePolicy, MAX_MESSAGE_SIZE, Options};
pub use plugin::PluginInfo;
pub use sync::Listing;

use crate::transport::Transport;
use gate::SyncGate;
use registry::Registry;

/// The runtime's NRI adaptation. Cheap to clone; clones share one state.
#[derive(Clone)]
pub struct Adaptation {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Adaptation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adaptation")
            .field("options", &self.shared.options)
            .field("plugins", &self.shared.registry.snapshot().len())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    pub(crate) options: Options,
    pub(crate) backend: Arc<dyn RuntimeBackend>,
    /// Held for the whole of each event, and while a plugin synchronizes.
    pub(crate) events: tokio::sync::Mutex<()>,
    pub(crate) registry: Registry,
    pub(crate) gate: SyncGate,
    /// Set once [`Adaptation::stop`] begins.
    pub(crate) stopping: watch::Sender<bool>,
    lifecycle: Mutex<Lifecycle>,
}

#[derive(Default)]
struct Lifecycle {
    started: bool,
    /// Accept loops and registrations in progress.
    tasks: Vec<JoinHandle<()>>,
    /// The plugin ends of builtin plugins' connections.
    builtin_handles: Vec<crate::transport::in_process::RuntimeHandle>,
}

impl Adaptation {
    /// A new adaptation. Nothing runs until [`start`](Self::start); events
    /// before that reach no plugin and succeed.
    pub fn new(options: Options, backend: Arc<dyn RuntimeBackend>) -> Self {
        let (stopping, _) = watch::channel(false);
        Adaptation {
            shared: Arc::new(Shared {
                options,
                backend,
                events: tokio::sync::Mutex::new(()),
                registry: Registry::default(),
                gate: SyncGate::default(),
                stopping,
                lifecycle: Mutex::new(Lifecycle::default()),
            }),
        }
    }

    /// The options this adaptation was built with.
    pub fn options(&self) -> &Options {
        &self.shared.options
    }

    /// Starts builtin and pre-installed plugins, then accepts plugins from
    /// every transport. Returns once the builtin and pre-installed plugins
    /// are registered and synchronized (or have failed: a pre-installed
    /// plugin that fails is logged and skipped, a builtin one fails the
    /// start).
    pub async fn start(&self, transports: Vec<Arc<dyn Transport>>) -> Result<(), StartError> {
        {
            let mut lifecycle = self.shared.lifecycle();
            if lifecycle.started {
                return Err(StartError::AlreadyStarted);
            }
            lifecycle.started = true;
        }
        registration::start_preinstalled(&self.shared, &transports).await?;
        for transport in transports {
            let task = tokio::spawn(registration::accept_loop(
                Arc::clone(&self.shared),
                transport,
            ));
            self.shared.track(task);
        }
        Ok(())
    }

    /// Stops the adaptation: stops accepting plugins, waits for the event in
    /// progress, sends `Shutdown` to every plugin, closes every connection
    /// and lets the transports end launched plugins. Later events reach no
    /// plugin. Stopping twice is harmless.
    pub async fn stop(&self) {
        self.shared.stopping.send_replace(true);
        let (tasks, handles) = {
            let mut lifecycle = self.shared.lifecycle();
            (
                std::mem::take(&mut lifecycle.tasks),
                std::mem::take(&mut lifecycle.builtin_handles),
            )
        };
        for task in tasks {
            let _ = task.await;
        }
        let plugins = {
            let _event = self.shared.events.lock().await;
            self.shared.registry.take_all()
        };
        let timeout = self.shared.options.request_timeout;
        let grace = self.shared.options.shutdown_grace;
        futures::future::join_all(plugins.iter().map(|plugin| async move {
            if plugin.mark_closed() {
                if let Err(error) = plugin
                    .call::<nri_proto::api::Empty>(&nri_proto::api::Empty {}, timeout)
                    .await
                {
                    tracing::debug!(plugin = %plugin.label, %error, "Shutdown failed");
                }
                plugin.connection.terminate(grace).await;
            }
        }))
        .await;
        drop(handles);
    }

    /// Blocks plugin synchronization while the returned block lives; see
    /// [`SyncBlock`].
    pub async fn block_plugin_sync(&self) -> SyncBlock {
        self.shared.gate.block().await
    }

    /// The plugins currently registered, in invocation order.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.shared
            .registry
            .snapshot()
            .iter()
            .filter(|p| !p.is_closed())
            .map(|p| p.info())
            .collect()
    }

    /// Waits until at least `count` plugins are registered, or the
    /// adaptation stops. For tests and tools; runtimes do not need it.
    pub async fn wait_for_plugins(&self, count: usize) {
        let mut stopping = self.shared.stopping.subscribe();
        let mut changed = self.shared.registry.subscribe();
        loop {
            if self.plugins().len() >= count || *stopping.borrow() {
                return;
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = stopping.changed() => {}
            }
        }
    }
}

impl Shared {
    fn lifecycle(&self) -> std::sync::MutexGuard<'_, Lifecycle> {
        self.lifecycle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Keeps a task to be awaited at stop; forgets finished ones.
    pub(crate) fn track(&self, task: JoinHandle<()>) {
        let mut lifecycle = self.lifecycle();
        lifecycle.tasks.retain(|task| !task.is_finished());
        lifecycle.tasks.push(task);
    }

    pub(crate) fn keep_builtin_handle(&self, handle: crate::transport::in_process::RuntimeHandle) {
        self.lifecycle().builtin_handles.push(handle);
    }

    /// Removes a plugin and ends its connection, once.
    pub(crate) fn drop_plugin(&self, plugin: &Arc<plugin::Plugin>, reason: &str) {
        self.registry.remove(plugin);
        if plugin.mark_closed() {
            tracing::warn!(plugin = %plugin.label, reason, "removing plugin");
            let connection = Arc::clone(&plugin.connection);
            let grace = self.options.shutdown_grace;
            tokio::spawn(async move { connection.terminate(grace).await });
        }
    }
}
