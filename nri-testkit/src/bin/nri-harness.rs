//! `nri-harness`: test NRI plugins without a Kubernetes node. See
//! `nri-harness --help` and `nri_testkit::simulator`.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use nri_testkit::simulator::bench::{self, BenchOptions};
use nri_testkit::simulator::{self, RunOptions, Scenario, TransportKind};

const EXAMPLES: &str = "\
Examples:
  nri-harness
      Run the embedded default scenario (two pods, three containers, the
      sample plugins launched over ttrpc) and print the report.
  nri-harness run --scenario my.yaml --json result.json
      Replay a scenario file (format: nri-testkit/scenarios/default.yaml);
      exit status 1 if a plugin fails, conflicts or an expect: differs.
  nri-harness run --socket /tmp/nri.sock --external 1
      Wait for one plugin you start yourself (Go, Python, Rust...) to
      connect to /tmp/nri.sock, then replay the default scenario.
  nri-harness run --plugin ./target/debug/my-plugin
      Launch your plugin as a pre-installed plugin next to the scenario's.
  nri-harness bench --plugins 3 --iterations 2000
      Time 2,000 lifecycles (8 events each) against three nri-echo plugins.
  nri-harness bench --transport ttrpc,grpc --plugins 1,3
      Bench each transport with one and with three plugins, in one run,
      and print them side by side.
  nri-harness bench --transport wasm --wasm-module plugin.wasm
      Bench a WASM plugin, loaded into the harness.
  nri-harness bench --iterations 1 --sync-pods 1000 --sync-containers 5000
      Time synchronizing a plugin with 1,000 pods and 5,000 containers.

Exit status: 0 success, 1 a step or event failed, 2 the run could not be
carried out (bad scenario, bad flags, plugins that never connected).
Plugins launched by `run` are the harness itself under another name
(nri-logger, nri-echo, nri-fake...), so nothing else needs building. `bench`
launches the deployable nri-echo found next to nri-harness (build them:
cargo build --release -p nri-testkit --features harness --bin nri-harness
--bin nri-bench-runtime, then cargo xtask plugins --bin nri-echo, the static
build plugins are deployed as), or plays it itself when there is none;
over ttrpc it runs the runtime side in the nri-bench-runtime next to it, so the
runtime's memory printed is NRI's, not the whole harness's.";

#[derive(Parser)]
#[command(
    name = "nri-harness",
    version,
    about = "Exercise NRI plugins without a Kubernetes node: replay pod and container \
             lifecycles against real plugins and report what they did",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Replay a scenario (default: the embedded one) and print the report.
    Run(RunArgs),
    /// Time lifecycles against echo plugins.
    Bench(BenchArgs),
}

#[derive(Args, Default)]
struct RunArgs {
    /// The scenario file (YAML); default: the embedded default scenario.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// The runtime's NRI socket, for external plugins (default: in a
    /// temporary directory).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Wait for N plugins started by you to connect to --socket first.
    #[arg(long, value_name = "N", default_value_t = 0)]
    external: usize,
    /// How long to wait for them, e.g. 30s.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    external_timeout: String,
    /// A directory of pre-installed plugins (NN-name executables) to launch
    /// too.
    #[arg(long, value_name = "DIR")]
    plugin_dir: Option<PathBuf>,
    /// A plugin command to launch as a pre-installed plugin (repeatable);
    /// an NN-name file name gives its index and name, else 50, 51, ...
    #[arg(long = "plugin", value_name = "CMD")]
    plugins: Vec<String>,
    /// The transport between runtime and plugins.
    #[arg(long, value_enum, default_value_t = TransportKind::Ttrpc)]
    transport: TransportKind,
    /// Write the full result as JSON to FILE, or - for standard output
    /// (the report then goes to standard error).
    #[arg(long, value_name = "FILE|-")]
    json: Option<String>,
    /// Show launched plugins' standard error.
    #[arg(long)]
    plugin_stderr: bool,
    /// Cache compiled WASM modules in DIR (created with mode 0700; one
    /// that another user owns or others may write is refused).
    #[arg(long, value_name = "DIR")]
    wasm_cache: Option<PathBuf>,
}

#[derive(Args)]
struct BenchArgs {
    /// nri-echo plugins to launch; a list (1,3) benches each count.
    #[arg(
        long,
        value_name = "N[,N...]",
        value_delimiter = ',',
        default_value = "1"
    )]
    plugins: Vec<usize>,
    /// Plugins started by you to wait for on --socket (with --plugins 0,
    /// only those).
    #[arg(long, value_name = "N", default_value_t = 0)]
    external: usize,
    /// The runtime's socket for external plugins.
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Lifecycles to run (8 events each).
    #[arg(long, value_name = "K", default_value_t = 2000)]
    iterations: usize,
    /// The transport; local runs the plugins inside the harness. A list
    /// (ttrpc,grpc) benches each one.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "ttrpc")]
    transport: Vec<TransportKind>,
    /// Write the result as JSON to FILE, or - for standard output (an
    /// array when several runs were made).
    #[arg(long, value_name = "FILE|-")]
    json: Option<String>,
    /// The echo plugins also validate every adjustment
    /// (ValidateContainerAdjustment: a second call per CreateContainer).
    #[arg(long)]
    validate: bool,
    /// The WASM plugin module --transport wasm benches (e.g.
    /// nri-transport-wasm/guests/adjuster.wasm).
    #[arg(long, value_name = "FILE")]
    wasm_module: Option<PathBuf>,
    /// Cache compiled WASM modules in DIR (created with mode 0700; one
    /// that another user owns or others may write is refused).
    #[arg(long, value_name = "DIR")]
    wasm_cache: Option<PathBuf>,
    /// The nri-echo executable to launch as the plugins (default: the
    /// nri-echo next to nri-harness, else the harness plays it).
    #[arg(long, value_name = "FILE")]
    echo: Option<PathBuf>,
    /// Pods the runtime holds before the plugins start; the start time
    /// printed is then that of synchronizing them.
    #[arg(long, value_name = "N", default_value_t = 0)]
    sync_pods: usize,
    /// Containers the runtime holds before the plugins start, spread over
    /// --sync-pods.
    #[arg(long, value_name = "N", default_value_t = 0)]
    sync_containers: usize,
}

fn main() -> ExitCode {
    if let Some(code) = nri_testkit::multicall::dispatch() {
        return code;
    }
    let cli = Cli::parse();
    // One thread: the runtime's tasks and its socket I/O run where the
    // events are sent, so an event costs no wake-up of another thread
    // (worth about 10% of events/s in the bench). Plugins are processes.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("nri-harness: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => run(RunArgs::default_run()).await,
            Some(Command::Run(args)) => run(args).await,
            Some(Command::Bench(args)) => run_bench(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("nri-harness: {error}");
            ExitCode::from(2)
        }
    }
}

impl RunArgs {
    fn default_run() -> RunArgs {
        RunArgs {
            external_timeout: "60s".into(),
            ..RunArgs::default()
        }
    }
}

async fn run(args: RunArgs) -> Result<ExitCode, String> {
    let scenario = match &args.scenario {
        None => Scenario::default_scenario(),
        Some(path) => {
            let text = read_bounded(path)?;
            Scenario::parse(&text)
        }
    }
    .map_err(|e| e.to_string())?;
    let options = RunOptions {
        transport: args.transport,
        socket: args.socket,
        external: args.external,
        external_timeout: Some(
            nri_core::config::parse_duration(&args.external_timeout).map_err(|e| e.to_string())?,
        ),
        plugin_dir: args.plugin_dir,
        plugins: args.plugins,
        plugin_stderr: args.plugin_stderr,
        progress: std::io::stderr().is_terminal(),
        wasm_cache: args.wasm_cache,
    };
    let outcome = simulator::run(&scenario, &options)
        .await
        .map_err(|e| e.to_string())?;
    let report = simulator::report::render(&outcome);
    if args.json.as_deref() == Some("-") {
        eprint!("{report}");
    } else {
        print!("{report}");
    }
    if let Some(target) = &args.json {
        write_json(target, &outcome)?;
    }
    Ok(if outcome.failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn run_bench(args: BenchArgs) -> Result<ExitCode, String> {
    let mut results = Vec::new();
    for transport in &args.transport {
        for plugins in &args.plugins {
            let options = BenchOptions {
                plugins: *plugins,
                external: args.external,
                iterations: args.iterations,
                transport: *transport,
                socket: args.socket.clone(),
                progress: std::io::stderr().is_terminal(),
                validate: args.validate,
                wasm_module: args.wasm_module.clone(),
                wasm_cache: args.wasm_cache.clone(),
                echo: args.echo.clone(),
                sync_pods: args.sync_pods,
                sync_containers: args.sync_containers,
            };
            let result = bench::run_separately(&options)
                .await
                .map_err(|e| e.to_string())?;
            let report = bench::render(&result);
            if args.json.as_deref() == Some("-") {
                eprint!("{report}");
            } else {
                print!("{report}");
            }
            results.push(result);
        }
    }
    if results.len() > 1 {
        let table = bench::render_comparison(&results);
        if args.json.as_deref() == Some("-") {
            eprint!("\n{table}");
        } else {
            print!("\n{table}");
        }
    }
    if let Some(target) = &args.json {
        match results.as_slice() {
            [one] => write_json(target, one)?,
            several => write_json(target, &several)?,
        }
    }
    Ok(if results.iter().any(|r| r.errors > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A scenario file, refusing one too large to be a scenario before reading
/// it whole.
fn read_bounded(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read as _;
    let limit = simulator::scenario::MAX_SCENARIO_LEN;
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut text = String::new();
    file.take(u64::try_from(limit).unwrap_or(u64::MAX) + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.len() > limit {
        return Err(format!("{} is larger than {limit} bytes", path.display()));
    }
    Ok(text)
}

fn write_json(target: &str, value: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    if target == "-" {
        println!("{text}");
        Ok(())
    } else {
        std::fs::write(target, text + "\n").map_err(|e| format!("cannot write {target}: {e}"))
    }
}
