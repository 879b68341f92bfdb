//! What a WASM plugin may use: its memory, and the parts of WASI preview 1
//! that reach outside the sandbox (none unless configured).

use std::path::PathBuf;
use std::time::Duration;

/// Default memory limit of one plugin instance: 64 MiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;

/// The default time a module has to instantiate, run `_initialize` and
/// answer `plugin_api_version`: 5 s, upstream's default registration
/// timeout.
pub const DEFAULT_SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Default period of the clock that interrupts running guests to check
/// their deadline: 10 ms.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);

/// Options of a [`WasmTransport`](crate::WasmTransport).
///
/// The defaults are the sandbox: 64 MiB of linear memory per instance, no
/// environment variables, no arguments but the plugin's file name, no
/// directories, no network. Guest stdout and stderr always go to `tracing`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WasmOptions {
    /// Largest linear memory one instance may have, in bytes. Growing past
    /// it traps, which removes the plugin; a module that declares more
    /// initial memory does not load.
    pub memory_limit: usize,
    /// How often running guests are interrupted to check their deadline
    /// and let other tasks run: the granularity of the per-call deadline.
    pub epoch_tick: Duration,
    /// How long a module has to instantiate, run `_initialize` and answer
    /// `plugin_api_version` ([`DEFAULT_SETUP_TIMEOUT`]).
    pub setup_timeout: Duration,
    /// Environment variables the guest sees (none by default).
    pub env: Vec<(String, String)>,
    /// Host directories the guest may open, each as `(host path, guest
    /// path)`, read-only (none by default).
    pub preopened_dirs: Vec<(PathBuf, String)>,
    /// Whether the guest may open network sockets (WASI preview 1 can only
    /// use sockets it is given, so this matters little; off by default).
    pub network: bool,
    /// A directory for compiled modules (wasmtime's cache), so a module
    /// loaded again, after a restart too, is not compiled again; `None`
    /// (the default) compiles every module at every load.
    ///
    /// Cached artifacts are native code the runtime runs without checking
    /// them again, so the directory is created with mode 0700 (whatever
    /// the umask), and one that belongs to another user or that its group
    /// or others may write, or that lies below a directory another user
    /// could swap it in (not root's or ours, or writable by others
    /// without the sticky bit), is refused
    /// ([`CacheError`](crate::CacheError)). Entries are keyed by the
    /// module's bytes, the engine's settings and wasmtime's version.
    pub cache_dir: Option<PathBuf>,
}

impl Default for WasmOptions {
    fn default() -> Self {
        WasmOptions {
            memory_limit: DEFAULT_MEMORY_LIMIT,
            epoch_tick: DEFAULT_EPOCH_TICK,
            setup_timeout: DEFAULT_SETUP_TIMEOUT,
            env: Vec::new(),
            preopened_dirs: Vec::new(),
            network: false,
            cache_dir: None,
        }
    }
}

impl WasmOptions {
    /// Sets the memory limit per instance, in bytes.
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// Sets the deadline clock's period.
    pub fn with_epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick;
        self
    }

    /// Sets the time a module has to instantiate and initialise.
    pub fn with_setup_timeout(mut self, timeout: Duration) -> Self {
        self.setup_timeout = timeout;
        self
    }

    /// Adds an environment variable the guest sees.
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Lets the guest read the host directory `host` as `guest`.
    pub fn with_preopened_dir(
        mut self,
        host: impl Into<PathBuf>,
        guest: impl Into<String>,
    ) -> Self {
        self.preopened_dirs.push((host.into(), guest.into()));
        self
    }

    /// Caches compiled modules in `dir` (see [`WasmOptions::cache_dir`]).
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }
}
