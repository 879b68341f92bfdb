//! The transport: compiles and instantiates WASM plugins found in the
//! plugin directory and hands them to nri-core as launched connections.

use std::sync::{Arc, OnceLock};

use nri_core::discovery::{PluginKind, Preinstalled};
use nri_core::proto::api::RegisterPluginRequest;
use nri_core::transport::{Accepted, LaunchError, RuntimeCall, RuntimeRequest, Transport};
use tokio::sync::mpsc;
use wasmtime::{Cache, Linker, Module};

use crate::cache::{self, CacheStats};
use crate::connection::WasmConnection;
use crate::engine::Runtime;
use crate::error::LoadError;
use crate::guest::Guest;
use crate::host::{self, GuestState};
use crate::options::WasmOptions;
use crate::relay::{self, RELAY_GUEST, TestRelay};

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
    /// The compiled-module cache, if [`WasmOptions::cache_dir`] is set.
    cache: Option<Cache>,
    /// Test only: the relay guest, compiled, and the linker with its
    /// `nri_test` import; made on the first [`WasmTransport::load_test_relay`].
    relay: OnceLock<Result<(Module, Linker<GuestState>), String>>,
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
    /// calls; it ends when the transport is dropped. With
    /// [`WasmOptions::cache_dir`] set, creates or checks the cache
    /// directory first ([`LoadError::Cache`] if it is not safe to use).
    pub fn new(options: WasmOptions) -> Result<Self, LoadError> {
        let cache = options.cache_dir.as_deref().map(cache::open).transpose()?;
        let runtime = Runtime::new(options.epoch_tick, cache.clone())?;
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
            cache,
            relay: OnceLock::new(),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &WasmOptions {
        &self.options
    }

    /// How often the compiled-module cache served a module and how often
    /// it missed, since this transport was made; `None` without a cache
    /// ([`WasmOptions::cache_dir`]).
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|cache| CacheStats {
            hits: cache.cache_hits(),
            misses: cache.cache_misses(),
        })
    }

    /// Compiles the module at `plugin.path` (off the async threads: it is
    /// CPU work), instantiates and initialises it, checks its ABI, and
    /// returns the connection. The plugin's RegisterPlugin call is already
    /// waiting on [`Accepted::calls`].
    pub async fn load(&self, plugin: &Preinstalled) -> Result<Accepted, LoadError> {
        let module = self.compile(plugin).await?;
        self.start(&self.linker, &module, plugin, None).await
    }

    /// **Test only, never for real plugins.** Loads the relay guest
    /// ([`RELAY_GUEST`](crate::RELAY_GUEST), `guests/relay.wat`) as
    /// `plugin` (its `path` is not read), with `relay` answering every call
    /// the guest forwards through its `nri_test.call` import. The import is
    /// linked for this guest only: [`WasmTransport::load`] and discovery's
    /// launches never provide it. The connection is otherwise the one a real
    /// module gets: same ABI, sandbox, deadlines and crash handling.
    #[doc(hidden)]
    pub async fn load_test_relay(
        &self,
        plugin: &Preinstalled,
        relay: Arc<dyn TestRelay>,
    ) -> Result<Accepted, LoadError> {
        let prepared = self.relay.get_or_init(|| {
            let module =
                Module::new(&self.runtime.engine, RELAY_GUEST).map_err(|e| format!("{e:#}"))?;
            let mut linker = (*self.linker).clone();
            relay::add_test_module(&mut linker).map_err(|e| format!("{e:#}"))?;
            Ok((module, linker))
        });
        let (module, linker) = prepared
            .as_ref()
            .map_err(|e| LoadError::Compile(e.clone()))?;
        self.start(linker, module, plugin, Some(relay)).await
    }

    /// Instantiates a compiled module and queues its registration.
    async fn start(
        &self,
        linker: &Linker<GuestState>,
        module: &Module,
        plugin: &Preinstalled,
        relay: Option<Arc<dyn TestRelay>>,
    ) -> Result<Accepted, LoadError> {
        let guest = Guest::instantiate(
            &self.runtime,
            linker,
            module,
            plugin,
            &self.options,
            self.options.setup_timeout,
            relay,
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
