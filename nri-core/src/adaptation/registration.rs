//! How plugins join: builtin and pre-installed plugins at start, external
//! plugins from the transports' accept loops, each through the handshake
//! RegisterPlugin → Configure → Synchronize; and how a joined plugin's own
//! calls (UpdateContainers) are served.

use std::sync::Arc;
use std::time::Duration;

use nri_proto::api::{ConfigureRequest, ContainerUpdate, Empty, UpdateContainersResponse};
use nri_proto::event::EventMask;
use nri_proto::identity::PluginId;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::error::{RegistrationError, StartError, SyncError};
use super::plugin::Plugin;
use super::{Shared, sync};
use crate::discovery::{self, PluginKind, Preinstalled};
use crate::transport::in_process;
use crate::transport::{
    self, Accepted, CallError, LaunchError, Origin, PluginConnection, RuntimeCall, RuntimeRequest,
    RuntimeResponse, Transport,
};

/// gRPC status code for a malformed request.
const INVALID_ARGUMENT: i32 = 3;
/// gRPC status code for a call in the wrong state.
const FAILED_PRECONDITION: i32 = 9;

/// Who is joining.
pub(crate) enum Joining {
    /// A plugin that dialed in and names itself.
    External,
    /// A pre-installed plugin; its identity comes from its file name.
    Launched { id: PluginId, config: String },
    /// A builtin plugin; it does not register.
    Builtin { id: PluginId, config: String },
}

/// Starts builtin and pre-installed plugins and waits until each one has
/// joined or failed.
pub(crate) async fn start_preinstalled(
    shared: &Arc<Shared>,
    transports: &[Arc<dyn Transport>],
) -> Result<(), StartError> {
    let mut builtins = Vec::new();
    let builtin_plugins = shared.options.all_builtins();
    if !builtin_plugins.is_empty() {
        let (runtime_side, connector) = in_process::transport();
        for builtin in builtin_plugins {
            let label = builtin.id.to_string();
            let joined = connect_builtin(shared, &runtime_side, &connector, &builtin).await;
            let joining = Joining::Builtin {
                id: builtin.id,
                config: builtin.config,
            };
            builtins.push(async move {
                let outcome = match joined {
                    Some(accepted) => admit(shared, accepted, joining).await,
                    None => Err(RegistrationError::Closed),
                };
                (label, outcome)
            });
        }
    }
    let mut launched = Vec::new();
    if let Some(dir) = &shared.options.plugin_path {
        let found = discovery::discover(dir, &shared.options.plugin_config_path)?;
        for plugin in found.plugins {
            match launch(transports, &plugin).await {
                Ok(accepted) => launched.push(admit(
                    shared,
                    accepted,
                    Joining::Launched {
                        id: plugin.id,
                        config: plugin.config,
                    },
                )),
                Err(error) => {
                    tracing::warn!(plugin = %plugin.id, path = ?plugin.path, %error, "cannot launch pre-installed plugin")
                }
            }
        }
    }
    let (builtins, launched) = futures::future::join(
        futures::future::join_all(builtins),
        futures::future::join_all(launched),
    )
    .await;
    // A failed pre-installed plugin was logged by `admit`; it does not fail the start.
    drop(launched);
    for (plugin, outcome) in builtins {
        outcome.map_err(|error| StartError::Builtin { plugin, error })?;
    }
    Ok(())
}

async fn connect_builtin(
    shared: &Shared,
    runtime_side: &in_process::InProcessTransport,
    connector: &in_process::InProcessConnector,
    builtin: &super::Builtin,
) -> Option<Accepted> {
    let handle = connector
        .connect(Arc::clone(&builtin.handler), Origin::Builtin)
        .await
        .ok()?;
    shared.keep_builtin_handle(handle);
    runtime_side.accept().await
}

/// Launches through the first transport that starts plugins of this kind
/// and can.
async fn launch(
    transports: &[Arc<dyn Transport>],
    plugin: &Preinstalled,
) -> Result<Accepted, LaunchError> {
    for transport in transports.iter().filter(|t| t.launches(plugin.kind)) {
        match transport.launch(plugin).await {
            Err(LaunchError::Unsupported) => continue,
            other => return other,
        }
    }
    match plugin.kind {
        PluginKind::Wasm => Err(LaunchError::Failed {
            path: plugin.path.clone(),
            reason: "no WASM support: no transport loads WebAssembly modules".into(),
        }),
        _ => Err(LaunchError::Unsupported),
    }
}

/// Admits the plugins a transport accepts, each in a task of its own.
pub(crate) async fn accept_loop(shared: Arc<Shared>, transport: Arc<dyn Transport>) {
    let mut stopping = shared.stopping.subscribe();
    loop {
        let accepted = tokio::select! {
            accepted = transport.accept() => accepted,
            _ = stopping.wait_for(|stopping| *stopping) => None,
        };
        let Some(accepted) = accepted else { break };
        let task_shared = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let _ = admit(&task_shared, accepted, Joining::External).await;
        });
        shared.track(task);
    }
}

/// Takes one connection through the handshake. On success the plugin is
/// registered and its calls are served; on failure the connection is
/// closed.
pub(crate) async fn admit(
    shared: &Arc<Shared>,
    accepted: Accepted,
    joining: Joining,
) -> Result<(), RegistrationError> {
    let Accepted {
        connection,
        mut calls,
    } = accepted;
    let mut stopping = shared.stopping.subscribe();
    let outcome = tokio::select! {
        joined = join(shared, &connection, &mut calls, joining) => joined,
        _ = stopping.wait_for(|stopping| *stopping) => Err(RegistrationError::Stopped),
    };
    match outcome {
        Ok((plugin, updates)) => {
            tracing::info!(plugin = %plugin.label, origin = ?connection.origin(), "plugin connected and synchronized");
            apply_sync_updates(shared, &plugin.label, updates).await;
            tokio::spawn(serve(Arc::clone(shared), plugin, calls));
            Ok(())
        }
        Err(error) => {
            tracing::warn!(origin = ?connection.origin(), %error, "plugin failed to join");
            connection.terminate(shared.options.shutdown_grace).await;
            Err(error)
        }
    }
}

async fn join(
    shared: &Shared,
    connection: &Arc<dyn PluginConnection>,
    calls: &mut mpsc::Receiver<RuntimeCall>,
    joining: Joining,
) -> Result<(Arc<Plugin>, Vec<ContainerUpdate>), RegistrationError> {
    let options = &shared.options;
    let (id, config) = match joining {
        Joining::Builtin { id, config } => (id, config),
        Joining::External => (
            await_registration(calls, options.registration_timeout, None).await?,
            String::new(),
        ),
        Joining::Launched { id, config } => {
            await_registration(calls, options.registration_timeout, Some(&id)).await?;
            (id, config)
        }
    };
    let configure = ConfigureRequest {
        config,
        runtime_name: options.runtime_name.clone(),
        runtime_version: options.runtime_version.clone(),
        registration_timeout: millis(options.registration_timeout),
        request_timeout: millis(options.request_timeout),
        nri_version: options.nri_version.clone(),
    };
    let configured = transport::call(connection.as_ref(), &configure, options.request_timeout)
        .await
        .map_err(RegistrationError::Configure)?;
    let events = EventMask::from_bits(configured.events);
    events
        .validate()
        .map_err(|_| RegistrationError::InvalidEvents(configured.events))?;
    let label = id.to_string();
    let policy = options.failure_policy_of(&label, id.name());
    let plugin = Arc::new(Plugin::new(id, Arc::clone(connection), events, policy));

    let _gate = shared.gate.exclusive().await;
    let _events = shared.events.lock().await;
    if shared.is_stopping() {
        return Err(RegistrationError::Stopped);
    }
    let mut listing = sync::Listing::new();
    shared
        .backend
        .list_into(&mut listing)
        .await
        .map_err(SyncError::Runtime)?;
    let updates = sync::synchronize(
        &plugin,
        &listing,
        options.request_timeout,
        options.max_message_size,
    )
    .await?;
    drop(listing);
    if let Some(replaced) = shared.registry.add(Arc::clone(&plugin)) {
        shared.drop_plugin(&replaced, "a plugin with the same identity registered");
    }
    Ok((plugin, updates))
}

/// Waits for RegisterPlugin. A launched plugin's identity is its file
/// name's, whatever it registers as.
async fn await_registration(
    calls: &mut mpsc::Receiver<RuntimeCall>,
    timeout: Duration,
    launched: Option<&PluginId>,
) -> Result<PluginId, RegistrationError> {
    let deadline = Instant::now() + timeout;
    loop {
        let call = match tokio::time::timeout_at(deadline, calls.recv()).await {
            Err(_) => return Err(RegistrationError::Timeout),
            Ok(None) => return Err(RegistrationError::Closed),
            Ok(Some(call)) => call,
        };
        let (request, responder) = call.into_parts();
        let RuntimeRequest::RegisterPlugin(request) = request else {
            responder.reply(Err(CallError::Failed {
                code: FAILED_PRECONDITION,
                message: "plugin is not registered yet".into(),
            }));
            continue;
        };
        let identity = match launched {
            Some(id) => Ok(id.clone()),
            None => PluginId::new(&request.plugin_idx, &request.plugin_name),
        };
        return match identity {
            Ok(id) => {
                let version = if request.nri_version.is_empty() {
                    "unknown"
                } else {
                    &request.nri_version
                };
                tracing::info!(plugin = %id, nri_version = version, "plugin registered");
                responder.reply(Ok(RuntimeResponse::RegisterPlugin(Empty {})));
                Ok(id)
            }
            Err(error) => {
                responder.reply(Err(CallError::Failed {
                    code: INVALID_ARGUMENT,
                    message: format!("failed to register plugin: {error}"),
                }));
                Err(error.into())
            }
        };
    }
}

/// Serves a registered plugin's calls until its connection closes, then
/// removes it. Plugin-initiated updates are applied with no NRI lock held,
/// so a plugin may call UpdateContainers from inside an event handler.
async fn serve(shared: Arc<Shared>, plugin: Arc<Plugin>, mut calls: mpsc::Receiver<RuntimeCall>) {
    while let Some(call) = calls.recv().await {
        let (request, responder) = call.into_parts();
        let answer = match request {
            RuntimeRequest::RegisterPlugin(_) => Err(CallError::Failed {
                code: FAILED_PRECONDITION,
                message: "plugin is already registered".into(),
            }),
            RuntimeRequest::UpdateContainers(request) => {
                let failed = if request.update.is_empty() {
                    Vec::new()
                } else {
                    shared.backend.update_containers(request.update).await
                };
                if !request.evict.is_empty() {
                    for failure in shared.backend.evict_containers(request.evict).await {
                        tracing::warn!(plugin = %plugin.label, container = %failure.eviction.container_id, reason = %failure.reason, "eviction failed");
                    }
                }
                Ok(RuntimeResponse::UpdateContainers(
                    UpdateContainersResponse { failed },
                ))
            }
        };
        responder.reply(answer);
    }
    shared.drop_plugin(&plugin, "connection closed");
}

async fn apply_sync_updates(shared: &Shared, plugin: &str, updates: Vec<ContainerUpdate>) {
    if updates.is_empty() {
        return;
    }
    for failed in shared.backend.update_containers(updates).await {
        tracing::warn!(plugin, container = %failed.container_id, "update from synchronization failed");
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
