//! `nri-differ`: shows the changes plugins make, between indices
//! ([`crate::differ`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{self, CommonArgs};
use crate::differ::Chain;
use clap::Parser;
use nri_core::stub::Stub;
use nri_transport_ttrpc::PluginConnector;

/// Registers one instance per index and prints what the plugins between
/// consecutive indices changed.
#[derive(Debug, Parser)]
#[command(name = "nri-differ", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Comma-separated indices to register at, at least two.
    #[arg(long, default_value = "0,99")]
    indices: String,
    /// Print there instead of standard output.
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// 0: changes only; 1: also each event; 2: also unchanged events; 3:
    /// also every object seen.
    #[arg(long, default_value_t = 0)]
    verbose_level: u8,
}

/// Runs the plugin with these command-line arguments (the first is the
/// program's name), until the runtime goes away or a signal.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let args = Args::parse_from(args);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("nri-differ: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    cli::init_logging(args.common.verbose);
    let indices: Vec<String> = args
        .indices
        .split(',')
        .map(|i| format!("{:0>2}", i.trim()))
        .collect();
    if indices.len() < 2 {
        return Err("--indices needs at least two indices".into());
    }
    let out: Box<dyn std::io::Write + Send> = match &args.log_file {
        None => Box::new(std::io::stdout()),
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|error| format!("cannot open {}: {error}", path.display()))?,
        ),
    };
    let chain = Chain::new(indices.clone(), args.verbose_level, out);
    let name = args.common.name.clone().unwrap_or_else(|| "differ".into());
    // Every instance dials (none can take a launching runtime's socket).
    let connector: Arc<dyn nri_core::transport::Connector> = match &args.common.grpc {
        Some(endpoint) => Arc::new(nri_transport_grpc::PluginConnector::dial(endpoint.clone())),
        None => Arc::new(PluginConnector::dial(&args.common.socket_path)),
    };
    let stubs = indices
        .iter()
        .enumerate()
        .map(|(position, index)| {
            Stub::builder(chain.instance(position))
                .index(index.clone())
                .name(name.clone())
                .build(connector.clone())
                .map(Arc::new)
                .map_err(|error| error.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the async runtime: {error}"))?;
    runtime.block_on(async {
        let mut running = tokio::task::JoinSet::new();
        for stub in &stubs {
            let stub = Arc::clone(stub);
            running.spawn(async move { stub.run().await });
        }
        tokio::select! {
            () = cli::wait_for_signal() => {
                for stub in &stubs {
                    stub.stop();
                }
                while running.join_next().await.is_some() {}
                Ok(())
            }
            Some(ended) = running.join_next() => match ended {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(error) => Err(error.to_string()),
            },
        }
    })
}
