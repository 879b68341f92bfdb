//! `nri-harness bench`: lifecycles of realistic containers against echo
//! plugins, timed per event.
//!
//! Each iteration is one pod with one container through the eight events
//! RunPodSandbox, CreateContainer, StartContainer, UpdateContainer,
//! StopContainer, RemoveContainer, StopPodSandbox and RemovePodSandbox,
//! sent one after the other as a runtime does. The plugins are
//! `nri-echo` (nri-sample-plugins' benchmark plugin: every event but validation,
//! which `--validate` adds; an environment variable and an annotation on
//! each creation), launched as pre-installed plugins (ttrpc, grpc), run
//! inside the harness (local), or started by you (`--external`); or, with
//! `--transport wasm`, instances of the WASM module `--wasm-module` names,
//! loaded into the harness (the plugins then live in the runtime's memory).
//!
//! The ttrpc and grpc plugins are the deployable `nri-echo` executable
//! (`--echo`, by default the `nri-echo` next to `nri-harness`, where
//! `cargo xtask plugins --bin nri-echo`, the deployed build, puts it), so the
//! plugin's memory and CPU time printed are a user's; without one the
//! harness plays the plugin itself and says so. Over ttrpc the runtime
//! side runs in `nri-bench-runtime` when it lies next to `nri-harness`
//! ([`run_separately`]), so the runtime's memory and CPU time printed are
//! those of nri-core, the transport and the fake domain.
//!
//! The lifecycles run in a task of their own, as a runtime's request
//! handlers do. Before them, in the same run, the bench times raw round
//! trips to a child process, the floor ([`super::raw_echo::floor`], in
//! the steady state the events run in), and reports CreateContainer's
//! median as a multiple of theirs. Around the lifecycles it reads the CPU
//! time (user and system) of the runtime's process and of each plugin's,
//! and reports it per event, next to the CPU time of a raw round trip on
//! each side (what the kernel alone costs per call).
//!
//! With `--sync-pods`/`--sync-containers` the runtime holds that many pods
//! and containers before the plugins start, so the start time printed is
//! that of synchronizing them (split into messages as needed).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nri_core::adaptation::{EventError, Options};
use nri_core::proto::api::{ContainerState, LinuxCpu, LinuxMemory, LinuxResources};
use nri_core::proto::optional;
use nri_core::runtime_api::{DomainHandle, NriApi};
use nri_core::stub::Stub;
use nri_core::transport::{Origin, Transport};
use nri_sample_plugins::echo::{Echo, EchoConfig};
use serde::{Deserialize, Serialize};

use super::setup::Layout;
use super::{SimulatorError, TransportKind};
use crate::builders::{ContainerBuilder, PodBuilder};
use crate::domain::FakeDomain;
use crate::memory;

/// The events of one iteration, in order.
pub const EVENTS: [&str; 8] = [
    "RunPodSandbox",
    "CreateContainer",
    "StartContainer",
    "UpdateContainer",
    "StopContainer",
    "RemoveContainer",
    "StopPodSandbox",
    "RemovePodSandbox",
];

/// How to bench.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchOptions {
    /// Echo plugins to launch (ttrpc) or run in the harness (local).
    pub plugins: usize,
    /// Externally started plugins to wait for (ttrpc).
    pub external: usize,
    /// Lifecycles to run.
    pub iterations: usize,
    /// The transport (not passed to `nri-bench-runtime`: ttrpc).
    #[serde(skip)]
    pub transport: TransportKind,
    /// The runtime's socket for external plugins (default: in a temporary
    /// directory).
    pub socket: Option<PathBuf>,
    /// Print progress to standard error.
    pub progress: bool,
    /// The echo plugins also validate each adjustment (a second call per
    /// CreateContainer).
    pub validate: bool,
    /// The WASM module to bench with the `wasm` transport (each of
    /// `plugins` is an instance of it; `validate` adds `validate: true` to
    /// its configuration).
    pub wasm_module: Option<PathBuf>,
    /// Where the WASM transport caches compiled modules (none: compiled
    /// at every load).
    pub wasm_cache: Option<PathBuf>,
    /// The `nri-echo` executable launched as the ttrpc and grpc plugins
    /// (default: [`default_echo`]; the harness itself if there is none).
    pub echo: Option<PathBuf>,
    /// Pods the runtime holds before the plugins start (synchronized).
    pub sync_pods: usize,
    /// Containers the runtime holds before the plugins start, spread over
    /// the `sync_pods` pods (synchronized).
    pub sync_containers: usize,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            plugins: 1,
            external: 0,
            iterations: 2000,
            transport: TransportKind::Ttrpc,
            socket: None,
            progress: false,
            validate: false,
            wasm_module: None,
            wasm_cache: None,
            echo: None,
            sync_pods: 0,
            sync_containers: 0,
        }
    }
}

/// Latencies of one event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventTimes {
    /// The event.
    pub event: String,
    /// How many were sent.
    pub count: usize,
    /// Median, in microseconds.
    pub p50_us: f64,
    /// 99th percentile, in microseconds.
    pub p99_us: f64,
}

/// Raw round trips of a [`raw_echo::REQUEST`](super::raw_echo::REQUEST)-byte
/// request and a [`raw_echo::REPLY`](super::raw_echo::REPLY)-byte reply
/// over a unix socket to another process: the floor under a plugin call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundTrip {
    /// How many were timed.
    pub count: usize,
    /// Median, in microseconds.
    pub p50_us: f64,
    /// 99th percentile, in microseconds.
    pub p99_us: f64,
    /// CPU time (user and system) of one round trip on the runtime's side,
    /// in microseconds.
    #[serde(default)]
    pub runtime_cpu_us: Option<f64>,
    /// CPU time (user and system) of one round trip on the echoing
    /// process's side, in microseconds.
    #[serde(default)]
    pub echo_cpu_us: Option<f64>,
}

/// A plugin's peak resident memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginMemory {
    /// `NN-name`.
    pub plugin: String,
    /// Its process id.
    pub pid: u32,
    /// Peak resident memory (`VmHWM`), in KiB.
    pub peak_kib: u64,
}

/// CPU time (user and system) one process spent per event during the
/// lifecycles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuTime {
    /// `runtime`, or the plugin's `NN-name`.
    pub process: String,
    /// Its process id.
    pub pid: u32,
    /// User time per event, in microseconds.
    pub user_us: f64,
    /// System time per event, in microseconds.
    pub system_us: f64,
}

/// What a bench measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// The transport.
    pub transport: String,
    /// Plugins that took part.
    pub plugins: usize,
    /// Lifecycles run.
    pub iterations: usize,
    /// Events sent.
    pub events: usize,
    /// Time spent in the runtime API's event calls, in seconds: the
    /// lifecycles' wall time without building their pods and containers
    /// and keeping the fake runtime's store (a runtime's own work, which
    /// with no plugin would otherwise be most of the time measured).
    pub seconds: f64,
    /// Events per second.
    pub events_per_second: f64,
    /// Encoded size of one CreateContainer request, in bytes.
    pub create_container_bytes: usize,
    /// A raw round trip to another process, measured in the same run.
    pub raw_round_trip: RoundTrip,
    /// Per event type, in [`EVENTS`] order.
    pub latency: Vec<EventTimes>,
    /// The runtime's peak resident memory, in KiB.
    pub runtime_peak_kib: u64,
    /// The runtime's process: `nri-bench-runtime`, or `nri-harness` when
    /// the runtime ran in the harness.
    pub runtime_process: String,
    /// Each launched plugin's peak resident memory.
    pub plugin_memory: Vec<PluginMemory>,
    /// The launched plugins' executable (`nri-echo`, or the harness
    /// playing it).
    pub plugin_executable: Option<String>,
    /// CPU time per event: the runtime's, then each launched plugin's.
    pub cpu: Vec<CpuTime>,
    /// Pods and containers the plugins were synchronized with.
    pub synchronized: (usize, usize),
    /// Time from starting the runtime until every plugin was synchronized
    /// (launching or loading, registering, Configure, Synchronize), in
    /// seconds.
    pub start_seconds: f64,
    /// CPU time (user and system) of the start, runtime and launched
    /// plugins together, in milliseconds: on a busy machine a steadier
    /// figure than `start_seconds`.
    pub start_cpu_ms: Option<f64>,
    /// The runtime's part of `start_cpu_ms`.
    pub start_cpu_runtime_ms: Option<f64>,
    /// The launched plugins' part of `start_cpu_ms` (all of their CPU time
    /// so far: starting their process included).
    pub start_cpu_plugins_ms: Option<f64>,
    /// Events that failed (a correct run has none).
    pub errors: usize,
}

/// Runs the bench, over any transport, in this process.
pub async fn run(options: &BenchOptions) -> Result<BenchResult, SimulatorError> {
    run_with(options, any_transport).await
}

/// Runs the bench over ttrpc in this process: what `nri-bench-runtime`
/// runs, so that its executable holds nri-core, the ttrpc transport and
/// the fake domain and no other transport.
pub async fn run_ttrpc(options: &BenchOptions) -> Result<BenchResult, SimulatorError> {
    run_with(options, |options, dir, setup| {
        let listen = |socket: &std::path::Path| super::setup::listen_ttrpc(socket, false);
        let no_echo = |_: &mut Layout, _: u8, _: Option<&str>| {
            Err(SimulatorError::Setup(format!(
                "{RUNTIME} needs nri-echo (--echo FILE, or next to it)"
            )))
        };
        launched(options, dir, setup, listen, no_echo)
    })
    .await
}

/// What the runtime's side of a bench is made of.
struct Setup {
    nri: Options,
    transports: Vec<Arc<dyn Transport>>,
    stubs: Vec<Arc<Stub<Echo>>>,
    plugin_executable: Option<String>,
}

/// Sets up `options.transport`: plugins launched (ttrpc, grpc), in the
/// harness (local) or loaded (wasm).
fn any_transport(
    options: &BenchOptions,
    dir: &std::path::Path,
    setup: &mut Setup,
) -> Result<(), SimulatorError> {
    match options.transport {
        TransportKind::Ttrpc | TransportKind::Grpc => {
            let listen =
                |socket: &std::path::Path| super::setup::listen(options.transport, socket, false);
            launched(options, dir, setup, listen, play_echo)
        }
        TransportKind::Wasm => {
            let module = options.wasm_module.as_deref().ok_or_else(|| {
                SimulatorError::Setup("--transport wasm needs --wasm-module FILE".into())
            })?;
            if options.external > 0 {
                return Err(SimulatorError::Setup(
                    "--external needs a socket transport (ttrpc or grpc)".into(),
                ));
            }
            let mut layout = Layout::new(dir)?;
            for i in 0..options.plugins {
                layout.add_module(module, &format!("{:02}-wasm", 10 + i), options.validate)?;
            }
            setup.nri.plugin_path = Some(layout.plugins.clone());
            setup.nri.plugin_config_path = layout.config.clone();
            setup
                .transports
                .push(super::setup::wasm(options.wasm_cache.as_deref())?);
            Ok(())
        }
        TransportKind::Local => {
            if options.external > 0 {
                return Err(SimulatorError::Setup(
                    "--external needs a socket transport (ttrpc or grpc)".into(),
                ));
            }
            let (transport, connector) = nri_core::transport::in_process::transport();
            for i in 0..options.plugins {
                let stub = Stub::builder(Echo::new(EchoConfig {
                    validate: options.validate,
                }))
                .index(format!("{:02}", 10 + i))
                .name("echo")
                .build(Arc::new(connector.clone()))
                .map_err(|e| SimulatorError::Start(e.to_string()))?;
                setup.stubs.push(Arc::new(stub));
            }
            setup.transports.push(Arc::new(transport));
            Ok(())
        }
    }
}

/// Lays out `options.plugins` echo plugins to launch (`nri-echo`, else
/// with `play_echo`) and listens with `listen` on the runtime's socket.
fn launched(
    options: &BenchOptions,
    dir: &std::path::Path,
    setup: &mut Setup,
    listen: impl FnOnce(&std::path::Path) -> Result<Arc<dyn Transport>, SimulatorError>,
    play_echo: impl Fn(&mut Layout, u8, Option<&str>) -> Result<(), SimulatorError>,
) -> Result<(), SimulatorError> {
    let mut layout = Layout::new(dir)?;
    let echo = echo_executable(options)?;
    for i in 0..options.plugins {
        let index = u8::try_from(10 + i)
            .ok()
            .filter(|i| *i <= 99)
            .ok_or_else(|| SimulatorError::Setup("at most 90 plugins".into()))?;
        let config = options.validate.then_some("validate: true\n");
        match &echo {
            // Not through `Layout::add`, which knows the sample plugins:
            // `nri-bench-runtime` has none of their code.
            Some(path) => {
                layout.add_executable(index, "echo", &path.to_string_lossy(), config)?;
            }
            None => play_echo(&mut layout, index, config)?,
        }
    }
    if options.plugins > 0 {
        setup.plugin_executable = Some(match &echo {
            Some(path) => path.display().to_string(),
            None => {
                eprintln!(
                    "nri-harness: no nri-echo next to nri-harness (build it as deployed: cargo xtask plugins --bin nri-echo); the harness plays the plugins, so their memory and CPU figures are not nri-echo's"
                );
                "nri-harness (playing nri-echo)".into()
            }
        });
    }
    setup.nri.plugin_path = Some(layout.plugins.clone());
    setup.nri.plugin_config_path = layout.config.clone();
    let socket = options
        .socket
        .clone()
        .unwrap_or_else(|| super::setup::default_socket(dir, options.transport));
    let transport = listen(&socket)?;
    if options.external > 0 {
        eprintln!(
            "nri-harness: waiting for {} external plugin(s) on {}",
            options.external,
            socket.display()
        );
    }
    setup.transports.push(transport);
    Ok(())
}

/// Lays out the harness playing `nri-echo` as plugin `NN-echo`.
fn play_echo(layout: &mut Layout, index: u8, config: Option<&str>) -> Result<(), SimulatorError> {
    layout.add(&super::scenario::PluginSpec {
        index,
        sample: Some("echo".into()),
        fake: None,
        command: None,
        name: Some("echo".into()),
        config: config.map(str::to_string),
    })
}

async fn run_with(
    options: &BenchOptions,
    make: impl FnOnce(&BenchOptions, &std::path::Path, &mut Setup) -> Result<(), SimulatorError>,
) -> Result<BenchResult, SimulatorError> {
    if options.iterations == 0 {
        return Err(SimulatorError::Setup(
            "--iterations must be at least 1".into(),
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("nri-harness-bench-")
        .tempdir()
        .map_err(|e| SimulatorError::Setup(format!("cannot create a temporary directory: {e}")))?;
    let domain = Arc::new(FakeDomain::new(super::runner::DOMAIN));
    populate(&domain, options.sync_pods, options.sync_containers);
    let mut setup = Setup {
        nri: Options::new("nri-harness", env!("CARGO_PKG_VERSION")).with_plugin_path(None),
        transports: Vec::new(),
        stubs: Vec::new(),
        plugin_executable: None,
    };
    make(options, dir.path(), &mut setup)?;
    let Setup {
        nri,
        transports,
        stubs,
        plugin_executable,
    } = setup;
    let (api, handle) = NriApi::new(Some(nri), Arc::clone(&domain) as _);
    domain.attach(handle.clone());
    let starting = Instant::now();
    let runtime_cpu = cpu_ns(std::process::id()).ok();
    api.start(transports)
        .await
        .map_err(|e| SimulatorError::Start(e.to_string()))?;
    let mut running = tokio::task::JoinSet::new();
    for stub in &stubs {
        let stub = Arc::clone(stub);
        running.spawn(async move { stub.run().await });
    }
    let wanted = options.plugins + options.external;
    let registered = match api.adaptation() {
        Some(adaptation) => {
            let wait = if options.external > 0 {
                Duration::from_secs(60)
            } else {
                Duration::from_secs(10)
            };
            let _ = tokio::time::timeout(wait, adaptation.wait_for_plugins(wanted)).await;
            adaptation.plugins()
        }
        None => Vec::new(),
    };
    let start_seconds = starting.elapsed().as_secs_f64();
    let runtime_cpu = runtime_cpu.zip(cpu_ns(std::process::id()).ok());
    if registered.len() < wanted {
        api.stop().await;
        return Err(SimulatorError::Start(format!(
            "only {} of {wanted} plugins registered",
            registered.len()
        )));
    }

    // The floor, in the same run: raw round trips to another process, in
    // the steady state the events then run in.
    let floor = tokio::spawn({
        let (dir, count) = (
            dir.path().to_path_buf(),
            options.iterations.clamp(100, 2000),
        );
        async move { super::raw_echo::floor(&dir, count).await }
    })
    .await;
    let launched: Vec<(String, u32)> = registered
        .iter()
        .filter_map(|p| match p.origin {
            Origin::Launched { pid: Some(pid) } => Some((p.id.to_string(), pid)),
            _ => None,
        })
        .collect();
    let processes: Vec<(String, u32)> =
        std::iter::once(("runtime".to_string(), std::process::id()))
            .chain(launched.iter().cloned())
            .collect();
    // CPU time of the start: the runtime's, and the launched plugins' since
    // they were started (they have done nothing else yet).
    let start_cpu_runtime_ms =
        runtime_cpu.map(|(before, after)| after.saturating_sub(before) as f64 / 1e6);
    let start_cpu_plugins_ms = launched
        .iter()
        .map(|(_, pid)| cpu_ns(*pid).ok())
        .sum::<Option<u64>>()
        .map(|ns| ns as f64 / 1e6);
    let start_cpu_ms = start_cpu_runtime_ms
        .zip(start_cpu_plugins_ms)
        .map(|(r, p)| r + p);
    let cpu_before: Vec<Option<Ticks>> = processes
        .iter()
        .map(|(_, pid)| cpu_ticks(*pid).ok())
        .collect();
    let measured = {
        let (handle, domain, options) = (handle.clone(), Arc::clone(&domain), options.clone());
        tokio::spawn(async move { lifecycles(&handle, &domain, &options).await }).await
    };
    let events = options.iterations * EVENTS.len();
    let cpu = processes
        .iter()
        .zip(cpu_before)
        .filter_map(|((process, pid), before)| {
            let (before, after) = (before?, cpu_ticks(*pid).ok()?);
            let per_event = |ticks: u64| ticks as f64 * TICK_US / events as f64;
            Some(CpuTime {
                process: process.clone(),
                pid: *pid,
                user_us: per_event(after.user.saturating_sub(before.user)),
                system_us: per_event(after.system.saturating_sub(before.system)),
            })
        })
        .collect();
    let plugin_memory = launched
        .into_iter()
        .filter_map(|(plugin, pid)| {
            memory::resident(pid).ok().map(|m| PluginMemory {
                plugin,
                pid,
                peak_kib: m.peak_kib,
            })
        })
        .collect();
    let runtime_peak_kib = memory::resident(std::process::id())
        .map(|m| m.peak_kib)
        .unwrap_or(0);
    for stub in &stubs {
        stub.stop();
    }
    api.stop().await;
    while running.join_next().await.is_some() {}
    let measured =
        measured.map_err(|e| SimulatorError::Start(format!("the bench's task failed: {e}")))?;
    let floor =
        floor.map_err(|e| SimulatorError::Start(format!("the raw round trips failed: {e}")))??;
    let mut raw: Vec<u32> = floor.times.iter().copied().map(nanos).collect();
    raw.sort_unstable();
    let per_round_trip = |ns: u64| (!raw.is_empty()).then(|| ns as f64 / 1e3 / raw.len() as f64);

    let seconds = measured.wall.as_secs_f64();
    Ok(BenchResult {
        transport: options.transport.name().into(),
        plugins: registered.len(),
        iterations: options.iterations,
        events,
        seconds,
        events_per_second: if seconds > 0.0 {
            events as f64 / seconds
        } else {
            0.0
        },
        create_container_bytes: measured.create_bytes,
        raw_round_trip: RoundTrip {
            count: raw.len(),
            p50_us: percentile(&raw, 50),
            p99_us: percentile(&raw, 99),
            runtime_cpu_us: floor.runtime_cpu_ns.and_then(per_round_trip),
            echo_cpu_us: floor.echo_cpu_ns.and_then(per_round_trip),
        },
        latency: EVENTS
            .iter()
            .map(|event| {
                let mut times = measured.times.get(event).cloned().unwrap_or_default();
                times.sort_unstable();
                EventTimes {
                    event: (*event).to_string(),
                    count: times.len(),
                    p50_us: percentile(&times, 50),
                    p99_us: percentile(&times, 99),
                }
            })
            .collect(),
        runtime_peak_kib,
        runtime_process: std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.file_name()?.to_string_lossy().into_owned()))
            .unwrap_or_default(),
        plugin_memory,
        plugin_executable,
        cpu,
        synchronized: (options.sync_pods, options.sync_containers),
        start_seconds,
        start_cpu_ms,
        start_cpu_runtime_ms,
        start_cpu_plugins_ms,
        errors: measured.errors,
    })
}

/// Runs the bench with the runtime in a process of its own when it can:
/// over ttrpc, with `nri-echo` as the plugins and `nri-bench-runtime` next
/// to this executable ([`run_ttrpc`] in that process, the result read
/// back). The runtime's memory and CPU time printed are then those of
/// nri-core, the ttrpc transport and the fake domain, not of the whole
/// harness, whose other code (every transport, the simulator, the sample
/// plugins, the command line) took about 8 of its 11 MB resident. Else it
/// runs in this process ([`run`]).
pub async fn run_separately(options: &BenchOptions) -> Result<BenchResult, SimulatorError> {
    let echo = echo_executable(options)?;
    let runtime = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(RUNTIME)))
        .filter(|path| path.is_file());
    let (TransportKind::Ttrpc, Some(runtime), Some(echo)) = (options.transport, runtime, echo)
    else {
        return run(options).await;
    };
    let options = BenchOptions {
        echo: Some(echo),
        ..options.clone()
    };
    let failed = |what: String| SimulatorError::Start(format!("{RUNTIME}: {what}"));
    let json = serde_json::to_string(&options).map_err(|e| failed(e.to_string()))?;
    let output = tokio::process::Command::new(&runtime)
        .arg(json)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| failed(format!("cannot run {}: {e}", runtime.display())))?;
    if !output.status.success() {
        return Err(failed(output.status.to_string()));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| failed(format!("unreadable result: {e}")))
}

/// The bench's runtime executable, next to `nri-harness`.
pub const RUNTIME: &str = "nri-bench-runtime";

/// Where the bench finds `nri-echo` when `--echo` is not given: next to
/// the running executable (`target/release/nri-echo` for
/// `target/release/nri-harness`).
pub fn default_echo() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join("nri-echo")).filter(|path| path.is_file())
}

/// The `nri-echo` to launch; `None`: the harness plays it.
fn echo_executable(options: &BenchOptions) -> Result<Option<PathBuf>, SimulatorError> {
    match &options.echo {
        Some(path) if path.is_file() => std::path::absolute(path)
            .map(Some)
            .map_err(|e| SimulatorError::Setup(format!("{}: {e}", path.display()))),
        Some(path) => Err(SimulatorError::Setup(format!(
            "--echo {}: no such file",
            path.display()
        ))),
        None => Ok(default_echo()),
    }
}

/// Fills the runtime's store with `pods` pods and `containers` containers
/// (running, spread evenly over the pods) for the plugins to synchronize.
fn populate(domain: &FakeDomain, pods: usize, containers: usize) {
    let pods: Vec<_> = (0..pods)
        .map(|i| {
            PodBuilder::new(&format!("sync-{i}"))
                .namespace("bench")
                .build()
        })
        .collect();
    for i in 0..containers {
        let Some(pod) = pods.get(i % pods.len().max(1)) else {
            break;
        };
        let container = ContainerBuilder::new(pod, &format!("app-{i}"))
            .state(ContainerState::ContainerRunning)
            .build();
        domain.add_container(container);
    }
    for pod in pods {
        domain.add_pod(pod);
    }
}

/// The CPU time (user and system) process `pid`'s live threads have had,
/// in nanoseconds, from `/proc/<pid>/task/*/schedstat`: finer than
/// `/proc/<pid>/stat`'s 10 ms ticks, enough to time one synchronization.
pub(super) fn cpu_ns(pid: u32) -> std::io::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread that ended meanwhile has no file left: it is skipped.
        let Ok(stat) = std::fs::read_to_string(task?.path().join("schedstat")) else {
            continue;
        };
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad schedstat"))?;
    }
    Ok(total)
}

/// A process's CPU time so far, in clock ticks.
#[derive(Debug, Clone, Copy)]
struct Ticks {
    user: u64,
    system: u64,
}

/// Microseconds per clock tick of `/proc/<pid>/stat`: Linux reports them
/// in USER_HZ, which is 100 on every architecture it supports.
const TICK_US: f64 = 10_000.0;

/// The user and system time of process `pid` (all its threads), from
/// `/proc/<pid>/stat`.
fn cpu_ticks(pid: u32) -> std::io::Result<Ticks> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // After the command name (in parentheses, and free to hold spaces)
    // come the state (field 3) ... utime (14) and stime (15).
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad /proc/<pid>/stat");
    let rest = stat.rsplit_once(')').ok_or_else(invalid)?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let mut next = || -> std::io::Result<u64> {
        fields
            .next()
            .and_then(|f| f.parse().ok())
            .ok_or_else(invalid)
    };
    Ok(Ticks {
        user: next()?,
        system: next()?,
    })
}

/// What the lifecycles measured.
struct Measured {
    /// The sum of the events' times.
    wall: Duration,
    /// Per event, each one's time in nanoseconds (a quarter of a
    /// `Duration`'s size: this is the bench's, not the runtime's, memory).
    times: BTreeMap<&'static str, Vec<u32>>,
    create_bytes: usize,
    errors: usize,
}

async fn lifecycles(
    handle: &DomainHandle,
    domain: &FakeDomain,
    options: &BenchOptions,
) -> Measured {
    let mut times: BTreeMap<&'static str, Vec<u32>> = EVENTS
        .iter()
        .map(|e| (*e, Vec::with_capacity(options.iterations)))
        .collect();
    let mut errors = 0;
    let mut create_bytes = 0;
    let resources = LinuxResources {
        cpu: Some(LinuxCpu {
            shares: optional::uint64(2048_u64),
            quota: optional::int64(200_000_i64),
            period: optional::uint64(100_000_u64),
            ..Default::default()
        }),
        memory: Some(LinuxMemory {
            limit: optional::int64(1_i64 << 30),
            ..Default::default()
        }),
        ..Default::default()
    };
    let step = (options.iterations / 20).max(1);
    for i in 0..options.iterations {
        let pod = PodBuilder::new(&format!("bench-{i}"))
            .namespace("bench")
            .build();
        let mut container = ContainerBuilder::new(&pod, "app").build();
        if i == 0 {
            create_bytes =
                prost::Message::encoded_len(&nri_core::proto::api::CreateContainerRequest {
                    pod: Some(pod.clone()),
                    container: Some(container.clone()),
                });
        }
        domain.add_pod(pod.clone());
        domain.add_container(container.clone());
        let mut time = |event: &'static str, started: Instant, ok: bool| {
            if let Some(list) = times.get_mut(event) {
                list.push(nanos(started.elapsed()));
            }
            if !ok {
                errors += 1;
            }
        };
        let t = Instant::now();
        let ok = handle.run_pod_sandbox(&pod).await.is_ok();
        time("RunPodSandbox", t, ok);
        let t = Instant::now();
        let ok = handle.create_container(&pod, &container).await.is_ok();
        time("CreateContainer", t, ok);
        container.state = ContainerState::ContainerRunning as i32;
        let t = Instant::now();
        let ok = handle.start_container(&pod, &container).await.is_ok();
        time("StartContainer", t, ok);
        let t = Instant::now();
        let ok = handle
            .update_container(&pod, &container, Some(resources.clone()))
            .await
            .is_ok();
        time("UpdateContainer", t, ok);
        container.state = ContainerState::ContainerStopped as i32;
        let t = Instant::now();
        let ok = handle.stop_container(&pod, &container).await.is_ok();
        time("StopContainer", t, ok);
        let t = Instant::now();
        let ok = ok_event(handle.remove_container(&pod, &container).await);
        time("RemoveContainer", t, ok);
        let t = Instant::now();
        let ok = ok_event(handle.stop_pod_sandbox(&pod).await);
        time("StopPodSandbox", t, ok);
        let t = Instant::now();
        let ok = ok_event(handle.remove_pod_sandbox(&pod).await);
        time("RemovePodSandbox", t, ok);
        domain.remove_container(&container.id);
        domain.remove_pod(&pod.id);
        if options.progress && (i + 1) % step == 0 {
            eprint!("\rnri-harness: bench {}/{}", i + 1, options.iterations);
        }
    }
    let wall = Duration::from_nanos(times.values().flatten().map(|&ns| u64::from(ns)).sum());
    if options.progress {
        eprintln!();
    }
    Measured {
        wall,
        times,
        create_bytes,
        errors,
    }
}

fn ok_event(result: Result<(), EventError>) -> bool {
    result.is_ok()
}

/// CreateContainer's p50 as a multiple of the raw round trip's.
pub fn create_to_raw(result: &BenchResult) -> f64 {
    let create = result
        .latency
        .iter()
        .find(|t| t.event == "CreateContainer")
        .map_or(0.0, |t| t.p50_us);
    if result.raw_round_trip.p50_us > 0.0 {
        create / result.raw_round_trip.p50_us
    } else {
        0.0
    }
}

/// A time in nanoseconds, at most `u32::MAX` (4.3 s).
fn nanos(time: Duration) -> u32 {
    u32::try_from(time.as_nanos()).unwrap_or(u32::MAX)
}

/// The `pct`th percentile of sorted `times` (nanoseconds), in
/// microseconds.
fn percentile(times: &[u32], pct: usize) -> f64 {
    if times.is_empty() {
        return 0.0;
    }
    let rank = (times.len() * pct).div_ceil(100).clamp(1, times.len()) - 1;
    f64::from(times[rank]) / 1e3
}

/// The bench's report.
pub fn render(result: &BenchResult) -> String {
    let ms = |ms: Option<f64>| ms.map_or_else(|| "?".to_string(), |ms| format!("{ms:.0}"));
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "nri-harness bench: {} plugin(s) over {}, {} lifecycles ({} events, CreateContainer {} B on the wire)",
        result.plugins,
        result.transport,
        result.iterations,
        result.events,
        result.create_container_bytes
    );
    let _ = writeln!(
        out,
        "  {:.0} events/s ({:.3} s), {} errors",
        result.events_per_second, result.seconds, result.errors
    );
    let _ = writeln!(out, "  {:<18} {:>10} {:>10}", "event", "p50 µs", "p99 µs");
    for times in &result.latency {
        let _ = writeln!(
            out,
            "  {:<18} {:>10.1} {:>10.1}",
            times.event, times.p50_us, times.p99_us
        );
    }
    let raw = &result.raw_round_trip;
    let _ = writeln!(
        out,
        "  {:<18} {:>10.1} {:>10.1}   ({} B request, {} B reply, to a process, no protocol, timed after {} s of them)",
        "raw round trip",
        raw.p50_us,
        raw.p99_us,
        super::raw_echo::REQUEST,
        super::raw_echo::REPLY,
        super::raw_echo::WARM_UP.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  CreateContainer p50 = {:.2}× the raw round trip",
        create_to_raw(result)
    );
    if let Some(create) = result
        .latency
        .iter()
        .find(|t| t.event == "CreateContainer" && t.p50_us > 0.0)
    {
        let _ = writeln!(
            out,
            "  CreateContainer p99 = {:.2}× its p50",
            create.p99_us / create.p50_us
        );
    }
    if result.events > 0 && result.plugins > 0 && raw.p50_us > 0.0 {
        let mean = result.seconds * 1e6 / result.events as f64;
        let _ = writeln!(
            out,
            "  mean per event {:.1} µs = {:.2}× (plugins × raw round trip p50)",
            mean,
            mean / (result.plugins as f64 * raw.p50_us)
        );
    }
    // What each process spends per event beyond the kernel's part of its
    // round trips: the runtime makes one per plugin, each plugin one.
    let floor_cpu = |cpu: &CpuTime| match cpu.process.as_str() {
        "runtime" => raw
            .runtime_cpu_us
            .map(|us| us * result.plugins as f64)
            .filter(|_| result.plugins > 0),
        _ => raw.echo_cpu_us,
    };
    let _ = writeln!(
        out,
        "  CPU per event (µs)   user   system    total   above the floor"
    );
    for cpu in &result.cpu {
        let total = cpu.user_us + cpu.system_us;
        let above =
            floor_cpu(cpu).map_or_else(String::new, |floor| format!("{:>12.1}", total - floor));
        let _ = writeln!(
            out,
            "    {:<16} {:>8.1} {:>8.1} {:>8.1} {above}",
            cpu.process, cpu.user_us, cpu.system_us, total
        );
    }
    if let (Some(runtime), Some(echo)) = (raw.runtime_cpu_us, raw.echo_cpu_us) {
        let _ = writeln!(
            out,
            "  floor: a raw round trip costs {runtime:.1} µs of CPU on the runtime's side, {echo:.1} µs on the other"
        );
    }
    let (pods, containers) = result.synchronized;
    let _ = writeln!(
        out,
        "  start: {:.3} s until every plugin was synchronized ({pods} pods, {containers} containers); CPU {} ms (runtime {}, plugins {})",
        result.start_seconds,
        ms(result.start_cpu_ms),
        ms(result.start_cpu_runtime_ms),
        ms(result.start_cpu_plugins_ms),
    );
    if let Some(executable) = &result.plugin_executable {
        let _ = writeln!(out, "  plugins: {executable}");
    }
    let _ = writeln!(
        out,
        "  peak RSS: runtime {} KiB ({})",
        result.runtime_peak_kib, result.runtime_process
    );
    for plugin in &result.plugin_memory {
        let _ = writeln!(
            out,
            "            {} (pid {}) {} KiB",
            plugin.plugin, plugin.pid, plugin.peak_kib
        );
    }
    out
}

/// Several runs side by side: events/s and CreateContainer latency, each
/// also as a ratio to the first run with the same number of plugins.
pub fn render_comparison(results: &[BenchResult]) -> String {
    use std::fmt::Write as _;
    let create = |r: &BenchResult| {
        r.latency
            .iter()
            .find(|t| t.event == "CreateContainer")
            .map_or((0.0, 0.0), |t| (t.p50_us, t.p99_us))
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:>7} {:>10} {:>8} {:>14} {:>14} {:>8} {:>10}",
        "transport",
        "plugins",
        "events/s",
        "ratio",
        "Create p50 µs",
        "Create p99 µs",
        "ratio",
        "×raw RTT"
    );
    for result in results {
        let base = results
            .iter()
            .find(|r| r.plugins == result.plugins)
            .unwrap_or(result);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let (p50, p99) = create(result);
        let _ = writeln!(
            out,
            "{:<10} {:>7} {:>10.0} {:>8.2} {:>14.1} {:>14.1} {:>8.2} {:>10.2}",
            result.transport,
            result.plugins,
            result.events_per_second,
            ratio(result.events_per_second, base.events_per_second),
            p50,
            p99,
            ratio(p50, create(base).0),
            create_to_raw(result),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_ranks() {
        let times: Vec<u32> = (1..=100).map(|us| us * 1000).collect();
        assert_eq!(percentile(&times, 50), 50.0);
        assert_eq!(percentile(&times, 99), 99.0);
        assert_eq!(percentile(&times[..1], 99), 1.0);
        assert_eq!(percentile(&[], 50), 0.0);
    }
}
