//! The command line of `nri-cri-proxy`: NRI in front of any CRI runtime.
//!
//! Serves CRI on `--listen`, forwards to the runtime's CRI socket at
//! `--backend`, and runs NRI (plugins connect to `--nri-socket`, over
//! ttrpc as to containerd, or to `--nri-grpc-socket` over gRPC;
//! pre-installed plugins are launched from the configured plugin
//! directory). Point kubelet's `--container-runtime-endpoint` at the
//! `--listen` socket.

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::{Proxy, ProxyOptions, RemoteRuntime};
use crate::cri;
use crate::cri::runtime_service_server::RuntimeService;
use crate::socket::UnixChannel;
use clap::Parser as _;
use nri_core::adaptation::Options;
use nri_core::config::Config;
use nri_core::transport::Transport;
use nri_host::Access;
use nri_transport_grpc::GrpcTransport;
use nri_transport_ttrpc::TtrpcTransport;

/// NRI for any CRI runtime: a CRI proxy that runs NRI plugins at every pod
/// and container lifecycle call and passes everything else through
/// untouched.
#[derive(Debug, clap::Parser)]
#[command(name = "nri-cri-proxy", version)]
struct Args {
    /// The CRI socket to serve (kubelet's runtime endpoint).
    #[arg(long, default_value = "/var/run/nri-cri-proxy/cri.sock")]
    listen: PathBuf,
    /// The CRI runtime's socket (containerd: /run/containerd/containerd.sock,
    /// CRI-O: /var/run/crio/crio.sock).
    #[arg(long, default_value = "/run/containerd/containerd.sock")]
    backend: PathBuf,
    /// NRI configuration: containerd's `[plugins."io.containerd.nri.v1.nri"]`
    /// keys, as a whole containerd config file or the table's keys alone.
    #[arg(long)]
    nri_config: Option<PathBuf>,
    /// The NRI socket external plugins connect to over ttrpc (overrides the
    /// configuration's `socket_path`).
    #[arg(long)]
    nri_socket: Option<PathBuf>,
    /// Also accept NRI plugins over gRPC on this socket.
    #[arg(long)]
    nri_grpc_socket: Option<PathBuf>,
    /// Let this group (a numeric gid) connect to the CRI and NRI sockets
    /// too (mode 0660 and that group). Without it only the proxy's user may
    /// (mode 0600), whatever the umask.
    #[arg(long, value_name = "GID")]
    socket_group: Option<u32>,
    /// Run without NRI: a plain pass-through proxy.
    #[arg(long)]
    no_nri: bool,
    /// How often the runtime's containers are listed to find exits.
    #[arg(long, default_value = "1s", value_parser = nri_core::config::parse_duration)]
    exit_poll: Duration,
    /// The format of the log on standard error: `text` (coloured only
    /// when standard error is a terminal) or `json` (one object a line,
    /// for log collectors). The level comes from `RUST_LOG` (default
    /// `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Serve Prometheus metrics (NRI's plugin calls, latencies, errors,
    /// timeouts, connected plugins) over HTTP at this address, such as
    /// 127.0.0.1:9090, on any path.
    #[arg(long, value_name = "ADDRESS:PORT")]
    metrics_address: Option<SocketAddr>,
}

/// The formats of the proxy's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// Runs the proxy with these command-line arguments (the first is the
/// program's name) until SIGINT or SIGTERM; returns its exit status (2 for
/// bad arguments, 1 when it cannot start). A runtime that does not answer
/// yet is waited for (retrying with a growing delay, up to 5 seconds). It
/// prints `nri-cri-proxy: serving CRI on PATH` on standard output once
/// serving.
///
/// It builds its own async runtime: call it from a plain `main`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("nri-cri-proxy: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nri-cri-proxy: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to standard error in `format`; colours only on a terminal.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
}

/// The latency buckets of the Prometheus histograms, in seconds: NRI calls
/// take from tens of microseconds to the plugin timeout (2s by default).
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus exporter with its HTTP listener at `address`
/// as the process's metrics recorder. Needs the async runtime.
fn serve_metrics(address: SocketAddr) -> Result<(), String> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    PrometheusBuilder::new()
        .with_http_listener(address)
        .set_buckets_for_metric(
            Matcher::Full(nri_core::adaptation::metrics::LATENCY.to_string()),
            LATENCY_BUCKETS,
        )
        .and_then(|builder| builder.install())
        .map_err(|e| format!("metrics endpoint {address}: {e}"))?;
    tracing::info!(%address, "serving Prometheus metrics");
    Ok(())
}

fn read_config(path: &PathBuf) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let whole = text
        .lines()
        .any(|line| line.trim_start().starts_with("[plugins"));
    let parsed = if whole {
        Config::from_containerd_toml(&text)
    } else {
        Config::from_toml_str(&text)
    };
    parsed.map_err(|e| format!("{}: {e}", path.display()))
}

async fn run(args: Args) -> Result<(), String> {
    if let Some(address) = args.metrics_address {
        serve_metrics(address)?;
    }
    let mut config = match &args.nri_config {
        Some(path) => read_config(path)?,
        None => Config::default(),
    };
    if let Some(socket) = &args.nri_socket {
        config.socket_path = socket.clone();
    }
    // Plugins are told the runtime behind the proxy.
    let Some(version) = wait_for_backend(&args.backend).await else {
        return Ok(());
    };
    let nri = if args.no_nri || config.disable {
        None
    } else {
        Some(Options::from_config(
            &config,
            version.runtime_name,
            version.runtime_version,
        ))
    };
    let access = args.socket_group.map_or(Access::Owner, Access::Group);
    let mut transports: Vec<Arc<dyn Transport>> = Vec::new();
    if nri.is_some() {
        let ttrpc = if config.disable_connections {
            TtrpcTransport::launch_only()
        } else {
            TtrpcTransport::listen_with(&config.socket_path, access)
                .map_err(|e| format!("NRI socket {}: {e}", config.socket_path.display()))?
        };
        transports.push(Arc::new(ttrpc));
        if let Some(path) = &args.nri_grpc_socket {
            let grpc = GrpcTransport::listen_with(path, access)
                .map_err(|e| format!("NRI gRPC socket {}: {e}", path.display()))?;
            transports.push(Arc::new(grpc));
        }
    }
    let proxy = Proxy::start(
        ProxyOptions {
            listen: args.listen,
            backend: args.backend,
            nri,
            exit_poll: args.exit_poll,
            access,
        },
        transports,
    )
    .await
    .map_err(|e| e.to_string())?;
    println!("nri-cri-proxy: serving CRI on {}", proxy.path().display());
    wait_for_signal().await;
    proxy.shut_down().await;
    Ok(())
}

/// The longest wait between two tries to reach the runtime at start.
const BACKEND_RETRY_MAX: Duration = Duration::from_secs(5);

/// Asks the runtime for its version until it answers (the proxy may start
/// before containerd, or while it restarts); `None` if SIGINT or SIGTERM
/// came first.
async fn wait_for_backend(backend: &std::path::Path) -> Option<cri::VersionResponse> {
    let remote = RemoteRuntime::new(UnixChannel::new(backend));
    let mut delay = Duration::from_millis(100);
    let signalled = wait_for_signal();
    tokio::pin!(signalled);
    loop {
        let request = tonic::Request::new(cri::VersionRequest::default());
        match remote.version(request).await {
            Ok(response) => return Some(response.into_inner()),
            Err(status) => tracing::warn!(
                backend = %backend.display(),
                error = %status.message(),
                retry_in = ?delay,
                "the CRI runtime does not answer Version yet"
            ),
        }
        tokio::select! {
            () = &mut signalled => return None,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(BACKEND_RETRY_MAX);
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
