//! The transport: compiles and instantiates WASM plugins found in the
//! plugin directory and hands them to nri-core as launched connections.

use std::sync::Arc;

use nri_core::discovery::{PluginKind, Preinstalled};
use nri_core::proto::api::RegisterPluginRequest;
use nri_core::transport::{Accepted, LaunchError, RuntimeCall, RuntimeRequest, Transport};
use tokio::sync::mpsc;
use wasmtime::{Linker, Module};

use crate::connection::WasmConnection;
use crate::engine::Runtime;
use crate::error::LoadError;
use crate::guest::Guest;
use crate::host::{self, GuestState};
use crate::options::WasmOptions;

/// How many Runtime-service calls may wait: only the synthesised
/// registration is ever sent.
const CALL_QUEUE: usize = 1;

/// Loads WASM plugins: a [`Transport`] that launches the pre-installed
/// plugins discovery marks [`PluginKind::Wasm`], each in its own sandboxed
/// instance inside the runtime's process. It accepts no connections.
///
/// A loaded plugin does not register (it has no way to): the transport
/// sends nri-core a RegisterPlugin call in its name, with the index and
/// name of its file, so it joins like a launched plugin and starts at
/// Configure.
pub struct WasmTransport {
    runtime: Arc<Runtime>,
    linker: Arc<Linker<GuestState>>,
    options: WasmOptions,
}

impl std::fmt::Debug for WasmTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmTransport")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl WasmTransport {
    /// A transport with these options. Starts the thread that times guest
    /// calls; it ends when the transport is dropped.
    pub fn new(options: WasmOptions) -> Result<Self, LoadError> {
        let runtime = Runtime::new(options.epoch_tick)?;
        let mut linker = Linker::new(&runtime.engine);
        let link_error = |e: wasmtime::Error| LoadError::Instantiate(format!("{e:#}"));
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut GuestState| {
            &mut state.wasi
        })
        .map_err(link_error)?;
        host::add_env_module(&mut linker).map_err(link_error)?;
        Ok(WasmTransport {
            runtime: Arc::new(runtime),
            linker: Arc::new(linker),
            options,
        })
    }

    /// The options in force.
    pub fn options(&self) -> &WasmOptions {
        &self.options
    }

    /// Compiles the module at `plugin.path` (off the async threads: it is
    /// CPU work), instantiates and initialises it, checks its ABI, and
    /// returns the connection. The plugin's RegisterPlugin call is already
    /// waiting on [`Accepted::calls`].
    pub async fn load(&self, plugin: &Preinstalled) -> Result<Accepted, LoadError> {
        let module = self.compile(plugin).await?;
        let guest = Guest::instantiate(
            &self.runtime,
            &self.linker,
            &module,
            plugin,
            &self.options,
            self.options.setup_timeout,
        )
        .await?;
        let (sender, calls) = mpsc::channel(CALL_QUEUE);
        let registration = RegisterPluginRequest {
            plugin_name: plugin.id.name().to_string(),
            plugin_idx: plugin.id.index().to_string(),
            nri_version: String::new(),
        };
        // Nobody waits for the answer: the plugin never asked.
        let (call, _answer) = RuntimeCall::new(RuntimeRequest::RegisterPlugin(registration));
        if sender.try_send(call).is_err() {
            return Err(LoadError::Instantiate(
                "cannot queue the registration".into(),
            ));
        }
        let label: Arc<str> = plugin.id.to_string().into();
        tracing::info!(plugin = %label, path = %plugin.path.display(), "WASM plugin loaded");
        Ok(Accepted {
            connection: Arc::new(WasmConnection::new(label, guest, sender)),
            calls,
        })
    }

    async fn compile(&self, plugin: &Preinstalled) -> Result<Module, LoadError> {
        let engine = self.runtime.engine.clone();
        let path = plugin.path.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(path)?;
            Module::new(&engine, &bytes).map_err(|e| LoadError::Compile(format!("{e:#}")))
        })
        .await
        .map_err(|e| LoadError::Compile(format!("the compiling task failed: {e}")))?
    }
}

#[async_trait::async_trait]
impl Transport for WasmTransport {
    /// WASM plugins never dial in: there is nothing to accept.
    async fn accept(&self) -> Option<Accepted> {
        None
    }

    fn launches(&self, kind: PluginKind) -> bool {
        kind == PluginKind::Wasm
    }

    async fn launch(&self, plugin: &Preinstalled) -> Result<Accepted, LaunchError> {
        if plugin.kind != PluginKind::Wasm {
            return Err(LaunchError::Unsupported);
        }
        self.load(plugin)
            .await
            .map_err(|error| LaunchError::Failed {
                path: plugin.path.clone(),
                reason: error.to_string(),
            })
    }
}
