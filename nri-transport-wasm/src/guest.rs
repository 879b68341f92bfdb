//! One loaded plugin module: its store and instance, and calls into it by
//! upstream's ABI (the `knqyf263/go-plugin` convention, containerd/nri
//! `pkg/api/api_host.pb.go`):
//!
//! - a request is written into memory the guest's `malloc(size) -> ptr`
//!   gives, and freed with `free(ptr)` after the call;
//! - `plugin_<method>(ptr, size) -> u64` returns `(ptr << 32) | size` of
//!   the reply in guest memory, bit 31 of the size marking an error string;
//!   the host frees the reply after copying it out.

use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use nri_core::discovery::Preinstalled;
use nri_core::transport::{METHODS, Method, PluginRequestRef, PluginResponse};
use wasmtime::{Instance, Memory, Module, Store, StoreLimitsBuilder, TypedFunc, UpdateDeadline};
use wasmtime_wasi::{DirPerms, FilePerms, WasiCtxBuilder};

use crate::engine::Runtime;
use crate::error::{GuestError, LoadError};
use crate::host::{GuestState, Output, Stream};
use crate::options::WasmOptions;
use crate::relay::SharedRelay;

/// The ABI version this host speaks (`plugin_api_version` must return it).
pub const API_VERSION: u64 = 1;
/// Bit 31 of a reply's size: the reply is an error string.
pub(crate) const ERROR_BIT: u32 = 1 << 31;
/// Largest request the ABI can pass: sizes are 31 bits.
const MAX_REQUEST: usize = (1 << 31) - 1;

/// The export upstream's ABI names for a method: `plugin_` and the method
/// name in snake case (`CreateContainer` → `plugin_create_container`).
pub fn export_name(method: Method) -> String {
    let mut name = String::from("plugin_");
    for (i, c) in method.name().chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    name
}

/// A method's export, and its name for errors.
struct Export {
    name: &'static str,
    func: TypedFunc<(u32, u32), u64>,
}

/// A loaded, initialised plugin instance.
pub(crate) struct Guest {
    /// Keeps the epoch clock running while the instance lives, even if
    /// the transport is dropped first.
    _runtime: Arc<Runtime>,
    abi: Abi,
    /// One export per method, in [`METHODS`] order.
    methods: Vec<Export>,
    /// The last request's encoding; kept to reuse its allocation.
    encoded: Vec<u8>,
}

/// The store and what every call uses, apart from the method exports, so
/// a call borrows its export instead of cloning it (a clone of a typed
/// function takes and drops references to its registered type).
struct Abi {
    store: Store<GuestState>,
    memory: Memory,
    malloc: TypedFunc<u32, u32>,
    free: TypedFunc<u32, ()>,
}

/// The error the epoch callback stops a guest with once its deadline
/// passed.
#[derive(Debug, thiserror::Error)]
#[error("deadline exceeded")]
pub(crate) struct DeadlineExceeded;

/// Every method's export name, in [`METHODS`] order.
fn export_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| METHODS.iter().map(|&m| export_name(m)).collect())
}

impl Guest {
    /// Instantiates `module` for `plugin`, runs `_initialize` if the module
    /// is a reactor, checks `plugin_api_version` and finds every export the
    /// ABI needs. `timeout` bounds the setup calls.
    pub(crate) async fn instantiate(
        runtime: &Arc<Runtime>,
        linker: &wasmtime::Linker<GuestState>,
        module: &Module,
        plugin: &Preinstalled,
        options: &WasmOptions,
        timeout: Duration,
        relay: Option<SharedRelay>,
    ) -> Result<Guest, LoadError> {
        let label: Arc<str> = plugin.id.to_string().into();
        let wasi = wasi_context(plugin, options, &label)?;
        let limits = StoreLimitsBuilder::new()
            .memory_size(options.memory_limit)
            .instances(1)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(
            &runtime.engine,
            GuestState {
                wasi,
                limits,
                label,
                deadline: None,
                relay,
            },
        );
        store.limiter(|state| &mut state.limits);
        store.epoch_deadline_callback(|context| {
            match context.data().deadline {
                Some(deadline) if Instant::now() >= deadline => Err(DeadlineExceeded.into()),
                // Let other tasks run, then go on.
                _ => Ok(UpdateDeadline::Yield(1)),
            }
        });
        let started = arm(&mut store, timeout);
        let instance = setup_step(
            "module instantiation",
            timeout,
            started,
            linker.instantiate_async(&mut store, module),
        )
        .await
        .map_err(|e| LoadError::Instantiate(e.to_string()))?;

        let initialize = instance
            .get_typed_func::<(), ()>(&mut store, "_initialize")
            .ok();
        if let Some(initialize) = initialize {
            let started = arm(&mut store, timeout);
            setup_step(
                "_initialize",
                timeout,
                started,
                initialize.call_async(&mut store, ()),
            )
            .await
            .map_err(|e| LoadError::Instantiate(e.to_string()))?;
        }

        let version = typed::<(), u64>(&instance, &mut store, "plugin_api_version")?;
        let started = arm(&mut store, timeout);
        let found = setup_step(
            "plugin_api_version",
            timeout,
            started,
            version.call_async(&mut store, ()),
        )
        .await?;
        if found != API_VERSION {
            return Err(LoadError::ApiVersion {
                host: API_VERSION,
                plugin: found,
            });
        }
        let mut methods = Vec::with_capacity(METHODS.len());
        for name in export_names() {
            methods.push(Export {
                name: name.as_str(),
                func: typed(&instance, &mut store, name)?,
            });
        }
        let malloc = typed::<u32, u32>(&instance, &mut store, "malloc")?;
        let free = typed::<u32, ()>(&instance, &mut store, "free")?;
        let memory =
            instance
                .get_memory(&mut store, "memory")
                .ok_or_else(|| LoadError::MissingExport {
                    export: "memory".into(),
                    reason: "no memory of that name".into(),
                })?;
        store.data_mut().deadline = None;
        Ok(Guest {
            _runtime: Arc::clone(runtime),
            abi: Abi {
                store,
                memory,
                malloc,
                free,
            },
            methods,
            encoded: Vec::new(),
        })
    }

    /// Calls the request's method and decodes the reply. Any error but
    /// [`GuestError::Returned`] leaves the instance unusable.
    pub(crate) async fn call(
        &mut self,
        request: PluginRequestRef<'_>,
        timeout: Duration,
    ) -> Result<PluginResponse, GuestError> {
        let method = request.method();
        let index = METHODS.iter().position(|&m| m == method).unwrap_or(0);
        let Guest {
            abi,
            methods,
            encoded,
            ..
        } = self;
        let export = &methods[index];
        encoded.clear();
        request.encode_raw(encoded);
        // One clock read per call: the deadline and the backstop both
        // count from it.
        let started = arm(&mut abi.store, timeout);
        let outcome = {
            let exchange = std::pin::pin!(abi.exchange(method, export, encoded, timeout));
            timed(export.name, timeout, started, exchange).await
        };
        abi.store.data_mut().deadline = None;
        outcome
    }
}

impl Abi {
    /// The ABI's steps: the request into memory from `malloc`, the call,
    /// `free` of the request, the reply decoded where it lies in guest
    /// memory (no copy), `free` of the reply.
    async fn exchange(
        &mut self,
        method: Method,
        Export { name: export, func }: &Export,
        request: &[u8],
        timeout: Duration,
    ) -> Result<PluginResponse, GuestError> {
        let export = *export;
        if request.len() > MAX_REQUEST {
            return Err(GuestError::TooLarge {
                export,
                size: request.len(),
            });
        }
        let size = request.len() as u32;
        let ptr = if size == 0 {
            0
        } else {
            let ptr = checked(
                "malloc",
                timeout,
                self.malloc.call_async(&mut self.store, size).await,
            )?;
            self.write(export, ptr, request)?;
            ptr
        };
        let packed = checked(
            export,
            timeout,
            func.call_async(&mut self.store, (ptr, size)).await,
        );
        if ptr != 0 {
            checked(
                "free",
                timeout,
                self.free.call_async(&mut self.store, ptr).await,
            )?;
        }
        let packed = packed?;
        let reply_ptr = (packed >> 32) as u32;
        let raw_size = packed as u32;
        let is_error = raw_size & ERROR_BIT != 0;
        let reply_size = raw_size & !ERROR_BIT;
        let bytes = self.reply(export, reply_ptr, reply_size)?;
        let reply = if is_error {
            Err(GuestError::Returned(
                String::from_utf8_lossy(bytes).into_owned(),
            ))
        } else {
            Ok(
                PluginResponse::decode(method, bytes).map_err(|e| GuestError::Undecodable {
                    export,
                    reason: e.to_string(),
                })?,
            )
        };
        if reply_ptr != 0 {
            checked(
                "free",
                timeout,
                self.free.call_async(&mut self.store, reply_ptr).await,
            )?;
        }
        reply
    }

    fn write(&mut self, export: &'static str, ptr: u32, bytes: &[u8]) -> Result<(), GuestError> {
        let memory = self.memory.data_mut(&mut self.store);
        let len = memory.len();
        let target = (ptr as usize)
            .checked_add(bytes.len())
            .and_then(|end| memory.get_mut(ptr as usize..end))
            .ok_or(GuestError::OutOfBounds {
                export,
                ptr,
                size: bytes.len() as u32,
                memory: len,
            })?;
        target.copy_from_slice(bytes);
        Ok(())
    }

    /// The reply's bytes in guest memory.
    fn reply(&self, export: &'static str, ptr: u32, size: u32) -> Result<&[u8], GuestError> {
        let memory = self.memory.data(&self.store);
        (ptr as usize)
            .checked_add(size as usize)
            .and_then(|end| memory.get(ptr as usize..end))
            .ok_or(GuestError::OutOfBounds {
                export,
                ptr,
                size,
                memory: memory.len(),
            })
    }
}

/// The WASI preview 1 context of a plugin: arguments (the file name), the
/// configured environment and directories, stdout and stderr to `tracing`,
/// nothing else.
fn wasi_context(
    plugin: &Preinstalled,
    options: &WasmOptions,
    label: &Arc<str>,
) -> Result<wasmtime_wasi::p1::WasiP1Ctx, LoadError> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .arg(label.as_ref())
        .stdout(Output::new(Stream::Stdout, Arc::clone(label)))
        .stderr(Output::new(Stream::Stderr, Arc::clone(label)));
    for (key, value) in &options.env {
        builder.env(key, value);
    }
    for (host, guest) in &options.preopened_dirs {
        builder
            .preopened_dir(host, guest, DirPerms::READ, FilePerms::READ)
            .map_err(|e| {
                LoadError::Instantiate(format!(
                    "cannot open {} for {}: {e}",
                    host.display(),
                    plugin.id
                ))
            })?;
    }
    if options.network {
        builder.inherit_network();
    }
    Ok(builder.build_p1())
}

/// A typed export, or an error naming it.
fn typed<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    instance: &Instance,
    store: &mut Store<GuestState>,
    name: &str,
) -> Result<TypedFunc<P, R>, LoadError> {
    let missing = |reason: String| LoadError::MissingExport {
        export: name.to_string(),
        reason,
    };
    let func = instance
        .get_func(&mut *store, name)
        .ok_or_else(|| missing("no function of that name".into()))?;
    func.typed::<P, R>(&*store)
        .map_err(|e| missing(format!("{e}")))
}

/// Awaits a call (or a sequence of calls) into the guest. The epoch
/// callback traps a guest once its deadline passes; a timer is the backstop
/// for a guest stuck in a host call (say, a WASI sleep), where no epoch
/// check runs.
///
/// The timer is armed only once the call is suspended: a call that returns
/// within its first poll (every call of a guest that neither sleeps nor
/// runs past an epoch tick) registers no timer at all, and no timer could
/// fire before that poll returns anyway, so the guarantee is the same.
/// Arming `tokio::time::timeout` for every call cost about 6% of the
/// bench's CPU (one timer-wheel insertion and removal per call).
async fn timed<T>(
    export: &'static str,
    timeout: Duration,
    started: Instant,
    // Pinned by the caller: taken by value, the future would be stored
    // twice in this one's state (as the argument and as the pinned local),
    // and the boxed future of a call would pass 1 KiB (1216 bytes, 768
    // pinned), where glibc's malloc leaves its fast paths and consolidates
    // its free lists: measured, a sixth of the WASM call's own CPU time.
    mut call: Pin<&mut impl Future<Output = Result<T, GuestError>>>,
) -> Result<T, GuestError> {
    // The epoch clock checks the deadline once a tick: allow for that.
    let backstop = timeout + timeout / 4 + Duration::from_millis(50);
    let deadline = tokio::time::Instant::from_std(started + backstop);
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(outcome) = call.as_mut().poll(cx) {
            return Poll::Ready(outcome);
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(GuestError::Timeout {
                export,
                after: timeout,
            })),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Sets the store's deadline `timeout` from now, and returns now. The
/// epoch deadline counts from now too: one left over from the last call
/// has usually passed (the clock ticks between events), which would make
/// the guest yield once at its first check.
fn arm(store: &mut Store<GuestState>, timeout: Duration) -> Instant {
    let started = Instant::now();
    store.data_mut().deadline = Some(started + timeout);
    store.set_epoch_deadline(1);
    started
}

/// Awaits one step of loading a module (instantiation, `_initialize`,
/// `plugin_api_version`) under its deadline, armed at `started`.
async fn setup_step<T>(
    what: &'static str,
    timeout: Duration,
    started: Instant,
    step: impl Future<Output = wasmtime::Result<T>>,
) -> Result<T, GuestError> {
    let step = std::pin::pin!(async { checked(what, timeout, step.await) });
    timed(what, timeout, started, step).await
}

/// A guest call's result, its failure as a [`GuestError`].
fn checked<T>(
    export: &'static str,
    timeout: Duration,
    result: wasmtime::Result<T>,
) -> Result<T, GuestError> {
    result.map_err(|error| {
        if error.downcast_ref::<DeadlineExceeded>().is_some() {
            GuestError::Timeout {
                export,
                after: timeout,
            }
        } else {
            GuestError::Trap {
                export,
                reason: format!("{error:#}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_names_are_snake_case() {
        assert_eq!(export_name(Method::Configure), "plugin_configure");
        assert_eq!(
            export_name(Method::CreateContainer),
            "plugin_create_container"
        );
        assert_eq!(
            export_name(Method::ValidateContainerAdjustment),
            "plugin_validate_container_adjustment"
        );
        assert_eq!(
            export_name(Method::PostUpdatePodSandbox),
            "plugin_post_update_pod_sandbox"
        );
        assert_eq!(export_name(Method::StateChange), "plugin_state_change");
    }
}
