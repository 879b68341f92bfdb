//! The harness of the WASM transport: see [`WasmHarness`].

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt as _;
use nri_core::discovery::{PluginKind, Preinstalled};
use nri_core::proto::api::Empty;
use nri_core::proto::identity::PluginId;
use nri_core::transport::PluginHandler;
use nri_core::transport::{
    Accepted, CallError, LaunchError, Method, PluginRequest, RuntimeRequest, RuntimeResponse,
    Transport,
};
use nri_transport_wasm::{TestRelay, WasmOptions, WasmTransport};
use tokio::sync::{mpsc, watch};

use super::harness::{Harness, PluginEnd};

/// The harness of the WASM transport ([`nri_transport_wasm`]): every plugin
/// is a WebAssembly instance inside the runtime's process, the relay guest
/// (`nri-transport-wasm/guests/relay.wat`), whose every `plugin_<method>`
/// export hands the request to the host's test-only `nri_test.call` import;
/// the harness answers that with the scenario's plugin handler.
///
/// ```text
///  adaptation ──PluginConnection::call──► WASM transport ──ABI──► relay guest
///                                           (sandbox,               │ nri_test.call
///                                            deadline)              ▼
///                                                          the scenario's handler
/// ```
///
/// So each call goes the whole way a real module's does: the request
/// encoded into guest memory from the guest's `malloc`, the packed
/// `(ptr << 32) | size` reply, bit 31 error strings, the per-call deadline,
/// traps and crash handling. How the handler's behaviours map:
///
/// | handler | guest |
/// |---|---|
/// | replies | the reply, written into guest memory |
/// | fails with a message | an error string (bit 31): the call fails with code 2, the plugin stays |
/// | never answers | the guest is stuck in a host call until the call's deadline: a timeout, the plugin is unloaded |
/// | panics | a trap: the plugin crashed and is unloaded |
/// | disconnects | a trap (the guest dies): the plugin crashed and is unloaded |
///
/// WASM plugins do not register: they are pre-installed only, and the
/// transport joins them under their file's `NN-name`. The harness loads a
/// plugin's instance when the scenario registers it, with the index and name
/// it registers with, and hands it to the adaptation as an accepted
/// connection (scenarios add plugins to a running adaptation; loading from
/// the plugin directory at start is tested by `tests/wasm_plugins.rs`).
/// The WASM transport queues the registration itself, so the adaptation
/// admits the plugin as it admits a launched module; the scenario's
/// RegisterPlugin gets an empty answer once the instance is queued. A
/// plugin's end cannot call the runtime: upstream's WASM ABI has no host
/// function for UpdateContainers.
///
/// # Scenario groups
///
/// `tests/conformance_wasm.rs` runs the groups that apply to pre-installed
/// WASM plugins: event dispatch (§5.5), adjustments (§5.6), merging (§5.7),
/// validation (§5.8), solicited updates (§5.9–§5.10), the fault matrix,
/// the panicking plugin and metrics (§5.12). It skips:
///
/// - **construction (§5.3) and registration (§5.4)**: a WASM plugin never
///   registers or dials in; its identity is its file name, and the
///   registration rules (timeouts, rejected names, duplicates, calls before
///   registration) have nothing to act on;
/// - **the StateChange fallback**: it needs a plugin that answers "not
///   implemented" (status code 12); over upstream's ABI a module must export
///   every method (a missing export fails the load) and an error string is
///   always code 2;
/// - **unsolicited updates (§5.11)**: upstream's ABI gives a guest no way to
///   call the runtime (its one host function is `env.log`), so neither
///   UpdateContainers nor calls from inside a handler exist.
pub struct WasmHarness {
    wasm: Arc<WasmTransport>,
    transport: Arc<Loaded>,
}

impl std::fmt::Debug for WasmHarness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmHarness")
            .field("wasm", &self.wasm)
            .finish_non_exhaustive()
    }
}

impl WasmHarness {
    /// A harness with a WASM transport of default options.
    pub fn new() -> Result<Self, nri_transport_wasm::LoadError> {
        Self::with_options(WasmOptions::default())
    }

    /// A harness with a WASM transport of these options.
    pub fn with_options(options: WasmOptions) -> Result<Self, nri_transport_wasm::LoadError> {
        let (queue, loaded) = mpsc::unbounded_channel();
        Ok(WasmHarness {
            wasm: Arc::new(WasmTransport::new(options)?),
            transport: Arc::new(Loaded {
                queue,
                loaded: tokio::sync::Mutex::new(loaded),
            }),
        })
    }
}

#[async_trait::async_trait]
impl Harness for WasmHarness {
    fn name(&self) -> &str {
        "wasm"
    }

    fn transport(&self) -> Arc<dyn Transport> {
        Arc::clone(&self.transport) as Arc<dyn Transport>
    }

    async fn connect(
        &self,
        plugin: Arc<dyn PluginHandler>,
    ) -> Result<Box<dyn PluginEnd>, CallError> {
        Ok(Box::new(WasmEnd {
            wasm: Arc::clone(&self.wasm),
            transport: Arc::clone(&self.transport),
            plugin: Mutex::new(Some(plugin)),
            state: Arc::new(watch::channel(Life::Unloaded).0),
        }))
    }
}

/// The adaptation's side: the instances the scenario registered, handed
/// over as accepted connections.
struct Loaded {
    queue: mpsc::UnboundedSender<Accepted>,
    loaded: tokio::sync::Mutex<mpsc::UnboundedReceiver<Accepted>>,
}

#[async_trait::async_trait]
impl Transport for Loaded {
    async fn accept(&self) -> Option<Accepted> {
        self.loaded.lock().await.recv().await
    }

    fn launches(&self, _kind: PluginKind) -> bool {
        false
    }

    async fn launch(&self, _plugin: &Preinstalled) -> Result<Accepted, LaunchError> {
        Err(LaunchError::Unsupported)
    }
}

/// Where a plugin's instance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Not loaded yet: the scenario has not registered it.
    Unloaded,
    /// Loaded and handed to the adaptation.
    Running,
    /// The scenario disconnected it: its next or running call traps.
    Killed,
    /// The instance is gone (unloaded, crashed, or never to load).
    Gone,
}

/// A plugin's end: registering loads its instance.
struct WasmEnd {
    wasm: Arc<WasmTransport>,
    transport: Arc<Loaded>,
    /// The handler, until the instance is loaded with it.
    plugin: Mutex<Option<Arc<dyn PluginHandler>>>,
    state: Arc<watch::Sender<Life>>,
}

impl WasmEnd {
    async fn load(&self, index: &str, name: &str) -> Result<(), CallError> {
        let failed = |reason: String| CallError::Failed {
            code: nri_core::transport::CODE_UNKNOWN,
            message: reason,
        };
        let plugin = self
            .plugin
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| failed("already registered".into()))?;
        let id = PluginId::new(index, name).map_err(|e| failed(e.to_string()))?;
        let relay = Arc::new(Relay {
            plugin,
            state: Arc::clone(&self.state),
        });
        let preinstalled = Preinstalled {
            path: format!("{id}.wasm").into(),
            id,
            kind: PluginKind::Wasm,
            config: String::new(),
        };
        self.state.send_replace(Life::Running);
        let accepted = match self.wasm.load_test_relay(&preinstalled, relay).await {
            Ok(accepted) => accepted,
            Err(error) => {
                self.state.send_replace(Life::Gone);
                return Err(failed(error.to_string()));
            }
        };
        self.transport
            .queue
            .send(accepted)
            .map_err(|_| failed("the harness is gone".into()))
    }
}

#[async_trait::async_trait]
impl PluginEnd for WasmEnd {
    async fn call(
        &self,
        request: RuntimeRequest,
        _timeout: Duration,
    ) -> Result<RuntimeResponse, CallError> {
        match request {
            RuntimeRequest::RegisterPlugin(register) => {
                self.load(&register.plugin_idx, &register.plugin_name)
                    .await?;
                Ok(RuntimeResponse::RegisterPlugin(Empty {}))
            }
            other => Err(CallError::Failed {
                code: nri_core::transport::CODE_UNIMPLEMENTED,
                message: format!(
                    "a WASM plugin cannot call {}: upstream's ABI has no such host function",
                    other.method_name()
                ),
            }),
        }
    }

    async fn disconnect(&self) {
        self.state.send_if_modified(|life| match *life {
            Life::Running => {
                *life = Life::Killed;
                true
            }
            Life::Unloaded => {
                *life = Life::Gone;
                true
            }
            Life::Killed | Life::Gone => false,
        });
    }

    async fn closed(&self) {
        let mut life = self.state.subscribe();
        let _ = life.wait_for(|life| *life == Life::Gone).await;
    }

    fn is_closed(&self) -> bool {
        *self.state.borrow() == Life::Gone
    }
}

/// What answers the relay guest's calls in one instance: the scenario's
/// handler. Dropped with the instance, which marks the plugin gone.
struct Relay {
    plugin: Arc<dyn PluginHandler>,
    state: Arc<watch::Sender<Life>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.state.send_replace(Life::Gone);
    }
}

#[async_trait::async_trait]
impl TestRelay for Relay {
    async fn call(
        &self,
        method: Method,
        request: Vec<u8>,
    ) -> Result<Result<Vec<u8>, String>, String> {
        let request = PluginRequest::decode(method, request.as_slice())
            .map_err(|error| format!("undecodable {} request: {error}", method.name()))?;
        let mut life = self.state.subscribe();
        let handled = AssertUnwindSafe(self.plugin.handle(request)).catch_unwind();
        tokio::select! {
            outcome = handled => match outcome {
                Err(_) => Err(format!("the plugin panicked in {}", method.name())),
                Ok(Ok(response)) => {
                    let mut bytes = Vec::with_capacity(response.encoded_len());
                    response.encode_raw(&mut bytes);
                    Ok(Ok(bytes))
                }
                Ok(Err(CallError::Failed { message, .. })) => Ok(Err(message)),
                Ok(Err(error)) => Ok(Err(error.to_string())),
            },
            _ = life.wait_for(|life| *life != Life::Running) => {
                Err("the plugin was disconnected".into())
            }
        }
    }
}
