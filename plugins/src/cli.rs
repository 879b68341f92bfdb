//! What every sample plugin's command line shares: the common flags, and
//! running a plugin on the stub until the runtime stops it or a signal
//! (with `nri-plugin`, which any plugin can use).
//!
//! Flags: `--name`, `--idx`, `--socket-path` (default
//! `/var/run/nri/nri.sock`), `--grpc ENDPOINT` (register over gRPC
//! instead, e.g. `unix:///var/run/nri/nri-grpc.sock`), `--config FILE` and
//! `--verbose`. A runtime that launched the plugin decides its identity and
//! connection (`NRI_PLUGIN_NAME`, `NRI_PLUGIN_IDX`, and `NRI_PLUGIN_SOCKET`
//! for ttrpc or `NRI_GRPC_RUNTIME_ENDPOINT` for gRPC), over the flags, as
//! upstream's plugins do: see [`nri_plugin::connector`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use nri_core::stub::{Plugin, Stub, StubBuilder};
use nri_core::transport::Connector;
use nri_plugin::RuntimeAddress;
use nri_transport_grpc::Endpoint;
use nri_transport_ttrpc::DEFAULT_SOCKET_PATH;

/// The flags every sample plugin takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// The name to register with (default: from the executable's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The two-digit index to register with.
    #[arg(long)]
    pub idx: Option<String>,
    /// The runtime's NRI socket.
    #[arg(long, default_value = DEFAULT_SOCKET_PATH)]
    pub socket_path: PathBuf,
    /// Register over gRPC with the runtime at ENDPOINT (unix:///path or
    /// IP:PORT on loopback) instead of ttrpc on --socket-path.
    #[arg(long, value_name = "ENDPOINT")]
    pub grpc: Option<Endpoint>,
    /// A configuration file; configuration the runtime sends replaces it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Log more (debug level).
    #[arg(long, short)]
    pub verbose: bool,
}

impl CommonArgs {
    /// Where to dial the runtime if it did not launch the plugin:
    /// `--grpc`, else ttrpc on `--socket-path`.
    pub fn address(&self) -> RuntimeAddress {
        match &self.grpc {
            Some(endpoint) => RuntimeAddress::Grpc(endpoint.clone()),
            None => RuntimeAddress::Ttrpc(self.socket_path.clone()),
        }
    }

    /// How to reach the runtime: as launched (gRPC or ttrpc, by the
    /// environment), else [`address`](Self::address).
    pub fn connector(&self) -> Result<Arc<dyn Connector>, String> {
        nri_plugin::connector(&self.address()).map_err(|error| error.to_string())
    }

    /// The configuration file's content, or "" without `--config`.
    pub fn config_text(&self) -> Result<String, String> {
        match &self.config {
            None => Ok(String::new()),
            Some(path) => std::fs::read_to_string(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display())),
        }
    }
}

/// The command line of a plugin that takes only the common flags.
#[derive(Debug, Clone, clap::Parser)]
struct CommonOnly {
    #[command(flatten)]
    common: CommonArgs,
}

/// Parses `args` (program name first) as a plugin taking only the common
/// flags, named `program` and described by `about` in `--help`, and runs
/// `plugin` as [`run`] does.
pub fn run_with_common_flags<P: Plugin>(
    program: &'static str,
    about: &'static str,
    plugin: P,
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> ExitCode {
    let common = parse_common_flags(program, about, args);
    run(plugin, &common, |stub| stub)
}

/// [`run_with_common_flags`] for a plugin made from its configuration:
/// `--config FILE` parsed as a `C` ([`crate::config_text`]; without the
/// flag, the defaults). A configuration the runtime sends later is the
/// plugin's to apply in its `configure`.
pub fn run_configured<C, P>(
    program: &'static str,
    about: &'static str,
    plugin: impl FnOnce(C) -> P,
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> ExitCode
where
    C: serde::de::DeserializeOwned + Default,
    P: Plugin,
{
    let common = parse_common_flags(program, about, args);
    let config = common
        .config_text()
        .and_then(|text| crate::config_text::parse::<C>(&text));
    match config {
        Ok(config) => run(plugin(config), &common, |stub| stub),
        Err(error) => {
            eprintln!("{program}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The common flags of `args`; exits with clap's message on a bad command
/// line, and after `--help` or `--version`.
fn parse_common_flags(
    program: &'static str,
    about: &'static str,
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> CommonArgs {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let matches = CommonOnly::command()
        .name(program)
        .about(about)
        .version(env!("CARGO_PKG_VERSION"))
        .get_matches_from(args);
    match CommonOnly::from_arg_matches(&matches) {
        Ok(parsed) => parsed.common,
        Err(error) => error.exit(),
    }
}

/// Logs to standard error, at debug level with `verbose`; a level in
/// `RUST_LOG` (`error`, `warn`, `info`, `debug`, `trace`) overrides. (A
/// level rather than `RUST_LOG`'s full filter syntax keeps the plugins'
/// resident memory low: the filter's pattern engine costs about 1 MiB.)
pub fn init_logging(verbose: bool) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .and_then(|level| level.trim().parse::<tracing::Level>().ok());
    let level = from_env.unwrap_or(if verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    });
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs `plugin` on the stub with the common flags (and whatever `options`
/// adds) until the runtime stops it, SIGINT or SIGTERM
/// ([`nri_plugin::main_at`]). Returns the exit status: success after the
/// runtime's Shutdown or a signal, failure (with the reason on standard
/// error) otherwise.
pub fn run<P: Plugin>(
    plugin: P,
    args: &CommonArgs,
    options: impl FnOnce(StubBuilder<P>) -> StubBuilder<P>,
) -> ExitCode {
    run_built(plugin, args, options, |_| {})
}

/// [`run`], calling `built` with the stub once it is built and before it
/// runs (e.g. to hand its [`Stopper`](nri_core::stub::Stopper) to the
/// plugin).
pub fn run_built<P: Plugin>(
    plugin: P,
    args: &CommonArgs,
    options: impl FnOnce(StubBuilder<P>) -> StubBuilder<P>,
    built: impl FnOnce(&Stub<P>),
) -> ExitCode {
    init_logging(args.verbose);
    let mut builder = Stub::builder(plugin);
    if let Some(idx) = &args.idx {
        builder = builder.index(idx.clone());
    }
    if let Some(name) = &args.name {
        builder = builder.name(name.clone());
    }
    nri_plugin::main_with(options(builder), &args.address(), built)
}

/// Waits for SIGINT or SIGTERM: [`nri_plugin::shutdown_signal`], for
/// samples that run several stubs at once.
pub use nri_plugin::shutdown_signal as wait_for_signal;
