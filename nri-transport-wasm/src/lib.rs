//! WebAssembly plugins for nri-core: a [`Transport`](nri_core::transport::Transport)
//! that loads a pre-installed plugin whose file starts with the WASM magic
//! into the runtime's own process, on wasmtime with WASI preview 1, instead
//! of executing it.
//!
//! # The ABI
//!
//! Upstream's (containerd/nri `pkg/api/api_host.pb.go`,
//! `pkg/api/api_plugin.pb.go`, the `knqyf263/go-plugin` convention), so a
//! module built for containerd or CRI-O loads unchanged:
//!
//! - the module exports `memory`, `plugin_api_version() -> u64` (must
//!   return 1), `malloc(u32) -> u32`, `free(u32)`, and one
//!   `plugin_<method in snake case>(ptr: u32, size: u32) -> u64` for every
//!   method of the `Plugin` service (`plugin_configure`,
//!   `plugin_synchronize`, `plugin_shutdown`, `plugin_run_pod_sandbox`, …,
//!   `plugin_state_change`, `plugin_validate_container_adjustment`);
//! - a request is the method's protobuf message, written into memory the
//!   guest's `malloc` returned (freed after the call); the result is
//!   `(ptr << 32) | size` of the reply in guest memory, which the host copies
//!   out and frees; bit 31 of the size set means the bytes are an error
//!   string (the call fails with code 2, the plugin stays);
//! - the host provides module `env` with `log(ptr, size) -> u64`, taking a
//!   `LogRequest` (levels go to `tracing`'s debug, info, warn and error);
//! - a reactor module's `_initialize` runs once, at load;
//! - a WASM plugin does not register: it joins under its file's index and
//!   name and starts at Configure (with its `NN-name.conf` configuration),
//!   then Synchronize and the events it subscribes to.
//!
//! # The sandbox
//!
//! Upstream only closes a module when a call's context ends. Here every
//! instance is confined:
//!
//! - **time**: each call has the request timeout as its deadline. An epoch
//!   clock interrupts the guest every [`WasmOptions::epoch_tick`]; the guest
//!   then yields to other tasks, and traps once its deadline has passed. A
//!   looping guest holds a thread for one tick at most.
//! - **memory**: linear memory is limited per instance
//!   ([`DEFAULT_MEMORY_LIMIT`], 64 MiB, [`WasmOptions::memory_limit`]);
//!   growing past it traps.
//! - **WASI**: no filesystem, network or environment unless configured in
//!   [`WasmOptions`]; the one argument is the plugin's `NN-name`; stdout and
//!   stderr become `tracing` events, line by line.
//! - **compiled code**: with [`WasmOptions::cache_dir`] (off by default),
//!   compiled modules are kept on disk by wasmtime's cache and loaded
//!   from it next time, without compiling. The directory is created with
//!   mode 0700 whatever the umask; one that belongs to another user or
//!   that its group or others may write is refused ([`CacheError`]), as a
//!   cached artifact is native code the runtime runs unchecked, and so is
//!   one below a directory another user could swap it in.
//! - **crashes**: a trap, a timeout, memory exhaustion, a missing export,
//!   a wrong API version, a pointer or size outside guest memory, or a reply
//!   that does not decode makes the plugin count as crashed: the instance is
//!   dropped and nri-core removes the plugin, as it removes one whose
//!   process died; the event goes on without it. Nothing a guest does
//!   panics the runtime.
//!
//! # Differences from upstream
//!
//! - **A failing call removes the plugin; the event goes on.** Upstream
//!   returns a trap or a bad reply to the event as an error (the event
//!   fails) and keeps calling the broken module; a passed deadline closes
//!   the module there too. Here a trap, timeout, out-of-bounds pointer or
//!   undecodable reply is a crash, handled as for a plugin process that died.
//!   An error string from the guest fails the call as upstream's does.
//! - **Limits**: both stop a guest at its call's deadline (upstream closes
//!   the module when the call's context ends); the memory limit is ours
//!   (upstream has none).
//! - **Output**: guest stdout and stderr become `tracing` events; upstream
//!   discards them. The guest's one argument is its `NN-name` (upstream
//!   passes none). Environment, filesystem and network: none in both,
//!   unless configured here.
//! - **Load failures** (missing export, wrong API version, failing
//!   `_initialize`) skip the plugin as upstream's do; the error names the
//!   export. Instantiation and `_initialize` have a deadline
//!   ([`WasmOptions::setup_timeout`]); upstream has none.
//!   A module built for NRI before v0.12 lacks the per-event exports and
//!   loads in neither (WASM plugins get no StateChange fallback).
//! - **Engine**: wasmtime compiles the module with cranelift at load;
//!   upstream runs it on wazero, and compiles at every load. Here compiled
//!   modules can be cached on disk across restarts
//!   ([`WasmOptions::cache_dir`], opt-in).
//! - **Discovery** is upstream's: a module needs an execute bit and an
//!   `NN-name` file name; a runtime without this crate reports "no WASM
//!   support" for it, as upstream built with `nri_no_wasm` does.
//! - The plugin's origin is `Launched` without a pid (upstream labels it
//!   `pre-connected-wasm`).
//! - Same in both: no registration, and no way for a guest to call the
//!   runtime (no UpdateContainers, no unsolicited updates).
//!
//! # Tests
//!
//! `WasmTransport::load_test_relay` (hidden, test only) loads
//! `guests/relay.wat`, a guest forwarding every call to a host import only
//! that function links; nri-testkit's conformance harness uses it to run
//! the suite's Rust plugins through this ABI.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use nri_core::transport::Transport;
//! use nri_transport_wasm::{WasmOptions, WasmTransport};
//!
//! let wasm: Arc<dyn Transport> = Arc::new(WasmTransport::new(WasmOptions::default())?);
//! // Give it to the adaptation next to the socket transport; pre-installed
//! // WASM modules are then loaded through it, executables through the other.
//! # let _ = wasm;
//! # Ok(()) }
//! ```

mod cache;
mod connection;
mod engine;
mod error;
mod guest;
mod host;
mod options;
mod relay;
mod transport;

pub use cache::{CacheError, CacheStats};
pub use error::{GuestError, LoadError};
pub use guest::{API_VERSION, export_name};
pub use host::MAX_LOG_LINE;
pub use options::{DEFAULT_EPOCH_TICK, DEFAULT_MEMORY_LIMIT, DEFAULT_SETUP_TIMEOUT, WasmOptions};
pub use relay::{RELAY_GUEST, TestRelay};
pub use transport::WasmTransport;
