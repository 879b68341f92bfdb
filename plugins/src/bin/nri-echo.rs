//! `nri-echo`: the benchmark plugin ([`nri_plugins::echo`]).

use std::process::ExitCode;

use clap::Parser;
use nri_plugins::cli::{self, CommonArgs};
use nri_plugins::echo::Echo;

/// Subscribes to every event; on CreateContainer adds `NRI_ECHO_<idx>=<name>`
/// and the annotation `echo.nri.dev/<idx>-<name>`.
#[derive(Debug, Parser)]
#[command(name = "nri-echo", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    cli::run("nri-echo", Echo::default(), &args.common, |stub| stub)
}
